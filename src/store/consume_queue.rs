//! Consume queues (protocol §8.3): per (topic, queueId), the map from a queue offset to the
//! record's place in the commit log, in RocketMQ's on-disk layout.
//!
//! ```text
//!  unit (20 bytes, big-endian):  0 commit_log_offset i64 | 8 size_bytes i32 | 12 tags_code i64
//!  files: consumequeue/<topic>/<queueId>/<20-digit start BYTE offset>, file_size_bytes each
//!  unit n lives at byte n × 20 of the concatenated files
//! ```
//!
//! Contract:
//! * Pure data structure over files: synchronous positional I/O (`pread`/`pwrite`), no runtime.
//!   It runs inside one shard, so nothing here waits on the device except `sync`, the only
//!   fdatasync.
//! * An append touches memory only. The newest `TAIL_UNITS_MAX` units of a queue live in its
//!   tail; the suffix of the tail not yet written is the write buffer, written with one pwrite
//!   when the tail is full, when the next unit starts a new file, or on `flush`/`sync`.
//! * Readers at the head (tailing consumers, long polling) are served from the tail; older units
//!   are pread from the files, never through the tail, so a cold reader cannot evict it.
//! * Open file handles per queue: the last file (every append ends there) and one cached handle
//!   for reading an older file, so a shard holds at most two descriptors per queue.
//! * Units are dispatched in commit-log order by one shard, so `commit_log_offset` never
//!   decreases along a queue: `truncate_from` and `retain_from` binary-search on it.
//! * Recovery: `open` takes every unit up to the first invalid (zeroed) one of the last file, as
//!   RocketMQ does, and sets the min offset to the first non-blank unit. The store then calls
//!   `truncate_from(end of the commit log)` and `retain_from(start of the commit log)`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::limits::TOPIC_NAME_BYTES_MAX;

/// Size of one unit on disk.
pub const UNIT_SIZE_BYTES: usize = 20;

/// RocketMQ's `mappedFileSizeConsumeQueue`: 300,000 units per file.
pub const FILE_SIZE_BYTES_DEFAULT: u64 = 6_000_000;
const _: () = assert!(FILE_SIZE_BYTES_DEFAULT % UNIT_SIZE_BYTES as u64 == 0);

/// Units one pull scans at most: 16,000 bytes of consume queue (protocol §7.3).
pub const PULL_SCAN_UNITS_MAX: usize = 16_000 / UNIT_SIZE_BYTES;

/// Units kept in memory per queue (20 KiB). Java push consumers pull 32 messages at a time and a
/// pull scans at most 800 units, so consumers at the head are served without I/O; writing the
/// buffer when the tail fills means one pwrite per `TAIL_UNITS_MAX - TAIL_UNITS_KEPT` appends
/// (under 1,000 syscalls/s at 400k appends/s). The cost is bounded: queues × 20 KiB.
const TAIL_UNITS_MAX: usize = 1024;

/// Units left after a full tail is trimmed: half, so the memmove of a trim happens once per 512
/// appends, and a consumer up to 512 units behind the head still reads from memory.
const TAIL_UNITS_KEPT: usize = TAIL_UNITS_MAX / 2;
const _: () = assert!(TAIL_UNITS_MAX >= PULL_SCAN_UNITS_MAX);
const _: () = assert!(TAIL_UNITS_KEPT > 0 && TAIL_UNITS_KEPT < TAIL_UNITS_MAX);

/// Units read or written by one positional call when scanning, zeroing or blank-filling
/// (65,520 bytes): large enough that opening a queue reads a full file in ~100 calls, small
/// enough to be a transient buffer.
const CHUNK_UNITS: usize = 3276;

/// Units one `read` returns at most: it bounds the pread and the returned Vec. A pull needs
/// `PULL_SCAN_UNITS_MAX`; callers wanting more call again.
pub const READ_UNITS_MAX: usize = 16 * 1024;
const _: () = assert!(READ_UNITS_MAX >= PULL_SCAN_UNITS_MAX);

static ZEROS: [u8; CHUNK_UNITS * UNIT_SIZE_BYTES] = [0; CHUNK_UNITS * UNIT_SIZE_BYTES];

/// One consume-queue entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    pub commit_log_offset: i64,
    pub size_bytes: i32,
    pub tags_code: i64,
}

impl Unit {
    /// Fills the space before the first unit of a queue whose first file starts later (§8.3).
    pub const BLANK: Unit = Unit { commit_log_offset: 0, size_bytes: i32::MAX, tags_code: 0 };

    pub fn encode(&self) -> [u8; UNIT_SIZE_BYTES] {
        let mut bytes = [0; UNIT_SIZE_BYTES];
        bytes[0..8].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.size_bytes.to_be_bytes());
        bytes[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        bytes
    }

    /// Decodes the first 20 bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Unit {
        Unit {
            commit_log_offset: i64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes")),
            size_bytes: i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
            tags_code: i64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes")),
        }
    }

    /// RocketMQ's recovery test: a zeroed unit (size 0) marks the end of a queue.
    pub fn is_valid(&self) -> bool {
        self.commit_log_offset >= 0 && self.size_bytes > 0
    }

    pub fn is_blank(&self) -> bool {
        *self == Self::BLANK
    }
}

/// Why a consume-queue operation failed.
#[derive(Debug)]
pub enum ConsumeQueueError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// The files on disk do not form a queue: a gap in file names, a foreign file name, a file
    /// of the wrong size.
    Corrupt {
        path: PathBuf,
        reason: String,
    },
    /// A topic name that is not `[%|a-zA-Z0-9_-]{1,127}` (so unsafe as a directory name), or a
    /// negative queue id.
    InvalidQueue {
        topic: String,
        queue_id: i32,
    },
}

impl fmt::Display for ConsumeQueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "consume queue I/O on {}: {source}", path.display()),
            Self::Corrupt { path, reason } => {
                write!(f, "consume queue {} is corrupt: {reason}", path.display())
            }
            Self::InvalidQueue { topic, queue_id } => {
                write!(f, "invalid consume queue topic {topic:?} queue id {queue_id}")
            }
        }
    }
}

impl std::error::Error for ConsumeQueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, ConsumeQueueError>;

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ConsumeQueueError + '_ {
    move |source| ConsumeQueueError::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, reason: String) -> ConsumeQueueError {
    ConsumeQueueError::Corrupt { path: path.to_path_buf(), reason }
}

