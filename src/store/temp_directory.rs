//! A unique scratch directory for unit tests (the store's, the boot's), removed on drop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct TempDirectory(pub PathBuf);

impl TempDirectory {
    /// `<temp>/ringmq-<prefix>-<name>-<pid>-<n>`: unique across tests of one process and
    /// across concurrent test processes.
    pub fn new(prefix: &str, name: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ringmq-{prefix}-{name}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDirectory(path)
    }
}

impl Drop for TempDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
