//! One shard's store: the commit log plus the consume queues and the key index built from it,
//! the periodic checkpoint, and recovery on open.
//!
//! `put` runs on the shard's run loop and never waits: it assigns the queue offset and the
//! commit-log position, dispatches the consume-queue unit and index keys at once (a consumer
//! sees the message as soon as it is appended, as with RocketMQ's reput), and returns. The
//! caller then waits for `durable(end)` when the send must be synced (SYNC_FLUSH with WAIT).
//!
//! The checkpoint records how far consume queues and index are safely on disk; a crash is
//! recovered by re-dispatching every commit-log record past it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::checkpoint::{self, Checkpoint};
use super::commit_log::{
    self, AppendError, CommitLog, CommitLogOptions, DurableReceiver, FlushMode, Position, ReplicaAppendError,
};
use super::consume_queue::{ConsumeQueue, ConsumeQueues, Unit};
use super::index::IndexStore;
use super::recovery::{self, RecoveryMode, ScannedRecord};
use super::retention::RetentionPolicy;
use super::{commit_log_offset, flush, position_of};
use crate::protocol::message::{sys_flag, tags_code, Properties};
use crate::protocol::record::{self, Record};
use crate::runtime::{self, Storage};

/// How often retention runs (Java's `cleanResourceInterval`).
const RETENTION_INTERVAL: Duration = Duration::from_secs(10);

/// What the store needs to know.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub shard: u16,
    /// `storePathRootDir`: consume queues and checkpoints live here.
    pub root: PathBuf,
    /// This shard's segment directory.
    pub commit_log_directory: PathBuf,
    /// This shard's index directory.
    pub index_directory: PathBuf,
    pub checkpoint_path: PathBuf,
    pub segment_size_bytes: u64,
    pub consume_queue_file_size_bytes: u64,
    pub flush_mode: FlushMode,
    pub hot_window_bytes: usize,
    pub unwritten_bytes_max: usize,
    /// The broker's advertised address, written into every record (offsetMsgId is built from
    /// it).
    pub store_host: SocketAddr,
    pub index_enabled: bool,
    pub index_slot_count: u32,
    pub index_entry_count_max: u32,
    pub checkpoint_interval: Duration,
    /// `messageDelayLevel` in milliseconds: level n waits `delay_levels_ms[n - 1]`.
    pub delay_levels_ms: Vec<i64>,
    pub retention: RetentionPolicy,
    /// Pull limits (`maxTransfer{Count,Bytes}OnMessageIn{Memory,Disk}`): records still in the hot
    /// window are "in memory", older ones "on disk".
    pub transfer: TransferLimits,
}

/// How much one pull returns (protocol §7.3).
#[derive(Clone, Copy, Debug)]
pub struct TransferLimits {
    pub count_max_hot: usize,
    pub bytes_max_hot: usize,
    pub count_max_cold: usize,
    pub bytes_max_cold: usize,
    /// Records within this many bytes of the log end count as "in memory" and get the `_hot`
    /// limits (Java's `accessMessageInMemoryMaxRatio` of physical RAM); older ones the `_cold`.
    pub memory_window_bytes: u64,
}

impl Default for TransferLimits {
    fn default() -> Self {
        Self {
            count_max_hot: 32,
            bytes_max_hot: 256 * 1024,
            count_max_cold: 8,
            bytes_max_cold: 64 * 1024,
            memory_window_bytes: crate::limits::STORE_HOT_WINDOW_BYTES as u64,
        }
    }
}

/// The store's answer to a pull (protocol §7.3 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    Found,
    NoMatchedMessage,
    NoMessageInQueue,
    NoMatchedLogicQueue,
    OffsetTooSmall,
    OffsetOverflowOne,
    OffsetOverflowBadly,
    MessageWasRemoving,
    OffsetFoundNull,
}

impl ReadStatus {
    /// The name RocketMQ puts in the pull reply's remark.
    pub fn name(self) -> &'static str {
        match self {
            Self::Found => "FOUND",
            Self::NoMatchedMessage => "NO_MATCHED_MESSAGE",
            Self::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
            Self::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
            Self::OffsetTooSmall => "OFFSET_TOO_SMALL",
            Self::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
            Self::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
            Self::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
            Self::OffsetFoundNull => "OFFSET_FOUND_NULL",
        }
    }
}

/// Records read from a queue: whole stored records as `Bytes` (clones of the hot window, no
/// copy, or DMA reads for older data).
#[derive(Clone, Debug)]
pub struct QueueRead {
    pub status: ReadStatus,
    pub records: Vec<Bytes>,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
}

