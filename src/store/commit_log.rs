//! One shard's commit log: segments of `segment_size_bytes` named by their 20-digit start
//! position, records in RocketMQ's v1 layout, and four watermarks.
//!
//! ```text
//!   synced ≤ written ≤ appended
//!   |---- durable ----|-- on device, not synced --|-- in memory only --|
//! ```
//!
//! * `append` runs on the shard's run loop and never waits: it places the encoded record in the
//!   in-memory tail (the hot window) at its position, which fixes its order; the record gets its
//!   position (and so its commit-log offset and msgId) at once.
//! * The flusher (`flush.rs`) copies `[written, appended)` into DMA-aligned buffers, rewriting
//!   the partly filled last block, writes them with O_DIRECT, and under SYNC_FLUSH issues one
//!   fdatasync for everything written: waiters at or below the new `synced` are released
//!   together (group commit, no fixed linger).
//! * Reads of recent records are `Bytes` clones from the hot window (no copy, no I/O); older
//!   records are read from the segment files in blocks that a few are kept of (`cold_read.rs`),
//!   which never touches the hot window, so a cold reader cannot evict what producers and
//!   tailing consumers need.
//! * A record never spans two segments: when one does not fit, an 8-byte blank record
//!   (`MAGIC_BLANK`, total size = the rest of the segment) ends the segment, as RocketMQ does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_channel::oneshot;

use crate::protocol::record::{self, BLANK_SIZE_BYTES};
use crate::runtime::{Durability, Storage};
use crate::store::cold_read::{self, ColdBlocks};
use crate::store::record_arena::RecordArena;

/// Where a record lives in its shard's log, in bytes. The client-visible commit-log offset adds
/// the shard id in the top bits (`store::offsets`).
pub type Position = u64;

/// How a SYNC_FLUSH commit makes its records durable (`syncFlushMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMethod {
    /// The records are written through O_DSYNC handles: one I/O per commit, no fdatasync.
    WriteThrough,
    /// The records are written, then the segment is fdatasynced (Java's GroupCommitService).
    Fdatasync,
}

impl FlushMode {
    /// How the log's segment files are opened.
    pub fn durability(self) -> Durability {
        match self {
            FlushMode::Sync(SyncMethod::WriteThrough) => Durability::OnWrite,
            FlushMode::Sync(SyncMethod::Fdatasync) | FlushMode::Async { .. } => Durability::OnSync,
        }
    }
}

/// How durability resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushMode {
    /// Replies wait until their records are durable (group commit), made so by `SyncMethod`.
    Sync(SyncMethod),
    /// Replies go out at `appended`; the flusher writes when `least_pages` pages are pending or
    /// every `interval_ms`, and syncs at least every `thorough_interval_ms`.
    Async { interval_ms: u64, least_pages: u64, thorough_interval_ms: u64 },
}

#[derive(Clone, Debug)]
pub struct CommitLogOptions {
    pub directory: PathBuf,
    pub segment_size_bytes: u64,
    /// Bytes of already-written records kept in memory for reads.
    pub hot_window_bytes: usize,
    /// Bytes appended but not yet written that may accumulate before appends are refused as
    /// busy (the bound on memory when the disk falls behind).
    pub unwritten_bytes_max: usize,
    pub flush_mode: FlushMode,
}

/// Why an append is refused. Mapped to a response code by the store's caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The record cannot fit in a segment.
    TooLarge { size_bytes: usize, size_bytes_max: usize },
    /// The flusher is too far behind: more than `unwritten_bytes_max` are waiting. `flusher`
    /// says what it was doing, so that a burst of SYSTEM_BUSY tells a stalled disk (one write
    /// in flight for a long time) from a flusher that got no turn.
    Busy { unwritten_bytes: usize, flusher: FlusherActivity },
    /// A write or fdatasync failed earlier: the state of the disk is unknown, so the store
    /// refuses all further writes rather than ever report success again.
    Failed(String),
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size_bytes, size_bytes_max } => {
                write!(f, "record of {size_bytes} bytes exceeds the segment limit of {size_bytes_max}")
            }
            Self::Busy { unwritten_bytes, flusher } => {
                write!(f, "{unwritten_bytes} bytes wait for the disk; the store is busy ({flusher})")
            }
            Self::Failed(reason) => write!(f, "the store refuses writes: {reason}"),
        }
    }
}

