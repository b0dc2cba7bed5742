//! The storage seam: what the store needs from files, so the same commit-log code runs on
//! O_DIRECT io_uring files in production ([`super::DmaStorage`]) and on a fault-injecting
//! in-memory disk in tests ([`super::MemoryStorage`]: torn writes, lost unsynced data, failing
//! fdatasync).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

/// When a segment file's writes are durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// After an fdatasync that follows them (O_DIRECT).
    OnSync,
    /// When they complete (O_DIRECT | O_DSYNC: "as though each write were followed by an
    /// fdatasync"), so a SYNC_FLUSH commit is one I/O instead of a write and an fdatasync.
    OnWrite,
}

/// A directory of files.
pub trait Storage: Clone + 'static {
    type File: SegmentFile;

    /// Opens `path` for reading and writing, creating it when `create` is set.
    fn open(&self, path: &Path, create: bool, durability: Durability) -> impl Future<Output = io::Result<Self::File>>;

    /// Removes a file.
    fn remove(&self, path: &Path) -> impl Future<Output = io::Result<()>>;

    /// The files in `directory` (names only), empty when it does not exist.
    fn list(&self, directory: &Path) -> io::Result<Vec<PathBuf>>;

    /// Creates `directory` and its parents.
    fn create_directory(&self, directory: &Path) -> io::Result<()>;

    /// When the file was last written, in ms since the epoch (retention ages segments by it).
    fn modified_ms(&self, path: &Path) -> io::Result<i64>;

    /// Fraction (0..=1) of the file system holding `path` that is in use.
    fn used_ratio(&self, path: &Path) -> io::Result<f64>;
}

/// One open file with positional, aligned I/O.
pub trait SegmentFile: 'static {
    /// A buffer the file can write from without another copy (DMA-aligned memory for O_DIRECT).
    type Buffer: AsMut<[u8]>;

    /// Write and read positions and lengths must be multiples of this.
    fn alignment(&self) -> u64;

    /// A zeroed buffer of `size_bytes` (a multiple of the alignment).
    fn alloc_buffer(&self, size_bytes: usize) -> Self::Buffer {
        let mut buffer = self.alloc_buffer_unzeroed(size_bytes);
        buffer.as_mut().fill(0);
        buffer
    }

    /// A buffer of `size_bytes` (a multiple of the alignment) whose contents are unspecified:
    /// for writes that fill it whole, so that nothing is written twice.
    fn alloc_buffer_unzeroed(&self, size_bytes: usize) -> Self::Buffer;

    /// Writes the whole buffer at `position` (aligned).
    fn write_at(&self, buffer: Self::Buffer, position: u64) -> impl Future<Output = io::Result<()>>;

    /// Writes like [`SegmentFile::write_at`] but never waits for the device to make the bytes
    /// durable, whatever the file's [`Durability`]: for the zeros written ahead of the records,
    /// whose loss in a crash harms nothing (a record written over them later syncs their
    /// blocks' allocation with it).
    fn write_unsynced_at(&self, buffer: Self::Buffer, position: u64) -> impl Future<Output = io::Result<()>>;

    /// Reads `size_bytes` at `position` (any alignment); short only at the end of the file.
    fn read_at(&self, position: u64, size_bytes: usize) -> impl Future<Output = io::Result<Vec<u8>>>;

    /// fdatasync.
    fn sync_data(&self) -> impl Future<Output = io::Result<()>>;

    /// Grows the file to `size_bytes` without reserving blocks (ftruncate: sparse, as
    /// RocketMQ's mapped files are): a broker's disk use follows its data, not its segment
    /// count. Reads of the unwritten part return zeros; the flusher's zeros ahead of the
    /// records allocate the blocks before any record lands there.
    fn extend(&self, size_bytes: u64) -> impl Future<Output = io::Result<()>>;

    /// Frees `[offset, offset + size)` (punch hole); reads of it return zeros afterwards.
    fn deallocate(&self, offset: u64, size_bytes: u64) -> impl Future<Output = io::Result<()>>;

    /// The file's size in bytes.
    fn size(&self) -> impl Future<Output = io::Result<u64>>;
}
