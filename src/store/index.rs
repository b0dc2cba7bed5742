//! The key index (protocol §8.4): RocketMQ's index files, which answer QUERY_MESSAGE by key
//! (`topic#key`) and by unique key (`topic#UNIQ_KEY`) with candidate commit-log offsets.
//!
//! ```text
//!  index/<yyyyMMddHHmmssSSS>  (creation time in UTC; Java uses local time; names only order files)
//!  | header 40 B | slot_count × i32 slots | entry_count_max × 20 B entries |   all big-endian
//!  header:  0 beginTimestamp i64 | 8 endTimestamp i64 | 16 beginPhyOffset i64 | 24 endPhyOffset i64
//!          32 hashSlotCount i32 (slots used) | 36 indexCount i32 (next entry number, from 1)
//!  slot s:  newest entry number whose keyHash % slot_count == s, 0 = none
//!  entry k: 0 keyHash i32 | 4 commitLogOffset i64 | 12 timeDiff i32 (seconds since begin)
//!           | 16 previous entry number in the same slot i32 (0 = end of chain)
//! ```
//!
//! Contract:
//! * Pure data structure over files with positional I/O, run inside one shard. `put` runs twice
//!   per message on the hot path, so it makes no syscall in the common case: the current file's
//!   slots live in memory (a Vec<i32>, 20 MB at RocketMQ's 5M slots), new entries are buffered,
//!   and both are written with pwrite by `sync` (entries also when `ENTRY_BUFFER_BYTES_MAX` is
//!   reached, and everything when the file is full and a new one starts). `sync` is the only
//!   fdatasync.
//! * Files are created sparse (`set_len`) and never written in full.
//! * Queries read unwritten entries from memory and older ones with pread; older files are
//!   opened for the query only, so the store holds one open index file.
//! * Recovery: `open` loads the header and slots of the last file as last synced. Entries put
//!   after that may be missing, and slots may point past the synced count (they are treated as
//!   empty): the store re-puts everything after its checkpoint, so an offset can be indexed
//!   twice and `query` returns each offset once.
//! * Hashes collide, and the chain walk matches hashes only: callers re-check the key against
//!   the record. Entry times have a resolution of one second (truncated, as Java), and the time
//!   window is applied to those times.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::protocol::message::java_string_hash;
use crate::protocol::now_ms;

pub const HEADER_SIZE_BYTES: usize = 40;
pub const SLOT_SIZE_BYTES: usize = 4;
pub const ENTRY_SIZE_BYTES: usize = 20;

/// RocketMQ's `maxHashSlotNum`.
pub const SLOT_COUNT_DEFAULT: u32 = 5_000_000;
/// RocketMQ's `maxIndexNum` (entry 0 is never used, so a file holds one less).
pub const ENTRY_COUNT_MAX_DEFAULT: u32 = 20_000_000;

/// Encoded entries buffered before they are written with one pwrite (3,276 entries, about
/// 1,600 messages at two keys each): `put` stays free of syscalls between syncs while the
/// memory an index holds beyond its slots stays at 64 KiB.
const ENTRY_BUFFER_BYTES_MAX: usize = 64 * 1024;

/// Slots per dirty-tracking page: 4 KiB of slots, the granularity the page cache writes anyway,
/// so a sync rewrites only the pages `put` touched since the last one.
const SLOTS_PER_PAGE: usize = 4096 / SLOT_SIZE_BYTES;

/// Slot pages written by one pwrite at most (1 MiB): bounds the transient encode buffer.
const SLOT_PAGES_PER_WRITE_MAX: usize = 256;

/// Chain entries one query visits at most, across files. Entries not in memory cost one pread
/// each, so this bounds how long a query holds the shard's run loop (tens of milliseconds at
/// worst) when a hot key or a narrow time window makes chains long. Java caps the results at
/// 64 (`maxMsgsNumBatch`) but not the walk.
const QUERY_ENTRIES_VISITED_MAX: usize = 32 * 1024;

/// Bytes read by one pread when loading the slots at open.
const SLOT_LOAD_CHUNK_BYTES: usize = 1024 * 1024;
const _: () = assert!(SLOT_LOAD_CHUNK_BYTES % SLOT_SIZE_BYTES == 0);

/// Why an index operation failed.
#[derive(Debug)]
pub enum IndexError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// A file that is not an index file of this geometry: foreign name, wrong size, bad header.
    Corrupt {
        path: PathBuf,
        reason: String,
    },
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "index I/O on {}: {source}", path.display()),
            Self::Corrupt { path, reason } => write!(f, "index file {} is corrupt: {reason}", path.display()),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Corrupt { .. } => None,
        }
    }
}

type Result<T> = std::result::Result<T, IndexError>;

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> IndexError + '_ {
    move |source| IndexError::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, reason: String) -> IndexError {
    IndexError::Corrupt { path: path.to_path_buf(), reason }
}

/// Java's `IndexFile.indexKeyHashMethod`: `Math.abs(key.hashCode())`, and 0 for
/// `Integer.MIN_VALUE`, whose absolute value is still negative.
pub fn key_hash(key: &str) -> i32 {
    java_string_hash(key).checked_abs().unwrap_or(0)
}

