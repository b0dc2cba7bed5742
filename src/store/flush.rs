//! The flusher: moves `[written, appended)` to disk and, when asked, syncs it.
//!
//! One flusher per shard, and it is the only writer of the log: writes never overlap each
//! other. Appends go on during its awaits; they land past the target of the write in progress
//! and ride the next one. Under SYNC_FLUSH a commit is a group commit by one of two methods
//! (`SyncMethod`, `syncFlushMethod`). There is no fixed linger in either: the batch is whatever
//! arrived during the previous commit, so it grows with load and shrinks to one record when
//! idle, and `synced` advances to its end and releases every waiter at or below it.
//! - `WriteThrough` (default): segments are opened O_DSYNC, so a write is durable when it
//!   completes; a commit is one write of everything appended (`run_write_through`).
//! - `Fdatasync`: a pipelined write then fdatasync. While the fdatasync of batch N is in flight,
//!   the records that arrive are written (batch N+1), so the next fdatasync starts as soon as
//!   N's returns, and it covers only what was written before it began (`run_fdatasync`).
//!
//! A failed write or fdatasync is fatal for the store: after it the state of the device is
//! unknown, so no later sync can be trusted to report success (the fsyncgate lesson). The log
//! fails every waiter and refuses all further appends with the reason.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::commit_log::{CommitLog, FlushMode, FlusherStep, Position, SyncMethod};
use crate::runtime::{self, Durability, SegmentFile, Storage};

const BLOCK_BYTES: u64 = 4096;

/// Zeros written per flush cycle, beside the fdatasync (they go to the device together).
const ZERO_CHUNK_BYTES: u64 = 256 * 1024;

/// Largest single zero write (from the executor's registered DMA memory).
const ZERO_WRITE_BYTES_MAX: u64 = 1 << 20;

/// Largest single record write: larger flushes are cut into pieces of this size, so that their
/// buffers come from the executor's registered DMA memory.
const FLUSH_WRITE_BYTES_MAX: u64 = 1 << 20;

/// Bytes of records planned into DMA buffers at once (`write_range`). The buffers of a plan
/// exist together until written; planning all of a lag of tens of MiB at once (after a stall,
/// or a slow disk) outgrew the executor's registered I/O memory, and glommio then allocated
/// the buffers on the heap: fresh memory faulted in, measured at 100–200 ms stalls of both
/// shards at 4 senders × 32 in flight (issue 6 notes).
const FLUSH_PLAN_BYTES_MAX: u64 = 16 << 20;
const _: () = assert!(
    FLUSH_PLAN_BYTES_MAX + ZERO_WRITE_BYTES_MAX <= crate::runtime::SHARD_IO_MEMORY_BYTES as u64 / 2,
    "a flush's buffers fit in the registered I/O memory with room for reads"
);

/// How far ahead of `written` the flusher keeps the log zeroed. At the measured ~100 MB/s of
/// SYNC_FLUSH appends this is over 100 ms of headroom; when idle the flusher refills it.
const ZERO_AHEAD_BYTES: u64 = 16 << 20;

/// Zeroing starts again only once the headroom fell below this. Without the gap every group
/// commit carried a 256 KiB zero write beside its fdatasync to top up a few KiB: measured, a
/// SYNC_FLUSH 1×1 send took 2.35× a raw write+fdatasync instead of ~1.3×.
const ZERO_AHEAD_LOW_BYTES: u64 = ZERO_AHEAD_BYTES / 2;

/// Bytes zeroed ahead of `written`.
fn zero_headroom<S: Storage>(log: &CommitLog<S>) -> u64 {
    log.zeroed.max(align_up(log.written)) - log.written
}

fn align_down(value: u64) -> u64 {
    value - value % BLOCK_BYTES
}

fn align_up(value: u64) -> u64 {
    value.div_ceil(BLOCK_BYTES) * BLOCK_BYTES
}

