//! fastjson's dialect (protocol §1.6): maps with integer keys are written with **unquoted** keys
//! (`{"brokerAddrs":{0:"10.0.0.1:10911"}}`), which is not JSON. Java peers send it and 4.x
//! clients older than 4.9.4 expect it, so ringmq reads it ([`quote_bare_keys`] before
//! serde_json) and writes it for those clients ([`unquote_integer_keys`] after serde_json).
//! Both scanners track string literals, so text inside values is never touched.

use std::borrow::Cow;

/// Quotes bare integer object keys so serde_json can parse fastjson output. Input that has none
/// is returned borrowed.
pub fn quote_bare_keys(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut output: Option<String> = None;
    let mut copied = 0usize;
    let mut index = 0usize;
    let mut in_string = false;
    let mut expecting_key = false;
    while index < bytes.len() {
        let byte = bytes[index];
        if in_string {
            match byte {
                b'\\' => index += 1,
                b'"' => in_string = false,
                _ => {}
            }
            index += 1;
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                expecting_key = false;
            }
            b'{' | b',' => expecting_key = true,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'-' | b'0'..=b'9' if expecting_key => {
                let end = index + 1 + bytes[index + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                let after = bytes[end..].iter().position(|b| !b.is_ascii_whitespace()).map(|p| end + p);
                if after.is_some_and(|at| bytes[at] == b':') && end > index + usize::from(byte == b'-') {
                    let target = output.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                    target.push_str(&text[copied..index]);
                    target.push('"');
                    target.push_str(&text[index..end]);
                    target.push('"');
                    copied = end;
                }
                expecting_key = false;
                index = end;
                continue;
            }
            _ => expecting_key = false,
        }
        index += 1;
    }
    match output {
        None => Cow::Borrowed(text),
        Some(mut target) => {
            target.push_str(&text[copied..]);
            Cow::Owned(target)
        }
    }
}

/// Removes the quotes around integer object keys (`{"0":"a"}` → `{0:"a"}`), as fastjson writes
/// `Map<Long, String>` for clients older than 4.9.4.
pub fn unquote_integer_keys(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut target = String::with_capacity(text.len());
    let mut copied = 0usize;
    let mut index = 0usize;
    let mut expecting_key = false;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                let Some(end) = string_end(bytes, index) else {
                    break; // unterminated: copy the rest as it is
                };
                let inner = &text[index + 1..end - 1];
                let digits = inner.strip_prefix('-').unwrap_or(inner);
                let is_integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                let followed_by_colon = bytes[end..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
                if expecting_key && is_integer && followed_by_colon {
                    target.push_str(&text[copied..index]);
                    target.push_str(inner);
                    copied = end;
                }
                expecting_key = false;
                index = end;
                continue;
            }
            b'{' | b',' => expecting_key = true,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => expecting_key = false,
        }
        index += 1;
    }
    target.push_str(&text[copied..]);
    target
}

/// Index just past the closing quote of the string literal starting at `start`, if it closes.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

/// Parses a JSON body that may be in fastjson's dialect.
pub fn from_fastjson<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    serde_json::from_str(&quote_bare_keys(text)).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_keys_are_quoted_and_strings_left_alone() {
        let text = r#"{"brokerAddrs":{0:"127.0.0.1:10911", 1 :"x"},"s":"{0:1}","a":[1,2]}"#;
        assert_eq!(quote_bare_keys(text), r#"{"brokerAddrs":{"0":"127.0.0.1:10911", "1" :"x"},"s":"{0:1}","a":[1,2]}"#);
        assert!(matches!(quote_bare_keys(r#"{"a":1}"#), Cow::Borrowed(_)));
        assert_eq!(quote_bare_keys(r#"{"t@g":{-1:5}}"#), r#"{"t@g":{"-1":5}}"#);
    }

    #[test]
    fn integer_keys_are_unquoted_and_strings_left_alone() {
        let text = r#"{"brokerAddrs":{"0":"a","12":"b"},"v":"0","x":{"0a":1},"e":"\"1\":"}"#;
        assert_eq!(unquote_integer_keys(text), r#"{"brokerAddrs":{0:"a",12:"b"},"v":"0","x":{"0a":1},"e":"\"1\":"}"#);
        assert_eq!(quote_bare_keys(&unquote_integer_keys(text)), text);
    }

    #[test]
    fn scanners_survive_garbage() {
        for text in ["{", "{\"", "{0", "{0:", "\"\\", "{-:", "{\"1\"", ",,,{{{"] {
            let _ = quote_bare_keys(text);
            let _ = unquote_integer_keys(text);
        }
    }
}