/// `key_hash(&format!("{topic}#{key}"))` without building the string: Java's hash is a fold
/// over the UTF-16 units, so it runs over the parts in turn.
pub fn topic_key_hash(topic: &str, key: &str) -> i32 {
    let units = topic.encode_utf16().chain("#".encode_utf16()).chain(key.encode_utf16());
    let hash = units.fold(0i32, |hash, unit| hash.wrapping_mul(31).wrapping_add(i32::from(unit)));
    hash.checked_abs().unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IndexHeader {
    begin_timestamp_ms: i64,
    end_timestamp_ms: i64,
    begin_commit_log_offset: i64,
    end_commit_log_offset: i64,
    slots_used_count: i32,
    /// The next entry number: entries are numbered from 1, so 1 means empty.
    index_count: i32,
}

impl IndexHeader {
    const EMPTY: IndexHeader = IndexHeader {
        begin_timestamp_ms: 0,
        end_timestamp_ms: 0,
        begin_commit_log_offset: 0,
        end_commit_log_offset: 0,
        slots_used_count: 0,
        index_count: 1,
    };

    fn encode(&self) -> [u8; HEADER_SIZE_BYTES] {
        let mut bytes = [0; HEADER_SIZE_BYTES];
        bytes[0..8].copy_from_slice(&self.begin_timestamp_ms.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.end_timestamp_ms.to_be_bytes());
        bytes[16..24].copy_from_slice(&self.begin_commit_log_offset.to_be_bytes());
        bytes[24..32].copy_from_slice(&self.end_commit_log_offset.to_be_bytes());
        bytes[32..36].copy_from_slice(&self.slots_used_count.to_be_bytes());
        bytes[36..40].copy_from_slice(&self.index_count.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8; HEADER_SIZE_BYTES]) -> IndexHeader {
        IndexHeader {
            begin_timestamp_ms: read_i64(&bytes[0..8]),
            end_timestamp_ms: read_i64(&bytes[8..16]),
            begin_commit_log_offset: read_i64(&bytes[16..24]),
            end_commit_log_offset: read_i64(&bytes[24..32]),
            slots_used_count: read_i32(&bytes[32..36]),
            index_count: read_i32(&bytes[36..40]),
        }
    }

    fn is_empty(&self) -> bool {
        self.index_count <= 1
    }

    /// Java's `IndexFile.isTimeMatched`: the file's time range overlaps `[begin_ms, end_ms]`.
    fn overlaps(&self, begin_ms: i64, end_ms: i64) -> bool {
        begin_ms <= self.end_timestamp_ms && end_ms >= self.begin_timestamp_ms
    }
}

fn read_i64(bytes: &[u8]) -> i64 {
    i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}

fn read_i32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    key_hash: i32,
    commit_log_offset: i64,
    time_difference_s: i32,
    previous_index: i32,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_SIZE_BYTES] {
        let mut bytes = [0; ENTRY_SIZE_BYTES];
        bytes[0..4].copy_from_slice(&self.key_hash.to_be_bytes());
        bytes[4..12].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        bytes[12..16].copy_from_slice(&self.time_difference_s.to_be_bytes());
        bytes[16..20].copy_from_slice(&self.previous_index.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Entry {
        Entry {
            key_hash: read_i32(&bytes[0..4]),
            commit_log_offset: read_i64(&bytes[4..12]),
            time_difference_s: read_i32(&bytes[12..16]),
            previous_index: read_i32(&bytes[16..20]),
        }
    }
}

/// Slot and entry counts of every file; the header does not record them, so a change of
/// configuration makes old files unreadable (their size no longer matches: Corrupt).
#[derive(Clone, Copy, Debug)]
struct Geometry {
    slot_count: u32,
    entry_count_max: u32,
}

impl Geometry {
    fn file_size_bytes(&self) -> u64 {
        self.entry_position_bytes(self.entry_count_max)
    }

    fn slot_position_bytes(&self, slot: usize) -> u64 {
        (HEADER_SIZE_BYTES + slot * SLOT_SIZE_BYTES) as u64
    }

    fn entry_position_bytes(&self, index: u32) -> u64 {
        self.slot_position_bytes(self.slot_count as usize) + u64::from(index) * ENTRY_SIZE_BYTES as u64
    }

    fn slot_of(&self, key_hash: i32) -> usize {
        // key_hash is never negative, as Java's `keyHash % hashSlotNum`.
        assert!(key_hash >= 0);
        (key_hash as u32 % self.slot_count) as usize
    }
}

/// A full file, read only by queries.
struct SealedIndexFile {
    path: PathBuf,
    header: IndexHeader,
}

/// The file `put` appends to.
struct CurrentIndexFile {
    path: PathBuf,
    file: File,
    header: IndexHeader,
    slots: Vec<i32>,
    /// One bit per `SLOTS_PER_PAGE` slots changed since they were last written.
    slot_pages_dirty: Vec<u64>,
    /// Encoded entries `[entries_written_count, header.index_count)`.
    entries_pending: Vec<u8>,
    /// Entries below this number are in the file.
    entries_written_count: i32,
}

impl CurrentIndexFile {
    fn create(path: PathBuf, geometry: Geometry) -> Result<Self> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(io_error(&path))?;
        file.set_len(geometry.file_size_bytes()).map_err(io_error(&path))?;
        Ok(Self::new(path, file, IndexHeader::EMPTY, vec![0; geometry.slot_count as usize]))
    }

    fn open(path: PathBuf, header: IndexHeader, geometry: Geometry) -> Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(io_error(&path))?;
        let mut slots = Vec::with_capacity(geometry.slot_count as usize);
        let mut buffer = vec![0; SLOT_LOAD_CHUNK_BYTES];
        while slots.len() < geometry.slot_count as usize {
            let count = (geometry.slot_count as usize - slots.len()).min(SLOT_LOAD_CHUNK_BYTES / SLOT_SIZE_BYTES);
            let bytes = &mut buffer[..count * SLOT_SIZE_BYTES];
            let position = geometry.slot_position_bytes(slots.len());
            file.read_exact_at(bytes, position).map_err(io_error(&path))?;
            slots.extend(bytes.chunks_exact(SLOT_SIZE_BYTES).map(read_i32));
        }
        Ok(Self::new(path, file, header, slots))
    }

    fn new(path: PathBuf, file: File, header: IndexHeader, slots: Vec<i32>) -> Self {
        let page_count = slots.len().div_ceil(SLOTS_PER_PAGE);
        CurrentIndexFile {
            path,
            file,
            header,
            slots,
            slot_pages_dirty: vec![0; page_count.div_ceil(64)],
            entries_pending: Vec::new(),
            entries_written_count: header.index_count,
        }
    }

    fn is_full(&self, geometry: Geometry) -> bool {
        self.header.index_count as u32 >= geometry.entry_count_max
    }

    /// As Java's `IndexFile.putKey`, in memory.
    fn put(&mut self, key_hash: i32, slot: usize, commit_log_offset: i64, store_timestamp_ms: i64) {
        let index = self.header.index_count;
        let mut previous_index = self.slots[slot];
        if previous_index <= 0 || previous_index >= index {
            // Unused, or written before a crash lost the entries it points to.
            previous_index = 0;
        }
        let time_difference_s = if self.header.begin_timestamp_ms <= 0 {
            0
        } else {
            ((store_timestamp_ms - self.header.begin_timestamp_ms) / 1000).clamp(0, i64::from(i32::MAX)) as i32
        };
        let entry = Entry { key_hash, commit_log_offset, time_difference_s, previous_index };
        self.entries_pending.extend_from_slice(&entry.encode());
        self.slots[slot] = index;
        self.slot_pages_dirty[slot / SLOTS_PER_PAGE / 64] |= 1 << (slot / SLOTS_PER_PAGE % 64);
        if index <= 1 {
            self.header.begin_commit_log_offset = commit_log_offset;
            self.header.begin_timestamp_ms = store_timestamp_ms;
        }
        if previous_index == 0 {
            self.header.slots_used_count += 1;
        }
        self.header.index_count += 1;
        self.header.end_commit_log_offset = commit_log_offset;
        self.header.end_timestamp_ms = store_timestamp_ms;
    }

    fn write_entries(&mut self, geometry: Geometry) -> Result<()> {
        if self.entries_pending.is_empty() {
            return Ok(());
        }
        let position = geometry.entry_position_bytes(self.entries_written_count as u32);
        self.file.write_all_at(&self.entries_pending, position).map_err(io_error(&self.path))?;
        self.entries_written_count = self.header.index_count;
        self.entries_pending.clear();
        Ok(())
    }

    /// Writes each run of dirty slot pages with one pwrite.
    fn write_slots(&mut self, geometry: Geometry) -> Result<()> {
        let page_count = self.slots.len().div_ceil(SLOTS_PER_PAGE);
        let mut buffer = Vec::new();
        let mut page = 0;
        while page < page_count {
            if !self.is_page_dirty(page) {
                page += 1;
                continue;
            }
            let first_page = page;
            while page < page_count && self.is_page_dirty(page) && page - first_page < SLOT_PAGES_PER_WRITE_MAX {
                page += 1;
            }
            let slots = first_page * SLOTS_PER_PAGE..(page * SLOTS_PER_PAGE).min(self.slots.len());
            buffer.clear();
            buffer.extend(self.slots[slots.clone()].iter().flat_map(|slot| slot.to_be_bytes()));
            let position = geometry.slot_position_bytes(slots.start);
            self.file.write_all_at(&buffer, position).map_err(io_error(&self.path))?;
            for written_page in first_page..page {
                self.slot_pages_dirty[written_page / 64] &= !(1 << (written_page % 64));
            }
        }
        Ok(())
    }

    fn is_page_dirty(&self, page: usize) -> bool {
        self.slot_pages_dirty[page / 64] & (1 << (page % 64)) != 0
    }

    /// Entries, then slots, then the header, so the header's count is the last to change.
    fn write_all(&mut self, geometry: Geometry) -> Result<()> {
        self.write_entries(geometry)?;
        self.write_slots(geometry)?;
        self.file.write_all_at(&self.header.encode(), 0).map_err(io_error(&self.path))
    }
}

