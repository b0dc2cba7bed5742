//! How a control-plane config file reaches the disk and comes back, as Java's
//! `ConfigManager.persist` / `load` and `MixAll.string2File` do it, made crash-safe.
//!
//! Write: the current content of `<file>` is copied to `<file>.bak`, then the new content
//! replaces `<file>` through a temporary file, fsync and rename (`write_durably`). A crash at
//! any point leaves a complete `<file>` or a complete `<file>.bak` holding the previous or the
//! new version, never a torn one.
//!
//! Load: `<file>` when it parses; otherwise (missing, empty, unreadable, corrupt) `<file>.bak`.
//! Neither present means a fresh start. Unlike Java, a corrupt `<file>` without a usable
//! `.bak` is an error rather than an empty table: starting with no offsets would silently
//! rewind every consumer group.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use tracing::warn;

use crate::protocol::json;
use crate::runtime::{self, Semaphore};
use crate::store::root::write_durably;

/// Why a control-plane file cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFileError {
    /// The file exists but cannot be read.
    Read { path: PathBuf, reason: String },
    /// Writing the file (or its `.bak`) failed; the previous version is still on disk.
    Write { path: PathBuf, reason: String },
    /// The file does not parse, and neither does its `.bak` (or there is none).
    Corrupt { path: PathBuf, reason: String },
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
            Self::Write { path, reason } => write!(f, "cannot write {}: {reason}", path.display()),
            Self::Corrupt { path, reason } => write!(
                f,
                "{} does not parse ({reason}) and there is no usable {}.bak; fix or remove the file",
                path.display(),
                path.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned())
            ),
        }
    }
}

impl std::error::Error for ConfigFileError {}

/// `<file>.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Reads one file: `Ok(None)` when it is missing or empty.
fn read_nonempty(path: &Path) -> Result<Option<Vec<u8>>, ConfigFileError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ConfigFileError::Read { path: path.to_path_buf(), reason: error.to_string() }),
    }
}

fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ConfigFileError> {
    json::from_fastjson(bytes).map_err(|reason| ConfigFileError::Corrupt { path: path.to_path_buf(), reason })
}

/// Loads `path` (fastjson's dialect accepted), falling back to `<path>.bak`. `Ok(None)`: neither
/// file exists (a fresh store).
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ConfigFileError> {
    let main_error = match read_nonempty(path) {
        Ok(Some(bytes)) => match parse(path, &bytes) {
            Ok(value) => return Ok(Some(value)),
            Err(error) => Some(error),
        },
        Ok(None) => None,
        Err(error) => Some(error),
    };
    let backup = backup_path(path);
    match read_nonempty(&backup)? {
        Some(bytes) => match parse::<T>(&backup, &bytes) {
            Ok(value) => {
                let why = main_error.as_ref().map_or_else(|| "it is missing".to_string(), ToString::to_string);
                warn!("loaded {} because {} cannot be used: {why}", backup.display(), path.display());
                Ok(Some(value))
            }
            Err(error) => Err(main_error.unwrap_or(error)),
        },
        None => match main_error {
            Some(error) => Err(error),
            None => Ok(None),
        },
    }
}

/// Writes `bytes` as the new `path`, keeping the previous content as `<path>.bak`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), ConfigFileError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error: std::io::Error| ConfigFileError::Write { path, reason: error.to_string() }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    }
    if let Some(previous) = read_nonempty(path)? {
        let backup = backup_path(path);
        write_durably(&backup, &previous).map_err(write_error(&backup))?;
    }
    write_durably(path, bytes).map_err(write_error(path))
}

/// A table kept in one config file: persisted whole (with a `.bak`), only when changed.
/// Implemented by the topic, group, consumer-offset and delay-offset tables.
pub trait PersistedTable {
    /// The file, or `None` for in-memory tables and snapshots, which never persist.
    fn file_path(&self) -> Option<&Path>;
    fn is_dirty(&self) -> bool;
    fn mark_clean(&mut self);
    fn mark_dirty(&mut self);
    /// The file's content.
    fn file_bytes(&self) -> Vec<u8>;

    /// Writes the file (keeping the previous one as `.bak`). In-memory tables do nothing.
    fn persist(&mut self) -> Result<(), ConfigFileError> {
        if let Some(path) = self.file_path().map(Path::to_path_buf) {
            write(&path, &self.file_bytes())?;
        }
        self.mark_clean();
        Ok(())
    }

    /// Persists only after a change; returns whether it wrote.
    fn persist_if_dirty(&mut self) -> Result<bool, ConfigFileError> {
        if !self.is_dirty() {
            return Ok(false);
        }
        self.persist()?;
        Ok(true)
    }

    /// After a change: the file's content, with the table marked clean, for a write off the
    /// run loop (`persist_change`). In-memory tables give nothing.
    fn take_change(&mut self) -> Option<(PathBuf, Vec<u8>)> {
        if !self.is_dirty() {
            return None;
        }
        let change = self.file_path().map(|path| (path.to_path_buf(), self.file_bytes()));
        self.mark_clean();
        change
    }
}

