//! What loading tells the operator: where a value came from, warnings, and the errors that
//! stop start-up. Every message names `FILE:LINE` and the key when there is one, so it can be
//! acted on without reading ringmq's source.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::lexer::CommentLine;
use super::schema::Process;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The key's default.
    Default,
    File {
        path: PathBuf,
        line: u32,
    },
    /// A command-line flag such as `-n`.
    CommandLine {
        flag: &'static str,
    },
    Environment {
        variable: &'static str,
    },
}

impl Origin {
    pub fn line(&self) -> Option<u32> {
        match self {
            Origin::File { line, .. } => Some(*line),
            _ => None,
        }
    }

    pub fn is_default(&self) -> bool {
        matches!(self, Origin::Default)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("(default)"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::CommandLine { flag } => f.write_str(flag),
            Origin::Environment { variable } => write!(f, "environment variable {variable}"),
        }
    }
}

/// How much a warning matters: `Info` reports what ringmq did for you, `Warn` something that
/// is probably a mistake, `Loud` something that changes the broker's role or where its data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warn,
    Loud,
}

/// Something worth telling the operator that does not stop start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// No row, alias or ghost has this key.
    UnknownKey { at: Origin, key: String, suggestion: Option<&'static str> },
    /// A key of the other command (`kvConfigPath` in a broker file, or the reverse).
    OtherProcessKey { at: Origin, key: String, reader: Process },
    /// An old spelling, applied under its new key, or ignored because the new key is set too.
    Alias {
        at: Origin,
        old_key: &'static str,
        new_key: &'static str,
        note: &'static str,
        overridden_by: Option<Origin>,
    },
    /// A key no 4.x release reads.
    Ghost {
        at: Origin,
        key: String,
        explanation: &'static str,
        /// Where 4.x (and ringmq) actually puts the thing, when it is a store path.
        path_derived: Option<String>,
        meant_key: Option<&'static str>,
    },
    /// Trailing whitespace removed from a value.
    TrailingWhitespace { at: Origin, key: String },
    /// A key set again later in the file.
    Duplicate { at: Origin, key: String, line_overridden: u32 },
    /// `$VAR` / `${VAR}` expanded in a path.
    Expanded { at: Origin, key: String, original: String, expanded: String },
    /// The unexpanded path exists as a directory: a Java broker, which does not expand
    /// variables, kept its store there.
    JavaStoreAtLiteralPath { at: Origin, key: String, literal: String, expanded: String },
    /// A master role forces brokerId to 0.
    BrokerIdForced { at: Origin, broker_id: i64, role: String },
    /// 4.x always serves HA on listenPort+1.
    HaListenPortIgnored { at: Origin, value: String, effective: u16 },
    /// A value brought into range, as Java's getter does.
    Clamped { at: Origin, key: &'static str, value: i64, effective: i64 },
    /// A feature ringmq does not have, switched on.
    Unsupported { at: Origin, key: &'static str, explanation: &'static str },
    /// A key ringmq accepts and ignores.
    NotHonoured { at: Origin, key: &'static str },
    /// The file sets nothing at all.
    NoKeys { path: PathBuf, collapsed_comment: Option<CommentLine> },
    /// The file starts with a UTF-8 byte-order mark (skipped).
    ByteOrderMark { path: PathBuf },
}

impl Warning {
    pub fn severity(&self) -> Severity {
        match self {
            Warning::Expanded { .. } | Warning::NotHonoured { .. } => Severity::Info,
            Warning::JavaStoreAtLiteralPath { .. }
            | Warning::BrokerIdForced { .. }
            | Warning::Unsupported { .. }
            | Warning::NoKeys { .. } => Severity::Loud,
            _ => Severity::Warn,
        }
    }

    /// Where the warning points, if anywhere.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Warning::UnknownKey { at, .. }
            | Warning::OtherProcessKey { at, .. }
            | Warning::Alias { at, .. }
            | Warning::Ghost { at, .. }
            | Warning::TrailingWhitespace { at, .. }
            | Warning::Duplicate { at, .. }
            | Warning::Expanded { at, .. }
            | Warning::JavaStoreAtLiteralPath { at, .. }
            | Warning::BrokerIdForced { at, .. }
            | Warning::HaListenPortIgnored { at, .. }
            | Warning::Clamped { at, .. }
            | Warning::Unsupported { at, .. }
            | Warning::NotHonoured { at, .. } => Some(at),
            Warning::NoKeys { .. } | Warning::ByteOrderMark { .. } => None,
        }
    }

    /// The key the warning is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Warning::UnknownKey { key, .. }
            | Warning::OtherProcessKey { key, .. }
            | Warning::Ghost { key, .. }
            | Warning::TrailingWhitespace { key, .. }
            | Warning::Duplicate { key, .. }
            | Warning::Expanded { key, .. }
            | Warning::JavaStoreAtLiteralPath { key, .. } => Some(key),
            Warning::Alias { old_key: key, .. }
            | Warning::Clamped { key, .. }
            | Warning::Unsupported { key, .. }
            | Warning::NotHonoured { key, .. } => Some(key),
            Warning::BrokerIdForced { .. } => Some("brokerId"),
            Warning::HaListenPortIgnored { .. } => Some("haListenPort"),
            Warning::NoKeys { .. } | Warning::ByteOrderMark { .. } => None,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnknownKey { at, key, suggestion } => {
                write!(f, "{at}: unknown key `{key}`, ignored")?;
                match suggestion {
                    Some(known) => write!(f, " (did you mean `{known}`?)"),
                    None => Ok(()),
                }
            }
            Warning::OtherProcessKey { at, key, reader } => {
                write!(f, "{at}: key `{key}` is read by the {}, not the {reader}; ignored", reader.other())
            }
            Warning::Alias { at, old_key, new_key, note, overridden_by } => match overridden_by {
                Some(new_at) => write!(
                    f,
                    "{at}: `{old_key}` is the old spelling of `{new_key}`; both are set and \
                     `{new_key}` ({new_at}) wins, so this line is ignored"
                ),
                None => write!(
                    f,
                    "{at}: `{old_key}` is the old spelling of `{new_key}`, applied as `{new_key}`; \
                     rename the key. Note: {note}"
                ),
            },
            Warning::Ghost { at, key, explanation, path_derived, meant_key } => {
                write!(f, "{at}: key `{key}` is {explanation}; ignored")?;
                if let Some(path) = path_derived {
                    write!(f, " (4.x and ringmq use `{path}`)")?;
                }
                match meant_key {
                    Some(meant) => write!(f, "; did you mean `{meant}`?"),
                    None => Ok(()),
                }
            }
            Warning::TrailingWhitespace { at, key } => write!(
                f,
                "{at}: trailing whitespace removed from the value of `{key}` (a Java broker keeps \
                 it and, for a number or enum, silently uses the default instead)"
            ),
            Warning::Duplicate { at, key, line_overridden } => write!(
                f,
                "{at}: key `{key}` is set again (first at line {line_overridden}); the last value \
                 wins, as in Java"
            ),
            _ => fmt_more(self, f),
        }
    }
}