/// What the flusher is doing (`CommitLog::flusher_step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlusherStep {
    /// Waiting for records (or for the interval of ASYNC_FLUSH).
    Idle,
    /// Opening or creating a segment.
    Opening,
    /// Writing records.
    Writing,
    /// Writing zeros ahead of the records.
    Zeroing,
    /// fdatasync.
    Syncing,
}

/// The flusher's step when an append was refused, and for how long it had been at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlusherActivity {
    pub step: FlusherStep,
    /// Bytes of the write in flight (records or zeros); 0 otherwise.
    pub bytes: u64,
    pub for_ms: u64,
}

impl fmt::Display for FlusherActivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            FlusherStep::Idle => "waiting for work",
            FlusherStep::Opening => "opening a segment",
            FlusherStep::Writing => "writing records",
            FlusherStep::Zeroing => "zeroing ahead",
            FlusherStep::Syncing => "in fdatasync",
        };
        match self.bytes {
            0 => write!(f, "the flusher has been {step} for {} ms", self.for_ms),
            bytes => write!(f, "the flusher has been {step} ({bytes} bytes) for {} ms", self.for_ms),
        }
    }
}

/// At most one warning per shard this often about appends refused as busy.
const BUSY_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Why a record from the master cannot be appended on a slave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaAppendError {
    /// The master sent another position than the slave's log end.
    Mismatch {
        expected: Position,
        received: Position,
    },
    Malformed(String),
    /// Too much waits for the disk: retry after the flusher caught up.
    Busy,
    Failed(String),
}

impl fmt::Display for ReplicaAppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mismatch { expected, received } => {
                write!(f, "the master sent position {received} but this log ends at {expected}")
            }
            Self::Malformed(reason) => write!(f, "malformed replicated record: {reason}"),
            Self::Busy => f.write_str("the flusher is behind"),
            Self::Failed(reason) => write!(f, "the store refuses writes: {reason}"),
        }
    }
}

/// How a durability wait ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurabilityError {
    Failed(String),
    /// Not synced by the deadline given to [`CommitLog::durable_by`] (FLUSH_DISK_TIMEOUT; the
    /// record stays and is synced later).
    TimedOut,
}

pub type DurableReceiver = oneshot::Receiver<Result<(), DurabilityError>>;

pub(crate) struct HotRecord {
    pub(crate) position: Position,
    pub(crate) bytes: Bytes,
}

pub(crate) struct Waiter {
    pub(crate) end: Position,
    pub(crate) deadline: Option<Instant>,
    pub(crate) sender: oneshot::Sender<Result<(), DurabilityError>>,
}