/// One queue's units. Lives on the shard that owns the queue; not shared.
///
/// ```text
///  first stored   min            tail_first     written           max
///  |-- retained --|-------- in files -----------|----- tail: written | write buffer --|
/// ```
pub struct ConsumeQueue {
    directory: PathBuf,
    units_per_file: i64,
    /// Files on disk, as file numbers (file k starts at unit k × units_per_file); contiguous.
    files: Range<i64>,
    offset_min: i64,
    /// Next offset to append: the number of units, blanks included.
    offset_max: i64,
    /// Units below this are in the files (not necessarily synced).
    offset_written: i64,
    /// Queue offset of the first unit in `tail`.
    offset_tail_first: i64,
    /// Encoded units `[offset_tail_first, offset_max)`.
    tail: Vec<u8>,
    /// The unit at `offset_max - 1`, so recovery checks need no I/O.
    last_unit: Option<Unit>,
    /// Handle of the last file; `Some` exactly when there are files.
    write_file: Option<File>,
    /// One cached read-only handle of an older file.
    read_file: RefCell<Option<(i64, File)>>,
    /// Files written since the last `take_unsynced`.
    unsynced_files: Vec<i64>,
    file_read_count: Cell<u64>,
}

impl ConsumeQueue {
    /// Opens the queue in `directory` (creating the directory), finding the min and max offsets
    /// from the files. Files are ordered by their numeric names; a gap is Corrupt. Trailing files
    /// that hold no unit (a crash right after a roll) are deleted.
    pub fn open(directory: &Path, file_size_bytes: u64) -> Result<Self> {
        assert!(
            file_size_bytes >= UNIT_SIZE_BYTES as u64 && file_size_bytes % UNIT_SIZE_BYTES as u64 == 0,
            "consume queue file size {file_size_bytes} is not a positive multiple of {UNIT_SIZE_BYTES}"
        );
        fs::create_dir_all(directory).map_err(io_error(directory))?;
        let files = open_list_files(directory, file_size_bytes)?;
        let units_per_file = i64::try_from(file_size_bytes / UNIT_SIZE_BYTES as u64).expect("file size fits in i64");
        let offset_start = files.start * units_per_file;
        let mut queue = ConsumeQueue {
            directory: directory.to_path_buf(),
            units_per_file,
            files,
            offset_min: offset_start,
            offset_max: offset_start,
            offset_written: offset_start,
            offset_tail_first: offset_start,
            tail: Vec::new(),
            last_unit: None,
            write_file: None,
            read_file: RefCell::new(None),
            unsynced_files: Vec::new(),
            file_read_count: Cell::new(0),
        };
        queue.open_check_file_sizes()?;
        if !queue.files.is_empty() {
            queue.write_file = Some(queue.open_file(queue.files.end - 1)?);
        }
        queue.open_find_max()?;
        queue.open_find_min()?;
        queue.assert_invariants();
        Ok(queue)
    }

    /// Every file but the last must be full size. The last may be short when the broker stopped
    /// between creating it and sizing it; it is sized now.
    fn open_check_file_sizes(&mut self) -> Result<()> {
        let size_bytes = self.file_size_bytes();
        for index in self.files.clone() {
            let path = self.file_path(index);
            let length = fs::metadata(&path).map_err(io_error(&path))?.len();
            if length == size_bytes {
                continue;
            }
            if index == self.files.end - 1 && length < size_bytes {
                let file = OpenOptions::new().write(true).open(&path).map_err(io_error(&path))?;
                file.set_len(size_bytes).map_err(io_error(&path))?;
                continue;
            }
            return Err(corrupt(&path, format!("{length} bytes, expected {size_bytes}")));
        }
        Ok(())
    }

    fn open_find_max(&mut self) -> Result<()> {
        while !self.files.is_empty() {
            let last = self.files.end - 1;
            let (valid_count, last_unit) = self.open_scan_valid_units(last)?;
            if valid_count == 0 && self.file_count() > 1 {
                self.remove_last_file()?;
                continue;
            }
            self.offset_max = last * self.units_per_file + valid_count;
            self.last_unit = last_unit;
            break;
        }
        self.offset_written = self.offset_max;
        self.offset_tail_first = self.offset_max;
        Ok(())
    }

    /// Units of file `index` before the first invalid one, and the last of them.
    fn open_scan_valid_units(&self, index: i64) -> Result<(i64, Option<Unit>)> {
        let mut buffer = vec![0; CHUNK_UNITS * UNIT_SIZE_BYTES];
        let mut valid_count = 0;
        let mut last_unit = None;
        while valid_count < self.units_per_file {
            let count = (self.units_per_file - valid_count).min(CHUNK_UNITS as i64);
            let bytes = &mut buffer[..count as usize * UNIT_SIZE_BYTES];
            self.read_file_bytes(index * self.units_per_file + valid_count, bytes)?;
            for chunk in bytes.chunks_exact(UNIT_SIZE_BYTES) {
                let unit = Unit::decode(chunk);
                if !unit.is_valid() {
                    return Ok((valid_count, last_unit));
                }
                valid_count += 1;
                last_unit = Some(unit);
            }
        }
        Ok((valid_count, last_unit))
    }

    /// The min offset is the first unit of the first file that is not a blank.
    fn open_find_min(&mut self) -> Result<()> {
        if self.files.is_empty() {
            return Ok(());
        }
        let limit = self.offset_max.min((self.files.start + 1) * self.units_per_file);
        let mut offset = self.files.start * self.units_per_file;
        while offset < limit {
            let count = (limit - offset).min(CHUNK_UNITS as i64) as usize;
            let units = self.read_units_from_file(offset, count)?;
            if let Some(position) = units.iter().position(|unit| !unit.is_blank()) {
                self.offset_min = offset + position as i64;
                return Ok(());
            }
            offset += count as i64;
        }
        self.offset_min = limit;
        Ok(())
    }

    /// Appends `unit` at `queue_offset`, which must be `max_offset()`. A queue with nothing
    /// written may start later: its first file is then the one holding `queue_offset`, filled
    /// with blank units before it, and the min offset is `queue_offset` (protocol §8.3).
    pub fn append(&mut self, queue_offset: i64, unit: Unit) -> Result<()> {
        // A unit that fails this would read back as the end of the queue after a restart.
        assert!(unit.is_valid(), "appending an invalid consume-queue unit {unit:?}");
        if self.offset_max == 0 && queue_offset > 0 {
            self.append_start_later(queue_offset)?;
        }
        assert_eq!(queue_offset, self.offset_max, "consume queue {:?} append out of order", self.directory);
        let unwritten = self.offset_written < self.offset_max;
        if unwritten && self.file_index(queue_offset) != self.file_index(self.offset_written) {
            self.flush()?;
        }
        if self.tail_units_count() == TAIL_UNITS_MAX {
            self.flush()?;
            self.append_trim_tail();
        }
        self.tail.extend_from_slice(&unit.encode());
        self.offset_max += 1;
        self.last_unit = Some(unit);
        Ok(())
    }

