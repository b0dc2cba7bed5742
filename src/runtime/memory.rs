//! An in-memory disk with faults, for tests of the store (TigerBeetle's `testing/storage.zig`,
//! redb's failing backend): every file keeps what was written and what was synced; `crash()`
//! keeps the synced bytes and a random prefix of each unsynced write (a torn write), as a power
//! cut would; syncs and writes can be made to fail.
//!
//! A write is in flight until its future is polled a second time, as an io_uring write is
//! between submission and completion. A write future dropped in flight is not undone: like a
//! write io_uring could not cancel, it lands later, after the next write to the disk, which is
//! the worst order for a caller that assumed it was abandoned.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::storage::{Durability, SegmentFile, Storage};

const ALIGNMENT_BYTES: u64 = 4096;

#[derive(Default)]
struct FileState {
    /// Last write, in ms since the epoch (tests move it to age files).
    modified_ms: i64,
    /// What a read sees now.
    current: Vec<u8>,
    /// What survives a crash for sure.
    synced: Vec<u8>,
    /// Writes since the last sync, in order: (position, bytes).
    unsynced: Vec<(u64, Vec<u8>)>,
}

#[derive(Default)]
struct Disk {
    files: BTreeMap<PathBuf, Rc<RefCell<FileState>>>,
    fail_next_sync: bool,
    fail_writes: bool,
    sync_count: u64,
    used_ratio: f64,
    /// Writes whose futures were dropped in flight; they land after the next write.
    late: Vec<LateWrite>,
}

struct LateWrite {
    state: Rc<RefCell<FileState>>,
    position: u64,
    bytes: Vec<u8>,
}

/// A write between submission and completion; see the module doc.
struct InFlight {
    disk: Rc<RefCell<Disk>>,
    late: Option<LateWrite>,
}

impl InFlight {
    fn land(mut self) {
        let write = self.late.take().expect("lands once");
        apply(&write);
        // Anything abandoned earlier completes after this write.
        let late = std::mem::take(&mut self.disk.borrow_mut().late);
        late.iter().for_each(apply);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(write) = self.late.take() {
            self.disk.borrow_mut().late.push(write);
        }
    }
}

fn apply(write: &LateWrite) {
    let mut state = write.state.borrow_mut();
    state.modified_ms = crate::protocol::now_ms();
    write_into(&mut state.current, write.position, &write.bytes);
    state.unsynced.push((write.position, write.bytes.clone()));
}

/// A fault-injecting in-memory storage. Clones share the same disk.
#[derive(Clone, Default)]
pub struct MemoryStorage {
    disk: Rc<RefCell<Disk>>,
}

/// A file of a [`MemoryStorage`].
pub struct MemoryFile {
    disk: Rc<RefCell<Disk>>,
    state: Rc<RefCell<FileState>>,
    durability: Durability,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next fdatasync fails with EIO.
    pub fn fail_next_sync(&self) {
        self.disk.borrow_mut().fail_next_sync = true;
    }

    /// Every write fails with EIO while set.
    pub fn fail_writes(&self, fail: bool) {
        self.disk.borrow_mut().fail_writes = fail;
    }

    /// fdatasync calls so far (a `Durability::OnWrite` write counts as none).
    pub fn sync_count(&self) -> u64 {
        self.disk.borrow().sync_count
    }

    /// A power cut: each file keeps its synced bytes plus, for each unsynced write in order,
    /// a prefix whose length `keep(write_index, write_length)` chooses (0 = lost, full = kept).
    pub fn crash(&self, mut keep: impl FnMut(usize, usize) -> usize) {
        let disk = self.disk.borrow();
        for state in disk.files.values() {
            let mut state = state.borrow_mut();
            let mut image = state.synced.clone();
            let writes = std::mem::take(&mut state.unsynced);
            for (index, (position, bytes)) in writes.iter().enumerate() {
                let kept = keep(index, bytes.len()).min(bytes.len());
                write_into(&mut image, *position, &bytes[..kept]);
            }
            state.current = image.clone();
            state.synced = image;
        }
    }

    /// Corrupts one byte of a file (as bit rot would).
    pub fn corrupt(&self, path: &Path, position: u64) {
        let disk = self.disk.borrow();
        let mut state = disk.files[path].borrow_mut();
        state.current[position as usize] ^= 0xFF;
        state.synced = state.current.clone();
    }

    /// Sets a file's modification time (to age it for retention tests).
    pub fn set_modified_ms(&self, path: &Path, modified_ms: i64) {
        if let Some(state) = self.disk.borrow().files.get(path) {
            state.borrow_mut().modified_ms = modified_ms;
        }
    }

    /// Sets what `used_ratio` reports (disk-full tests).
    pub fn set_used_ratio(&self, ratio: f64) {
        self.disk.borrow_mut().used_ratio = ratio;
    }

    /// The files that exist, by path.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.disk.borrow().files.keys().cloned().collect()
    }

    /// The current bytes of a file.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.disk.borrow().files.get(path).map(|state| state.borrow().current.clone())
    }

    /// The bytes of a file that a power cut now would keep for sure.
    pub fn synced_contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.disk.borrow().files.get(path).map(|state| state.borrow().synced.clone())
    }
}