/// Where a chain walk reads slots and entries from.
trait EntrySource {
    fn slot(&self, slot: usize) -> Result<i32>;
    fn entry(&self, index: i32) -> Result<Entry>;
}

struct CurrentSource<'a> {
    current: &'a CurrentIndexFile,
    geometry: Geometry,
}

impl EntrySource for CurrentSource<'_> {
    fn slot(&self, slot: usize) -> Result<i32> {
        Ok(self.current.slots[slot])
    }

    fn entry(&self, index: i32) -> Result<Entry> {
        let current = self.current;
        if index >= current.entries_written_count {
            let start = (index - current.entries_written_count) as usize * ENTRY_SIZE_BYTES;
            return Ok(Entry::decode(&current.entries_pending[start..start + ENTRY_SIZE_BYTES]));
        }
        read_entry(&current.file, &current.path, self.geometry, index)
    }
}

struct SealedSource<'a> {
    file: File,
    path: &'a Path,
    geometry: Geometry,
}

impl EntrySource for SealedSource<'_> {
    fn slot(&self, slot: usize) -> Result<i32> {
        let mut bytes = [0; SLOT_SIZE_BYTES];
        let position = self.geometry.slot_position_bytes(slot);
        self.file.read_exact_at(&mut bytes, position).map_err(io_error(self.path))?;
        Ok(i32::from_be_bytes(bytes))
    }

    fn entry(&self, index: i32) -> Result<Entry> {
        read_entry(&self.file, self.path, self.geometry, index)
    }
}