    fn append_start_later(&mut self, queue_offset: i64) -> Result<()> {
        assert!(self.offset_max == 0 && self.tail.is_empty());
        // With max 0 the files hold no unit.
        while !self.files.is_empty() {
            self.remove_last_file()?;
        }
        let index = self.file_index(queue_offset);
        self.create_last_file(index)?;
        let file_start = index * self.units_per_file;
        self.write_repeated(file_start, queue_offset, &Unit::BLANK.encode())?;
        self.offset_min = queue_offset;
        self.offset_max = queue_offset;
        self.offset_written = queue_offset;
        self.offset_tail_first = queue_offset;
        self.last_unit = (queue_offset > file_start).then_some(Unit::BLANK);
        Ok(())
    }

    /// Drops the oldest written units of a full tail.
    fn append_trim_tail(&mut self) {
        assert_eq!(self.offset_written, self.offset_max, "trimming unwritten units");
        let dropped = self.tail_units_count() - TAIL_UNITS_KEPT;
        self.tail.drain(..dropped * UNIT_SIZE_BYTES);
        self.offset_tail_first += dropped as i64;
    }

    /// Writes the write buffer to its file with one pwrite (no fdatasync).
    pub fn flush(&mut self) -> Result<()> {
        if self.offset_written == self.offset_max {
            return Ok(());
        }
        let index = self.file_index(self.offset_written);
        assert_eq!(self.file_index(self.offset_max - 1), index, "write buffer spans two files");
        if self.files.is_empty() || index == self.files.end {
            self.create_last_file(index)?;
        }
        assert_eq!(index, self.files.end - 1, "writes go to the last file");
        let start = (self.offset_written - self.offset_tail_first) as usize * UNIT_SIZE_BYTES;
        let position = self.position_in_file_bytes(self.offset_written);
        let file = self.write_file.as_ref().expect("the last file is open");
        file.write_all_at(&self.tail[start..], position)
            .map_err(|source| ConsumeQueueError::Io { path: self.file_path(index), source })?;
        self.mark_unsynced(index);
        self.offset_written = self.offset_max;
        Ok(())
    }

    /// Flushes, then hands over the paths of the files written since the last call (their
    /// marks go with them) for a checkpoint to fdatasync off the run loop (`checkpoint::write`).
    pub fn take_unsynced(&mut self) -> Result<Vec<PathBuf>> {
        self.flush()?;
        let written = std::mem::take(&mut self.unsynced_files);
        // A file deleted since it was written needs no sync.
        Ok(written.into_iter().filter(|index| self.files.contains(index)).map(|index| self.file_path(index)).collect())
    }

    /// Flushes and fdatasyncs at once, blocking: for tests off any run loop.
    #[cfg(test)]
    fn sync(&mut self) -> Result<()> {
        for path in self.take_unsynced()? {
            File::open(&path).and_then(|file| file.sync_data()).map_err(io_error(&path))?;
        }
        Ok(())
    }

    /// Next offset to be written: the number of units, blanks included.
    pub fn max_offset(&self) -> i64 {
        self.offset_max
    }

    /// First valid unit.
    pub fn min_offset(&self) -> i64 {
        self.offset_min
    }

    /// The unit at `queue_offset`, or None outside `[min_offset, max_offset)`.
    pub fn get(&self, queue_offset: i64) -> Result<Option<Unit>> {
        if queue_offset < self.offset_min || queue_offset >= self.offset_max {
            return Ok(None);
        }
        self.unit_at(queue_offset).map(Some)
    }