/// One shard's commit log. Owned by the shard; the flusher task and the run loop share it
/// through a `RefCell` that is never borrowed across an await.
pub struct CommitLog<S: Storage> {
    pub(crate) options: CommitLogOptions,
    pub(crate) storage: S,
    /// Open segment files by start position.
    pub(crate) files: BTreeMap<Position, Rc<S::File>>,
    /// Start positions of segments that exist on disk (open or not).
    pub(crate) segment_starts: BTreeSet<Position>,
    pub(crate) appended: Position,
    pub(crate) written: Position,
    pub(crate) synced: Position,
    /// Records from some written position up to `appended`, in order.
    pub(crate) hot: VecDeque<HotRecord>,
    pub(crate) hot_bytes: usize,
    /// Where appended records' bytes live.
    arena: RecordArena,
    /// The bytes of `[align_down(written), written)`: the partly filled block that the next
    /// write rewrites, because O_DIRECT writes whole blocks.
    pub(crate) tail_block: Vec<u8>,
    pub(crate) waiters: VecDeque<Waiter>,
    pub(crate) failure: Option<String>,
    /// Segments written since their last fdatasync: start → end of the latest completed write
    /// into it. A sync may only forget a segment that no write reached after the sync began.
    pub(crate) unsynced_segments: BTreeMap<Position, Position>,
    /// The flusher's wake-up: set when there is something to do.
    pub(crate) wake: Option<std::task::Waker>,
    /// The flusher's latest step, the bytes of its write and since when (during a group commit
    /// a record write is noted while the fdatasync is in flight beside it).
    flusher_step: (FlusherStep, u64, Instant),
    /// When appends refused as busy were last logged.
    busy_warned_at: std::cell::Cell<Option<Instant>>,
    pub(crate) sync_count: u64,
    pub(crate) appended_records_count: u64,
    /// Everything below this position has been written at least once (records or zeros), so
    /// writes there overwrite initialized blocks. Writes past it land in holes (segments are
    /// sparse) or unwritten extents, which ext4 and XFS must allocate or convert, and io_uring
    /// then punts the write to a worker thread: measured here, 3 ms instead of 90 µs. The
    /// flusher zeroes ahead of `written`.
    pub(crate) zeroed: Position,
    /// Replication pumps waiting for the next append (woken by every append).
    pub(crate) append_wakers: Vec<std::task::Waker>,
    /// Blocks of the log read for records older than the hot window (`cold_read.rs`).
    pub(crate) cold: ColdBlocks,
    /// Records ever evicted from the front of `hot`: turns an index into `hot` into one that
    /// stays valid across evictions (`hot_hint`).
    hot_evicted_count: u64,
    /// Where the last hot lookup landed, counted as `hot_evicted_count + index` (only a
    /// starting point: any value gives the right answer, see `hot_index`). A pull reads a
    /// queue's records a few records apart: searching onwards from the last one touches a few
    /// cache lines, where a binary search of a full window (~400k records) missed ~20 times
    /// per record (9% of a shard's CPU in a pull of 32-message batches).
    hot_hint: std::cell::Cell<u64>,
}

/// The hot window's index, sized and faulted in for a full window of typical records: growing
/// it under load copied it into fresh memory, a stall of tens of ms per huge page on a VM.
fn hot_deque(hot_window_bytes: usize) -> VecDeque<HotRecord> {
    let mut hot = Vec::with_capacity(hot_window_bytes / crate::limits::STORE_HOT_RECORD_BYTES_TYPICAL);
    crate::runtime::populate_spare_capacity(&mut hot);
    VecDeque::from(hot)
}

/// The 20-digit file name of a segment.
pub fn segment_name(start: Position) -> String {
    format!("{start:020}")
}

impl<S: Storage> CommitLog<S> {
    /// A log positioned at `end`, with `tail_block` the bytes of its last partial block.
    pub(crate) fn at(
        options: CommitLogOptions,
        storage: S,
        segment_starts: BTreeSet<Position>,
        end: Position,
        tail_block: Vec<u8>,
    ) -> Self {
        assert!(options.segment_size_bytes % 4096 == 0, "segments are whole blocks");
        assert!(options.segment_size_bytes >= 64 * 1024, "segments hold at least a few records");
        let hot_window_bytes = options.hot_window_bytes;
        let arena_pinned_bytes_max = hot_window_bytes + options.unwritten_bytes_max;
        Self {
            options,
            storage,
            files: BTreeMap::new(),
            segment_starts,
            appended: end,
            written: end,
            synced: end,
            hot: hot_deque(hot_window_bytes),
            hot_bytes: 0,
            arena: RecordArena::new(crate::limits::STORE_RECORD_CHUNK_BYTES, hot_window_bytes, arena_pinned_bytes_max),
            tail_block,
            waiters: VecDeque::new(),
            flusher_step: (FlusherStep::Idle, 0, Instant::now()),
            busy_warned_at: std::cell::Cell::new(None),
            failure: None,
            unsynced_segments: BTreeMap::new(),
            wake: None,
            sync_count: 0,
            appended_records_count: 0,
            zeroed: end.div_ceil(4096) * 4096,
            append_wakers: Vec::new(),
            cold: ColdBlocks::default(),
            hot_evicted_count: 0,
            hot_hint: std::cell::Cell::new(0),
        }
    }