fn read_entry(file: &File, path: &Path, geometry: Geometry, index: i32) -> Result<Entry> {
    let mut bytes = [0; ENTRY_SIZE_BYTES];
    let position = geometry.entry_position_bytes(index as u32);
    file.read_exact_at(&mut bytes, position).map_err(io_error(path))?;
    Ok(Entry::decode(&bytes))
}

/// What one query has found so far.
struct QueryFound {
    offsets: Vec<i64>,
    seen: HashSet<i64>,
    count_max: usize,
    visits_left: usize,
}

impl QueryFound {
    fn is_done(&self) -> bool {
        self.offsets.len() >= self.count_max || self.visits_left == 0
    }

    fn push(&mut self, commit_log_offset: i64) {
        if self.seen.insert(commit_log_offset) {
            self.offsets.push(commit_log_offset);
        }
    }
}

/// As Java's `IndexFile.selectPhyOffset`: walks the slot's chain from the newest entry.
fn query_chain(
    source: &impl EntrySource,
    header: &IndexHeader,
    key_hash: i32,
    slot: usize,
    window_ms: (i64, i64),
    found: &mut QueryFound,
) -> Result<()> {
    let (begin_ms, end_ms) = window_ms;
    let mut index = source.slot(slot)?;
    while index > 0 && index < header.index_count && !found.is_done() {
        found.visits_left -= 1;
        let entry = source.entry(index)?;
        if entry.time_difference_s < 0 {
            break;
        }
        let time_ms = header.begin_timestamp_ms + i64::from(entry.time_difference_s) * 1000;
        if entry.key_hash == key_hash && time_ms >= begin_ms && time_ms <= end_ms {
            found.push(entry.commit_log_offset);
        }
        // Chains run from newer to older entries; a link that does not is stale or torn.
        if time_ms < begin_ms || entry.previous_index >= index {
            break;
        }
        index = entry.previous_index;
    }
    Ok(())
}

/// The index files of one shard, in `<root>/index/`. Lives on its shard; not shared.
pub struct IndexStore {
    directory: PathBuf,
    geometry: Geometry,
    /// Full files, oldest first.
    sealed: Vec<SealedIndexFile>,
    current: Option<CurrentIndexFile>,
    /// Sealed files written since the last `take_unsynced`.
    sealed_unsynced: Vec<PathBuf>,
}

impl IndexStore {
    /// Opens the index files in `directory` (creating it). The last file, unless full, becomes
    /// the current one, with its header and slots as last synced.
    pub fn open(directory: &Path, slot_count: u32, entry_count_max: u32) -> Result<Self> {
        assert!(slot_count > 0, "an index needs at least one slot");
        // Entry 0 is never used, and entry numbers are i32 on disk.
        assert!((2..=i32::MAX as u32).contains(&entry_count_max), "index entry count {entry_count_max}");
        fs::create_dir_all(directory).map_err(io_error(directory))?;
        let geometry = Geometry { slot_count, entry_count_max };
        let mut store = IndexStore {
            directory: directory.to_path_buf(),
            geometry,
            sealed: Vec::new(),
            current: None,
            sealed_unsynced: Vec::new(),
        };
        for path in open_list_files(directory)? {
            let header = open_read_header(&path, geometry)?;
            store.sealed.push(SealedIndexFile { path, header });
        }
        if store.sealed.last().is_some_and(|last| (last.header.index_count as u32) < entry_count_max) {
            let last = store.sealed.pop().expect("checked above");
            store.current = Some(CurrentIndexFile::open(last.path, last.header, geometry)?);
        }
        Ok(store)
    }

