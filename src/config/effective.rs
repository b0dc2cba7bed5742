//! The effective table: every key a process reads, with its value and where the value came
//! from, plus the unknown keys of the file (kept, as Java keeps them in its all-configs table).
//!
//! Values are stored as text, exactly as `-p` and GET_BROKER_CONFIG show them; the typed
//! getters parse on demand with the row's [`Kind`], and a failure names the value's origin.

use super::report::{ConfigError, Origin};
use super::schema::{self, KeyRow, Kind, Process};
use super::value;

/// One key's effective value.
#[derive(Clone, Debug)]
pub struct Setting {
    pub row: &'static KeyRow,
    pub text: String,
    pub origin: Origin,
}

/// A key of the file that no row reads.
#[derive(Clone, Debug)]
pub struct UnknownSetting {
    pub key: String,
    pub text: String,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub struct Values {
    pub process: Process,
    settings: Vec<Setting>,
    unknown: Vec<UnknownSetting>,
}

impl Values {
    /// Every row of `process` at its default. Derived defaults start empty; the loader fills
    /// them in once the keys they derive from are known.
    pub fn defaults(process: Process) -> Values {
        let settings = schema::rows_for(process)
            .map(|row| Setting { row, text: row.default.resolve(process).unwrap_or_default(), origin: Origin::Default })
            .collect();
        Values { process, settings, unknown: Vec::new() }
    }

    /// The setting of `key`. Panics when `process` has no such row: that is a typo in ringmq's
    /// own code (every getter is exercised by the tests), not bad input.
    pub fn setting(&self, key: &str) -> &Setting {
        match self.settings.iter().find(|setting| setting.row.key == key) {
            Some(setting) => setting,
            None => panic!("config key `{key}` has no row for the {}", self.process),
        }
    }

    pub fn text(&self, key: &str) -> &str {
        &self.setting(key).text
    }

    pub fn origin(&self, key: &str) -> &Origin {
        &self.setting(key).origin
    }

    pub fn is_set(&self, key: &str) -> bool {
        !self.origin(key).is_default()
    }

    pub fn set(&mut self, key: &str, text: String, origin: Origin) {
        let process = self.process;
        match self.settings.iter_mut().find(|setting| setting.row.key == key) {
            Some(setting) => {
                setting.text = text;
                setting.origin = origin;
            }
            None => panic!("config key `{key}` has no row for the {process}"),
        }
    }

    /// Replaces the text and keeps the origin (fix-ups such as brokerId forced to 0).
    pub fn set_text(&mut self, key: &str, text: String) {
        let origin = self.origin(key).clone();
        self.set(key, text, origin);
    }

    pub fn push_unknown(&mut self, key: String, text: String, origin: Origin) {
        self.unknown.retain(|unknown| unknown.key != key);
        self.unknown.push(UnknownSetting { key, text, origin });
    }

    /// `key=value` pairs for `-p` and GET_BROKER_CONFIG: rows in table order, then the unknown
    /// keys in file order.
    pub fn effective(&self) -> Vec<(String, String)> {
        let rows = self.settings.iter().map(|setting| (setting.row.key.to_owned(), setting.text.clone()));
        let unknown = self.unknown.iter().map(|unknown| (unknown.key.clone(), unknown.text.clone()));
        rows.chain(unknown).collect()
    }

    pub fn settings(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter()
    }

    fn bad(&self, key: &str, expected: String) -> ConfigError {
        let setting = self.setting(key);
        ConfigError::bad_value(&setting.origin, key, &setting.text, expected)
    }

    pub fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        value::parse_bool(self.text(key)).ok_or_else(|| self.bad(key, "true or false".to_owned()))
    }

    /// An integer within its row's range.
    pub fn integer(&self, key: &str) -> Result<i64, ConfigError> {
        let (min, max, java) = match self.setting(key).row.kind {
            Kind::Int { min, max } => (min, max, "int"),
            Kind::Long { min, max } => (min, max, "long"),
            Kind::Port => (1, 65535, "int"),
            other => panic!("config key `{key}` is a {other:?}, not an integer"),
        };
        value::parse_integer(self.text(key), min, max, java).map_err(|expected| self.bad(key, expected))
    }

    /// A non-negative integer as `u64` (the row's range must exclude negatives).
    pub fn u64(&self, key: &str) -> Result<u64, ConfigError> {
        let value = self.integer(key)?;
        u64::try_from(value).map_err(|_| self.bad(key, "a non-negative integer".to_owned()))
    }

    pub fn u32(&self, key: &str) -> Result<u32, ConfigError> {
        let value = self.integer(key)?;
        u32::try_from(value).map_err(|_| self.bad(key, "an integer in 0..=4294967295".to_owned()))
    }

    pub fn port(&self, key: &str) -> Result<u16, ConfigError> {
        value::parse_port(self.text(key)).map_err(|expected| self.bad(key, expected))
    }

    pub fn parse<T>(&self, key: &str, parse: impl Fn(&str) -> Result<T, value::Expected>) -> Result<T, ConfigError> {
        parse(self.text(key)).map_err(|expected| self.bad(key, expected))
    }
}