/// A message as the store takes it (already validated by the caller).
#[derive(Clone, Debug)]
pub struct MessageToStore<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub flag: i32,
    pub body: &'a [u8],
    /// The encoded properties string.
    pub properties: &'a str,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    /// Consume-queue tags code (the TAGS hash, or a delivery time for scheduled messages).
    pub tags_code: i64,
    /// Index keys (without the `topic#` prefix): each KEYS entry and the UNIQ_KEY.
    pub keys: Vec<&'a str>,
}

/// Where a stored message landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutResult {
    pub commit_log_offset: i64,
    pub queue_offset: i64,
    pub size_bytes: usize,
    pub store_timestamp: i64,
    /// Shard-local position just past the record: wait for `durable(end)` to know it is synced.
    pub end: Position,
}

/// Why a put failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutError {
    Append(AppendError),
    /// The disk is fuller than the disk-full ratio: nothing more is accepted.
    DiskFull {
        used_ratio_percent: u32,
    },
    /// Topic or properties past the record format's limits.
    Illegal(String),
    /// This store is a slave's copy of its master's log: only replication appends to it.
    Slave,
    ConsumeQueue(String),
}

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Append(error) => write!(f, "{error}"),
            Self::DiskFull { used_ratio_percent } => {
                write!(f, "service not available now, maybe disk full ({used_ratio_percent}% used)")
            }
            Self::Illegal(reason) => write!(f, "message illegal: {reason}"),
            Self::Slave => f.write_str("messages are put to the slave"),
            Self::ConsumeQueue(reason) => write!(f, "consume queue: {reason}"),
        }
    }
}

#[derive(Debug)]
pub struct OpenError(pub String);

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OpenError {}

/// One shard's store. Shared within its shard as `Rc<ShardStore>`; never crosses shards.
pub struct ShardStore<S: Storage> {
    pub options: StoreOptions,
    log: Rc<RefCell<CommitLog<S>>>,
    queues: RefCell<ConsumeQueues>,
    index: RefCell<Option<IndexStore>>,
    stop: Rc<Cell<bool>>,
    /// The flusher task, awaited by `close` so that two flushes never overlap.
    flusher: RefCell<Option<runtime::Task<()>>>,
    /// Disk use (percent) when it crossed the disk-full ratio; sends are refused meanwhile.
    disk_full_percent: Cell<Option<u32>>,
    /// How the last open went, for logs and tests.
    pub recovered: RecoverySummary,
    /// A slave's store: `put` is refused, only `apply_replicated` appends, so the log stays a
    /// byte-identical copy of the master's.
    replica: Cell<bool>,
    /// One checkpoint at a time: a later one must not be stored while an earlier one still
    /// syncs files both vouch for.
    checkpoint_turn: runtime::Semaphore,
    /// A consume-queue or index fdatasync failed: from then on no checkpoint is written, so
    /// recovery rebuilds them from the commit log past the last good one.
    checkpoint_refused: Cell<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoverySummary {
    pub scanned: bool,
    pub records_replayed: u64,
    pub log_end: Position,
}

fn open_error(what: &str) -> impl Fn(String) -> OpenError + '_ {
    move |reason| OpenError(format!("{what}: {reason}"))
}