    /// Indexes `key` (already `topic#key`) at `commit_log_offset`. Starts a new file when the
    /// current one is full.
    pub fn put(&mut self, key: &str, commit_log_offset: i64, store_timestamp_ms: i64) -> Result<()> {
        self.put_hash(key_hash(key), commit_log_offset, store_timestamp_ms)
    }

    /// `put(&format!("{topic}#{key}"), ..)` without allocating, for the per-message hot path.
    pub fn put_topic_key(
        &mut self,
        topic: &str,
        key: &str,
        commit_log_offset: i64,
        store_timestamp_ms: i64,
    ) -> Result<()> {
        self.put_hash(topic_key_hash(topic, key), commit_log_offset, store_timestamp_ms)
    }

    fn put_hash(&mut self, key_hash: i32, commit_log_offset: i64, store_timestamp_ms: i64) -> Result<()> {
        if self.current.as_ref().is_none_or(|current| current.is_full(self.geometry)) {
            self.roll()?;
        }
        let slot = self.geometry.slot_of(key_hash);
        let current = self.current.as_mut().expect("rolled above");
        current.put(key_hash, slot, commit_log_offset, store_timestamp_ms);
        if current.entries_pending.len() >= ENTRY_BUFFER_BYTES_MAX {
            current.write_entries(self.geometry)?;
        }
        Ok(())
    }

    /// Writes out the full current file (no fdatasync: the next `sync` does it) and starts a
    /// new one.
    fn roll(&mut self) -> Result<()> {
        if let Some(current) = self.current.as_mut() {
            current.write_all(self.geometry)?;
        }
        if let Some(current) = self.current.take() {
            self.sealed_unsynced.push(current.path.clone());
            self.sealed.push(SealedIndexFile { path: current.path, header: current.header });
        }
        let path = self.directory.join(self.next_file_name());
        self.current = Some(CurrentIndexFile::create(path, self.geometry)?);
        Ok(())
    }

    /// The creation time in UTC as `yyyyMMddHHmmssSSS`, made later than every existing name so
    /// names keep ordering files even when two are created within a millisecond or the clock
    /// steps back.
    fn next_file_name(&self) -> String {
        let mut name = file_name_for(now_ms());
        let newest =
            self.current.as_ref().map(|current| &current.path).or(self.sealed.last().map(|sealed| &sealed.path));
        if let Some(newest) = newest.and_then(|path| file_number(path)) {
            name = name.max(newest + 1);
        }
        format!("{name:017}")
    }

    /// Commit-log offsets of entries whose key hash is `key`'s and whose time is within
    /// `[begin_ms, end_ms]`, newest first, each once, at most `count_max`. Walks the files whose
    /// time range overlaps the window, newest first.
    pub fn query(&self, key: &str, count_max: usize, begin_ms: i64, end_ms: i64) -> Result<Vec<i64>> {
        let key_hash = key_hash(key);
        let slot = self.geometry.slot_of(key_hash);
        let window_ms = (begin_ms, end_ms);
        let mut found =
            QueryFound { offsets: Vec::new(), seen: HashSet::new(), count_max, visits_left: QUERY_ENTRIES_VISITED_MAX };
        if let Some(current) = &self.current {
            let header = current.header;
            if !header.is_empty() && header.overlaps(begin_ms, end_ms) {
                let source = CurrentSource { current, geometry: self.geometry };
                query_chain(&source, &header, key_hash, slot, window_ms, &mut found)?;
            }
            if !header.is_empty() && header.begin_timestamp_ms < begin_ms {
                return Ok(found.offsets); // Older files end before this one begins.
            }
        }
        for sealed in self.sealed.iter().rev() {
            let header = sealed.header;
            if found.is_done() {
                break;
            }
            if header.is_empty() {
                continue;
            }
            if header.overlaps(begin_ms, end_ms) {
                let file = File::open(&sealed.path).map_err(io_error(&sealed.path))?;
                let source = SealedSource { file, path: &sealed.path, geometry: self.geometry };
                query_chain(&source, &header, key_hash, slot, window_ms, &mut found)?;
            }
            if header.begin_timestamp_ms < begin_ms {
                break;
            }
        }
        Ok(found.offsets)
    }

    /// (store timestamp ms, commit-log offset) of the newest entry, (0, 0) when there is none.
    pub fn last_update(&self) -> (i64, i64) {
        let current = self.current.as_ref().map(|current| &current.header);
        let sealed = self.sealed.iter().rev().map(|sealed| &sealed.header);
        current
            .into_iter()
            .chain(sealed)
            .find(|header| !header.is_empty())
            .map_or((0, 0), |header| (header.end_timestamp_ms, header.end_commit_log_offset))
    }

