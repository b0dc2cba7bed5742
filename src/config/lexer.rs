//! The `.properties` lexer: `java.util.Properties.load` to the letter, with one deliberate
//! difference (trailing whitespace of a value is trimmed and reported).
//!
//! Rules, as `Properties.LineReader` and `Properties.load0` (OpenJDK 17) apply them:
//!
//! * A natural line ends at `\n`, `\r` or `\r\n`. Leading `' '`, `'\t'`, `'\f'` are skipped.
//! * A line whose first non-blank character is `#` or `!` is a comment, whole (a trailing `\`
//!   does not continue a comment).
//! * A line ending in an odd number of backslashes continues on the next natural line; the last
//!   backslash is dropped and so is the leading whitespace of the continuation line. An empty
//!   continuation line ends the logical line.
//! * The key ends at the first unescaped `=`, `:` or whitespace. After it, whitespace, then at
//!   most one `=` or `:`, then whitespace are skipped; the rest is the value.
//! * In key and value, `\uXXXX` is a UTF-16 code unit, `\t \n \r \f` are the control characters
//!   and `\x` is `x` for any other `x` (so `C:\data` reads `C:data`). A short or non-hex
//!   `\uXXXX` is an error (Java throws `IllegalArgumentException` and the broker exits).
//! * A key set twice keeps the last value.
//!
//! Java always decodes ISO-8859-1. We decode UTF-8 when the bytes are valid UTF-8 and ISO-8859-1
//! otherwise: real files only carry non-ASCII bytes in comments, where both decodings agree that
//! the line is a comment.

use std::fmt;

/// One `key=value` of a file, after escapes are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// 1-based natural line where the key starts.
    pub line: u32,
}

/// A value whose trailing whitespace the lexer removed. Java keeps it, so `listenPort=10911 `
/// silently fails to parse there and the default is used: worth telling the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrimmedValue {
    pub key: String,
    pub line: u32,
}

/// A key set more than once: the later line wins, as in Java.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    pub line_overridden: u32,
    pub line_effective: u32,
}

/// The longest comment line of a file, kept to recognise a configuration whose line breaks were
/// lost in a copy-paste (the whole file becomes one comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentLine {
    pub line: u32,
    pub length_chars: usize,
    /// Whitespace-separated tokens shaped like `key=value` (a leading `#`/`!` ignored).
    pub key_value_pairs: usize,
}

/// Everything the lexer learned from one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lexed {
    /// Entries in file order; a key set twice appears once, at its last line.
    pub entries: Vec<Entry>,
    pub trimmed: Vec<TrimmedValue>,
    pub duplicates: Vec<Duplicate>,
    pub comment_longest: Option<CommentLine>,
    /// Comment lines holding at least one `key=value`-shaped token (e.g. `#listenPort=10911`).
    pub comment_lines_with_pairs: usize,
    /// The text started with a byte-order mark, which we skip. Java reads it as part of the
    /// first key, so that key is silently unknown to a Java broker.
    pub byte_order_mark: bool,
}