/// `persist_if_dirty` with the file I/O (four fsyncs with the `.bak`, 5 ms each on a quiet
/// virtual disk, seconds in one of its stalls) on the blocking-work thread, so the shard's
/// sends and pulls do not wait for it. `turn` (one permit, first come first served) keeps the
/// writes of one file in the order their contents were taken and never two at once. A failed
/// write marks the table dirty again, so the next one retries. Returns whether it wrote.
pub async fn persist_change<'a, T: PersistedTable + 'a>(
    table: impl Fn() -> std::cell::RefMut<'a, T>,
    turn: &Semaphore,
) -> Result<bool, ConfigFileError> {
    let Some((path, bytes)) = table().take_change() else {
        return Ok(false);
    };
    let _turn = turn.acquire_permit(1).await.expect("the persist turn is never closed");
    let written = runtime::spawn_blocking(move || write(&path, &bytes)).await;
    if written.is_err() {
        table().mark_dirty();
    }
    written.map(|()| true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A fresh scratch directory per test (removed by the test when it passes).
    pub(crate) fn scratch(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("ringmq-control-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    type Table = BTreeMap<String, i64>;

    #[test]
    fn writing_twice_keeps_the_previous_content_as_bak() {
        let directory = scratch("persist-bak");
        let path = directory.join("config").join("t.json");
        write(&path, br#"{"a":1}"#).unwrap();
        assert!(!backup_path(&path).exists());
        write(&path, br#"{"a":2}"#).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), br#"{"a":2}"#);
        assert_eq!(std::fs::read(backup_path(&path)).unwrap(), br#"{"a":1}"#);
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn a_corrupt_or_missing_file_loads_from_bak_and_neither_means_fresh() {
        let directory = scratch("persist-load");
        let path = directory.join("t.json");
        assert_eq!(load::<Table>(&path).unwrap(), None);
        write(&path, br#"{"a":1}"#).unwrap();
        write(&path, br#"{"a":2}"#).unwrap();
        std::fs::write(&path, b"{\"a\":2, torn").unwrap();
        assert_eq!(load::<Table>(&path).unwrap().unwrap()["a"], 1);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(load::<Table>(&path).unwrap().unwrap()["a"], 1);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(load::<Table>(&path).unwrap().unwrap()["a"], 1);
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn a_corrupt_file_without_bak_is_an_error_naming_the_path() {
        let directory = scratch("persist-corrupt");
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("consumerOffset.json");
        std::fs::write(&path, b"{not json").unwrap();
        let error = load::<Table>(&path).unwrap_err();
        assert!(matches!(error, ConfigFileError::Corrupt { .. }));
        let text = error.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("consumerOffset.json.bak"), "{text}");
        std::fs::remove_dir_all(directory).unwrap();
    }

    /// A one-value table for `persist_change`.
    struct Counter {
        path: PathBuf,
        value: i64,
        dirty: bool,
    }

    impl PersistedTable for Counter {
        fn file_path(&self) -> Option<&Path> {
            Some(&self.path)
        }
        fn is_dirty(&self) -> bool {
            self.dirty
        }
        fn mark_clean(&mut self) {
            self.dirty = false;
        }
        fn mark_dirty(&mut self) {
            self.dirty = true;
        }
        fn file_bytes(&self) -> Vec<u8> {
            self.value.to_string().into_bytes()
        }
    }

    #[test]
    fn a_change_is_written_off_the_run_loop_and_a_failed_write_leaves_the_table_dirty() {
        let directory = scratch("persist-change");
        std::fs::create_dir_all(&directory).unwrap();
        // The parent of the file is a regular file at first: the write fails.
        std::fs::write(directory.join("config"), b"not a directory").unwrap();
        let path = directory.join("config").join("counter.json");
        let (moved_directory, moved_path) = (directory.clone(), path.clone());
        let executor = runtime::spawn_executor("persist-test", None, move || async move {
            let table = std::cell::RefCell::new(Counter { path: moved_path.clone(), value: 7, dirty: true });
            let turn = Semaphore::new(1);
            let failed = persist_change(|| table.borrow_mut(), &turn).await;
            assert!(matches!(failed, Err(ConfigFileError::Write { .. })), "{failed:?}");
            assert!(table.borrow().is_dirty(), "a failed write is retried by the next one");
            std::fs::remove_file(moved_directory.join("config")).unwrap();
            table.borrow_mut().value = 8;
            assert_eq!(persist_change(|| table.borrow_mut(), &turn).await, Ok(true));
            assert!(!table.borrow().is_dirty());
            assert_eq!(persist_change(|| table.borrow_mut(), &turn).await, Ok(false), "nothing changed");
        })
        .unwrap();
        executor.join().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"8");
        std::fs::remove_dir_all(directory).unwrap();
    }
}