    /// Writes buffered entries, dirty slot pages and the header, then hands over the paths of
    /// the current file and of every file sealed since the last call, for a checkpoint to
    /// fdatasync off the run loop (`checkpoint::write`).
    pub fn take_unsynced(&mut self) -> Result<Vec<PathBuf>> {
        let mut paths = std::mem::take(&mut self.sealed_unsynced);
        if let Some(current) = self.current.as_mut() {
            current.write_all(self.geometry)?;
            paths.push(current.path.clone());
        }
        Ok(paths)
    }

    /// Writes and fdatasyncs at once, blocking: for tests off any run loop.
    #[cfg(test)]
    fn sync(&mut self) -> Result<()> {
        for path in self.take_unsynced()? {
            File::open(&path).and_then(|file| file.sync_data()).map_err(io_error(&path))?;
        }
        Ok(())
    }

    /// Retention: deletes the oldest files whose end offset is below `commit_log_offset_min`,
    /// never the current file, nor the newest file when there is no current one.
    pub fn retain_from(&mut self, commit_log_offset_min: i64) -> Result<()> {
        let kept_newest = usize::from(self.current.is_none());
        while self.sealed.len() > kept_newest && self.sealed[0].header.end_commit_log_offset < commit_log_offset_min {
            let path = &self.sealed[0].path;
            fs::remove_file(path).map_err(io_error(path))?;
            let removed = self.sealed.remove(0);
            self.sealed_unsynced.retain(|unsynced| *unsynced != removed.path);
        }
        Ok(())
    }

    /// Number of index files.
    pub fn file_count(&self) -> usize {
        self.sealed.len() + usize::from(self.current.is_some())
    }
}

/// The index files in `directory`, oldest first.
fn open_list_files(directory: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(directory).map_err(io_error(directory))? {
        let path = entry.map_err(io_error(directory))?.path();
        let Some(number) = file_number(&path) else {
            return Err(corrupt(&path, "not an index file name".to_string()));
        };
        files.push((number, path));
    }
    files.sort_unstable();
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

fn open_read_header(path: &Path, geometry: Geometry) -> Result<IndexHeader> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut length = file.metadata().map_err(io_error(path))?.len();
    if length == 0 {
        // Created, never sized: the broker died between creating the file and setting its
        // length (`CurrentIndexFile::create`; the SIGKILL test caught it), so it holds no entry.
        let sized = OpenOptions::new().write(true).open(path).and_then(|file| file.set_len(geometry.file_size_bytes()));
        sized.map_err(io_error(path))?;
        length = geometry.file_size_bytes();
    }
    if length != geometry.file_size_bytes() {
        let reason = format!("{length} bytes, expected {} for this geometry", geometry.file_size_bytes());
        return Err(corrupt(path, reason));
    }
    let mut bytes = [0; HEADER_SIZE_BYTES];
    file.read_exact_at(&mut bytes, 0).map_err(io_error(path))?;
    let mut header = IndexHeader::decode(&bytes);
    if header.index_count == 0 {
        header.index_count = 1; // Created, never synced.
    }
    if header.index_count < 1 || header.index_count as u32 > geometry.entry_count_max {
        return Err(corrupt(path, format!("index count {}", header.index_count)));
    }
    Ok(header)
}