impl<S: Storage> ShardStore<S> {
    /// Opens (recovering after an unclean stop) and starts the flusher and checkpoint tasks on
    /// the current executor. `owns(topic, queue_id)` says which consume queues belong to this
    /// shard; `unclean` comes from the store root's abort marker.
    pub async fn open(
        storage: S,
        options: StoreOptions,
        unclean: bool,
        owns: impl Fn(&str, i32) -> bool,
    ) -> Result<Rc<Self>, OpenError> {
        let checkpoint = Checkpoint::load(&options.checkpoint_path).map_err(open_error("checkpoint"))?;
        let mut queues = ConsumeQueues::open_filtered(&options.root, options.consume_queue_file_size_bytes, &owns)
            .map_err(|error| OpenError(format!("consume queues: {error}")))?;
        let mut index = if options.index_enabled {
            Some(
                IndexStore::open(&options.index_directory, options.index_slot_count, options.index_entry_count_max)
                    .map_err(|error| OpenError(format!("index: {error}")))?,
            )
        } else {
            None
        };
        let scan = unclean || !checkpoint.clean;
        let mode = if scan {
            let from = commit_log_offset(options.shard, checkpoint.dispatched);
            queues.truncate_all_from(from).map_err(|error| OpenError(format!("consume queues: {error}")))?;
            RecoveryMode::Scan { from: checkpoint.dispatched, synced: checkpoint.synced }
        } else {
            RecoveryMode::Clean { end: checkpoint.log_end }
        };
        let mut replayed = 0u64;
        let log_options = commit_log_options(&options);
        let delay_levels_ms = options.delay_levels_ms.clone();
        let shard = options.shard;
        let log = recovery::open(storage, log_options, mode, |scanned| {
            replayed += 1;
            dispatch_scanned(shard, &delay_levels_ms, &scanned, &mut queues, index.as_mut());
        })
        .await
        .map_err(|error| OpenError(error.to_string()))?;
        let log_end = log.appended();
        queues
            .retain_all_from(commit_log_offset(shard, log.min_position()))
            .map_err(|error| OpenError(format!("consume queues: {error}")))?;
        let store = Rc::new(Self {
            options,
            log: Rc::new(RefCell::new(log)),
            queues: RefCell::new(queues),
            index: RefCell::new(index),
            stop: Rc::new(Cell::new(false)),
            flusher: RefCell::new(None),
            disk_full_percent: Cell::new(None),
            recovered: RecoverySummary { scanned: scan, records_replayed: replayed, log_end },
            replica: Cell::new(false),
            checkpoint_turn: runtime::Semaphore::new(1),
            checkpoint_refused: Cell::new(false),
        });
        // From here on a crash must scan: the clean checkpoint no longer describes the log.
        store.write_checkpoint(false).await.map_err(open_error("checkpoint"))?;
        tracing::info!(
            shard,
            scanned = scan,
            replayed,
            log_end,
            "store opened ({})",
            if scan { "last shutdown abnormally: recovered" } else { "last shutdown normally" }
        );
        Ok(store)
    }

    /// Starts the flusher and the periodic checkpoint on the current executor.
    pub fn start_background_tasks(self: &Rc<Self>) {
        let flusher = runtime::spawn(flush::run(self.log.clone(), self.stop.clone()));
        *self.flusher.borrow_mut() = Some(flusher);
        let store = self.clone();
        runtime::spawn(async move {
            while !store.stop.get() {
                runtime::sleep(store.options.checkpoint_interval).await;
                if let Err(error) = store.checkpoint().await {
                    tracing::error!("checkpoint of shard {} failed: {error}", store.options.shard);
                }
            }
        })
        .detach();
        if matches!(self.options.flush_mode, FlushMode::Sync(_)) {
            // Only SYNC_FLUSH sends wait with a deadline (`durable_within`).
            runtime::spawn(self.clone().sweep_durable_deadlines()).detach();
        }
        let store = self.clone();
        runtime::spawn(async move {
            while !store.stop.get() {
                runtime::sleep(RETENTION_INTERVAL).await;
                let used = store.log.borrow().storage.used_ratio(&store.options.commit_log_directory).unwrap_or(0.0);
                let now = crate::protocol::now_ms();
                if let Err(error) = store.run_retention(now, super::retention::local_hour(now), used).await {
                    tracing::error!("retention of shard {} failed: {error}", store.options.shard);
                }
            }
        })
        .detach();
    }

    /// One retention pass: deletes expired segments, moves consume-queue and index minimums,
    /// and sets or clears the disk-full refusal.
    pub async fn run_retention(&self, now_ms: i64, hour: u8, used_ratio: f64) -> Result<Vec<Position>, String> {
        let policy = &self.options.retention;
        let percent = (used_ratio * 100.0).round() as u32;
        let full = used_ratio > policy.disk_full_ratio;
        if full && self.disk_full_percent.get().is_none() {
            tracing::error!("physic disk maybe full soon {percent}%, so mark disk full; sends are refused");
        }
        self.disk_full_percent.set(full.then_some(percent));
        let deleted = super::retention::delete_expired_segments(&self.log, policy, now_ms, hour, used_ratio)
            .await
            .map_err(|error| error.to_string())?;
        if !deleted.is_empty() {
            let minimum = commit_log_offset(self.options.shard, self.log.borrow().min_position());
            self.queues.borrow_mut().retain_all_from(minimum).map_err(|error| error.to_string())?;
            if let Some(index) = self.index.borrow_mut().as_mut() {
                index.retain_from(minimum).map_err(|error| error.to_string())?;
            }
        }
        Ok(deleted)
    }