impl Lexed {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`, if the file sets it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }
}

/// A file Java itself could not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    pub line: u32,
    pub message: String,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for LexError {}

/// Decodes file bytes: UTF-8 when valid, else ISO-8859-1 (every byte is one char).
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&byte| char::from(byte)).collect(),
    }
}

/// Lexes raw file bytes (see [`decode`]).
pub fn lex_bytes(bytes: &[u8]) -> Result<Lexed, LexError> {
    lex(&decode(bytes))
}

/// Lexes decoded text.
pub fn lex(text: &str) -> Result<Lexed, LexError> {
    let without_mark = text.strip_prefix('\u{feff}');
    let chars: Vec<char> = without_mark.unwrap_or(text).chars().collect();
    let mut cursor = Cursor { chars: &chars, index: 0, line: 1 };
    let mut lexed = Lexed { byte_order_mark: without_mark.is_some(), ..Lexed::default() };
    loop {
        cursor.skip_blank_lines();
        let Some(first) = cursor.peek() else { break };
        let line = cursor.line;
        if first == '#' || first == '!' {
            let comment = cursor.read_natural_line();
            lex_comment(&mut lexed, &comment, line);
            continue;
        }
        let logical = cursor.read_logical_line();
        if logical.is_empty() {
            // A lone `\` continued into nothing: Java treats that as a blank line.
            continue;
        }
        let (entry, trimmed) = split_entry(&logical, line)?;
        if trimmed {
            lexed.trimmed.push(TrimmedValue { key: entry.key.clone(), line });
        }
        lex_insert(&mut lexed, entry);
    }
    Ok(lexed)
}

fn lex_insert(lexed: &mut Lexed, entry: Entry) {
    if let Some(index) = lexed.entries.iter().position(|old| old.key == entry.key) {
        let old = lexed.entries.remove(index);
        lexed.duplicates.push(Duplicate {
            key: entry.key.clone(),
            line_overridden: old.line,
            line_effective: entry.line,
        });
    }
    lexed.entries.push(entry);
}

fn lex_comment(lexed: &mut Lexed, comment: &[char], line: u32) {
    let text: String = comment.iter().collect();
    let key_value_pairs = text.split_whitespace().filter(|token| is_key_value_token(token)).count();
    if key_value_pairs > 0 {
        lexed.comment_lines_with_pairs += 1;
    }
    let longer = match &lexed.comment_longest {
        Some(old) => comment.len() > old.length_chars,
        None => true,
    };
    if longer {
        lexed.comment_longest = Some(CommentLine { line, length_chars: comment.len(), key_value_pairs });
    }
}

/// `key=value` with an identifier-shaped key: `brokerId=0`, `#listenPort=10911`.
fn is_key_value_token(token: &str) -> bool {
    let token = token.trim_start_matches(['#', '!']);
    let Some((key, value)) = token.split_once('=') else {
        return false;
    };
    let mut key_chars = key.chars();
    let starts_alphabetic = key_chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    starts_alphabetic && key_chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') && !value.is_empty()
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

fn is_line_end(c: char) -> bool {
    c == '\n' || c == '\r'
}

struct Cursor<'a> {
    chars: &'a [char],
    index: usize,
    /// 1-based natural line of `chars[index]`.
    line: u32,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.index).copied()
    }

    /// Consumes `\n`, `\r` or `\r\n` if one is next.
    fn consume_line_end(&mut self) {
        match self.peek() {
            Some('\r') => {
                self.index += 1;
                if self.peek() == Some('\n') {
                    self.index += 1;
                }
            }
            Some('\n') => self.index += 1,
            _ => return,
        }
        self.line += 1;
    }

    fn skip_blank_lines(&mut self) {
        while let Some(c) = self.peek() {
            if is_line_end(c) {
                self.consume_line_end();
            } else if is_blank(c) {
                self.index += 1;
            } else {
                break;
            }
        }
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.index += 1;
        }
    }

    /// The rest of the natural line, without its terminator (which is consumed).
    fn read_natural_line(&mut self) -> Vec<char> {
        let start = self.index;
        while self.peek().is_some_and(|c| !is_line_end(c)) {
            self.index += 1;
        }
        let content = self.chars[start..self.index].to_vec();
        self.consume_line_end();
        content
    }

    /// Natural lines joined by `\` continuations, raw (escapes not yet resolved).
    fn read_logical_line(&mut self) -> Vec<char> {
        let mut logical = Vec::new();
        loop {
            let natural = self.read_natural_line_keep_end();
            let trailing_backslashes = natural.iter().rev().take_while(|&&c| c == '\\').count();
            logical.extend_from_slice(&natural);
            if trailing_backslashes % 2 == 0 {
                self.consume_line_end();
                return logical;
            }
            logical.pop();
            if self.peek().is_none() || logical.is_empty() {
                self.consume_line_end();
                return logical;
            }
            self.consume_line_end();
            self.skip_blanks();
        }
    }

    fn read_natural_line_keep_end(&mut self) -> Vec<char> {
        let start = self.index;
        while self.peek().is_some_and(|c| !is_line_end(c)) {
            self.index += 1;
        }
        self.chars[start..self.index].to_vec()
    }
}

