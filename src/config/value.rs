//! Value syntax per [`Kind`]: checks for the loader and parsers for the typed configs.
//!
//! Every check returns what was expected, as a phrase that completes "expected ...", so the
//! error names the rule the value broke.

use super::schema::Kind;

/// What a value should have looked like: completes "expected ...".
pub type Expected = String;

/// Checks `text` against `kind`. Path values are checked after variable expansion.
pub fn check(kind: &Kind, text: &str) -> Result<(), Expected> {
    match kind {
        Kind::Bool => parse_bool(text).map(drop).ok_or_else(|| "true or false".to_owned()),
        Kind::Int { min, max } => parse_integer(text, *min, *max, "int").map(drop),
        Kind::Long { min, max } => parse_integer(text, *min, *max, "long").map(drop),
        Kind::Port => parse_port(text).map(drop),
        Kind::Str => Ok(()),
        Kind::Name => non_empty(text, "a non-empty value"),
        Kind::Path { empty_ok: true } => Ok(()),
        Kind::Path { empty_ok: false } => non_empty(text, "a non-empty path"),
        Kind::Enum(values) => check_enum(values, text),
        Kind::NamesrvAddrs => parse_namesrv_addrs(text).map(drop),
        Kind::Address => parse_address_optional(text).map(drop),
        Kind::Hours => parse_hours(text).map(drop),
        Kind::DelayLevels => parse_delay_levels_ms(text).map(drop),
    }
}

fn non_empty(text: &str, expected: &str) -> Result<(), Expected> {
    if text.is_empty() {
        Err(expected.to_owned())
    } else {
        Ok(())
    }
}

fn check_enum(values: &[&str], text: &str) -> Result<(), Expected> {
    if values.contains(&text) {
        return Ok(());
    }
    let mut expected = format!("one of {} (case-sensitive, as Java)", values.join(", "));
    if values.iter().any(|value| value.eq_ignore_ascii_case(text)) {
        expected.push_str(&format!("; write it in upper case: {}", text.to_ascii_uppercase()));
    }
    Err(expected)
}

/// `true`/`false` in any case, as `Boolean.parseBoolean` reads `true`; anything else is refused
/// (Java would read `yes`, `1` or `on` as false without a word).
pub fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A decimal integer with an optional sign (`Integer.parseInt` / `Long.parseLong` syntax) in
/// `min..=max`.
pub fn parse_integer(text: &str, min: i64, max: i64, java: &str) -> Result<i64, Expected> {
    let expected = || integer_expected(min, max, java);
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(expected());
    }
    let value: i64 = text.parse().map_err(|_| expected())?;
    if value < min || value > max {
        return Err(expected());
    }
    Ok(value)
}