    /// Reads up to `count_max` records of a queue from `offset`, keeping those `matches`
    /// accepts (tag filtering), within the transfer limits.
    pub async fn read_queue(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        count_max: usize,
        matches: impl Fn(&Unit) -> bool,
    ) -> QueueRead {
        let (units, min_offset, max_offset) = {
            let queues = self.queues.borrow();
            let Some(queue) = queues.get(topic, queue_id) else {
                let status = ReadStatus::NoMatchedLogicQueue;
                return QueueRead { status, records: Vec::new(), next_begin_offset: 0, min_offset: 0, max_offset: 0 };
            };
            let (min, max) = (queue.min_offset(), queue.max_offset());
            let empty = |status, next| QueueRead {
                status,
                records: Vec::new(),
                next_begin_offset: next,
                min_offset: min,
                max_offset: max,
            };
            if max == 0 {
                return empty(ReadStatus::NoMessageInQueue, 0);
            }
            if offset < min {
                return empty(ReadStatus::OffsetTooSmall, min);
            }
            if offset == max {
                return empty(ReadStatus::OffsetOverflowOne, offset);
            }
            if offset > max {
                return empty(ReadStatus::OffsetOverflowBadly, max);
            }
            // Only as many units as asked for when they all match (no filter: the common pull),
            // else scan up to the limit for matching ones.
            let mut units = queue.read(offset, count_max);
            if units.as_ref().is_ok_and(|units| units.len() == count_max && !units.iter().all(&matches)) {
                units = queue.read(offset, super::consume_queue::PULL_SCAN_UNITS_MAX.max(count_max));
            }
            match units {
                Ok(units) => (units, min, max),
                Err(_) => return empty(ReadStatus::OffsetFoundNull, offset + 1),
            }
        };
        self.read_units(offset, units, count_max, min_offset, max_offset, matches).await
    }

    async fn read_units(
        &self,
        offset: i64,
        units: Vec<Unit>,
        count_max: usize,
        min_offset: i64,
        max_offset: i64,
        matches: impl Fn(&Unit) -> bool,
    ) -> QueueRead {
        let limits = self.options.transfer;
        let log_min = commit_log_offset(self.options.shard, self.log.borrow().min_position());
        let log_end = commit_log_offset(self.options.shard, self.log.borrow().appended());
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut scanned = 0i64;
        let mut removing = false;
        for unit in &units {
            let in_memory = log_end.saturating_sub(unit.commit_log_offset) as u64 <= limits.memory_window_bytes;
            let (count_limit, bytes_limit) = if in_memory {
                (limits.count_max_hot.min(count_max), limits.bytes_max_hot)
            } else {
                (limits.count_max_cold.min(count_max), limits.bytes_max_cold)
            };
            if records.len() >= count_limit || (!records.is_empty() && bytes + unit.size_bytes as usize > bytes_limit) {
                break;
            }
            scanned += 1;
            if unit.commit_log_offset < log_min {
                removing |= records.is_empty();
                continue;
            }
            if unit.is_blank() || !matches(unit) {
                continue;
            }
            match self.read(unit.commit_log_offset, unit.size_bytes as usize).await {
                Ok(record) => {
                    bytes += record.len();
                    records.push(record);
                }
                Err(_) => removing |= records.is_empty(),
            }
        }
        let status = if !records.is_empty() {
            ReadStatus::Found
        } else if removing {
            ReadStatus::MessageWasRemoving
        } else {
            ReadStatus::NoMatchedMessage
        };
        QueueRead { status, records, next_begin_offset: offset + scanned, min_offset, max_offset }
    }