    pub fn options(&self) -> &CommitLogOptions {
        &self.options
    }

    pub fn appended(&self) -> Position {
        self.appended
    }

    pub fn written(&self) -> Position {
        self.written
    }

    pub fn synced(&self) -> Position {
        self.synced
    }

    /// The first position still on disk (retention moves it).
    pub fn min_position(&self) -> Position {
        self.segment_starts.first().copied().unwrap_or(self.appended - self.appended % self.options.segment_size_bytes)
    }

    /// fdatasync calls made so far.
    pub fn sync_count(&self) -> u64 {
        self.sync_count
    }

    /// Reads of log blocks for records older than the hot window, so far.
    pub fn cold_block_reads_count(&self) -> u64 {
        self.cold.block_reads_count
    }

    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    pub(crate) fn segment_start_of(&self, position: Position) -> Position {
        position - position % self.options.segment_size_bytes
    }

    pub(crate) fn segment_path(&self, start: Position) -> PathBuf {
        self.options.directory.join(segment_name(start))
    }

    pub(crate) fn assert_invariants(&self) {
        assert!(self.synced <= self.written, "synced {} > written {}", self.synced, self.written);
        assert!(self.written <= self.appended, "written {} > appended {}", self.written, self.appended);
        assert!(self.tail_block.len() as u64 == self.written % 4096);
    }

    /// The largest record a segment can hold (a blank record must still fit behind it).
    pub fn record_size_bytes_max(&self) -> usize {
        (self.options.segment_size_bytes - BLANK_SIZE_BYTES as u64) as usize
    }

    /// Whether records of `sizes_bytes`, appended in order now, would all be taken, or the error
    /// for the first refused one: `append` asks it for each record, and a batch asks it before
    /// its first record, so that it is stored whole or not at all. Segment rolls count (the
    /// blank that skips a segment's tail is written too).
    pub fn check_room(&self, sizes_bytes: impl IntoIterator<Item = usize>) -> Result<(), AppendError> {
        if let Some(reason) = &self.failure {
            return Err(AppendError::Failed(reason.clone()));
        }
        let segment_size = self.options.segment_size_bytes;
        let mut end = self.appended;
        for size_bytes in sizes_bytes {
            if size_bytes > self.record_size_bytes_max() {
                return Err(AppendError::TooLarge { size_bytes, size_bytes_max: self.record_size_bytes_max() });
            }
            let remaining = segment_size - end % segment_size;
            if size_bytes as u64 + BLANK_SIZE_BYTES as u64 > remaining {
                end += remaining;
            }
            end += size_bytes as u64;
        }
        if (end - self.written) as usize > self.options.unwritten_bytes_max {
            return Err(self.refuse_busy());
        }
        Ok(())
    }

    /// The flusher says what it does next (before each await), for [`AppendError::Busy`].
    pub(crate) fn note_flusher_step(&mut self, step: FlusherStep, bytes: u64) {
        self.flusher_step = (step, bytes, Instant::now());
    }

    /// An append refused because the flusher is too far behind; logged at most once per
    /// `BUSY_WARNING_INTERVAL`, since the clients see only SYSTEM_BUSY.
    fn refuse_busy(&self) -> AppendError {
        let (step, bytes, since) = self.flusher_step;
        let now = Instant::now();
        let flusher = FlusherActivity { step, bytes, for_ms: now.duration_since(since).as_millis() as u64 };
        let error = AppendError::Busy { unwritten_bytes: (self.appended - self.written) as usize, flusher };
        if self.busy_warned_at.get().is_none_or(|at| now.duration_since(at) >= BUSY_WARNING_INTERVAL) {
            self.busy_warned_at.set(Some(now));
            tracing::warn!(
                "commit log in {}: {error}; sends are answered SYSTEM_BUSY until the disk catches up (at most one \
                 such warning per {} s)",
                self.options.directory.display(),
                BUSY_WARNING_INTERVAL.as_secs()
            );
        }
        error
    }