/// The second half of [`Warning`]'s Display, split to keep functions short.
fn fmt_more(warning: &Warning, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match warning {
        Warning::Expanded { at, key, original, expanded } => write!(
            f,
            "{at}: `{key}`: expanded `{original}` to `{expanded}` (a Java broker does not expand \
             variables)"
        ),
        Warning::JavaStoreAtLiteralPath { at, key, literal, expanded } => write!(
            f,
            "{at}: `{key}`: a directory literally named `{literal}` exists here; a Java broker, \
             which does not expand variables, kept its data there, but ringmq uses `{expanded}`. \
             Move the data, or write the literal path in the file"
        ),
        Warning::BrokerIdForced { at, broker_id, role } => write!(
            f,
            "{at}: brokerId={broker_id} overridden to 0 because brokerRole={role} is a master \
             role (RocketMQ does the same, silently); this broker starts as a MASTER. A slave \
             needs brokerRole=SLAVE"
        ),
        Warning::HaListenPortIgnored { at, value, effective } => write!(
            f,
            "{at}: haListenPort={value} is ignored: RocketMQ 4.x always serves HA on \
             listenPort+1 ({effective})"
        ),
        Warning::Clamped { at, key, value, effective } => {
            write!(f, "{at}: `{key}`={value} is out of range; {effective} is used, as in Java")
        }
        Warning::Unsupported { at, key, explanation } => {
            write!(f, "{at}: `{key}`=true: {explanation}")
        }
        Warning::NotHonoured { at, key } => {
            write!(f, "{at}: `{key}` is accepted for compatibility and has no effect in ringmq")
        }
        Warning::NoKeys { path, collapsed_comment } => fmt_no_keys(f, path, collapsed_comment.as_ref()),
        Warning::ByteOrderMark { path } => write!(
            f,
            "{}:1: the file starts with a UTF-8 byte-order mark, skipped (a Java broker reads it \
             as part of the first key and ignores that key)",
            path.display()
        ),
        _ => Ok(()),
    }
}