    /// QUERY_MESSAGE: records of `topic` whose KEYS (or UNIQ_KEY) hold `key`, stored within
    /// `[begin_ms, end_ms]`, newest first, at most `count_max`. Hash collisions are filtered out
    /// by checking the record itself.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        count_max: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> Vec<Bytes> {
        let offsets = match self.index.borrow().as_ref() {
            Some(index) => index.query(&format!("{topic}#{key}"), count_max * 2, begin_ms, end_ms).unwrap_or_default(),
            None => return Vec::new(),
        };
        let mut found = Vec::new();
        for offset in offsets {
            if found.len() >= count_max {
                break;
            }
            let Ok(bytes) = self.read_unsized(offset).await else { continue };
            let Ok(decoded) = record::decode(&bytes) else { continue };
            let properties = Properties::parse(decoded.properties);
            let has_key = properties.keys().any(|candidate| candidate == key)
                || properties.get(crate::protocol::message::property::UNIQ_KEY) == Some(key);
            if decoded.topic == topic && has_key {
                found.push(bytes);
            }
        }
        found
    }

    /// Makes this store a slave's copy: from now on `put` is refused.
    pub fn set_replica(&self) {
        self.replica.set(true);
    }

    /// Appends the messages of one batch, all or none: every reason to refuse one (a slave's
    /// store, a full disk, a record past the format's limits, too much waiting for the disk) is
    /// found before the first is stored. A client that sends a refused batch again (SYSTEM_BUSY
    /// is retried) must not find part of it stored twice.
    pub fn put_batch(&self, messages: &[MessageToStore<'_>]) -> Result<Vec<PutResult>, PutError> {
        self.check_accepting()?;
        for message in messages {
            record::check_lengths(message.topic, message.properties)
                .map_err(|error| PutError::Illegal(error.to_string()))?;
        }
        let sizes_bytes = messages.iter().map(|message| self.record_size_bytes(message));
        self.log.borrow().check_room(sizes_bytes).map_err(PutError::Append)?;
        messages.iter().map(|message| self.put(message)).collect()
    }

    fn check_accepting(&self) -> Result<(), PutError> {
        if self.replica.get() {
            return Err(PutError::Slave);
        }
        if let Some(used_ratio_percent) = self.disk_full_percent.get() {
            return Err(PutError::DiskFull { used_ratio_percent });
        }
        Ok(())
    }

    fn record_size_bytes(&self, message: &MessageToStore<'_>) -> usize {
        record::encoded_size(
            &message.born_host,
            &self.options.store_host,
            message.body.len(),
            message.topic.len(),
            message.properties.len(),
        )
    }

    /// Appends a message; see the module doc.
    pub fn put(&self, message: &MessageToStore<'_>) -> Result<PutResult, PutError> {
        self.check_accepting()?;
        let size_bytes = self.record_size_bytes(message);
        let transaction = message.sys_flag & sys_flag::TRANSACTION_MASK;
        // Prepared and rolled-back records get no consume-queue entry (protocol §8.2).
        let dispatched = transaction == sys_flag::TRANSACTION_NOT_TYPE || transaction == sys_flag::TRANSACTION_COMMIT;
        let mut queues = self.queues.borrow_mut();
        let queue_offset = if dispatched {
            queues
                .get_or_create(message.topic, message.queue_id)
                .map_err(|error| PutError::ConsumeQueue(error.to_string()))?
                .max_offset()
        } else {
            0
        };
        let store_timestamp = crate::protocol::now_ms();
        let shard = self.options.shard;
        let store_host = self.options.store_host;
        let record = Record {
            body_crc: crate::protocol::message::crc32(message.body),
            queue_id: message.queue_id,
            flag: message.flag,
            queue_offset,
            physical_offset: 0,
            sys_flag: message.sys_flag,
            born_timestamp: message.born_timestamp,
            born_host: message.born_host,
            store_timestamp,
            store_host,
            reconsume_times: message.reconsume_times,
            prepared_transaction_offset: message.prepared_transaction_offset,
            body: message.body,
            topic: message.topic,
            properties: message.properties,
        };
        record.validate().map_err(|error| PutError::Illegal(error.to_string()))?;
        let position = self
            .log
            .borrow_mut()
            .append(size_bytes, |position, buffer| {
                let mut record = record.clone();
                record.physical_offset = commit_log_offset(shard, position);
                record::encode(&record, buffer);
            })
            .map_err(PutError::Append)?;
        let offset = commit_log_offset(shard, position);
        if dispatched {
            let tags_code =
                unit_tags_code(&self.options.delay_levels_ms, message.topic, message.queue_id, store_timestamp)
                    .unwrap_or(message.tags_code);
            let unit = Unit { commit_log_offset: offset, size_bytes: size_bytes as i32, tags_code };
            queues
                .append(message.topic, message.queue_id, queue_offset, unit)
                .map_err(|error| PutError::ConsumeQueue(error.to_string()))?;
        }
        if let Some(index) = self.index.borrow_mut().as_mut() {
            for key in &message.keys {
                if let Err(error) = index.put_topic_key(message.topic, key, offset, store_timestamp) {
                    tracing::warn!("index put failed: {error}");
                }
            }
        }
        Ok(PutResult {
            commit_log_offset: offset,
            queue_offset,
            size_bytes,
            store_timestamp,
            end: position + size_bytes as u64,
        })
    }

    /// Slave side: appends the records of one replication frame at `position` (the same
    /// positions as on the master) and dispatches them to consume queues and the index, as
    /// recovery does. Returns the queues that got messages (their parked pulls can be woken)
    /// and the log end after the frame. Nothing is applied when the flusher is too far behind
    /// (`Busy`): the caller waits and offers the frame again. The records are copied, so the
    /// caller can reuse its frame buffer.
    pub fn apply_replicated(
        &self,
        position: Position,
        bytes: &[u8],
    ) -> Result<(Vec<(String, i32)>, Position), ReplicaAppendError> {
        let records = split_records(position, bytes, self.options.segment_size_bytes)?;
        {
            let log = self.log.borrow();
            let unwritten = (log.appended() - log.written()) as usize;
            if unwritten + bytes.len() > self.options.unwritten_bytes_max {
                return Err(ReplicaAppendError::Busy);
            }
        }
        let mut touched: Vec<(String, i32)> = Vec::new();
        let mut queues = self.queues.borrow_mut();
        let mut index = self.index.borrow_mut();
        for (at, record) in records {
            self.log.borrow_mut().append_replicated(at, record)?;
            if record.len() == record::BLANK_SIZE_BYTES {
                continue;
            }
            let scanned = ScannedRecord { position: at, bytes: record };
            let queue = dispatch_scanned(
                self.options.shard,
                &self.options.delay_levels_ms,
                &scanned,
                &mut queues,
                index.as_mut(),
            );
            if let Some((topic, queue_id)) = queue {
                if !touched.iter().any(|(known, id)| known == topic && *id == queue_id) {
                    touched.push((topic.to_string(), queue_id));
                }
            }
        }
        let end = self.log.borrow().appended();
        Ok((touched, end))
    }

    /// The commit log cell, for the replication pump that runs on this shard.
    pub fn log_cell(&self) -> Rc<RefCell<CommitLog<S>>> {
        self.log.clone()
    }

    /// Resolves when everything up to `end` is synced.
    pub fn durable(&self, end: Position) -> DurableReceiver {
        self.log.borrow_mut().durable(end)
    }

    /// Fails the durability waits whose deadline passed, waking at the earliest deadline and at
    /// least every `DURABLE_SWEEP_INTERVAL_MS`.
    async fn sweep_durable_deadlines(self: Rc<Self>) {
        let interval = Duration::from_millis(crate::limits::DURABLE_SWEEP_INTERVAL_MS);
        while !self.stop.get() {
            let next = self.log.borrow().next_deadline();
            let now = Instant::now();
            runtime::sleep(next.map_or(interval, |deadline| deadline.saturating_duration_since(now).min(interval)))
                .await;
            self.log.borrow_mut().expire_waiters(Instant::now());
        }
    }

    /// As `durable`, failing with `DurabilityError::TimedOut` after `timeout` (enforced by
    /// `sweep_durable_deadlines`, which runs under SYNC_FLUSH).
    pub fn durable_within(&self, end: Position, timeout: Duration) -> DurableReceiver {
        self.log.borrow_mut().durable_by(end, Some(Instant::now() + timeout))
    }

    /// Bytes behind the log end that count as "in memory" (`TransferLimits::memory_window_bytes`).
    pub fn memory_window_bytes(&self) -> u64 {
        self.options.transfer.memory_window_bytes
    }

    /// The record at a commit-log offset of this shard.
    pub async fn read(&self, commit_log_offset: i64, size_bytes: usize) -> std::io::Result<Bytes> {
        let (shard, position) = position_of(commit_log_offset);
        if shard != self.options.shard {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "offset of another shard"));
        }
        commit_log::read(&self.log, position, size_bytes).await
    }

    /// Reads the record at `commit_log_offset` when its size is unknown (VIEW_MESSAGE_BY_ID).
    pub async fn read_unsized(&self, commit_log_offset: i64) -> std::io::Result<Bytes> {
        let (_, position) = position_of(commit_log_offset);
        let hot = self.log.borrow().read_hot(position);
        if let Some(bytes) = hot {
            return Ok(bytes);
        }
        let head = self.read(commit_log_offset, 8).await?;
        let (size, _) = record::peek_size_and_magic(&head).ok_or_else(|| std::io::Error::other("short record"))?;
        if size <= 8 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no record at that offset"));
        }
        self.read(commit_log_offset, size as usize).await
    }

    pub fn queues(&self) -> std::cell::Ref<'_, ConsumeQueues> {
        self.queues.borrow()
    }

    /// The consume queue of `(topic, queue_id)`, if it exists, as a borrowed reference.
    pub fn with_queue<T>(&self, topic: &str, queue_id: i32, read: impl FnOnce(Option<&ConsumeQueue>) -> T) -> T {
        read(self.queues.borrow().get(topic, queue_id))
    }

    pub fn index(&self) -> std::cell::Ref<'_, Option<IndexStore>> {
        self.index.borrow()
    }

    pub fn log(&self) -> std::cell::Ref<'_, CommitLog<S>> {
        self.log.borrow()
    }

    /// The commit log cell, for tests that drive the flusher by hand.
    #[doc(hidden)]
    pub fn log_cell_for_tests(&self) -> Rc<RefCell<CommitLog<S>>> {
        self.log.clone()
    }

    /// Syncs the log, then checkpoints (tests drive this by hand instead of the tasks).
    #[doc(hidden)]
    pub async fn checkpoint_after_flush_for_tests(&self) -> Result<(), String> {
        flush::flush(&self.log, true).await?;
        self.checkpoint().await
    }

    /// Destroys this shard's consume queues of `topic` (DELETE_TOPIC_IN_BROKER): a topic made
    /// again under the name starts at queue offset 0, as with RocketMQ. The records stay in the
    /// commit log until retention. A checkpoint follows at once, so that a crash recovery does
    /// not rebuild the queues from records the checkpoint had already passed; records not yet
    /// synced at this moment are still replayed into them then, as RocketMQ's recovery would.
    pub async fn remove_queues(&self, topic: &str) -> Result<(), String> {
        self.queues.borrow_mut().remove(topic).map_err(|error| error.to_string())?;
        assert!(self.queues.borrow().iter().all(|(queue_topic, _, _)| queue_topic != topic));
        self.checkpoint().await
    }

    /// Syncs consume queues and index, then records how far they go.
    pub async fn checkpoint(&self) -> Result<(), String> {
        self.write_checkpoint(false).await
    }

    /// The run loop writes out what consume queues and index buffer and takes their dirty
    /// marks; the fdatasyncs and the checkpoint file go to the blocking-work thread, so that no
    /// send or pull waits for them (each fdatasync took 5 ms on the shard thread, seconds in a
    /// disk stall).
    async fn write_checkpoint(&self, clean: bool) -> Result<(), String> {
        let _turn = self.checkpoint_turn.acquire_permit(1).await.expect("the checkpoint turn is never closed");
        if self.checkpoint_refused.get() {
            return Err("refused since a consume-queue or index write or fdatasync failed (see the earlier \
                        error): the last checkpoint stands, and recovery rebuilds them from the commit log past it"
                .into());
        }
        let (synced, appended) = {
            let log = self.log.borrow();
            (log.synced(), log.appended())
        };
        let files = self.take_unsynced_files().inspect_err(|_| self.checkpoint_refused.set(true))?;
        let checkpoint = Checkpoint {
            clean,
            log_end: if clean { appended } else { 0 },
            dispatched: synced,
            synced,
            timestamp_ms: crate::protocol::now_ms(),
        };
        let path = self.options.checkpoint_path.clone();
        let written = runtime::spawn_blocking(move || checkpoint::write(&files, &checkpoint, &path)).await;
        if let Err(checkpoint::WriteError::Sync { .. }) = &written {
            self.checkpoint_refused.set(true);
        }
        written.map_err(|error| error.to_string())
    }

    /// The files of consume queues and index written since the last call; their dirty marks go
    /// with them, so an error here (the marks taken so far are lost) must refuse every later
    /// checkpoint.
    fn take_unsynced_files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = self.queues.borrow_mut().take_unsynced().map_err(|error| error.to_string())?;
        if let Some(index) = self.index.borrow_mut().as_mut() {
            files.extend(index.take_unsynced().map_err(|error| error.to_string())?);
        }
        Ok(files)
    }

    /// A clean stop: writes and syncs everything, then a clean checkpoint, so the next open
    /// needs no scan.
    pub async fn close(&self) -> Result<(), String> {
        self.stop.set(true);
        self.log.borrow_mut().wake_flusher();
        let flusher = self.flusher.borrow_mut().take();
        if let Some(flusher) = flusher {
            flusher.await; // it drains what is pending and stops
        }
        flush::flush(&self.log, true).await?;
        let (synced, appended) = {
            let log = self.log.borrow();
            (log.synced(), log.appended())
        };
        assert_eq!(synced, appended, "a clean stop syncs everything");
        self.write_checkpoint(true).await
    }
}