    /// Appends a record of `size_bytes`: `encode(position, buffer)` must append exactly that
    /// many bytes to `buffer` (the position goes into the record). Returns the record's
    /// position. Never waits.
    pub fn append(
        &mut self,
        size_bytes: usize,
        encode: impl FnOnce(Position, &mut BytesMut),
    ) -> Result<Position, AppendError> {
        // One set of refusal rules: a batch that passed `check_room` passes here record by
        // record (its ends only come earlier, and `written` only grows).
        self.check_room([size_bytes])?;
        self.roll_if_needed(size_bytes);
        let position = self.appended;
        let bytes = self.arena.record(size_bytes, |buffer| encode(position, buffer));
        debug_assert!(record::peek_size_and_magic(&bytes).is_some_and(|(size, _)| size as usize == size_bytes));
        self.push_hot(position, bytes);
        self.appended_records_count += 1;
        self.wake_flusher();
        Ok(position)
    }

    /// Ends the current segment with a blank record when `size_bytes` does not fit in it
    /// (RocketMQ's rule: the record plus an 8-byte blank must fit).
    fn roll_if_needed(&mut self, size_bytes: usize) {
        let segment_size = self.options.segment_size_bytes;
        let used = self.appended % segment_size;
        let remaining = segment_size - used;
        if size_bytes as u64 + BLANK_SIZE_BYTES as u64 <= remaining {
            return;
        }
        let mut blank = Vec::with_capacity(BLANK_SIZE_BYTES);
        record::encode_blank(remaining as u32, &mut blank);
        let position = self.appended;
        self.push_hot(position, Bytes::from(blank));
        // The blank's TOTALSIZE covers the rest of the segment; nothing more is written there.
        self.appended = position + remaining;
        assert_eq!(self.appended % segment_size, 0);
    }

    fn push_hot(&mut self, position: Position, bytes: Bytes) {
        assert_eq!(position, self.appended, "records are appended contiguously");
        self.appended = position + bytes.len() as u64;
        self.hot_bytes += bytes.len();
        self.hot.push_back(HotRecord { position, bytes });
        for waker in self.append_wakers.drain(..) {
            waker.wake();
        }
    }

    /// Wakes `waker` at the next append (a replication pump with nothing left to send).
    pub fn wake_on_append(&mut self, waker: &std::task::Waker) {
        if !self.append_wakers.iter().any(|known| known.will_wake(waker)) {
            self.append_wakers.push(waker.clone());
        }
    }

    /// Hot records from exactly `position` on, at most `bytes_max` of them (but at least one),
    /// ending after a blank record (the next record starts a new segment). `None` when
    /// `position` is below the hot window (the caller reads the disk); empty at the end.
    pub fn hot_records_from(&self, position: Position, bytes_max: usize) -> Option<Vec<(Position, Bytes)>> {
        if position >= self.appended {
            return Some(Vec::new());
        }
        let index = self.hot_index(position);
        let first = self.hot.get(index)?;
        if first.position != position {
            return None;
        }
        let mut records = Vec::new();
        let mut bytes = 0usize;
        for record in self.hot.range(index..) {
            if !records.is_empty() && bytes + record.bytes.len() > bytes_max {
                break;
            }
            bytes += record.bytes.len();
            records.push((record.position, record.bytes.clone()));
            if record::peek_size_and_magic(&record.bytes).is_some_and(|(_, magic)| magic == record::MAGIC_BLANK) {
                break;
            }
        }
        Some(records)
    }