    /// Up to `count_max` units (and at most `READ_UNITS_MAX`) from `queue_offset`, never
    /// crossing a file boundary, as RocketMQ's pull scan reads within one file. Empty outside
    /// `[min_offset, max_offset)`.
    pub fn read(&self, queue_offset: i64, count_max: usize) -> Result<Vec<Unit>> {
        if count_max == 0 || queue_offset < self.offset_min || queue_offset >= self.offset_max {
            return Ok(Vec::new());
        }
        let file_end = (self.file_index(queue_offset) + 1) * self.units_per_file;
        let count = count_max.min(READ_UNITS_MAX) as i64;
        let end = self.offset_max.min(file_end).min(queue_offset + count);
        let from_file_end = end.min(self.offset_tail_first);
        let mut units = if queue_offset < from_file_end {
            self.read_units_from_file(queue_offset, (from_file_end - queue_offset) as usize)?
        } else {
            Vec::with_capacity((end - queue_offset) as usize)
        };
        for offset in queue_offset.max(self.offset_tail_first)..end {
            units.push(self.tail_unit(offset));
        }
        Ok(units)
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP (protocol §7.4): the offset of the unit whose store time is
    /// closest to `timestamp_ms`: the first one equal to it if any, otherwise the nearer of the
    /// two neighbours (the older one on a tie, as Java). 0 when the queue is empty or no unit's
    /// time could be read.
    ///
    /// Store times never decrease along a queue, so this is a binary search over the whole queue
    /// (Java searches the one file whose mtime covers the timestamp). `store_timestamp_ms` reads
    /// a unit's store time from the commit log; None (the message is gone, so it is older than
    /// anything retained) counts as older than `timestamp_ms`, as Java treats units below the
    /// commit log's min offset.
    pub fn search_offset_by_timestamp(
        &self,
        timestamp_ms: i64,
        mut store_timestamp_ms: impl FnMut(&Unit) -> Option<i64>,
    ) -> Result<i64> {
        let mut time_at = |offset: i64| -> Result<Option<i64>> {
            let unit = self.unit_at(offset)?;
            Ok(store_timestamp_ms(&unit))
        };
        let right = partition_point(self.offset_min, self.offset_max, |offset| {
            Ok(time_at(offset)?.is_none_or(|time_ms| time_ms < timestamp_ms))
        })?;
        let right_time_ms = if right < self.offset_max { time_at(right)? } else { None };
        if right_time_ms == Some(timestamp_ms) {
            return Ok(right);
        }
        let left_time_ms = if right > self.offset_min { time_at(right - 1)? } else { None };
        Ok(match (left_time_ms, right_time_ms) {
            (None, None) => 0,
            (Some(_), None) => right - 1,
            (None, Some(_)) => right,
            (Some(left_ms), Some(right_ms)) => {
                if timestamp_ms.abs_diff(left_ms) > timestamp_ms.abs_diff(right_ms) {
                    right
                } else {
                    right - 1
                }
            }
        })
    }

    /// Recovery: drops every unit whose commit_log_offset ≥ `commit_log_offset` (the store
    /// re-dispatches them from the commit log), zeroing them on disk and deleting trailing files
    /// left without units. The first file is kept even when emptied, so the max offset survives
    /// a restart.
    pub fn truncate_from(&mut self, commit_log_offset: i64) -> Result<()> {
        let first = self.offset_first_stored();
        let offset_max_new = partition_point(first, self.offset_max, |offset| {
            Ok(self.unit_at(offset)?.commit_log_offset < commit_log_offset)
        })?;
        if offset_max_new == self.offset_max {
            return Ok(());
        }
        if offset_max_new >= self.offset_tail_first {
            self.tail.truncate((offset_max_new - self.offset_tail_first) as usize * UNIT_SIZE_BYTES);
        } else {
            self.tail.clear();
            self.offset_tail_first = offset_max_new;
        }
        if offset_max_new < self.offset_written {
            self.truncate_files(offset_max_new)?;
            self.offset_written = offset_max_new;
        }
        self.offset_max = offset_max_new;
        self.offset_min = self.offset_min.min(offset_max_new);
        self.last_unit = if offset_max_new > first { Some(self.unit_at(offset_max_new - 1)?) } else { None };
        self.assert_invariants();
        Ok(())
    }

    fn truncate_files(&mut self, offset_max_new: i64) -> Result<()> {
        while self.file_count() > 1 && (self.files.end - 1) * self.units_per_file >= offset_max_new {
            self.remove_last_file()?;
        }
        let zero_end = self.offset_written.min(self.files.end * self.units_per_file);
        if offset_max_new < zero_end {
            self.write_repeated(offset_max_new, zero_end, &[0; UNIT_SIZE_BYTES])?;
        }
        Ok(())
    }

    /// Retention: the min offset moves to the first unit whose commit_log_offset is at least
    /// `commit_log_offset_min` (the max offset when none is), and files whose units all lie below
    /// it are deleted, never the last file. The min offset never moves back.
    pub fn retain_from(&mut self, commit_log_offset_min: i64) -> Result<()> {
        self.offset_min = partition_point(self.offset_min, self.offset_max, |offset| {
            Ok(self.unit_at(offset)?.commit_log_offset < commit_log_offset_min)
        })?;
        while self.file_count() > 1 && (self.files.start + 1) * self.units_per_file <= self.offset_min {
            self.remove_first_file()?;
        }
        self.assert_invariants();
        Ok(())
    }

    /// The commit-log offset of the last unit, if there is one that is not a blank.
    pub fn last_commit_log_offset(&self) -> Option<i64> {
        self.last_unit.filter(|unit| !unit.is_blank()).map(|unit| unit.commit_log_offset)
    }

    /// Positional reads this queue has made (a statistic: tailing readers should not add any).
    pub fn file_read_count(&self) -> u64 {
        self.file_read_count.get()
    }

    /// The queue's directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn assert_invariants(&self) {
        assert!(self.offset_min <= self.offset_max);
        assert!(self.offset_tail_first <= self.offset_written);
        assert!(self.offset_written <= self.offset_max);
        assert_eq!(self.offset_tail_first + self.tail_units_count() as i64, self.offset_max);
        assert!(self.tail_units_count() <= TAIL_UNITS_MAX);
        assert_eq!(self.write_file.is_some(), !self.files.is_empty());
        if !self.files.is_empty() {
            // The tail may still hold units of files retention deleted; they are below the min.
            assert!(self.files.start * self.units_per_file <= self.offset_min);
            assert!(self.offset_written <= self.files.end * self.units_per_file);
        }
    }

    fn file_size_bytes(&self) -> u64 {
        self.units_per_file as u64 * UNIT_SIZE_BYTES as u64
    }

    fn file_count(&self) -> i64 {
        self.files.end - self.files.start
    }

    fn file_index(&self, queue_offset: i64) -> i64 {
        queue_offset / self.units_per_file
    }

    fn file_path(&self, index: i64) -> PathBuf {
        self.directory.join(format!("{:020}", index as u64 * self.file_size_bytes()))
    }

    fn position_in_file_bytes(&self, queue_offset: i64) -> u64 {
        (queue_offset % self.units_per_file) as u64 * UNIT_SIZE_BYTES as u64
    }

    fn tail_units_count(&self) -> usize {
        self.tail.len() / UNIT_SIZE_BYTES
    }

    fn tail_unit(&self, queue_offset: i64) -> Unit {
        let start = (queue_offset - self.offset_tail_first) as usize * UNIT_SIZE_BYTES;
        Unit::decode(&self.tail[start..start + UNIT_SIZE_BYTES])
    }

    /// The first unit that exists, below the min offset if retention has not deleted its file.
    fn offset_first_stored(&self) -> i64 {
        if self.files.is_empty() {
            self.offset_tail_first
        } else {
            self.files.start * self.units_per_file
        }
    }

    /// Any stored unit, valid or not.
    fn unit_at(&self, queue_offset: i64) -> Result<Unit> {
        assert!(queue_offset >= self.offset_first_stored() && queue_offset < self.offset_max);
        if queue_offset >= self.offset_tail_first {
            return Ok(self.tail_unit(queue_offset));
        }
        let mut bytes = [0; UNIT_SIZE_BYTES];
        self.read_file_bytes(queue_offset, &mut bytes)?;
        Ok(Unit::decode(&bytes))
    }

    fn read_units_from_file(&self, queue_offset: i64, count: usize) -> Result<Vec<Unit>> {
        let mut bytes = vec![0; count * UNIT_SIZE_BYTES];
        self.read_file_bytes(queue_offset, &mut bytes)?;
        Ok(bytes.chunks_exact(UNIT_SIZE_BYTES).map(Unit::decode).collect())
    }