/// Splits a replication frame into its records (zero-copy slices). A blank record may only
/// end a frame; a frame never ends inside a record.
fn split_records(
    position: Position,
    bytes: &[u8],
    segment_size_bytes: u64,
) -> Result<Vec<(Position, &[u8])>, ReplicaAppendError> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let here = position + at as u64;
        let malformed = |reason: String| ReplicaAppendError::Malformed(format!("{reason} at {here}"));
        let (size, magic) =
            record::peek_size_and_magic(&bytes[at..]).ok_or_else(|| malformed("a cut record header".into()))?;
        if magic == record::MAGIC_BLANK {
            let remaining = segment_size_bytes - here % segment_size_bytes;
            if at + record::BLANK_SIZE_BYTES != bytes.len() || size as u64 != remaining {
                return Err(malformed(format!("a blank record of {size} bytes inside a frame")));
            }
            records.push((here, &bytes[at..]));
            break;
        }
        if size < record::BLANK_SIZE_BYTES as i32 || at + size as usize > bytes.len() {
            return Err(malformed(format!("a record of {size} bytes in a frame of {}", bytes.len())));
        }
        records.push((here, &bytes[at..at + size as usize]));
        at += size as usize;
    }
    Ok(records)
}

fn commit_log_options(options: &StoreOptions) -> CommitLogOptions {
    CommitLogOptions {
        directory: options.commit_log_directory.clone(),
        segment_size_bytes: options.segment_size_bytes,
        hot_window_bytes: options.hot_window_bytes,
        unwritten_bytes_max: options.unwritten_bytes_max,
        flush_mode: options.flush_mode,
    }
}