fn write_into(image: &mut Vec<u8>, position: u64, bytes: &[u8]) {
    let end = position as usize + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[position as usize..end].copy_from_slice(bytes);
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl Storage for MemoryStorage {
    type File = MemoryFile;

    async fn open(&self, path: &Path, create: bool, durability: Durability) -> io::Result<MemoryFile> {
        let mut disk = self.disk.borrow_mut();
        let state = match disk.files.get(path) {
            Some(state) => state.clone(),
            None if create => {
                let state =
                    Rc::new(RefCell::new(FileState { modified_ms: crate::protocol::now_ms(), ..FileState::default() }));
                disk.files.insert(path.to_path_buf(), state.clone());
                state
            }
            None => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        Ok(MemoryFile { disk: self.disk.clone(), state, durability })
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        self.disk.borrow_mut().files.remove(path).map(|_| ()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn list(&self, directory: &Path) -> io::Result<Vec<PathBuf>> {
        Ok(self
            .disk
            .borrow()
            .files
            .keys()
            .filter(|path| path.parent() == Some(directory))
            .filter_map(|path| path.file_name().map(PathBuf::from))
            .collect())
    }

    fn create_directory(&self, _directory: &Path) -> io::Result<()> {
        Ok(())
    }

    fn modified_ms(&self, path: &Path) -> io::Result<i64> {
        let disk = self.disk.borrow();
        let state = disk.files.get(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let modified = state.borrow().modified_ms;
        Ok(modified)
    }

    fn used_ratio(&self, _path: &Path) -> io::Result<f64> {
        Ok(self.disk.borrow().used_ratio)
    }
}

/// A plain aligned-size buffer.
pub struct MemoryBuffer(Vec<u8>);

impl AsMut<[u8]> for MemoryBuffer {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl MemoryFile {
    async fn write(&self, buffer: MemoryBuffer, position: u64) -> io::Result<()> {
        assert_eq!(position % ALIGNMENT_BYTES, 0, "unaligned O_DIRECT write");
        if self.disk.borrow().fail_writes {
            return Err(eio());
        }
        let in_flight = InFlight {
            disk: self.disk.clone(),
            late: Some(LateWrite { state: self.state.clone(), position, bytes: buffer.0 }),
        };
        futures_lite::future::yield_now().await;
        in_flight.land();
        Ok(())
    }
}

impl SegmentFile for MemoryFile {
    type Buffer = MemoryBuffer;

    fn alignment(&self) -> u64 {
        ALIGNMENT_BYTES
    }

    fn alloc_buffer_unzeroed(&self, size_bytes: usize) -> MemoryBuffer {
        assert_eq!(size_bytes as u64 % ALIGNMENT_BYTES, 0);
        // Garbage rather than zeros, so that a caller relying on zeros it did not write fails
        // the tests.
        MemoryBuffer(vec![0xA5; size_bytes])
    }

    /// On a `Durability::OnWrite` file the write lands as a write followed by an fdatasync of
    /// the file (O_DSYNC's definition): what landed before it is kept too.
    async fn write_at(&self, buffer: MemoryBuffer, position: u64) -> io::Result<()> {
        self.write(buffer, position).await?;
        if self.durability == Durability::OnWrite {
            let mut state = self.state.borrow_mut();
            state.synced = state.current.clone();
            state.unsynced.clear();
        }
        Ok(())
    }

    async fn write_unsynced_at(&self, buffer: MemoryBuffer, position: u64) -> io::Result<()> {
        self.write(buffer, position).await
    }

    async fn read_at(&self, position: u64, size_bytes: usize) -> io::Result<Vec<u8>> {
        let state = self.state.borrow();
        let start = (position as usize).min(state.current.len());
        let end = (start + size_bytes).min(state.current.len());
        Ok(state.current[start..end].to_vec())
    }

    /// Covers the writes completed when it is submitted; it is then in flight for one poll,
    /// and writes completing meanwhile are not covered (as an fdatasync racing a write).
    async fn sync_data(&self) -> io::Result<()> {
        {
            let mut disk = self.disk.borrow_mut();
            disk.sync_count += 1;
            if std::mem::take(&mut disk.fail_next_sync) {
                return Err(eio());
            }
            // Abandoned writes have completed by the time a sync returns.
            std::mem::take(&mut disk.late).iter().for_each(apply);
            let mut state = self.state.borrow_mut();
            state.synced = state.current.clone();
            state.unsynced.clear();
        }
        futures_lite::future::yield_now().await;
        Ok(())
    }

    async fn extend(&self, size_bytes: u64) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        if (state.current.len() as u64) < size_bytes {
            state.current.resize(size_bytes as usize, 0);
            if (state.synced.len() as u64) < size_bytes {
                state.synced.resize(size_bytes as usize, 0);
            }
        }
        Ok(())
    }

    async fn deallocate(&self, offset: u64, size_bytes: u64) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        let start = (offset as usize).min(state.current.len());
        let end = ((offset + size_bytes) as usize).min(state.current.len());
        state.current[start..end].fill(0);
        let synced_end = end.min(state.synced.len());
        if start < synced_end {
            state.synced[start..synced_end].fill(0);
        }
        Ok(())
    }

    async fn size(&self) -> io::Result<u64> {
        Ok(self.state.borrow().current.len() as u64)
    }
}