/// Opens the segment holding `position`, creating it at its full size when new, and caches
/// the handle.
pub(crate) async fn open_segment<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    position: Position,
) -> io::Result<Rc<S::File>> {
    let (start, path, exists, size, open, durability) = {
        let log = log.borrow();
        let start = log.segment_start_of(position);
        if let Some(file) = log.files.get(&start) {
            return Ok(file.clone());
        }
        let exists = log.segment_starts.contains(&start);
        let durability = log.options.flush_mode.durability();
        (start, log.segment_path(start), exists, log.options.segment_size_bytes, log.storage_handle(), durability)
    };
    log.borrow_mut().note_flusher_step(FlusherStep::Opening, 0);
    open.create_directory(path.parent().expect("segments live in a directory"))?;
    let file = open.open(&path, !exists, durability).await?;
    if !exists {
        // Full size but sparse: blocks come with the zeros written ahead (`zero_ahead`).
        file.extend(size).await?;
    }
    let file = Rc::new(file);
    let mut log = log.borrow_mut();
    log.segment_starts.insert(start);
    // A write-through commit and the zeros beside it may both open a new segment at once: both
    // create the same file (no O_EXCL, same size), and the cache keeps the first handle.
    Ok(log.files.entry(start).or_insert(file).clone())
}

impl<S: Storage> CommitLog<S> {
    fn storage_handle(&self) -> S {
        self.storage.clone()
    }
}

/// One write of a flush: a buffer for one segment region.
struct PlannedWrite<F: SegmentFile> {
    file: Rc<F>,
    buffer: F::Buffer,
    segment_start: Position,
    offset_in_segment: u64,
}

/// Writes `[written, appended)` and, with `sync`, fdatasyncs every segment written since its
/// last sync. Returns the error that failed the store, if any.
pub async fn flush<S: Storage>(log: &RefCell<CommitLog<S>>, sync: bool) -> Result<(), String> {
    if let Some(reason) = log.borrow().failure.clone() {
        return Err(reason);
    }
    let (written, target) = {
        let log = log.borrow();
        (log.written, log.appended)
    };
    if target > written {
        write_range(log, written, target).await?;
    }
    let budget = zero_budget(&log.borrow(), target - written);
    if sync {
        // The zeros for later records travel beside the fdatasync: no record write is in
        // flight, so they cannot overlap one, and the waiters do not wait for them.
        let (synced, zeroed) = futures_lite::future::zip(sync_segments(log), zero_ahead(log, budget, 0)).await;
        synced?;
        zeroed?;
    } else {
        // ASYNC_FLUSH under steady load never idles, so without this only its thorough syncs
        // refilled the zeros, and its writes ran into holes, which ext4 allocates and
        // io_uring hands to a worker thread.
        zero_ahead(log, budget, 0).await?;
    }
    log.borrow_mut().evict_hot();
    Ok(())
}

/// Zeros to write after a flush of `flushed_bytes`: none while the headroom is above the low
/// mark, else at least twice what was flushed, so that the headroom grows under load.
fn zero_budget<S: Storage>(log: &CommitLog<S>, flushed_bytes: u64) -> u64 {
    if zero_headroom(log) < ZERO_AHEAD_LOW_BYTES {
        ZERO_CHUNK_BYTES.max(2 * flushed_bytes)
    } else {
        0
    }
}

/// Writes up to `budget_bytes` of zeros past `written` and `floor` (never past
/// `ZERO_AHEAD_BYTES` ahead of `written`), creating the next segment when the current one is
/// done. Only the flusher calls it, so a zero block is never in flight together with a record
/// write to it: between record writes, or beside one that ends at or before `floor`. Zeros
/// need no durability (`write_unsynced_at`).
pub async fn zero_ahead<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    budget_bytes: u64,
    floor: Position,
) -> Result<(), String> {
    let mut budget = budget_bytes;
    while budget > 0 {
        let (start, end) = {
            let log = log.borrow();
            let start = log.zeroed.max(align_up(log.written.max(floor)));
            if start >= log.written + ZERO_AHEAD_BYTES {
                return Ok(());
            }
            let segment_end = log.segment_start_of(start) + log.options.segment_size_bytes;
            (start, segment_end.min(start + align_up(budget.min(ZERO_WRITE_BYTES_MAX))))
        };
        let file = match open_segment(log, start).await {
            Ok(file) => file,
            Err(error) => return Err(fail(log, format!("cannot open segment for {start}: {error}"))),
        };
        let segment_start = log.borrow().segment_start_of(start);
        let buffer = file.alloc_buffer((end - start) as usize);
        log.borrow_mut().note_flusher_step(FlusherStep::Zeroing, end - start);
        if let Err(error) = file.write_unsynced_at(buffer, start - segment_start).await {
            return Err(fail(log, format!("zeroing segment {segment_start} at {start} failed: {error}")));
        }
        let mut log = log.borrow_mut();
        log.zeroed = log.zeroed.max(end);
        budget = budget.saturating_sub(end - start);
    }
    Ok(())
}