/// Splits a logical line into key and value as `Properties.load0` does, then resolves escapes.
/// Returns whether trailing whitespace was trimmed from the value.
fn split_entry(logical: &[char], line: u32) -> Result<(Entry, bool), LexError> {
    let mut key_end = logical.len();
    let mut value_start = logical.len();
    let mut has_separator = false;
    let mut preceding_backslash = false;
    for (index, &c) in logical.iter().enumerate() {
        if (c == '=' || c == ':') && !preceding_backslash {
            (key_end, value_start, has_separator) = (index, index + 1, true);
            break;
        }
        if is_blank(c) && !preceding_backslash {
            (key_end, value_start) = (index, index + 1);
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
    }
    while let Some(&c) = logical.get(value_start) {
        if !is_blank(c) {
            if !has_separator && (c == '=' || c == ':') {
                has_separator = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    let value_raw = &logical[value_start.min(logical.len())..];
    let value_end = trimmed_end(value_raw);
    let key = unescape(&logical[..key_end], line)?;
    let value = unescape(&value_raw[..value_end], line)?;
    Ok((Entry { key, value, line }, value_end < value_raw.len()))
}

/// Length of `raw` without its unescaped trailing whitespace (`a\ ` keeps its escaped space).
fn trimmed_end(raw: &[char]) -> usize {
    let mut end = raw.len();
    while end > 0 && is_blank(raw[end - 1]) {
        let backslashes = raw[..end - 1].iter().rev().take_while(|&&c| c == '\\').count();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    end
}

/// Resolves backslash escapes as `Properties.loadConvert`. Output is built as UTF-16 so that a
/// surrogate pair written as two `\uXXXX` escapes becomes one character, as in a Java string.
fn unescape(raw: &[char], line: u32) -> Result<String, LexError> {
    let mut units: Vec<u16> = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        let c = raw[index];
        index += 1;
        if c != '\\' {
            let mut buffer = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buffer));
            continue;
        }
        // A lone trailing backslash cannot survive the line reader; drop it if it does.
        let Some(&escaped) = raw.get(index) else {
            break;
        };
        index += 1;
        let unit = match escaped {
            'u' => {
                let unit = unescape_unicode(raw.get(index..index + 4), line)?;
                index += 4;
                unit
            }
            't' => u16::from(b'\t'),
            'r' => u16::from(b'\r'),
            'n' => u16::from(b'\n'),
            'f' => 0x0c,
            other => {
                let mut buffer = [0u16; 2];
                units.extend_from_slice(other.encode_utf16(&mut buffer));
                continue;
            }
        };
        units.push(unit);
    }
    Ok(String::from_utf16_lossy(&units))
}

fn unescape_unicode(digits: Option<&[char]>, line: u32) -> Result<u16, LexError> {
    let malformed = || LexError { line, message: "malformed \\uXXXX escape".to_owned() };
    let digits = digits.ok_or_else(malformed)?;
    let mut unit: u16 = 0;
    for &digit in digits {
        let nibble = digit.to_digit(16).ok_or_else(malformed)?;
        // Four hex digits are 16 bits: the shifts cannot overflow.
        unit = (unit << 4) | nibble as u16;
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        let lexed = lex(text).unwrap();
        lexed.entries.into_iter().map(|entry| (entry.key, entry.value)).collect()
    }

    fn pair(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }

    #[test]
    fn separators_are_equals_colon_or_whitespace() {
        assert_eq!(
            pairs("a=1\nb:2\nc 3\nd\t4\ne = 5\nf : 6\ng   =   7\nh := 8\n"),
            vec![
                pair("a", "1"),
                pair("b", "2"),
                pair("c", "3"),
                pair("d", "4"),
                pair("e", "5"),
                pair("f", "6"),
                pair("g", "7"),
                pair("h", "= 8"),
            ]
        );
    }

    #[test]
    fn key_without_value_is_empty_value() {
        assert_eq!(
            pairs("lonely\nspaced   \nequals=\n"),
            vec![pair("lonely", ""), pair("spaced", ""), pair("equals", "")]
        );
    }

    #[test]
    fn comments_only_at_line_start() {
        assert_eq!(
            pairs("# c\n  ! c2\n#k=v\nkey=value # not a comment\nx=#y\n"),
            vec![pair("key", "value # not a comment"), pair("x", "#y")]
        );
    }

    #[test]
    fn continuation_lines_join_and_skip_leading_whitespace() {
        let lexed = lex("\nkey = one, \\\n     two, \\\n\tthree\nnext=1\n").unwrap();
        assert_eq!(lexed.entries[0].value, "one, two, three");
        assert_eq!(lexed.entries[0].line, 2);
        assert_eq!(lexed.entries[1], Entry { key: "next".into(), value: "1".into(), line: 5 });
    }

    #[test]
    fn continuation_into_comment_marker_is_data_and_comment_backslash_does_not_continue() {
        assert_eq!(pairs("a=x\\\n#y\n# c \\\nb=2\n"), vec![pair("a", "x#y"), pair("b", "2")]);
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        assert_eq!(pairs("a=x\\\\\nb=2\n"), vec![pair("a", "x\\"), pair("b", "2")]);
    }

    #[test]
    fn empty_continuation_line_ends_the_value() {
        assert_eq!(pairs("a=x\\\n\nb=2"), vec![pair("a", "x"), pair("b", "2")]);
    }

    #[test]
    fn backslash_at_end_of_file_is_dropped() {
        assert_eq!(pairs("a=x\\"), vec![pair("a", "x")]);
    }

    #[test]
    fn escapes_resolve_like_java() {
        assert_eq!(
            pairs(concat!(
                "path=C:\\data\\store\\rocketmq\n",
                "tab=a\\tb\n",
                "u=\\u0041\\u00e9\n",
                "smile=\\uD83D\\uDE00\n"
            )),
            vec![
                pair("path", "C:datastore\rocketmq"),
                pair("tab", "a\tb"),
                pair("u", "Aé"),
                pair("smile", "\u{1F600}"),
            ]
        );
    }

    #[test]
    fn keys_may_contain_escaped_separators() {
        assert_eq!(pairs("a\\=b=1\nc\\:d:2\ne\\ f 3\n"), vec![pair("a=b", "1"), pair("c:d", "2"), pair("e f", "3")]);
    }

    #[test]
    fn malformed_unicode_escape_is_an_error_with_line() {
        assert_eq!(lex("a=1\nb=\\u12").unwrap_err().line, 2);
        assert_eq!(lex("b=\\u12zz\n").unwrap_err().line, 1);
    }

    #[test]
    fn line_ends_cr_crlf_lf_all_count_once() {
        let lexed = lex("a=1\r\nb=2\rc=3\nd=4").unwrap();
        let lines: Vec<u32> = lexed.entries.iter().map(|entry| entry.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4]);
    }

    #[test]
    fn trailing_whitespace_is_trimmed_and_reported() {
        let lexed = lex("listenPort=10911 \nbrokerRole=SLAVE\t\nkeep=a\\ \n").unwrap();
        assert_eq!(lexed.entries[0].value, "10911");
        assert_eq!(lexed.entries[1].value, "SLAVE");
        assert_eq!(lexed.entries[2].value, "a ");
        assert_eq!(
            lexed.trimmed,
            vec![
                TrimmedValue { key: "listenPort".into(), line: 1 },
                TrimmedValue { key: "brokerRole".into(), line: 2 },
            ]
        );
    }

    #[test]
    fn later_duplicate_wins_and_is_reported() {
        let lexed = lex("a=1\nb=2\na=3\n").unwrap();
        assert_eq!(
            lexed.entries,
            vec![
                Entry { key: "b".into(), value: "2".into(), line: 2 },
                Entry { key: "a".into(), value: "3".into(), line: 3 },
            ]
        );
        assert_eq!(lexed.duplicates, vec![Duplicate { key: "a".into(), line_overridden: 1, line_effective: 3 }]);
    }

    #[test]
    fn byte_order_mark_is_skipped_and_recorded() {
        let lexed = lex_bytes(b"\xef\xbb\xbfbrokerName=a\n").unwrap();
        assert!(lexed.byte_order_mark);
        assert_eq!(lexed.entries[0].key, "brokerName");
    }

    #[test]
    fn latin1_fallback_when_not_utf8() {
        let lexed = lex_bytes(b"# caf\xe9\nname=caf\xe9\n").unwrap();
        assert_eq!(lexed.entries[0].value, "café");
    }

    #[test]
    fn longest_comment_and_key_value_pairs_are_recorded() {
        let lexed = lex("#short\n#a=1 b=2 c=3 and some text\nk=v\n#listenPort=10911\n").unwrap();
        let longest = lexed.comment_longest.unwrap();
        assert_eq!(longest.line, 2);
        assert_eq!(longest.key_value_pairs, 3);
        assert_eq!(lexed.comment_lines_with_pairs, 2);
    }
}
