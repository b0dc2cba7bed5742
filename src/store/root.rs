//! The store directory as a whole: the lock that keeps a second broker out, the `abort` marker
//! of an unclean stop, the recorded shard count, and one checkpoint per shard.
//!
//! ```text
//! <storePathRootDir>/
//!   lock                     fcntl lock on byte 0, as Java's FileChannel.tryLock(0, 1)
//!   abort                    exists while a broker runs; absent after a clean stop
//!   ringmq-shards            the shard count the store was created with
//!   checkpoint-<k>           shard k's checkpoint (checkpoint.rs)
//!   commitlog/shard-<k>/     shard k's segments
//!   consumequeue/<topic>/<queueId>/
//!   index/shard-<k>/
//!   config/                  topics, groups, offsets (the control plane's files)
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Why the store directory cannot be used.
#[derive(Debug)]
pub enum RootError {
    Io {
        path: PathBuf,
        reason: String,
    },
    /// Another process holds the lock.
    Locked {
        path: PathBuf,
        holder_pid: Option<i32>,
    },
    /// The store was created with another shard count.
    ShardCount {
        path: PathBuf,
        recorded: u32,
        configured: u32,
    },
}

impl fmt::Display for RootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::Locked { path, holder_pid } => match holder_pid {
                Some(pid) => write!(
                    f,
                    "Lock failed,MQ already started: the store {} is locked by process {pid}; \
                     two brokers cannot share storePathRootDir (give each its own)",
                    path.display()
                ),
                None => write!(
                    f,
                    "Lock failed,MQ already started: the store {} is locked by another process; \
                     two brokers cannot share storePathRootDir (give each its own)",
                    path.display()
                ),
            },
            Self::ShardCount { path, recorded, configured } => write!(
                f,
                "the store {} was created with shardCount={recorded}, but shardCount={configured} is \
                 configured: queues are placed by shard, so the count cannot change on an existing \
                 store. Set shardCount={recorded} (or start on an empty storePathRootDir)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for RootError {}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> RootError + '_ {
    move |error| RootError::Io { path: path.to_path_buf(), reason: error.to_string() }
}

/// The opened store directory. Holds the lock until dropped.
pub struct StoreRoot {
    pub path: PathBuf,
    /// Whether the previous run stopped without removing `abort` (a crash).
    pub was_unclean: bool,
    _lock: File,
}

impl StoreRoot {
    /// Locks the directory (creating it), checks the shard count and marks the run as
    /// started. The lock is taken before anything else is read, so two brokers never recover
    /// the same store at once.
    pub fn open(path: &Path, shard_count: u32) -> Result<Self, RootError> {
        std::fs::create_dir_all(path).map_err(io_error(path))?;
        let lock_path = path.join("lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        lock_byte_zero(&lock, path)?;
        let _ = (&lock).write_all(b"lock");
        check_shard_count(path, shard_count)?;
        let abort_path = path.join("abort");
        let was_unclean = abort_path.exists();
        File::create(&abort_path).and_then(|file| file.sync_all()).map_err(io_error(&abort_path))?;
        sync_directory(path)?;
        Ok(Self { path: path.to_path_buf(), was_unclean, _lock: lock })
    }

    /// Marks a clean stop (the caller has written every checkpoint first).
    pub fn mark_clean(&self) -> Result<(), RootError> {
        let abort_path = self.path.join("abort");
        std::fs::remove_file(&abort_path).map_err(io_error(&abort_path))?;
        sync_directory(&self.path)
    }

    pub fn commit_log_directory(&self, shard: u16) -> PathBuf {
        self.path.join("commitlog").join(format!("shard-{shard}"))
    }

    pub fn index_directory(&self, shard: u16) -> PathBuf {
        self.path.join("index").join(format!("shard-{shard}"))
    }

    pub fn checkpoint_path(&self, shard: u16) -> PathBuf {
        self.path.join(format!("checkpoint-{shard}"))
    }
}

/// An exclusive fcntl lock on byte 0, as Java's `FileChannel.tryLock(0, 1, false)`, so a Java
/// broker and ringmq also exclude each other.
fn lock_byte_zero(file: &File, root: &Path) -> Result<(), RootError> {
    let mut request = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: fcntl with F_SETLK reads the struct we own; the descriptor is open.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &request) } == 0 {
        return Ok(());
    }
    // SAFETY: F_GETLK writes the holder into the struct we own.
    let holder_pid = if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut request) } == 0
        && request.l_type != libc::F_UNLCK as libc::c_short
    {
        Some(request.l_pid)
    } else {
        None
    };
    Err(RootError::Locked { path: root.to_path_buf(), holder_pid })
}

fn check_shard_count(root: &Path, configured: u32) -> Result<(), RootError> {
    let path = root.join("ringmq-shards");
    match File::open(&path) {
        Ok(mut file) => {
            let mut text = String::new();
            file.read_to_string(&mut text).map_err(io_error(&path))?;
            let recorded: u32 = text.trim().parse().map_err(|_| RootError::Io {
                path: path.clone(),
                reason: format!("does not hold a shard count: {text:?}"),
            })?;
            if recorded != configured {
                return Err(RootError::ShardCount { path: root.to_path_buf(), recorded, configured });
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            write_durably(&path, format!("{configured}\n").as_bytes()).map_err(io_error(&path))
        }
        Err(error) => Err(io_error(&path)(error)),
    }
}

/// Writes a small file so that a crash leaves the old or the new content, never a torn one:
/// a temporary file, fsync, rename, fsync of the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn sync_directory(path: &Path) -> Result<(), RootError> {
    File::open(path).and_then(|directory| directory.sync_all()).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("ringmq-root-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn a_clean_stop_and_an_unclean_one_are_told_apart() {
        let path = scratch("abort");
        let root = StoreRoot::open(&path, 2).unwrap();
        assert!(!root.was_unclean);
        drop(root); // no mark_clean: as a crash would
        let root = StoreRoot::open(&path, 2).unwrap();
        assert!(root.was_unclean);
        root.mark_clean().unwrap();
        drop(root);
        assert!(!StoreRoot::open(&path, 2).unwrap().was_unclean);
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn another_shard_count_is_refused_with_what_to_do() {
        let path = scratch("shards");
        drop(StoreRoot::open(&path, 2).unwrap());
        let error = StoreRoot::open(&path, 4).err().unwrap().to_string();
        assert!(error.contains("shardCount=2"), "{error}");
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_second_process_cannot_lock_the_store() {
        // fcntl locks are per process, so the second locker must be another process: a child
        // shell holds the lock with flock(1)-free means, here `python3 -c` using fcntl.
        let path = scratch("lock");
        let root = StoreRoot::open(&path, 1).unwrap();
        let script = format!(
            "import fcntl,sys\nf=open('{}','r+')\ntry:\n fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, 1, 0)\n print('locked')\nexcept OSError:\n print('refused')",
            path.join("lock").display()
        );
        let output = std::process::Command::new("python3").arg("-c").arg(&script).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "refused");
        drop(root);
        std::fs::remove_dir_all(&path).unwrap();
    }
}