/// Writes the records in `[written, target)`, at most `FLUSH_PLAN_BYTES_MAX` of them at a time.
async fn write_range<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    written: Position,
    target: Position,
) -> Result<(), String> {
    let mut from = written;
    while from < target {
        let to = plan_end(&log.borrow(), from, target);
        write_records(log, from, to).await?;
        from = to;
    }
    Ok(())
}

/// Where a write of the records from `from` ends: at `target`, or earlier at a record boundary
/// so that at most `FLUSH_PLAN_BYTES_MAX` are planned (a single larger record whole).
fn plan_end<S: Storage>(log: &CommitLog<S>, from: Position, target: Position) -> Position {
    let limit = from + FLUSH_PLAN_BYTES_MAX;
    if target <= limit {
        return target;
    }
    // The first record at or past the limit starts after `from`: it ends the plan.
    let index = log.hot.partition_point(|record| record.position < limit);
    log.hot.get(index).map_or(target, |record| record.position.min(target))
}

async fn write_records<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    written: Position,
    target: Position,
) -> Result<(), String> {
    let segments = segments_with_records(&log.borrow(), written, target);
    for start in &segments {
        if let Err(error) = open_segment(log, *start).await {
            return Err(fail(log, format!("cannot open segment {start}: {error}")));
        }
    }
    let (writes, tail_block) = plan_writes(&log.borrow(), written, target, &segments);
    log.borrow_mut().note_flusher_step(FlusherStep::Writing, target - written);
    let write_count = writes.len() as u64;
    // All pieces in flight at once (they never overlap): one after another, each piece waited
    // for a turn of the shard's run loop, and under a storm of sends refused as busy the
    // flusher crawled at ~15 writes/s while the disk idled (issue 6 notes). Every write is
    // awaited, failed or not: an abandoned one could still land later.
    let landed = futures_util::future::join_all(writes.into_iter().map(|write| async move {
        let offset = write.offset_in_segment;
        let result = write.file.write_at(write.buffer, offset).await;
        result.map_err(|error| format!("write of segment {} at {offset} failed: {error}", write.segment_start))
    }))
    .await;
    if let Some(reason) = landed.into_iter().find_map(Result::err) {
        return Err(fail(log, reason));
    }
    let mut log = log.borrow_mut();
    assert_eq!(log.written, written, "only the flusher moves `written`");
    log.written = target;
    log.zeroed = log.zeroed.max(align_up(target));
    log.tail_block = tail_block;
    match log.options.flush_mode.durability() {
        Durability::OnSync => {
            for start in segments {
                log.unsynced_segments.insert(start, target);
            }
        }
        Durability::OnWrite => {
            // Each write was durable when it completed: a device cache flush apiece.
            log.sync_count += write_count;
            log.synced = target;
            log.release_waiters();
        }
    }
    log.assert_invariants();
    Ok(())
}

/// Start positions of the segments holding records in `[written, target)`.
fn segments_with_records<S: Storage>(log: &CommitLog<S>, written: Position, target: Position) -> Vec<Position> {
    let first = log.hot.partition_point(|record| record.position < written);
    let mut starts: Vec<Position> = Vec::new();
    for record in log.hot.range(first..) {
        if record.position >= target {
            break;
        }
        let start = log.segment_start_of(record.position);
        if starts.last() != Some(&start) {
            starts.push(start);
        }
    }
    starts
}