    /// Slave side: appends one record received from the master at the same position, so the
    /// two logs stay byte-identical. An empty log may start at a segment boundary (the master
    /// no longer has older segments). A blank record ends the segment, as on the master.
    ///
    /// The bytes are copied into the record arena, as the master's own appends are: keeping
    /// each received frame alive in the hot window instead made every frame a fresh
    /// allocation, and zeroing fresh pages took ~36% of a slave shard's CPU (measured).
    pub fn append_replicated(&mut self, position: Position, bytes: &[u8]) -> Result<(), ReplicaAppendError> {
        if let Some(reason) = &self.failure {
            return Err(ReplicaAppendError::Failed(reason.clone()));
        }
        if position != self.appended {
            let empty = self.appended == 0 && self.segment_starts.is_empty();
            if !(empty && position % self.options.segment_size_bytes == 0) {
                return Err(ReplicaAppendError::Mismatch { expected: self.appended, received: position });
            }
            self.restart_empty_at(position);
        }
        let Some((size, magic)) = record::peek_size_and_magic(bytes) else {
            return Err(ReplicaAppendError::Malformed(format!("a record of {} bytes at {position}", bytes.len())));
        };
        let remaining = self.options.segment_size_bytes - position % self.options.segment_size_bytes;
        let unwritten_bytes = (self.appended - self.written) as usize;
        if unwritten_bytes + bytes.len() > self.options.unwritten_bytes_max {
            return Err(ReplicaAppendError::Busy);
        }
        if magic == record::MAGIC_BLANK {
            if size as u64 != remaining || bytes.len() != BLANK_SIZE_BYTES {
                return Err(ReplicaAppendError::Malformed(format!("blank record of {size} at {position}")));
            }
            let record = self.arena.record(bytes.len(), |buffer| buffer.extend_from_slice(bytes));
            self.push_hot(position, record);
            self.appended = position + remaining;
        } else {
            let fits = size as usize == bytes.len() && bytes.len() as u64 + BLANK_SIZE_BYTES as u64 <= remaining;
            if magic != record::MAGIC_MESSAGE || !fits {
                return Err(ReplicaAppendError::Malformed(format!(
                    "record size {size} magic {magic:#x} at {position}"
                )));
            }
            let record = self.arena.record(bytes.len(), |buffer| buffer.extend_from_slice(bytes));
            self.push_hot(position, record);
        }
        self.appended_records_count += 1;
        self.wake_flusher();
        Ok(())
    }

    /// Moves an empty log to `position` (a segment start).
    fn restart_empty_at(&mut self, position: Position) {
        assert!(self.hot.is_empty() && self.appended == 0);
        self.appended = position;
        self.written = position;
        self.synced = position;
        self.zeroed = position;
        self.tail_block.clear();
        self.assert_invariants();
    }

    pub fn wake_flusher(&mut self) {
        if let Some(waker) = self.wake.take() {
            waker.wake();
        }
    }

    /// A receiver that resolves when everything up to `end` is synced (at once if it already
    /// is). Under SYNC_FLUSH this is what a send reply waits for.
    pub fn durable(&mut self, end: Position) -> DurableReceiver {
        self.durable_by(end, None)
    }

    /// As [`CommitLog::durable`], failing with `TimedOut` once `deadline` passed (checked by
    /// [`CommitLog::expire_waiters`], which the store's sweeper calls).
    pub fn durable_by(&mut self, end: Position, deadline: Option<Instant>) -> DurableReceiver {
        let (sender, receiver) = oneshot::channel();
        if let Some(reason) = &self.failure {
            let _ = sender.send(Err(DurabilityError::Failed(reason.clone())));
        } else if end <= self.synced {
            let _ = sender.send(Ok(()));
        } else {
            assert!(end <= self.appended, "waiting for a position never appended");
            debug_assert!(self.waiters.back().is_none_or(|last| last.end <= end));
            self.waiters.push_back(Waiter { end, deadline, sender });
            self.wake_flusher();
        }
        receiver
    }

    /// Fails the waits whose deadline is at or before `now` with `TimedOut`, and forgets those
    /// whose receiver is gone.
    pub fn expire_waiters(&mut self, now: Instant) {
        let mut kept = VecDeque::with_capacity(self.waiters.len());
        for waiter in self.waiters.drain(..) {
            if waiter.deadline.is_some_and(|deadline| deadline <= now) {
                let _ = waiter.sender.send(Err(DurabilityError::TimedOut));
            } else if !waiter.sender.is_canceled() {
                kept.push_back(waiter);
            }
        }
        self.waiters = kept;
    }

