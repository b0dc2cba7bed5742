//! Loading: file → lexer → schema (aliases, ghosts, unknown keys) → values checked per kind →
//! command line and environment → fix-ups → typed configs.
//!
//! Java applies the same key to every config object that has the setter and ignores anything
//! it cannot parse; we apply it to the one row that owns it and stop at the first bad value,
//! in file order.

use std::path::{Path, PathBuf};

use super::effective::Values;
use super::lexer::{self, Entry, Lexed};
use super::report::{ConfigError, ConfigErrorKind, Origin, Warning};
use super::schema::{self, Alias, Ghost, KeyRow, Kind, Process};
use super::typed::{BrokerConfig, BrokerRole, NamesrvConfig, NetConfig, StoreConfig};
use super::value::{self, ExpandError};
use super::{BrokerSettings, NamesrvSettings, Overrides};

/// Largest `-c` file read. Real files are a few KiB (Java's own persisted file, every key
/// included, is about 8 KiB); the bound keeps a wrong path (a log, a store file) from being
/// read whole into memory.
pub const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// A comment line at least this long, holding at least `COLLAPSED_COMMENT_PAIRS_MIN`
/// `key=value` tokens, in a file without keys, is reported as a collapsed configuration.
const COLLAPSED_COMMENT_CHARS_MIN: usize = 200;
const COLLAPSED_COMMENT_PAIRS_MIN: usize = 3;

/// Switches for features ringmq does not have, where ignoring them silently would surprise:
/// said loudly when set to true.
const UNSUPPORTED_WHEN_TRUE: &[(&str, &str)] = &[
    (
        "aclEnable",
        "ringmq has no ACL: requests are not authenticated or authorised; restrict network \
         access to the broker's ports instead",
    ),
    (
        "enableDLegerCommitLog",
        "ringmq has no DLedger (Raft) commit log: this broker runs as a plain brokerRole/brokerId \
         broker, without elections, and does not read a DLedger store",
    ),
];

pub fn load_broker(path: Option<&Path>, overrides: &Overrides) -> Result<(BrokerSettings, Vec<Warning>), ConfigError> {
    let mut warnings = Vec::new();
    let mut values = Values::defaults(Process::Broker);
    if let Some(path) = path {
        let lexed = read_file(path)?;
        apply_file(&mut values, path, &lexed, &mut warnings)?;
    }
    apply_namesrv_addr(&mut values, overrides)?;
    derive_broker(&mut values, &mut warnings)?;
    let broker = BrokerConfig::from_values(&values, &mut warnings)?;
    let store = StoreConfig::from_values(&values, &mut warnings)?;
    let net = NetConfig::from_values(&values)?;
    check_embedded_namesrv_port(&values, &broker, &net)?;
    let source = path.map(Path::to_path_buf);
    let settings = BrokerSettings { broker, store, net, effective: values.effective(), source };
    Ok((settings, warnings))
}

pub fn load_namesrv(path: Option<&Path>) -> Result<(NamesrvSettings, Vec<Warning>), ConfigError> {
    let mut warnings = Vec::new();
    let mut values = Values::defaults(Process::Namesrv);
    if let Some(path) = path {
        let lexed = read_file(path)?;
        apply_file(&mut values, path, &lexed, &mut warnings)?;
        // As NamesrvStartup: the `-c` file is where UPDATE_NAMESRV_CONFIG persists.
        let at = Origin::CommandLine { flag: "-c" };
        values.set("configStorePath", path.display().to_string(), at);
    }
    let namesrv = NamesrvConfig::from_values(&values)?;
    let net = NetConfig::from_values(&values)?;
    let source = path.map(Path::to_path_buf);
    Ok((NamesrvSettings { namesrv, net, effective: values.effective(), source }, warnings))
}