/// Builds the aligned buffers of a flush, per segment: the rewritten partial block, then the
/// records, then zeros up to the block boundary, cut into pieces of at most
/// `FLUSH_WRITE_BYTES_MAX` so that every buffer comes from the executor's registered DMA
/// memory (a larger one is a fresh heap allocation, page faults included). Also returns the new
/// partial block.
fn plan_writes<S: Storage>(
    log: &CommitLog<S>,
    written: Position,
    target: Position,
    segments: &[Position],
) -> (Vec<PlannedWrite<S::File>>, Vec<u8>) {
    let first = log.hot.partition_point(|record| record.position < written);
    let mut writes = Vec::with_capacity(segments.len());
    let mut tail_block = Vec::new();
    for &segment_start in segments {
        let segment_end = segment_start + log.options.segment_size_bytes;
        let region_start = if written >= segment_start { align_down(written) } else { segment_start };
        // The region's bytes in order, as slices: carried block, then contiguous records. Not
        // gathered into a vector: one entry per record made a flush of many MiB allocate
        // (and fault in) a large vector.
        let carried: &[u8] = if written >= segment_start && written < segment_end && written > region_start {
            assert_eq!(log.tail_block.len() as u64, written - region_start, "the partial block is carried over whole");
            &log.tail_block
        } else {
            &[]
        };
        let records = || {
            log.hot
                .range(first..)
                .take_while(move |record| record.position < target)
                .filter(move |record| record.position >= segment_start && record.position < segment_end)
        };
        let mut data_end = region_start + carried.len() as u64;
        for record in records() {
            assert_eq!(record.position, data_end, "records are contiguous from the carried block on");
            data_end = record.position + record.bytes.len() as u64;
        }
        let parts = std::iter::once(carried).chain(records().map(|record| &record.bytes[..]));
        let file = log.files.get(&segment_start).expect("opened before planning").clone();
        let mut bytes = Gather { parts, current: &[] };
        let mut piece_start = region_start;
        while piece_start < align_up(data_end) {
            let piece_end = align_up(data_end).min(piece_start + FLUSH_WRITE_BYTES_MAX);
            let mut buffer = file.alloc_buffer_unzeroed((piece_end - piece_start) as usize);
            let piece = buffer.as_mut();
            let data_bytes = (data_end.min(piece_end) - piece_start) as usize;
            bytes.copy_into(&mut piece[..data_bytes]);
            piece[data_bytes..].fill(0);
            if data_end == target && piece_end == align_up(data_end) {
                let block = (align_down(data_end) - piece_start) as usize;
                tail_block = piece[block..data_bytes].to_vec();
            }
            let offset_in_segment = piece_start - segment_start;
            writes.push(PlannedWrite { file: file.clone(), buffer, segment_start, offset_in_segment });
            piece_start = piece_end;
        }
    }
    if target % log.options.segment_size_bytes == 0 {
        tail_block.clear(); // a roll left `target` at the start of a fresh segment
    }
    (writes, tail_block)
}

/// Reads a sequence of slices as one stream of bytes.
struct Gather<'a, I: Iterator<Item = &'a [u8]>> {
    parts: I,
    /// What is left of the part being read.
    current: &'a [u8],
}

impl<'a, I: Iterator<Item = &'a [u8]>> Gather<'a, I> {
    /// Copies the next `target.len()` bytes into `target`; the parts must hold that many.
    fn copy_into(&mut self, target: &mut [u8]) {
        let mut filled = 0;
        while filled < target.len() {
            if self.current.is_empty() {
                self.current = self.parts.next().expect("the parts hold the bytes asked for");
                continue;
            }
            let count = self.current.len().min(target.len() - filled);
            target[filled..filled + count].copy_from_slice(&self.current[..count]);
            filled += count;
            self.current = &self.current[count..];
        }
    }
}

async fn sync_segments<S: Storage>(log: &RefCell<CommitLog<S>>) -> Result<(), String> {
    let (target, files) = {
        let log = log.borrow();
        if log.synced == log.written && log.unsynced_segments.is_empty() {
            return Ok(());
        }
        let files: Vec<(Position, Rc<S::File>)> = log
            .unsynced_segments
            .keys()
            .filter_map(|start| log.files.get(start).map(|file| (*start, file.clone())))
            .collect();
        (log.written, files)
    };
    log.borrow_mut().note_flusher_step(FlusherStep::Syncing, 0);
    for (start, file) in &files {
        if let Err(error) = file.sync_data().await {
            return Err(fail(log, format!("fdatasync of segment {start} failed: {error}")));
        }
    }
    let mut log = log.borrow_mut();
    for (start, _) in &files {
        // A write that completed after this sync began may not be covered by it.
        if log.unsynced_segments.get(start).is_some_and(|written_end| *written_end <= target) {
            log.unsynced_segments.remove(start);
        }
    }
    log.sync_count += 1;
    log.synced = log.synced.max(target);
    log.release_waiters();
    log.assert_invariants();
    Ok(())
}