/// The number an index file name spells, if it is all digits.
fn file_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    if name.is_empty() || !name.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// `timestamp_ms` as the number `yyyyMMddHHmmssSSS`, in UTC.
fn file_name_for(timestamp_ms: i64) -> u64 {
    let timestamp_ms = timestamp_ms.max(0);
    let (year, month, day) = civil_from_days(timestamp_ms.div_euclid(86_400_000));
    let millisecond_of_day = timestamp_ms.rem_euclid(86_400_000);
    let hour = millisecond_of_day / 3_600_000;
    let minute = millisecond_of_day / 60_000 % 60;
    let second = millisecond_of_day / 1000 % 60;
    let millisecond = millisecond_of_day % 1000;
    let date = (year * 100 + month) * 100 + day;
    let time = ((hour * 100 + minute) * 100 + second) * 1000 + millisecond;
    (date * 1_000_000_000 + time) as u64
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // Days since 0000-03-01.
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    //! Each test builds an index in a fresh temporary directory with tiny geometries (a few
    //! slots, a few entries per file), so that slot sharing, hash collisions and file rolls
    //! happen within a handful of puts, then checks what `query` returns, before and after a
    //! reopen.

    use super::*;
    use crate::store::temp_directory::TempDirectory;

    const ALL: (i64, i64) = (0, i64::MAX);
    const T0_MS: i64 = 1_700_000_000_000;

    fn query(store: &IndexStore, key: &str) -> Vec<i64> {
        store.query(key, 64, ALL.0, ALL.1).unwrap()
    }

    #[test]
    fn put_and_query_find_offsets_newest_first_and_survive_reopen_after_sync() {
        let temp = TempDirectory::new("index", "reopen");
        let mut store = IndexStore::open(&temp.0, 16, 100).unwrap();
        assert_eq!(store.last_update(), (0, 0));
        store.put("T#order-1", 100, T0_MS).unwrap();
        store.put("T#order-2", 200, T0_MS + 10).unwrap();
        store.put_topic_key("T", "order-1", 300, T0_MS + 20).unwrap();
        assert_eq!(query(&store, "T#order-1"), vec![300, 100]);
        assert_eq!(query(&store, "T#order-2"), vec![200]);
        assert_eq!(query(&store, "T#order-3"), Vec::<i64>::new());
        assert_eq!(store.last_update(), (T0_MS + 20, 300));
        store.sync().unwrap();
        drop(store);

        let mut store = IndexStore::open(&temp.0, 16, 100).unwrap();
        assert_eq!(query(&store, "T#order-1"), vec![300, 100]);
        assert_eq!(store.last_update(), (T0_MS + 20, 300));
        store.put("T#order-1", 400, T0_MS + 30).unwrap();
        assert_eq!(query(&store, "T#order-1"), vec![400, 300, 100], "memory and file entries chain");
        assert_eq!(store.file_count(), 1);
    }

    #[test]
    fn queries_walk_every_file_after_a_roll() {
        let temp = TempDirectory::new("index", "roll");
        // Entry 0 is unused, so each file holds 4 entries.
        let mut store = IndexStore::open(&temp.0, 4, 5).unwrap();
        for n in 0..10 {
            store.put("T#key", n * 100, T0_MS + n * 1000).unwrap();
        }
        assert_eq!(store.file_count(), 3);
        let expected: Vec<i64> = (0..10).rev().map(|n| n * 100).collect();
        assert_eq!(query(&store, "T#key"), expected);
        assert_eq!(store.query("T#key", 5, ALL.0, ALL.1).unwrap(), expected[..5]);
        let mut names: Vec<String> =
            fs::read_dir(&temp.0).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert!(names.iter().all(|name| name.len() == 17), "{names:?}");
        names.dedup();
        assert_eq!(names.len(), 3, "names are distinct even within one millisecond");
        store.sync().unwrap();
        drop(store);

        let mut store = IndexStore::open(&temp.0, 4, 5).unwrap();
        assert_eq!(query(&store, "T#key"), expected);
        // The last file holds 2 of 4 entries: it is current again, and fills before a roll.
        store.put("T#key", 1000, T0_MS + 10_000).unwrap();
        store.put("T#key", 1100, T0_MS + 11_000).unwrap();
        assert_eq!(store.file_count(), 3);
        store.put("T#key", 1200, T0_MS + 12_000).unwrap();
        assert_eq!(store.file_count(), 4);
        assert_eq!(query(&store, "T#key").len(), 13);
    }

    #[test]
    fn the_time_window_filters_entries_and_skips_files() {
        let temp = TempDirectory::new("index", "window");
        let mut store = IndexStore::open(&temp.0, 4, 5).unwrap();
        for n in 0..12 {
            store.put("T#key", n, T0_MS + n * 10_000).unwrap();
        }
        let window =
            |begin_s: i64, end_s: i64| store.query("T#key", 64, T0_MS + begin_s * 1000, T0_MS + end_s * 1000).unwrap();
        assert_eq!(window(25, 55), vec![5, 4, 3]);
        assert_eq!(window(30, 30), vec![3], "both ends are inclusive");
        assert_eq!(window(0, 0), vec![0]);
        assert_eq!(window(111, 200), Vec::<i64>::new());
        assert_eq!(window(-100, -1), Vec::<i64>::new());
        // Times have one-second resolution (truncated), relative to the file's first entry.
        let temp = TempDirectory::new("index", "window-seconds");
        let mut store = IndexStore::open(&temp.0, 4, 100).unwrap();
        store.put("T#a", 1, T0_MS).unwrap();
        store.put("T#b", 2, T0_MS + 1999).unwrap();
        assert_eq!(store.query("T#b", 64, T0_MS + 1500, T0_MS + 2500).unwrap(), Vec::<i64>::new());
        assert_eq!(store.query("T#b", 64, T0_MS + 1000, T0_MS + 1000).unwrap(), vec![2]);
    }

    #[test]
    fn keys_sharing_a_slot_are_told_apart_by_hash_but_equal_hashes_are_not() {
        let temp = TempDirectory::new("index", "collision");
        let mut store = IndexStore::open(&temp.0, 4, 100).unwrap();
        // "a" (97) and "e" (101) share slot 1; "Aa" and "BB" have the same Java hash (2112).
        assert_eq!(key_hash("a") % 4, key_hash("e") % 4);
        assert_eq!(key_hash("Aa"), key_hash("BB"));
        store.put("a", 1, T0_MS).unwrap();
        store.put("e", 2, T0_MS).unwrap();
        store.put("Aa", 3, T0_MS).unwrap();
        store.put("a", 4, T0_MS).unwrap();
        store.put("BB", 5, T0_MS).unwrap();
        assert_eq!(query(&store, "a"), vec![4, 1]);
        assert_eq!(query(&store, "e"), vec![2]);
        assert_eq!(query(&store, "Aa"), vec![5, 3], "the caller re-checks the key");
        assert_eq!(query(&store, "BB"), vec![5, 3]);
    }

    #[test]
    fn an_offset_indexed_twice_by_a_re_put_is_returned_once() {
        let temp = TempDirectory::new("index", "dedupe");
        let mut store = IndexStore::open(&temp.0, 8, 5).unwrap();
        for offset in [10, 20, 30] {
            store.put("T#key", offset, T0_MS).unwrap();
        }
        store.sync().unwrap();
        store.put("T#key", 40, T0_MS).unwrap(); // Not synced: lost by the "crash" below.
        drop(store);

        // Recovery re-puts everything after the checkpoint, which was before offset 20.
        let mut store = IndexStore::open(&temp.0, 8, 5).unwrap();
        assert_eq!(query(&store, "T#key"), vec![30, 20, 10]);
        for offset in [20, 30, 40] {
            store.put("T#key", offset, T0_MS).unwrap();
        }
        assert_eq!(store.file_count(), 2);
        assert_eq!(query(&store, "T#key"), vec![40, 30, 20, 10]);
        assert_eq!(store.query("T#key", 2, ALL.0, ALL.1).unwrap(), vec![40, 30]);
    }

    #[test]
    fn retain_from_deletes_old_files_but_never_the_current_one() {
        let temp = TempDirectory::new("index", "retain");
        let mut store = IndexStore::open(&temp.0, 4, 3).unwrap();
        for n in 1..=6 {
            store.put("T#key", n * 100, T0_MS + n).unwrap();
        }
        assert_eq!(store.file_count(), 3); // [100, 200] [300, 400] [500, 600]
        store.retain_from(200).unwrap();
        assert_eq!(store.file_count(), 3, "the first file ends at 200, not below");
        store.retain_from(201).unwrap();
        assert_eq!(store.file_count(), 2);
        assert_eq!(query(&store, "T#key"), vec![600, 500, 400, 300]);
        store.retain_from(i64::MAX).unwrap();
        assert_eq!(store.file_count(), 1);
        assert_eq!(query(&store, "T#key"), vec![600, 500]);
        assert_eq!(fs::read_dir(&temp.0).unwrap().count(), 1);
        store.sync().unwrap();
        drop(store);
        // Reopened full, the newest file is kept too.
        let mut store = IndexStore::open(&temp.0, 4, 3).unwrap();
        store.retain_from(i64::MAX).unwrap();
        assert_eq!(store.file_count(), 1);
        assert_eq!(store.last_update(), (T0_MS + 6, 600));
    }

    #[test]
    fn open_rejects_foreign_names_and_files_of_another_geometry() {
        let temp = TempDirectory::new("index", "corrupt");
        let mut store = IndexStore::open(&temp.0, 4, 3).unwrap();
        store.put("T#key", 1, T0_MS).unwrap();
        store.sync().unwrap();
        drop(store);
        assert!(matches!(IndexStore::open(&temp.0, 8, 3), Err(IndexError::Corrupt { .. })));
        fs::write(temp.0.join("index.bak"), b"").unwrap();
        assert!(matches!(IndexStore::open(&temp.0, 4, 3), Err(IndexError::Corrupt { .. })));
    }

    /// A process killed between creating the newest file and sizing it leaves it empty: it
    /// holds no entry, so opening sizes it and goes on (the SIGKILL crash test hit this).
    #[test]
    fn an_empty_newest_file_left_by_a_kill_during_its_creation_opens_as_an_empty_file() {
        let temp = TempDirectory::new("index", "empty-newest");
        let mut store = IndexStore::open(&temp.0, 4, 3).unwrap();
        store.put("T#key", 1, T0_MS).unwrap();
        store.sync().unwrap();
        drop(store);
        fs::write(temp.0.join("99999999999999999"), b"").unwrap();
        let mut store = IndexStore::open(&temp.0, 4, 3).unwrap();
        assert_eq!(query(&store, "T#key"), vec![1]);
        assert_eq!(
            fs::metadata(temp.0.join("99999999999999999")).unwrap().len(),
            Geometry { slot_count: 4, entry_count_max: 3 }.file_size_bytes()
        );
        store.put("T#key", 2, T0_MS + 1).unwrap();
        assert_eq!(query(&store, "T#key"), vec![2, 1]);
    }

    #[test]
    fn key_hashes_and_file_names_follow_java_with_utc_names() {
        assert_eq!(key_hash("TagA"), 2_598_919);
        assert_eq!(key_hash("polygenelubricants"), 0, "Math.abs(Integer.MIN_VALUE) is negative");
        assert_eq!(key_hash("Aa"), 2112);
        for (topic, key) in [("TopicTest", "order-1"), ("T", ""), ("%RETRY%g", "\u{1F600}键")] {
            assert_eq!(topic_key_hash(topic, key), key_hash(&format!("{topic}#{key}")));
        }
        assert_eq!(key_hash("\u{7fff}\u{7fff}\u{7fff}"), java_string_hash("\u{7fff}\u{7fff}\u{7fff}").abs());
        assert_eq!(file_name_for(0), 19_700_101_000_000_000);
        assert_eq!(file_name_for(1_700_000_000_123), 20_231_114_221_320_123);
        assert_eq!(file_name_for(951_782_400_000), 20_000_229_000_000_000, "a leap day");
        assert_eq!(file_name_for(4_102_444_799_999), 20_991_231_235_959_999);
    }
}