fn integer_expected(min: i64, max: i64, java: &str) -> Expected {
    let java_range = match java {
        "int" => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    match (min == java_range.0, max == java_range.1) {
        (true, true) => format!("an integer (Java {java}, no unit suffix)"),
        (false, true) => format!("an integer ≥ {min} (no unit suffix)"),
        _ => format!("an integer in {min}..={max} (no unit suffix)"),
    }
}

pub fn parse_port(text: &str) -> Result<u16, Expected> {
    let value = parse_integer(text, 1, 65535, "int").map_err(|_| "a port in 1..=65535".to_owned())?;
    u16::try_from(value).map_err(|_| "a port in 1..=65535".to_owned())
}

const NAMESRV_ADDRS_EXPECTED: &str = "`host:port` entries separated by `;` (e.g. 127.0.0.1:9876;192.168.0.1:9876)";

/// `host:port;host:port`. Empty entries (a trailing `;`) are skipped and blanks around entries
/// trimmed. A `,` is refused with its own message: Java accepts `a:9876,b:9876` at start-up
/// (it splits at the last `:`) and then never reaches a name server.
pub fn parse_namesrv_addrs(text: &str) -> Result<Vec<String>, Expected> {
    if text.contains(',') {
        return Err(format!("{NAMESRV_ADDRS_EXPECTED}; `,` is not a separator, use `;`"));
    }
    let mut addresses = Vec::new();
    for entry in text.split(';').map(str::trim).filter(|entry| !entry.is_empty()) {
        let address =
            parse_address(entry).map_err(|_| format!("{NAMESRV_ADDRS_EXPECTED}; `{entry}` is not `host:port`"))?;
        addresses.push(address);
    }
    Ok(addresses)
}

/// One `host:port`, the port numeric. The host is split at the last `:`, as Java does, so
/// `[::1]:9876` and `::1:9876` both give a host.
pub fn parse_address(text: &str) -> Result<String, Expected> {
    let expected = || "`host:port` with a numeric port".to_owned();
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let host_ok = !host.is_empty() && !host.chars().any(char::is_whitespace);
    if !host_ok || parse_port(port).is_err() {
        return Err(expected());
    }
    Ok(text.to_owned())
}

/// Like [`parse_address`], but empty means "not set".
pub fn parse_address_optional(text: &str) -> Result<Option<String>, Expected> {
    if text.is_empty() {
        return Ok(None);
    }
    parse_address(text).map(Some)
}

const HOURS_EXPECTED: &str = "hours of the day 0..=23 separated by `;` (e.g. 04 or 04;16)";

/// `deleteWhen`: `04`, `04;16`. Java parses each part with `Integer.parseInt` at clean-up time
/// and, on failure, never deletes by time; we refuse the value at start-up.
pub fn parse_hours(text: &str) -> Result<Vec<u8>, Expected> {
    let mut hours = Vec::new();
    for part in text.split(';').map(str::trim).filter(|part| !part.is_empty()) {
        let hour = parse_integer(part, 0, 23, "int").map_err(|_| HOURS_EXPECTED.to_owned())?;
        hours.push(u8::try_from(hour).map_err(|_| HOURS_EXPECTED.to_owned())?);
    }
    if hours.is_empty() {
        return Err(HOURS_EXPECTED.to_owned());
    }
    Ok(hours)
}

const DELAY_LEVELS_EXPECTED: &str =
    "space-separated delays, each a number and a unit s, m, h or d (e.g. 1s 5s 10s 30s 1m 2h)";

/// `messageDelayLevel`: `1s 5s 10s ...` to milliseconds, as `ScheduleMessageService
/// .parseDelayLevel` (whose failure makes the Java broker refuse to start).
pub fn parse_delay_levels_ms(text: &str) -> Result<Vec<u64>, Expected> {
    let mut levels = Vec::new();
    for token in text.split_whitespace() {
        let bad = || format!("{DELAY_LEVELS_EXPECTED}; `{token}` is not");
        let unit_index = token.len().checked_sub(1).ok_or_else(bad)?;
        let (number, unit) = token.split_at(unit_index);
        let unit_ms: u64 = match unit {
            "s" => 1000,
            "m" => 60 * 1000,
            "h" => 60 * 60 * 1000,
            "d" => 24 * 60 * 60 * 1000,
            _ => return Err(bad()),
        };
        if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad());
        }
        let count: u64 = number.parse().map_err(|_| bad())?;
        levels.push(count.checked_mul(unit_ms).ok_or_else(bad)?);
    }
    if levels.is_empty() {
        return Err(DELAY_LEVELS_EXPECTED.to_owned());
    }
    Ok(levels)
}

/// Why a value's variables could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    Unset { variable: String },
    Unclosed,
}

/// Expands `$VAR` and `${VAR}` (VAR = `[A-Za-z_][A-Za-z0-9_]*`) with `lookup`. A `$` not
/// followed by a name stays literal. Returns `None` when `text` holds no variable.
pub fn expand_variables(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut expanded_any = false;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, consumed) = variable_name(after)?;
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let value = lookup(name).ok_or_else(|| ExpandError::Unset { variable: name.to_owned() })?;
        out.push_str(&value);
        expanded_any = true;
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(expanded_any.then_some(out))
}

