//! One shard's checkpoint: how far the consume queues and the index are known to be on disk
//! (recovery re-dispatches from there), how far the commit log was known to be synced (a bad
//! record below it is corruption, not a torn tail), and, after a clean stop, where the log ends.
//!
//! ```text
//!  0 magic "RMQCKPT1" | 8 version u32 | 12 clean u32 (1 = written by a clean stop)
//! 16 log_end u64 | 24 dispatched u64 | 32 synced u64 | 40 timestamp_ms i64 | 48 crc32 u32
//! ```
//! Written with `root::write_durably` (temporary file, fsync, rename), so it is old or new,
//! never torn; the CRC catches anything else.
//!
//! `write` fdatasyncs the consume-queue and index files the checkpoint vouches for, then stores
//! it. It blocks for as long as the disk takes (5 ms on a quiet virtual disk, seconds in one of
//! its stalls), so the shard runs it on its blocking-work thread (`runtime::spawn_blocking`),
//! never on its run loop.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::commit_log::Position;

const MAGIC: &[u8; 8] = b"RMQCKPT1";
const VERSION: u32 = 1;
const SIZE_BYTES: usize = 52;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Written by a clean stop: `log_end` is exact and no scan is needed.
    pub clean: bool,
    pub log_end: Position,
    /// Consume queues and index hold every record below this position, on disk.
    pub dispatched: Position,
    /// The commit log was synced at least up to here.
    pub synced: Position,
    pub timestamp_ms: i64,
}

impl Checkpoint {
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(SIZE_BYTES);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_be_bytes());
        bytes.extend_from_slice(&u32::from(self.clean).to_be_bytes());
        bytes.extend_from_slice(&self.log_end.to_be_bytes());
        bytes.extend_from_slice(&self.dispatched.to_be_bytes());
        bytes.extend_from_slice(&self.synced.to_be_bytes());
        bytes.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(bytes.len(), SIZE_BYTES);
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != SIZE_BYTES || &bytes[..8] != MAGIC {
            return Err("not a ringmq checkpoint".into());
        }
        let u32_at = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if crc32fast::hash(&bytes[..48]) != u32_at(48) {
            return Err("checkpoint CRC mismatch".into());
        }
        if u32_at(8) != VERSION {
            return Err(format!("checkpoint version {} is not {VERSION}", u32_at(8)));
        }
        let checkpoint = Self {
            clean: u32_at(12) == 1,
            log_end: u64_at(16),
            dispatched: u64_at(24),
            synced: u64_at(32),
            timestamp_ms: u64_at(40) as i64,
        };
        if checkpoint.dispatched > checkpoint.synced.max(checkpoint.log_end) && checkpoint.clean {
            return Err("checkpoint positions are inconsistent".into());
        }
        Ok(checkpoint)
    }

    /// Reads a checkpoint; a missing file is a fresh store (all zero).
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read(path) {
            Ok(bytes) => Self::decode(&bytes).map_err(|reason| format!("{}: {reason}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(format!("{}: {error}", path.display())),
        }
    }

    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        super::root::write_durably(path, &self.encode())
    }
}

/// Why a checkpoint was not written.
#[derive(Debug)]
pub enum WriteError {
    /// A file the checkpoint vouches for failed its fdatasync. Its dirty pages may be lost
    /// even if a later fdatasync succeeds (Linux reports a writeback error once), so no later
    /// checkpoint may vouch for it either (`ShardStore::write_checkpoint`).
    Sync { path: PathBuf, source: io::Error },
    /// The files are synced but the checkpoint file could not be replaced: the previous one
    /// stands, and the next checkpoint may try again.
    Store { path: PathBuf, source: io::Error },
}

impl fmt::Display for WriteError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sync { path, source } => write!(formatter, "fdatasync of {}: {source}", path.display()),
            Self::Store { path, source } => write!(formatter, "writing {}: {source}", path.display()),
        }
    }
}

/// Syncs `files`, then stores `checkpoint` at `path`: the checkpoint is on disk only once what
/// it vouches for is. Blocking: call it through `runtime::spawn_blocking`.
pub fn write(files: &[PathBuf], checkpoint: &Checkpoint, path: &Path) -> Result<(), WriteError> {
    crate::runtime::assert_off_run_loop("a checkpoint's fdatasyncs");
    for file in files {
        sync_file(file).map_err(|source| WriteError::Sync { path: file.clone(), source })?;
    }
    checkpoint.store(path).map_err(|source| WriteError::Store { path: path.to_path_buf(), source })
}

/// A file deleted since it was written (retention, DELETE_TOPIC) needs no sync.
fn sync_file(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(file) => file.sync_data(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_and_damage_is_detected() {
        let checkpoint = Checkpoint { clean: true, log_end: 77, dispatched: 50, synced: 77, timestamp_ms: 9 };
        let mut bytes = checkpoint.encode();
        assert_eq!(Checkpoint::decode(&bytes).unwrap(), checkpoint);
        bytes[20] ^= 1;
        assert!(Checkpoint::decode(&bytes).is_err());
        assert!(Checkpoint::decode(&bytes[..10]).is_err());
    }

    #[test]
    fn a_checkpoint_is_stored_only_after_the_files_it_vouches_for_are_synced() {
        let directory = std::env::temp_dir().join(format!("ringmq-checkpoint-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("checkpoint-0");
        let written = directory.join("0000");
        std::fs::write(&written, b"units").unwrap();
        let checkpoint = Checkpoint { clean: false, log_end: 0, dispatched: 40, synced: 40, timestamp_ms: 1 };
        // A file deleted since it was written (retention, DELETE_TOPIC) needs no sync.
        write(&[written.clone(), directory.join("deleted")], &checkpoint, &path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), checkpoint);
        // procfs files refuse fdatasync (EINVAL): the later checkpoint must not be stored.
        let later = Checkpoint { dispatched: 80, synced: 80, ..checkpoint };
        let refused = write(&[written, PathBuf::from("/proc/self/status")], &later, &path);
        assert!(matches!(refused, Err(WriteError::Sync { .. })), "{refused:?}");
        assert_eq!(Checkpoint::load(&path).unwrap(), checkpoint, "the previous checkpoint stands");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