    /// The earliest deadline among the waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiters.iter().filter_map(|waiter| waiter.deadline).min()
    }

    /// The record at `position`, if it is still in the hot window.
    pub fn read_hot(&self, position: Position) -> Option<Bytes> {
        let index = self.hot_index(position);
        let record = self.hot.get(index)?;
        (record.position == position).then(|| record.bytes.clone())
    }

    /// The index of the first hot record at or after `position`: a search onwards from the
    /// last lookup (steps doubling, then halving) when that record lies before `position`
    /// (then so do all records before it, wherever the hint came from), else a binary search
    /// of the whole window.
    fn hot_index(&self, position: Position) -> usize {
        let before = |index: usize| self.hot[index].position < position;
        let hint = self.hot_hint.get().saturating_sub(self.hot_evicted_count) as usize;
        let (mut low, mut high) = if hint < self.hot.len() && before(hint) {
            // hot[low] is before `position`; find a `high` that is not (or the end).
            let (mut low, mut step) = (hint, 1);
            loop {
                let probe = low + step;
                if probe >= self.hot.len() {
                    break (low + 1, self.hot.len());
                }
                if !before(probe) {
                    break (low + 1, probe);
                }
                low = probe;
                step *= 2;
            }
        } else {
            (0, self.hot.len())
        };
        // The answer lies in [low, high]: everything below `low` is before `position`, and
        // `high` is the end or a record that is not.
        while low < high {
            let middle = low + (high - low) / 2;
            if before(middle) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        self.hot_hint.set(self.hot_evicted_count + low as u64);
        low
    }

    /// The oldest position the hot window covers.
    pub fn hot_start(&self) -> Position {
        self.hot.front().map_or(self.appended, |record| record.position)
    }

    /// Evicts written records beyond the hot window's bound, oldest first.
    pub(crate) fn evict_hot(&mut self) {
        while self.hot_bytes > self.options.hot_window_bytes {
            let Some(front) = self.hot.front() else { break };
            if front.position + front.bytes.len() as u64 > self.written {
                break; // never evict what the disk does not have yet
            }
            self.hot_bytes -= front.bytes.len();
            self.hot.pop_front();
            self.hot_evicted_count += 1;
        }
    }

    /// Drops hot records below `position` (their segment was deleted).
    pub(crate) fn evict_hot_before(&mut self, position: Position) {
        while self.hot.front().is_some_and(|record| record.position < position) {
            let front = self.hot.pop_front().expect("checked above");
            self.hot_bytes -= front.bytes.len();
            self.hot_evicted_count += 1;
        }
    }

    /// Marks the store failed: all waiters fail, every later append is refused.
    pub(crate) fn fail(&mut self, reason: String) {
        tracing::error!("commit log in {} refuses writes from now on: {reason}", self.options.directory.display());
        for waiter in self.waiters.drain(..) {
            let _ = waiter.sender.send(Err(DurabilityError::Failed(reason.clone())));
        }
        self.failure = Some(reason);
    }

    /// Releases the waiters whose records are now synced.
    pub(crate) fn release_waiters(&mut self) {
        while self.waiters.front().is_some_and(|waiter| waiter.end <= self.synced) {
            let waiter = self.waiters.pop_front().expect("checked above");
            let _ = waiter.sender.send(Ok(()));
        }
    }

    /// Whether a flush has anything to do for this mode right now.
    pub fn flush_pending(&self) -> bool {
        self.appended > self.written || self.written > self.synced
    }

    pub fn directory(&self) -> &Path {
        &self.options.directory
    }
}