    /// Reads units starting at `queue_offset`, all within one file, with one pread.
    fn read_file_bytes(&self, queue_offset: i64, bytes: &mut [u8]) -> Result<()> {
        let index = self.file_index(queue_offset);
        let units = (bytes.len() / UNIT_SIZE_BYTES) as i64;
        assert!(self.files.contains(&index) && units <= (index + 1) * self.units_per_file - queue_offset);
        let position = self.position_in_file_bytes(queue_offset);
        self.file_read_count.set(self.file_read_count.get() + 1);
        let path_error = |source| ConsumeQueueError::Io { path: self.file_path(index), source };
        if index == self.files.end - 1 {
            let file = self.write_file.as_ref().expect("the last file is open");
            return file.read_exact_at(bytes, position).map_err(path_error);
        }
        let mut cached = self.read_file.borrow_mut();
        if cached.as_ref().map(|(cached_index, _)| *cached_index) != Some(index) {
            let path = self.file_path(index);
            *cached = Some((index, File::open(&path).map_err(io_error(&path))?));
        }
        let (_, file) = cached.as_ref().expect("cached just now");
        file.read_exact_at(bytes, position).map_err(path_error)
    }

    /// Writes `pattern` (one encoded unit) over units `[from, to)` of the last file, in chunks.
    fn write_repeated(&mut self, from: i64, to: i64, pattern: &[u8; UNIT_SIZE_BYTES]) -> Result<()> {
        let index = self.files.end - 1;
        assert!(from >= index * self.units_per_file && to <= self.files.end * self.units_per_file);
        let chunk: Vec<u8> =
            if *pattern == [0; UNIT_SIZE_BYTES] { ZEROS.to_vec() } else { pattern.repeat(CHUNK_UNITS) };
        let file = self.write_file.as_ref().expect("the last file is open");
        let mut offset = from;
        while offset < to {
            let count = (to - offset).min(CHUNK_UNITS as i64) as usize;
            let position = self.position_in_file_bytes(offset);
            file.write_all_at(&chunk[..count * UNIT_SIZE_BYTES], position)
                .map_err(|source| ConsumeQueueError::Io { path: self.file_path(index), source })?;
            offset += count as i64;
        }
        self.mark_unsynced(index);
        Ok(())
    }

    fn open_file(&self, index: i64) -> Result<File> {
        let path = self.file_path(index);
        OpenOptions::new().read(true).write(true).open(&path).map_err(io_error(&path))
    }

    /// Creates file `index` (sparse, full size) as the new last file.
    fn create_last_file(&mut self, index: i64) -> Result<()> {
        if self.files.is_empty() {
            self.files = index..index;
        }
        assert_eq!(index, self.files.end, "consume-queue files must stay contiguous");
        let path = self.file_path(index);
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(io_error(&path))?;
        file.set_len(self.file_size_bytes()).map_err(io_error(&path))?;
        self.files.end = index + 1;
        self.write_file = Some(file);
        self.mark_unsynced(index);
        Ok(())
    }

    fn remove_last_file(&mut self) -> Result<()> {
        let index = self.files.end - 1;
        self.remove_file(index)?;
        self.files.end = index;
        self.write_file = None;
        if !self.files.is_empty() {
            self.write_file = Some(self.open_file(self.files.end - 1)?);
        } else {
            self.files = 0..0;
        }
        Ok(())
    }

    fn remove_first_file(&mut self) -> Result<()> {
        assert!(self.file_count() > 1, "the last file is never removed from the front");
        self.remove_file(self.files.start)?;
        self.files.start += 1;
        Ok(())
    }

    fn remove_file(&mut self, index: i64) -> Result<()> {
        let cached = self.read_file.get_mut();
        if cached.as_ref().is_some_and(|(cached_index, _)| *cached_index == index) {
            *cached = None;
        }
        self.unsynced_files.retain(|unsynced| *unsynced != index);
        let path = self.file_path(index);
        fs::remove_file(&path).map_err(io_error(&path))
    }

    fn mark_unsynced(&mut self, index: i64) {
        if !self.unsynced_files.contains(&index) {
            self.unsynced_files.push(index);
        }
    }
}

/// The file numbers in `directory`, checked to be contiguous.
fn open_list_files(directory: &Path, file_size_bytes: u64) -> Result<Range<i64>> {
    let mut indices = Vec::new();
    for entry in fs::read_dir(directory).map_err(io_error(directory))? {
        let path = entry.map_err(io_error(directory))?.path();
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
        let start_bytes = name
            .parse::<u64>()
            .ok()
            .filter(|_| name.bytes().all(|byte| byte.is_ascii_digit()))
            .filter(|start_bytes| start_bytes % file_size_bytes == 0)
            .filter(|start_bytes| start_bytes / file_size_bytes <= i64::MAX as u64);
        let Some(start_bytes) = start_bytes else {
            let reason = format!("not a consume-queue file name for files of {file_size_bytes} bytes");
            return Err(corrupt(&path, reason));
        };
        indices.push((start_bytes / file_size_bytes) as i64);
    }
    indices.sort_unstable();
    for pair in indices.windows(2) {
        if pair[1] != pair[0] + 1 {
            let reason = format!("files {} and {} are not contiguous", pair[0], pair[1]);
            return Err(corrupt(directory, reason));
        }
    }
    Ok(match (indices.first(), indices.last()) {
        (Some(first), Some(last)) => *first..*last + 1,
        _ => 0..0,
    })
}