fn fail<S: Storage>(log: &RefCell<CommitLog<S>>, reason: String) -> String {
    log.borrow_mut().fail(reason.clone());
    reason
}

/// Resolves when `ready` holds for the log; appends wake it.
struct WaitFor<'a, S: Storage, P: Fn(&CommitLog<S>) -> bool> {
    log: &'a RefCell<CommitLog<S>>,
    ready: P,
}

impl<S: Storage, P: Fn(&CommitLog<S>) -> bool> Future for WaitFor<'_, S, P> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut log = self.log.borrow_mut();
        if (self.ready)(&log) {
            return Poll::Ready(());
        }
        log.wake = Some(context.waker().clone());
        Poll::Pending
    }
}

/// The flusher task of one shard: runs until `stop` is set and nothing is pending.
pub async fn run<S: Storage>(log: Rc<RefCell<CommitLog<S>>>, stop: Rc<std::cell::Cell<bool>>) {
    let mode = log.borrow().options.flush_mode;
    match mode {
        FlushMode::Sync(SyncMethod::Fdatasync) => run_fdatasync(&log, &stop).await,
        FlushMode::Sync(SyncMethod::WriteThrough) => run_write_through(&log, &stop).await,
        FlushMode::Async { interval_ms, least_pages, thorough_interval_ms } => {
            let thresholds = AsyncThresholds {
                interval: Duration::from_millis(interval_ms.max(1)),
                least_bytes: least_pages * BLOCK_BYTES,
                thorough_interval: Duration::from_millis(thorough_interval_ms.max(1)),
            };
            run_async(&log, &stop, thresholds).await
        }
    }
}

/// Waits until `ready` holds for the log, refilling the zeroed headroom meanwhile, or until
/// `wake_after` passes once the headroom is full (so that the caller notices `stop`).
///
/// Zeros are written one `ZERO_CHUNK_BYTES` piece at a time and each piece is awaited to the
/// end: a write future dropped in flight is only cancelled on a best-effort basis by io_uring,
/// so an abandoned zero write could land on the device after a later record write to the
/// same blocks and erase it. A record that arrives meanwhile waits for one piece at most.
async fn idle<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    ready: impl Fn(&CommitLog<S>) -> bool + Copy,
    wake_after: Duration,
) -> Result<(), String> {
    // Refill only from below the low mark, then all the way: zeroing in big runs, not a piece
    // after every record.
    let mut refilling = zero_headroom(&log.borrow()) < ZERO_AHEAD_LOW_BYTES;
    loop {
        let headroom_full = {
            let log = log.borrow();
            if ready(&log) {
                return Ok(());
            }
            zero_headroom(&log) >= ZERO_AHEAD_BYTES
        };
        refilling &= !headroom_full;
        if !refilling {
            // Dropping a WaitFor or a sleep abandons no I/O.
            log.borrow_mut().note_flusher_step(FlusherStep::Idle, 0);
            futures_lite::future::or(WaitFor { log, ready }, runtime::sleep(wake_after)).await;
            return Ok(());
        }
        zero_ahead(log, ZERO_CHUNK_BYTES, 0).await?;
    }
}

async fn run_fdatasync<S: Storage>(log: &RefCell<CommitLog<S>>, stop: &std::cell::Cell<bool>) {
    loop {
        let pending = |log: &CommitLog<S>| log.appended > log.synced;
        if idle(log, pending, Duration::from_millis(100)).await.is_err() {
            return;
        }
        if log.borrow().appended > log.borrow().synced && group_commit(log).await.is_err() {
            return;
        }
        if stop.get() && !log.borrow().flush_pending() {
            return;
        }
    }
}