/// The variable name at the start of `after` (the text after a `$`) and how many bytes it
/// spans, braces included. An empty name means the `$` is literal.
fn variable_name(after: &str) -> Result<(&str, usize), ExpandError> {
    if let Some(braced) = after.strip_prefix('{') {
        let close = braced.find('}').ok_or(ExpandError::Unclosed)?;
        let name = &braced[..close];
        if !is_variable_name(name) {
            return Err(ExpandError::Unclosed);
        }
        return Ok((name, close + 2));
    }
    let length = after
        .char_indices()
        .find(|&(index, c)| !(c == '_' || c.is_ascii_alphabetic() || (index > 0 && c.is_ascii_digit())))
        .map_or(after.len(), |(index, _)| index);
    Ok((&after[..length], length))
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_true_false_in_any_case_only() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool("1"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn integers_refuse_units_spaces_and_overflow() {
        let int = |text| parse_integer(text, i64::from(i32::MIN), i64::from(i32::MAX), "int");
        assert_eq!(int("+42"), Ok(42));
        assert_eq!(int("-7"), Ok(-7));
        assert!(int("1G").is_err());
        assert!(int("10911 ").is_err());
        assert!(int("2147483648").is_err());
        assert!(int("").is_err());
        assert!(int("-").is_err());
        assert!(parse_integer("0", 1, 5, "int").unwrap_err().contains("1..=5"));
    }

    #[test]
    fn namesrv_addrs_split_on_semicolon_and_refuse_commas() {
        assert_eq!(parse_namesrv_addrs("a:9876; b:9876;").unwrap(), vec!["a:9876".to_owned(), "b:9876".to_owned()]);
        assert_eq!(parse_namesrv_addrs("").unwrap(), Vec::<String>::new());
        assert!(parse_namesrv_addrs("a:9876,b:9876").unwrap_err().contains("`,`"));
        assert!(parse_namesrv_addrs("a").unwrap_err().contains("`a`"));
        assert!(parse_namesrv_addrs("a:port").is_err());
        assert!(parse_namesrv_addrs(":9876").is_err());
        assert!(parse_namesrv_addrs("a:70000").is_err());
    }

    #[test]
    fn hours_are_zero_to_twenty_three() {
        assert_eq!(parse_hours("04").unwrap(), vec![4]);
        assert_eq!(parse_hours("04;16").unwrap(), vec![4, 16]);
        assert!(parse_hours("24").is_err());
        assert!(parse_hours("4,16").is_err());
        assert!(parse_hours("").is_err());
    }

    #[test]
    fn delay_levels_convert_units_to_milliseconds() {
        assert_eq!(parse_delay_levels_ms("1s 5m 2h 1d").unwrap(), vec![1000, 300_000, 7_200_000, 86_400_000]);
        assert!(parse_delay_levels_ms("1s 5x").unwrap_err().contains("`5x`"));
        assert!(parse_delay_levels_ms("s").is_err());
        assert!(parse_delay_levels_ms("-1s").is_err());
        assert!(parse_delay_levels_ms("").is_err());
    }

    #[test]
    fn enums_are_case_sensitive_with_a_hint() {
        let roles = &["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"];
        assert!(check(&Kind::Enum(roles), "SLAVE").is_ok());
        assert!(check(&Kind::Enum(roles), "slave").unwrap_err().contains("upper case"));
        assert!(!check(&Kind::Enum(roles), "master").unwrap_err().contains("upper case"));
    }

    #[test]
    fn variables_expand_and_literal_dollars_stay() {
        let lookup = |name: &str| (name == "HOME_X").then(|| "/h".to_owned());
        assert_eq!(expand_variables("$HOME_X/a", lookup), Ok(Some("/h/a".to_owned())));
        assert_eq!(expand_variables("${HOME_X}b", lookup), Ok(Some("/hb".to_owned())));
        assert_eq!(expand_variables("/no/vars", lookup), Ok(None));
        assert_eq!(expand_variables("cost$5", lookup), Ok(None));
        assert_eq!(expand_variables("$NOPE/a", lookup), Err(ExpandError::Unset { variable: "NOPE".to_owned() }));
        assert_eq!(expand_variables("${HOME_X", lookup), Err(ExpandError::Unclosed));
    }
}