/// Recovery: puts a scanned record back into its consume queue and the index.
/// Returns the record's queue, if it went to one.
fn dispatch_scanned<'a>(
    shard: u16,
    delay_levels_ms: &[i64],
    scanned: &ScannedRecord<'a>,
    queues: &mut ConsumeQueues,
    index: Option<&mut IndexStore>,
) -> Option<(&'a str, i32)> {
    let Ok(decoded) = record::decode(scanned.bytes) else {
        return None; // recovery checked it already
    };
    let mut dispatched = None;
    let offset = commit_log_offset(shard, scanned.position);
    assert_eq!(decoded.physical_offset, offset, "a record knows where it lives");
    let properties = Properties::parse(decoded.properties);
    let transaction = decoded.sys_flag & sys_flag::TRANSACTION_MASK;
    if transaction == sys_flag::TRANSACTION_NOT_TYPE || transaction == sys_flag::TRANSACTION_COMMIT {
        let tags = unit_tags_code(delay_levels_ms, decoded.topic, decoded.queue_id, decoded.store_timestamp)
            .unwrap_or_else(|| tags_code(properties.get(crate::protocol::message::property::TAGS)));
        let unit = Unit { commit_log_offset: offset, size_bytes: scanned.bytes.len() as i32, tags_code: tags };
        match queues.get_or_create(decoded.topic, decoded.queue_id) {
            // An empty queue takes the record's offset as its start (its files were lost or
            // retention removed them), as RocketMQ rebuilds it.
            Ok(queue) if queue.max_offset() == decoded.queue_offset || queue.max_offset() == 0 => {
                match queue.append(decoded.queue_offset, unit) {
                    Ok(_) => dispatched = Some((decoded.topic, decoded.queue_id)),
                    Err(error) => tracing::error!("recovery: consume queue append failed: {error}"),
                }
            }
            Ok(queue) if queue.max_offset() > decoded.queue_offset => {} // already there
            Ok(queue) => tracing::error!(
                "recovery: {}-{} expects offset {} but the log has {}",
                decoded.topic,
                decoded.queue_id,
                queue.max_offset(),
                decoded.queue_offset
            ),
            Err(error) => tracing::error!("recovery: consume queue: {error}"),
        }
    }
    if let Some(index) = index {
        let uniq = properties.get(crate::protocol::message::property::UNIQ_KEY);
        for key in properties.keys().chain(uniq) {
            let _ = index.put_topic_key(decoded.topic, key, offset, decoded.store_timestamp);
        }
    }
    dispatched
}

/// Scheduled messages (queue n-1 of `SCHEDULE_TOPIC_XXXX` holds delay level n) carry their
/// delivery time in the consume-queue unit instead of a tag hash (protocol §7.7).
fn unit_tags_code(delay_levels_ms: &[i64], topic: &str, queue_id: i32, store_timestamp: i64) -> Option<i64> {
    if topic != super::SCHEDULE_TOPIC {
        return None;
    }
    let delay = delay_levels_ms.get(usize::try_from(queue_id).ok()?).copied().unwrap_or(0);
    Some(store_timestamp + delay)
}