/// The first offset in `[low, high)` where `is_before` is false, given that it is true on a
/// prefix and false after it.
fn partition_point(mut low: i64, mut high: i64, mut is_before: impl FnMut(i64) -> Result<bool>) -> Result<i64> {
    while low < high {
        let middle = low + (high - low) / 2;
        if is_before(middle)? {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

/// Whether `topic` is a RocketMQ topic name (`[%|a-zA-Z0-9_-]{1,127}`), which is also what makes
/// it safe as a directory name.
fn is_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= TOPIC_NAME_BYTES_MAX
        && topic.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"%|_-".contains(&byte))
}

/// All consume queues of one shard, under `<root>/consumequeue/<topic>/<queueId>/`. A queue is
/// created on its first append.
pub struct ConsumeQueues {
    directory: PathBuf,
    file_size_bytes: u64,
    topics: HashMap<String, BTreeMap<i32, ConsumeQueue>>,
}

impl ConsumeQueues {
    /// Opens every queue found under `<root>/consumequeue/` (creating the directory).
    pub fn open_all(root: &Path, file_size_bytes: u64) -> Result<Self> {
        Self::open_filtered(root, file_size_bytes, |_, _| true)
    }

    /// Opens the queues under `<root>/consumequeue/` for which `owns(topic, queue_id)` is true:
    /// shards share the directory, each opening its own queues.
    pub fn open_filtered(root: &Path, file_size_bytes: u64, owns: impl Fn(&str, i32) -> bool) -> Result<Self> {
        let directory = root.join("consumequeue");
        fs::create_dir_all(&directory).map_err(io_error(&directory))?;
        let mut queues = ConsumeQueues { directory, file_size_bytes, topics: HashMap::new() };
        for entry in fs::read_dir(&queues.directory).map_err(io_error(&queues.directory))? {
            let entry = entry.map_err(io_error(&queues.directory))?;
            let path = entry.path();
            if !entry.file_type().map_err(io_error(&path))?.is_dir() {
                continue; // Only directories are topics.
            }
            let topic = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
            if !is_topic_name(topic) {
                return Err(corrupt(&path, "not a topic name".to_string()));
            }
            let topic_queues = open_topic(&path, file_size_bytes, |queue_id| owns(topic, queue_id))?;
            if !topic_queues.is_empty() {
                queues.topics.insert(topic.to_string(), topic_queues);
            }
        }
        Ok(queues)
    }

    pub fn get(&self, topic: &str, queue_id: i32) -> Option<&ConsumeQueue> {
        self.topics.get(topic)?.get(&queue_id)
    }

    pub fn get_mut(&mut self, topic: &str, queue_id: i32) -> Option<&mut ConsumeQueue> {
        self.topics.get_mut(topic)?.get_mut(&queue_id)
    }

    /// The queue, created (empty, with its directory) if it does not exist.
    pub fn get_or_create(&mut self, topic: &str, queue_id: i32) -> Result<&mut ConsumeQueue> {
        if self.get(topic, queue_id).is_none() {
            if !is_topic_name(topic) || queue_id < 0 {
                return Err(ConsumeQueueError::InvalidQueue { topic: topic.to_string(), queue_id });
            }
            let path = self.directory.join(topic).join(queue_id.to_string());
            let queue = ConsumeQueue::open(&path, self.file_size_bytes)?;
            self.topics.entry(topic.to_string()).or_default().insert(queue_id, queue);
        }
        Ok(self.get_mut(topic, queue_id).expect("created above"))
    }

    /// Appends to the queue, creating it on its first unit.
    pub fn append(&mut self, topic: &str, queue_id: i32, queue_offset: i64, unit: Unit) -> Result<()> {
        self.get_or_create(topic, queue_id)?.append(queue_offset, unit)
    }

    /// Every queue as (topic, queue id, queue), in no particular order of topics.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, &ConsumeQueue)> {
        self.topics
            .iter()
            .flat_map(|(topic, queues)| queues.iter().map(move |(queue_id, queue)| (topic.as_str(), *queue_id, queue)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut ConsumeQueue> {
        self.topics.values_mut().flat_map(|queues| queues.values_mut())
    }

    /// Number of queues.
    pub fn len(&self) -> usize {
        self.topics.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn flush_all(&mut self) -> Result<()> {
        self.iter_mut().try_for_each(ConsumeQueue::flush)
    }

    /// `take_unsynced` of every queue.
    pub fn take_unsynced(&mut self) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for queue in self.iter_mut() {
            paths.extend(queue.take_unsynced()?);
        }
        Ok(paths)
    }

    #[cfg(test)]
    fn sync_all(&mut self) -> Result<()> {
        self.iter_mut().try_for_each(ConsumeQueue::sync)
    }

    pub fn truncate_all_from(&mut self, commit_log_offset: i64) -> Result<()> {
        self.iter_mut().try_for_each(|queue| queue.truncate_from(commit_log_offset))
    }

    pub fn retain_all_from(&mut self, commit_log_offset_min: i64) -> Result<()> {
        self.iter_mut().try_for_each(|queue| queue.retain_from(commit_log_offset_min))
    }

    /// Deletes this collection's queues of `topic`, in memory and on disk, and the topic's
    /// directory once no shard has a queue left in it.
    pub fn remove(&mut self, topic: &str) -> Result<()> {
        let Some(queues) = self.topics.remove(topic) else {
            return Ok(());
        };
        for queue in queues.into_values() {
            let path = queue.directory().to_path_buf();
            drop(queue); // Closes its files.
            fs::remove_dir_all(&path).map_err(io_error(&path))?;
        }
        // Fails while another shard's queues are still there; that shard removes it last.
        let _ = fs::remove_dir(self.directory.join(topic));
        Ok(())
    }
}

fn open_topic(
    directory: &Path,
    file_size_bytes: u64,
    owns: impl Fn(i32) -> bool,
) -> Result<BTreeMap<i32, ConsumeQueue>> {
    let mut queues = BTreeMap::new();
    for entry in fs::read_dir(directory).map_err(io_error(directory))? {
        let path = entry.map_err(io_error(directory))?.path();
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
        let queue_id = name.parse::<i32>().ok().filter(|queue_id| *queue_id >= 0);
        let (Some(queue_id), true) = (queue_id, path.is_dir()) else {
            return Err(corrupt(&path, "not a queue id directory".to_string()));
        };
        if owns(queue_id) {
            queues.insert(queue_id, ConsumeQueue::open(&path, file_size_bytes)?);
        }
    }
    Ok(queues)
}

#[cfg(test)]
mod tests {
    //! Each test builds queues in a fresh temporary directory with tiny files (a few units each),
    //! so that file rolls, trims and boundaries happen within a handful of appends, then checks
    //! the public view (offsets, units read back) and, where it matters, the files on disk.

    use super::*;
    use crate::store::temp_directory::TempDirectory;

    fn unit(n: i64) -> Unit {
        Unit { commit_log_offset: 1000 + n * 100, size_bytes: 100, tags_code: n }
    }

    fn file_names(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    const FIVE_UNITS_BYTES: u64 = 5 * UNIT_SIZE_BYTES as u64;

    #[test]
    fn units_survive_reopen_and_tail_reads_need_no_file_io() {
        let temp = TempDirectory::new("cq", "reopen");
        let mut queue = ConsumeQueue::open(&temp.0, FILE_SIZE_BYTES_DEFAULT).unwrap();
        for n in 0..100 {
            queue.append(n, unit(n)).unwrap();
        }
        assert_eq!(queue.get(99).unwrap(), Some(unit(99)));
        assert_eq!(queue.read(68, 32).unwrap(), (68..100).map(unit).collect::<Vec<_>>());
        queue.sync().unwrap();
        assert_eq!(queue.read(90, 32).unwrap(), (90..100).map(unit).collect::<Vec<_>>());
        assert_eq!(queue.file_read_count(), 0, "the head is served from memory");
        drop(queue);

        let queue = ConsumeQueue::open(&temp.0, FILE_SIZE_BYTES_DEFAULT).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (0, 100));
        assert_eq!(queue.last_commit_log_offset(), Some(unit(99).commit_log_offset));
        let reads_before = queue.file_read_count();
        assert_eq!(queue.read(0, 1000).unwrap(), (0..100).map(unit).collect::<Vec<_>>());
        assert_eq!(queue.file_read_count(), reads_before + 1, "one pread for the whole run");
        assert_eq!(queue.get(100).unwrap(), None);
        assert_eq!(file_names(&temp.0), vec!["00000000000000000000"]);
    }

    #[test]
    fn appends_roll_files_and_reads_stop_at_file_boundaries() {
        let temp = TempDirectory::new("cq", "roll");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        for n in 0..12 {
            queue.append(n, unit(n)).unwrap();
        }
        // Reads within one file, wherever the units are (file or tail).
        assert_eq!(queue.read(3, 10).unwrap(), vec![unit(3), unit(4)]);
        assert_eq!(queue.read(5, 10).unwrap(), (5..10).map(unit).collect::<Vec<_>>());
        assert_eq!(queue.read(10, 10).unwrap(), vec![unit(10), unit(11)]);
        assert_eq!(queue.read(12, 10).unwrap(), vec![]);
        queue.flush().unwrap();
        assert_eq!(file_names(&temp.0), vec!["00000000000000000000", "00000000000000000100", "00000000000000000200"]);
        drop(queue);
        // Without a flush the last units would be lost; with it they are in the page cache.
        let queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert_eq!(queue.max_offset(), 12);
        assert_eq!(queue.read(0, 100).unwrap(), (0..5).map(unit).collect::<Vec<_>>());
        assert_eq!(queue.read(7, 100).unwrap(), vec![unit(7), unit(8), unit(9)]);
        assert_eq!(queue.read(10, 100).unwrap(), vec![unit(10), unit(11)]);
    }

    #[test]
    fn a_long_queue_trims_its_tail_and_reads_back_every_unit() {
        let temp = TempDirectory::new("cq", "long");
        let units_per_file = 700;
        let mut queue = ConsumeQueue::open(&temp.0, units_per_file * UNIT_SIZE_BYTES as u64).unwrap();
        let count = 5000;
        for n in 0..count {
            queue.append(n, unit(n)).unwrap();
            assert!(queue.tail_units_count() <= TAIL_UNITS_MAX);
        }
        let mut offset = 0;
        while offset < count {
            let units = queue.read(offset, PULL_SCAN_UNITS_MAX).unwrap();
            assert!(!units.is_empty());
            for (index, found) in units.iter().enumerate() {
                assert_eq!(*found, unit(offset + index as i64));
            }
            offset += units.len() as i64;
        }
        queue.sync().unwrap();
        let reopened = ConsumeQueue::open(&temp.0, units_per_file * UNIT_SIZE_BYTES as u64).unwrap();
        assert_eq!(reopened.max_offset(), count);
        assert_eq!(reopened.get(4321).unwrap(), Some(unit(4321)));
    }

    #[test]
    fn a_queue_that_starts_later_is_blank_filled_before_its_first_unit() {
        let temp = TempDirectory::new("cq", "blank");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        queue.append(7, unit(7)).unwrap();
        queue.append(8, unit(8)).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (7, 9));
        assert_eq!(queue.get(6).unwrap(), None);
        assert_eq!(queue.read(5, 10).unwrap(), vec![], "below the min offset");
        assert_eq!(queue.read(7, 10).unwrap(), vec![unit(7), unit(8)]);
        queue.sync().unwrap();
        assert_eq!(file_names(&temp.0), vec!["00000000000000000100"]);
        let bytes = fs::read(temp.0.join("00000000000000000100")).unwrap();
        assert_eq!(Unit::decode(&bytes[0..20]), Unit::BLANK);
        assert_eq!(Unit::decode(&bytes[20..40]), Unit::BLANK);
        assert_eq!(Unit::decode(&bytes[40..60]), unit(7));
        drop(queue);

        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (7, 9));
        queue.append(9, unit(9)).unwrap();
        assert_eq!(queue.read(7, 10).unwrap(), vec![unit(7), unit(8), unit(9)]);
    }

    #[test]
    fn a_blank_filled_queue_with_no_unit_yet_reopens_at_its_start() {
        let temp = TempDirectory::new("cq", "blank-empty");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        queue.append(13, unit(13)).unwrap();
        queue.truncate_from(unit(13).commit_log_offset).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (13, 13));
        assert_eq!(queue.last_commit_log_offset(), None, "blanks are not units");
        drop(queue);
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (13, 13));
        queue.append(13, unit(13)).unwrap();
        assert_eq!(queue.get(13).unwrap(), Some(unit(13)));
    }

    #[test]
    fn truncate_from_drops_units_from_the_offset_on_disk_and_in_memory() {
        let temp = TempDirectory::new("cq", "truncate");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        for n in 0..14 {
            queue.append(n, unit(n)).unwrap();
        }
        queue.flush().unwrap();
        queue.append(14, unit(14)).unwrap(); // Only in memory.
                                             // An offset between two units drops from the next one.
        queue.truncate_from(unit(6).commit_log_offset - 1).unwrap();
        assert_eq!(queue.max_offset(), 6);
        assert_eq!(queue.last_commit_log_offset(), Some(unit(5).commit_log_offset));
        assert_eq!(file_names(&temp.0), vec!["00000000000000000000", "00000000000000000100"]);
        assert_eq!(queue.read(5, 10).unwrap(), vec![unit(5)]);
        // Re-dispatch continues from there.
        queue.append(6, unit(6)).unwrap();
        queue.sync().unwrap();
        drop(queue);

        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert_eq!(queue.max_offset(), 7, "the dropped units were zeroed on disk");
        // Truncating at a file boundary keeps the full file and deletes the next.
        queue.truncate_from(unit(5).commit_log_offset).unwrap();
        assert_eq!(queue.max_offset(), 5);
        assert_eq!(file_names(&temp.0), vec!["00000000000000000000"]);
        // Truncating everything keeps the first file, so the max offset survives a restart.
        queue.truncate_from(0).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (0, 0));
        assert_eq!(queue.last_commit_log_offset(), None);
        queue.truncate_from(0).unwrap();
        drop(queue);
        let queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert_eq!(queue.max_offset(), 0);
    }

    #[test]
    fn retain_from_moves_the_min_offset_and_deletes_files_below_it() {
        let temp = TempDirectory::new("cq", "retain");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        for n in 0..12 {
            queue.append(n, unit(n)).unwrap();
        }
        queue.flush().unwrap();
        queue.retain_from(unit(4).commit_log_offset).unwrap();
        assert_eq!(queue.min_offset(), 4);
        assert_eq!(file_names(&temp.0).len(), 3, "file 0 still holds unit 4");
        queue.retain_from(unit(10).commit_log_offset + 1).unwrap();
        assert_eq!(queue.min_offset(), 11);
        assert_eq!(file_names(&temp.0), vec!["00000000000000000200"]);
        assert_eq!(queue.get(10).unwrap(), None);
        assert_eq!(queue.read(11, 10).unwrap(), vec![unit(11)]);
        // The min offset never moves back, and everything retained away leaves min = max.
        queue.retain_from(0).unwrap();
        assert_eq!(queue.min_offset(), 11);
        queue.retain_from(i64::MAX).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (12, 12));
        assert_eq!(file_names(&temp.0), vec!["00000000000000000200"], "never the last file");
        queue.append(12, unit(12)).unwrap();
        queue.sync().unwrap();
        drop(queue);
        let queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        // After a restart the min is the first file's first unit until the store retains again.
        assert_eq!((queue.min_offset(), queue.max_offset()), (10, 13));
    }

    #[test]
    fn search_offset_by_timestamp_finds_exact_and_nearest_units() {
        let temp = TempDirectory::new("cq", "search");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert_eq!(queue.search_offset_by_timestamp(5, |_| Some(5)).unwrap(), 0, "empty");
        // Unit n was stored at 1000 + (n / 2) * 100 ms: pairs share a timestamp.
        for n in 0..20 {
            queue.append(n, unit(n)).unwrap();
        }
        queue.flush().unwrap();
        let time_of = |found: &Unit| Some(1000 + ((found.commit_log_offset - 1000) / 100 / 2) * 100);
        let search = |timestamp_ms| queue.search_offset_by_timestamp(timestamp_ms, time_of).unwrap();
        assert_eq!(search(1300), 6, "the first of the equal units");
        assert_eq!(search(1000), 0);
        assert_eq!(search(1310), 7, "nearer to the left neighbour (unit 7 at 1300)");
        assert_eq!(search(1390), 8, "nearer to the right neighbour (unit 8 at 1400)");
        assert_eq!(search(1350), 7, "a tie goes to the older unit, as Java");
        assert_eq!(search(0), 0, "before everything");
        assert_eq!(search(99_999), 19, "after everything");
        // Messages gone from the commit log count as older.
        let gone_below_6 = |found: &Unit| (found.tags_code >= 6).then(|| time_of(found).unwrap());
        assert_eq!(queue.search_offset_by_timestamp(1000, gone_below_6).unwrap(), 6);
        assert_eq!(queue.search_offset_by_timestamp(1000, |_| None).unwrap(), 0, "nothing readable");
        queue.retain_from(unit(10).commit_log_offset).unwrap();
        let found = queue.search_offset_by_timestamp(1000, time_of).unwrap();
        assert_eq!(found, 10, "never below the min offset");
    }

    #[test]
    fn open_rejects_gaps_foreign_names_and_wrong_sizes_and_drops_empty_trailing_files() {
        let temp = TempDirectory::new("cq", "corrupt");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        for n in 0..7 {
            queue.append(n, unit(n)).unwrap();
        }
        queue.sync().unwrap();
        drop(queue);
        // An empty trailing file (a crash right after a roll, even before it was sized).
        fs::write(temp.0.join("00000000000000000200"), b"").unwrap();
        let queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert_eq!(queue.max_offset(), 7);
        assert_eq!(file_names(&temp.0).len(), 2);
        drop(queue);

        fs::write(temp.0.join("00000000000000000300"), vec![0; 100]).unwrap();
        let error = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).err().unwrap();
        assert!(matches!(error, ConsumeQueueError::Corrupt { .. }), "{error}");
        fs::remove_file(temp.0.join("00000000000000000300")).unwrap();

        fs::write(temp.0.join("notes.txt"), b"").unwrap();
        assert!(ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).is_err());
        fs::remove_file(temp.0.join("notes.txt")).unwrap();

        fs::write(temp.0.join("00000000000000000000"), vec![0; 99]).unwrap();
        assert!(ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).is_err(), "a short file that is not last");
    }

    #[test]
    #[should_panic(expected = "append out of order")]
    fn appending_at_any_offset_but_the_max_is_a_programming_error() {
        let temp = TempDirectory::new("cq", "order");
        let mut queue = ConsumeQueue::open(&temp.0, FIVE_UNITS_BYTES).unwrap();
        queue.append(0, unit(0)).unwrap();
        queue.append(2, unit(2)).unwrap();
    }

    #[test]
    fn consume_queues_are_created_lazily_found_again_on_open_and_removed_by_topic() {
        let temp = TempDirectory::new("cq", "all");
        let mut queues = ConsumeQueues::open_all(&temp.0, FIVE_UNITS_BYTES).unwrap();
        assert!(queues.is_empty());
        queues.append("TopicA", 0, 0, unit(0)).unwrap();
        queues.append("TopicA", 3, 0, unit(1)).unwrap();
        queues.append("%RETRY%group", 0, 4, unit(2)).unwrap();
        assert!(queues.append("../escape", 0, 0, unit(3)).is_err());
        assert!(queues.append("TopicA", -1, 0, unit(3)).is_err());
        queues.sync_all().unwrap();
        drop(queues);

        let mut queues = ConsumeQueues::open_all(&temp.0, FIVE_UNITS_BYTES).unwrap();
        let mut found: Vec<(String, i32, i64)> =
            queues.iter().map(|(topic, queue_id, queue)| (topic.to_string(), queue_id, queue.max_offset())).collect();
        found.sort();
        let expected = [("%RETRY%group", 0, 5), ("TopicA", 0, 1), ("TopicA", 3, 1)];
        let expected: Vec<(String, i32, i64)> =
            expected.iter().map(|(topic, id, max)| (topic.to_string(), *id, *max)).collect();
        assert_eq!(found, expected);
        queues.truncate_all_from(unit(1).commit_log_offset).unwrap();
        assert_eq!(queues.get("TopicA", 3).unwrap().max_offset(), 0);
        assert_eq!(queues.get("%RETRY%group", 0).unwrap().max_offset(), 4);
        queues.retain_all_from(i64::MAX).unwrap();
        queues.remove("TopicA").unwrap();
        assert!(queues.get("TopicA", 0).is_none());
        queues.remove("NeverSeen").unwrap();
        assert!(!temp.0.join("consumequeue").join("TopicA").exists());
        assert_eq!(queues.len(), 1);
    }
}