fn fmt_no_keys(
    f: &mut fmt::Formatter<'_>,
    path: &std::path::Path,
    collapsed_comment: Option<&CommentLine>,
) -> fmt::Result {
    write!(f, "{}: the file defines no keys at all; every setting is at its default", path.display())?;
    match collapsed_comment {
        Some(comment) => write!(
            f,
            ". Line {} is a {}-character comment holding {} `key=value` pairs: it looks like a \
             whole configuration collapsed into one comment line (line breaks lost in a \
             copy-paste)",
            comment.line, comment.length_chars, comment.key_value_pairs
        ),
        None => Ok(()),
    }
}

/// Why start-up stops. Exit status 2 for all of them ([`ConfigError::exit_code`]).
#[derive(Debug)]
pub struct ConfigError {
    kind: ConfigErrorKind,
}

#[derive(Debug)]
pub enum ConfigErrorKind {
    /// The `-c` file cannot be read.
    Unreadable {
        path: PathBuf,
        error: io::Error,
    },
    /// The `-c` file is larger than any real properties file.
    TooLarge {
        path: PathBuf,
        size_bytes: u64,
        size_bytes_max: u64,
    },
    /// Java could not load the file either (a malformed `\uXXXX`).
    Syntax {
        path: PathBuf,
        line: u32,
        message: String,
    },
    BadValue {
        at: Origin,
        key: String,
        value: String,
        expected: String,
    },
    /// `$VAR` in a path whose variable is not set.
    UnsetVariable {
        at: Origin,
        key: String,
        value: String,
        variable: String,
    },
    /// `brokerRole=SLAVE` with `brokerId <= 0`.
    SlaveBrokerId {
        at: Origin,
        broker_id: i64,
    },
    /// Two ports would collide.
    PortConflict {
        at: Origin,
        key: &'static str,
        message: String,
    },
}

impl ConfigError {
    pub fn new(kind: ConfigErrorKind) -> ConfigError {
        ConfigError { kind }
    }

    pub fn kind(&self) -> &ConfigErrorKind {
        &self.kind
    }

    /// Process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        2
    }

    pub(crate) fn bad_value(at: &Origin, key: &str, value: &str, expected: String) -> ConfigError {
        ConfigError::new(ConfigErrorKind::BadValue {
            at: at.clone(),
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConfigErrorKind::Unreadable { path, error } => {
                write!(f, "cannot read config file `{}`: {error}", path.display())
            }
            ConfigErrorKind::TooLarge { path, size_bytes, size_bytes_max } => write!(
                f,
                "{}: {size_bytes} bytes is not a properties file (at most {size_bytes_max} bytes)",
                path.display()
            ),
            ConfigErrorKind::Syntax { path, line, message } => {
                write!(f, "{}:{line}: {message}", path.display())
            }
            ConfigErrorKind::BadValue { at, key, value, expected } => {
                write!(f, "{at}: bad value for key `{key}`: `{value}` — expected {expected}")
            }
            ConfigErrorKind::UnsetVariable { at, key, value, variable } => write!(
                f,
                "{at}: bad value for key `{key}`: `{value}` — the environment variable \
                 `{variable}` is not set{}",
                unset_variable_hint(variable)
            ),
            ConfigErrorKind::SlaveBrokerId { at, broker_id } => {
                write!(f, "{at}: Slave's brokerId must be > 0 (brokerRole=SLAVE, brokerId={broker_id})")
            }
            ConfigErrorKind::PortConflict { at, key, message } => {
                write!(f, "{at}: key `{key}`: {message}")
            }
        }
    }
}

/// `${storePathRootDir}/commitlog` is seen in blogs: keys are not variables.
fn unset_variable_hint(variable: &str) -> &'static str {
    let is_key = super::schema::KEYS.iter().any(|row| row.key == variable);
    if is_key {
        " (ringmq expands environment variables only; other keys are not interpolated, so \
         write the path in full)"
    } else {
        ""
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ConfigErrorKind::Unreadable { error, .. } => Some(error),
            _ => None,
        }
    }
}