fn read_file(path: &Path) -> Result<Lexed, ConfigError> {
    let unreadable = |error| ConfigError::new(ConfigErrorKind::Unreadable { path: path.to_path_buf(), error });
    let size_bytes = std::fs::metadata(path).map_err(unreadable)?.len();
    if size_bytes > CONFIG_FILE_BYTES_MAX {
        return Err(ConfigError::new(ConfigErrorKind::TooLarge {
            path: path.to_path_buf(),
            size_bytes,
            size_bytes_max: CONFIG_FILE_BYTES_MAX,
        }));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    lexer::lex_bytes(&bytes).map_err(|error| {
        ConfigError::new(ConfigErrorKind::Syntax { path: path.to_path_buf(), line: error.line, message: error.message })
    })
}

/// Applies every entry of a lexed file, stopping at the first bad value. The file's warnings
/// come out in line order.
fn apply_file(values: &mut Values, path: &Path, lexed: &Lexed, warnings: &mut Vec<Warning>) -> Result<(), ConfigError> {
    let first_warning = warnings.len();
    let at = |line| Origin::File { path: path.to_path_buf(), line };
    for trimmed in &lexed.trimmed {
        warnings.push(Warning::TrailingWhitespace { at: at(trimmed.line), key: trimmed.key.clone() });
    }
    for duplicate in &lexed.duplicates {
        warnings.push(Warning::Duplicate {
            at: at(duplicate.line_effective),
            key: duplicate.key.clone(),
            line_overridden: duplicate.line_overridden,
        });
    }
    if lexed.is_empty() {
        warnings.push(no_keys_warning(path, lexed));
    }
    if lexed.byte_order_mark {
        warnings.push(Warning::ByteOrderMark { path: path.to_path_buf() });
    }
    let mut ghosts = Vec::new();
    for entry in &lexed.entries {
        let context = FileContext { lexed, at: at(entry.line) };
        apply_entry(values, &context, entry, &mut ghosts, warnings)?;
    }
    for (entry, ghost) in ghosts {
        warnings.push(ghost_warning(values, at(entry.line), entry, ghost));
    }
    warnings[first_warning..].sort_by_key(|warning| warning.origin().and_then(Origin::line).unwrap_or(0));
    Ok(())
}

fn no_keys_warning(path: &Path, lexed: &Lexed) -> Warning {
    let collapsed_comment = lexed.comment_longest.clone().filter(|comment| {
        comment.length_chars >= COLLAPSED_COMMENT_CHARS_MIN && comment.key_value_pairs >= COLLAPSED_COMMENT_PAIRS_MIN
    });
    Warning::NoKeys { path: path.to_path_buf(), collapsed_comment }
}

struct FileContext<'a> {
    lexed: &'a Lexed,
    at: Origin,
}