/// Reads a record of `size_bytes` at `position`, from the hot window or the segment file.
pub async fn read<S: Storage>(
    log: &std::cell::RefCell<CommitLog<S>>,
    position: Position,
    size_bytes: usize,
) -> std::io::Result<Bytes> {
    let file = {
        let log = log.borrow();
        if let Some(bytes) = log.read_hot(position) {
            if bytes.len() == size_bytes {
                return Ok(bytes);
            }
        }
        if position + size_bytes as u64 > log.written || position < log.min_position() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no record of {size_bytes} bytes at {position}"),
            ));
        }
        let start = log.segment_start_of(position);
        log.files.get(&start).cloned()
    };
    let file = match file {
        Some(file) => file,
        None => crate::store::flush::open_segment(log, position).await?,
    };
    cold_read::read(log, file, position, size_bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::MemoryStorage;

    /// The first 8 bytes a valid record needs (size, magic), then `index` as filler.
    fn record_of(index: u8, size_bytes: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(size_bytes);
        bytes.extend_from_slice(&(size_bytes as i32).to_be_bytes());
        bytes.extend_from_slice(&record::MAGIC_MESSAGE.to_be_bytes());
        bytes.resize(size_bytes, index);
        bytes
    }

    #[test]
    fn replicated_records_are_copied_into_the_arena_so_the_frame_buffer_is_reused() {
        let options = CommitLogOptions {
            directory: PathBuf::from("/replica"),
            segment_size_bytes: 1 << 20,
            hot_window_bytes: 64 << 20,
            unwritten_bytes_max: 64 << 20,
            flush_mode: FlushMode::Sync(SyncMethod::WriteThrough),
        };
        let mut log = CommitLog::at(options, MemoryStorage::new(), BTreeSet::new(), 0, Vec::new());
        let faulted_in_chunk_count = log.arena.allocated_chunk_count();
        let mut frame = Vec::new(); // one buffer, overwritten by every frame, as the follower's
        for index in 0..100u8 {
            frame.clear();
            frame.extend_from_slice(&record_of(index, 1000));
            log.append_replicated(u64::from(index) * 1000, &frame).expect("appended in order");
        }
        assert_eq!(
            log.arena.allocated_chunk_count(),
            faulted_in_chunk_count,
            "100 KiB of records went into the window's own chunks, not an allocation per frame"
        );
        for index in 0..100u8 {
            let bytes = log.read_hot(u64::from(index) * 1000).expect("in the hot window");
            assert_eq!(&bytes[..], &record_of(index, 1000)[..], "record {index} kept its own bytes");
        }
    }

    /// The hinted search answers exactly as a binary search of the whole window, whatever the
    /// order of lookups (onwards, backwards, the same position, between records, outside the
    /// window) and across evictions from the front.
    #[test]
    fn hot_lookups_from_the_last_one_find_what_a_full_search_finds() {
        let options = CommitLogOptions {
            directory: PathBuf::from("/hint"),
            segment_size_bytes: 4 << 20,
            hot_window_bytes: 64 << 20,
            unwritten_bytes_max: 64 << 20,
            flush_mode: FlushMode::Sync(SyncMethod::WriteThrough),
        };
        let mut log = CommitLog::at(options, MemoryStorage::new(), BTreeSet::new(), 0, Vec::new());
        let mut positions = Vec::new();
        for index in 0..3000usize {
            let size_bytes = 40 + (index * 37) % 500;
            positions.push(log.appended);
            log.append_replicated(log.appended, &record_of(index as u8, size_bytes)).expect("appended in order");
        }
        let mut state = 12345u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        let mut at = 0usize;
        for round in 0..20_000 {
            if round % 5000 == 4999 {
                log.evict_hot_before(positions[round / 10]);
            }
            at = match next() % 4 {
                0 => (next() as usize) % positions.len(),                        // anywhere
                1 => (at + 1 + (next() as usize) % 16).min(positions.len() - 1), // a few onwards
                2 => at.saturating_sub((next() as usize) % 16),                  // a few back
                _ => at,                                                         // the same again
            };
            let position = positions[at] + [0, 1, 7][(next() % 3) as usize];
            let expected = log.hot.partition_point(|record| record.position < position);
            assert_eq!(log.hot_index(position), expected, "lookup {round} of {position}");
            let hot = log.read_hot(positions[at]);
            assert_eq!(hot.is_some(), positions[at] >= log.hot_start(), "record at {}", positions[at]);
        }
        assert_eq!(log.hot_index(log.appended + 1), log.hot.len(), "past the end");
    }
}