/// SYNC_FLUSH through O_DSYNC handles: a write is durable when it completes, so a commit is one
/// write of everything appended, and the records that arrive meanwhile ride the next one.
/// Writes go one at a time: two in flight could both hold the partial tail block, and the
/// device may land them in either order. The zeros for later records go beside the write, past
/// its end, through the handle without O_DSYNC.
///
/// Measured against write + fdatasync (`run_fdatasync`) in one sitting (tuning.md,
/// `syncFlushMethod`): the fdatasync is one more I/O, and io_uring hands it to a worker thread.
async fn run_write_through<S: Storage>(log: &RefCell<CommitLog<S>>, stop: &std::cell::Cell<bool>) {
    loop {
        let pending = |log: &CommitLog<S>| log.appended > log.written;
        if idle(log, pending, Duration::from_millis(100)).await.is_err() {
            return;
        }
        // The append that woke this task may be the first of several: the sends that were
        // ready in the same turn (read from the same socket buffer, or woken after it) append
        // theirs before the commit is cut, and ride it instead of the next one. Measured
        // (4 × 32, client `--cpus 0,1`, fresh broker, 6 alternating pairs): 25 → 27 messages
        // per commit, median ~138k → ~144k msg/s (5 pairs of 6 better); 1 × 1 p50 unchanged
        // (154–163 against 156–163 µs). Nothing else ready: the yield returns at once.
        futures_lite::future::yield_now().await;
        let (written, target) = {
            let log = log.borrow();
            (log.written, log.appended)
        };
        if target > written {
            let zero_budget = zero_budget(&log.borrow(), target - written);
            let (committed, zeroed) =
                futures_lite::future::zip(write_range(log, written, target), zero_ahead(log, zero_budget, target))
                    .await;
            if committed.and(zeroed).is_err() {
                return;
            }
            log.borrow_mut().evict_hot();
        }
        if stop.get() && !log.borrow().flush_pending() {
            return;
        }
    }
}

/// One fdatasync of everything written, with the records that arrive meanwhile written beside
/// it (they ride the next one). The zeros for later records also travel beside the fdatasync,
/// before those writes: only this function writes, one write at a time, so a zero block is
/// never in flight together with a record write to it.
async fn group_commit<S: Storage>(log: &RefCell<CommitLog<S>>) -> Result<(), String> {
    let (written, appended, synced) = {
        let log = log.borrow();
        (log.written, log.appended, log.synced)
    };
    if written == synced && appended > written {
        write_range(log, written, appended).await?; // nothing written waits for a sync yet
    }
    let covered_bytes = log.borrow().written - synced;
    let zero_budget = zero_budget(&log.borrow(), covered_bytes);
    let sync_done = std::cell::Cell::new(false);
    let syncing = async {
        let result = sync_segments(log).await;
        sync_done.set(true);
        result
    };
    let overlapping = async {
        zero_ahead(log, zero_budget, 0).await?;
        loop {
            let ready = |log: &CommitLog<S>| log.appended > log.written || log.failure.is_some() || sync_done.get();
            WaitFor { log, ready }.await;
            let (written, target, failed) = {
                let log = log.borrow();
                (log.written, log.appended, log.failure.is_some())
            };
            if failed || sync_done.get() {
                break; // what arrived rides the next group commit
            }
            write_range(log, written, target).await?;
        }
        Ok::<(), String>(())
    };
    // `syncing` first: zip polls in order, so the poll that finishes the sync also ends the
    // overlap's wait.
    let (synced, overlapped) = futures_lite::future::zip(syncing, overlapping).await;
    synced?;
    overlapped?;
    log.borrow_mut().evict_hot();
    Ok(())
}

struct AsyncThresholds {
    interval: Duration,
    least_bytes: u64,
    thorough_interval: Duration,
}

async fn run_async<S: Storage>(log: &RefCell<CommitLog<S>>, stop: &std::cell::Cell<bool>, thresholds: AsyncThresholds) {
    let mut last_write = Instant::now();
    let mut last_sync = Instant::now();
    let least_bytes = thresholds.least_bytes;
    loop {
        let enough =
            move |log: &CommitLog<S>| log.appended - log.written >= least_bytes.max(1) || !log.waiters.is_empty();
        if idle(log, enough, thresholds.interval.min(Duration::from_millis(100))).await.is_err() {
            return;
        }
        let (unwritten, waiting) = {
            let log = log.borrow();
            (log.appended - log.written, !log.waiters.is_empty())
        };
        let now = Instant::now();
        let interval_due = now.duration_since(last_write) >= thresholds.interval && unwritten > 0;
        let sync_due = now.duration_since(last_sync) >= thresholds.thorough_interval || waiting || stop.get();
        if unwritten >= least_bytes.max(1) || interval_due || sync_due {
            if flush(log, sync_due).await.is_err() {
                return;
            }
            last_write = now;
            if sync_due {
                last_sync = now;
            }
        }
        if stop.get() && !log.borrow().flush_pending() {
            return;
        }
    }
}