/// How the schema knows a key of the file.
enum Known {
    Row(&'static KeyRow),
    Alias(&'static Alias, &'static KeyRow),
    Ghost(&'static Ghost),
    OtherProcess,
    Unknown,
}

fn classify(process: Process, key: &str) -> Known {
    if let Some(row) = schema::find(process, key) {
        return Known::Row(row);
    }
    if let Some(alias) = schema::find_alias(key) {
        if let Some(row) = schema::find(process, alias.new_key) {
            return Known::Alias(alias, row);
        }
    }
    if process == Process::Broker {
        if let Some(ghost) = schema::find_ghost(key) {
            return Known::Ghost(ghost);
        }
    }
    let read_by_other = schema::find(process.other(), key).is_some() || schema::find_alias(key).is_some();
    if read_by_other {
        Known::OtherProcess
    } else {
        Known::Unknown
    }
}

fn apply_entry<'a>(
    values: &mut Values,
    context: &FileContext<'_>,
    entry: &'a Entry,
    ghosts: &mut Vec<(&'a Entry, &'static Ghost)>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let at = context.at.clone();
    match classify(values.process, &entry.key) {
        Known::Row(row) => {
            apply_row(values, row, &entry.key, &entry.value, at.clone(), warnings)?;
            warnings.extend(honour_warning(row, &entry.value, at));
        }
        Known::Alias(alias, row) => apply_alias(values, context, entry, alias, row, warnings)?,
        Known::Ghost(ghost) => {
            ghosts.push((entry, ghost));
            values.push_unknown(entry.key.clone(), entry.value.clone(), at);
        }
        Known::OtherProcess => {
            let key = entry.key.clone();
            warnings.push(Warning::OtherProcessKey { at: at.clone(), key, reader: values.process });
            values.push_unknown(entry.key.clone(), entry.value.clone(), at);
        }
        Known::Unknown => {
            let suggestion = schema::suggest(values.process, &entry.key);
            warnings.push(Warning::UnknownKey { at: at.clone(), key: entry.key.clone(), suggestion });
            values.push_unknown(entry.key.clone(), entry.value.clone(), at);
        }
    }
    Ok(())
}

/// An old spelling applies under its new key unless the new key is in the file too.
fn apply_alias(
    values: &mut Values,
    context: &FileContext<'_>,
    entry: &Entry,
    alias: &'static Alias,
    row: &'static KeyRow,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let at = context.at.clone();
    let overridden_by = context.lexed.get(alias.new_key).map(|new_entry| match &at {
        Origin::File { path, .. } => Origin::File { path: path.clone(), line: new_entry.line },
        other => other.clone(),
    });
    if overridden_by.is_none() {
        apply_row(values, row, &entry.key, &entry.value, at.clone(), warnings)?;
    }
    warnings.push(Warning::Alias {
        at,
        old_key: alias.old_key,
        new_key: alias.new_key,
        note: alias.note,
        overridden_by,
    });
    Ok(())
}

/// Checks and stores one value; `written_key` is the spelling the file used (for messages).
fn apply_row(
    values: &mut Values,
    row: &'static KeyRow,
    written_key: &str,
    raw: &str,
    at: Origin,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let text = match row.kind {
        Kind::Path { .. } => expand_path(written_key, raw, &at, warnings)?,
        _ => raw.to_owned(),
    };
    value::check(&row.kind, &text).map_err(|expected| ConfigError::bad_value(&at, written_key, raw, expected))?;
    values.set(row.key, text, at);
    Ok(())
}

fn honour_warning(row: &'static KeyRow, text: &str, at: Origin) -> Option<Warning> {
    let unsupported = UNSUPPORTED_WHEN_TRUE.iter().find(|(key, _)| *key == row.key);
    if let Some((key, explanation)) = unsupported {
        if value::parse_bool(text) == Some(true) {
            return Some(Warning::Unsupported { at, key, explanation });
        }
    }
    (!row.honoured).then_some(Warning::NotHonoured { at, key: row.key })
}

/// Expands `$VAR`/`${VAR}` in a path. Java does not, so a Java broker given the same file kept
/// its data under a directory literally named `$VAR/...`: if that exists, say so loudly.
fn expand_path(key: &str, raw: &str, at: &Origin, warnings: &mut Vec<Warning>) -> Result<String, ConfigError> {
    let expanded = match value::expand_variables(raw, |name| std::env::var(name).ok()) {
        Ok(None) => return Ok(raw.to_owned()),
        Ok(Some(expanded)) => expanded,
        Err(ExpandError::Unset { variable }) => {
            return Err(ConfigError::new(ConfigErrorKind::UnsetVariable {
                at: at.clone(),
                key: key.to_owned(),
                value: raw.to_owned(),
                variable,
            }));
        }
        Err(ExpandError::Unclosed) => {
            let expected = "a path whose `${` is closed by `}` around a variable name".to_owned();
            return Err(ConfigError::bad_value(at, key, raw, expected));
        }
    };
    warnings.push(Warning::Expanded {
        at: at.clone(),
        key: key.to_owned(),
        original: raw.to_owned(),
        expanded: expanded.clone(),
    });
    if Path::new(raw).is_dir() {
        warnings.push(Warning::JavaStoreAtLiteralPath {
            at: at.clone(),
            key: key.to_owned(),
            literal: raw.to_owned(),
            expanded: expanded.clone(),
        });
    }
    Ok(expanded)
}

fn ghost_warning(values: &Values, at: Origin, entry: &Entry, ghost: &'static Ghost) -> Warning {
    let root = Path::new(values.text("storePathRootDir"));
    let path_derived = ghost.path_under_root.map(|relative| root.join(relative).display().to_string());
    Warning::Ghost {
        at,
        key: entry.key.clone(),
        explanation: ghost.explanation,
        path_derived,
        meant_key: ghost.meant_key,
    }
}

/// `-n` overrides the file; without either, `NAMESRV_ADDR` from the environment, as Java.
fn apply_namesrv_addr(values: &mut Values, overrides: &Overrides) -> Result<(), ConfigError> {
    let (text, at) = match &overrides.namesrv_addr {
        Some(text) => (text.clone(), Origin::CommandLine { flag: "-n" }),
        None if values.is_set("namesrvAddr") => return Ok(()),
        None => match std::env::var("NAMESRV_ADDR") {
            Ok(text) if !text.is_empty() => (text, Origin::Environment { variable: "NAMESRV_ADDR" }),
            _ => return Ok(()),
        },
    };
    value::parse_namesrv_addrs(&text)
        .map_err(|expected| ConfigError::bad_value(&at, "namesrvAddr", &text, expected))?;
    values.set("namesrvAddr", text, at);
    Ok(())
}

/// Derived defaults and the fix-ups `BrokerStartup` applies.
fn derive_broker(values: &mut Values, warnings: &mut Vec<Warning>) -> Result<(), ConfigError> {
    if !values.is_set("storePathCommitLog") {
        let root = PathBuf::from(values.text("storePathRootDir"));
        values.set_text("storePathCommitLog", root.join("commitlog").display().to_string());
    }
    let listen_port = broker_listen_port(values)?;
    derive_ha_listen_port(values, listen_port, warnings);
    fix_broker_id(values, warnings)
}

/// The broker also serves listenPort-2 and listenPort+1, so both must be ports too.
fn broker_listen_port(values: &Values) -> Result<u16, ConfigError> {
    values.parse("listenPort", |text| {
        let expected = "a port in 3..=65534 (the broker also listens on listenPort-2 and \
                        listenPort+1)";
        let port = value::parse_port(text).map_err(|_| expected.to_owned())?;
        if !(3..=65534).contains(&port) {
            return Err(expected.to_owned());
        }
        Ok(port)
    })
}

fn derive_ha_listen_port(values: &mut Values, listen_port: u16, warnings: &mut Vec<Warning>) {
    // broker_listen_port() capped listenPort at 65534.
    let ha_port = listen_port.saturating_add(1);
    let ha_text = ha_port.to_string();
    if values.is_set("haListenPort") && values.text("haListenPort") != ha_text {
        warnings.push(Warning::HaListenPortIgnored {
            at: values.origin("haListenPort").clone(),
            value: values.text("haListenPort").to_owned(),
            effective: ha_port,
        });
    }
    values.set_text("haListenPort", ha_text);
}

/// A master role forces brokerId 0; a slave needs brokerId > 0 (`BrokerStartup`).
fn fix_broker_id(values: &mut Values, warnings: &mut Vec<Warning>) -> Result<(), ConfigError> {
    let broker_id = values.integer("brokerId")?;
    let role_text = values.text("brokerRole").to_owned();
    let Some(role) = BrokerRole::from_java(&role_text) else {
        // value::check already refused anything else; BrokerConfig reports it if not.
        return Ok(());
    };
    if role.is_master() && broker_id != 0 {
        let at = values.origin("brokerId").clone();
        warnings.push(Warning::BrokerIdForced { at, broker_id, role: role_text });
        values.set_text("brokerId", "0".to_owned());
    }
    if role == BrokerRole::Slave && broker_id <= 0 {
        let at = match values.origin("brokerId") {
            Origin::Default => values.origin("brokerRole").clone(),
            set => set.clone(),
        };
        return Err(ConfigError::new(ConfigErrorKind::SlaveBrokerId { at, broker_id }));
    }
    Ok(())
}

/// Without a name-server address the broker embeds one; its port must not be one of the
/// broker's own three.
fn check_embedded_namesrv_port(values: &Values, broker: &BrokerConfig, net: &NetConfig) -> Result<(), ConfigError> {
    let port = broker.namesrv_listen_port;
    let broker_ports = [net.fast_port(), net.listen_port, net.ha_port()];
    if !broker.namesrv_addrs.is_empty() || !broker_ports.contains(&port) {
        return Ok(());
    }
    let (key, at) = if values.is_set("namesrvListenPort") {
        ("namesrvListenPort", values.origin("namesrvListenPort").clone())
    } else {
        ("listenPort", values.origin("listenPort").clone())
    };
    let message = format!(
        "the embedded nameserver's port {port} (namesrvListenPort) collides with the broker's \
         ports {}, {} and {} (listenPort-2, listenPort, listenPort+1); change one, or set \
         namesrvAddr to use an external nameserver",
        broker_ports[0], broker_ports[1], broker_ports[2]
    );
    Err(ConfigError::new(ConfigErrorKind::PortConflict { at, key, message }))
}
