//! The shard store as the broker uses it: put, pull, query by key, recovery of consume queues
//! and index, retention and the disk-full refusal.
//!
//! Method: the commit log runs on the fault-injecting `MemoryStorage` (so a crash can drop
//! unsynced bytes), consume queues, index and checkpoint on real files in a scratch directory.
//! Everything is driven with `block_on`, without background tasks, so each step is explicit.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::future::block_on;

use ringmq::protocol::message::{java_string_hash, tags_code};
use ringmq::protocol::record;
use ringmq::runtime::MemoryStorage;
use ringmq::store::checkpoint::Checkpoint;
use ringmq::store::commit_log::{FlushMode, SyncMethod};
use ringmq::store::flush;
use ringmq::store::retention::RetentionPolicy;
use ringmq::store::shard_store::{MessageToStore, PutError, ReadStatus, ShardStore, StoreOptions, TransferLimits};

use common::Scratch;

const SEGMENT_BYTES: u64 = 64 * 1024;

fn options(scratch: &Scratch) -> StoreOptions {
    StoreOptions {
        shard: 1,
        root: scratch.0.clone(),
        commit_log_directory: scratch.0.join("commitlog/shard-1"),
        index_directory: scratch.0.join("index/shard-1"),
        checkpoint_path: scratch.0.join("checkpoint-1"),
        segment_size_bytes: SEGMENT_BYTES,
        consume_queue_file_size_bytes: 20 * 100,
        flush_mode: FlushMode::Sync(SyncMethod::WriteThrough),
        hot_window_bytes: 16 * 1024,
        unwritten_bytes_max: 1 << 20,
        store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
        index_enabled: true,
        index_slot_count: 64,
        index_entry_count_max: 256,
        checkpoint_interval: Duration::from_secs(10),
        delay_levels_ms: vec![1000, 5000],
        retention: RetentionPolicy { delete_when_hours: vec![4], file_reserved_hours: 1, ..RetentionPolicy::default() },
        transfer: Default::default(),
    }
}

fn put(
    store: &ShardStore<MemoryStorage>,
    queue_id: i32,
    index: usize,
    tag: &str,
) -> ringmq::store::shard_store::PutResult {
    let body = format!("body-{index}").repeat(20);
    let key = format!("key-{index}");
    let properties = format!("TAGS\u{1}{tag}\u{2}KEYS\u{1}{key}");
    let message = MessageToStore {
        topic: "TopicA",
        queue_id,
        flag: 0,
        body: body.as_bytes(),
        properties: &properties,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: SocketAddr::from(([10, 0, 0, 1], 5000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        tags_code: tags_code(Some(tag)),
        keys: vec![&key],
    };
    store.put(&message).unwrap()
}

fn open(storage: &MemoryStorage, scratch: &Scratch, unclean: bool) -> std::rc::Rc<ShardStore<MemoryStorage>> {
    block_on(ShardStore::open(storage.clone(), options(scratch), unclean, |_, _| true)).unwrap()
}

#[test]
fn pulls_get_the_in_memory_limits_by_distance_from_the_log_end_not_by_the_hot_window() {
    // As Java decides it (accessMessageInMemoryMaxRatio of RAM behind the log end), whatever
    // this broker happens to keep in its hot window: records past the 16 KiB hot window but
    // within 30 KB of the end are pulled 32 at a time, older ones 8 at a time.
    let scratch = Scratch::new("shard-transfer-limits");
    let storage = MemoryStorage::new();
    let mut options = options(&scratch);
    options.transfer = TransferLimits { memory_window_bytes: 30_000, ..TransferLimits::default() };
    let store = block_on(ShardStore::open(storage.clone(), options, false, |_, _| true)).unwrap();
    let offsets: Vec<i64> = (0..300).map(|index| put(&store, 0, index, "T").commit_log_offset).collect();
    block_on(flush::flush(&store.log_cell_for_tests(), true)).unwrap();
    let end = offsets[299] + (offsets[299] - offsets[298]);
    // A pull stops at the end of a consume-queue file (100 units here): start at one.
    let near_offset = offsets.iter().position(|offset| end - offset <= 30_000).unwrap().next_multiple_of(100);
    let hot_start = store.log_cell_for_tests().borrow().hot_start();
    assert!((offsets[near_offset + 32] as u64 & ((1 << 48) - 1)) < hot_start, "the pull below is past the hot window");
    let near = block_on(store.read_queue("TopicA", 0, near_offset as i64, 32, |_| true));
    assert_eq!(near.records.len(), 32);
    let far = block_on(store.read_queue("TopicA", 0, 0, 32, |_| true));
    assert_eq!(far.records.len(), 8);
}

#[test]
fn checkpoints_on_an_executor_sync_off_its_run_loop_one_at_a_time() {
    // `checkpoint::write` panics on a run loop, so this fails if a checkpoint's fdatasyncs run
    // there; two checkpoints at once and then a close must all finish (one at a time).
    let scratch = Scratch::new("shard-checkpoint-executor");
    let options = options(&scratch);
    let (finished, finishing) = std::sync::mpsc::channel();
    let executor = ringmq::runtime::spawn_executor("checkpoint-test", None, move || async move {
        let store = ShardStore::open(MemoryStorage::new(), options, false, |_, _| true).await.unwrap();
        for index in 0..300 {
            put(&store, index as i32 % 2, index, "T");
        }
        flush::flush(&store.log_cell_for_tests(), true).await.unwrap();
        let (first, second) = futures_lite::future::zip(store.checkpoint(), store.checkpoint()).await;
        first.unwrap();
        second.unwrap();
        store.checkpoint().await.unwrap();
        store.close().await.unwrap();
        finished.send(()).unwrap();
    })
    .unwrap();
    finishing.recv_timeout(Duration::from_secs(60)).expect("the checkpoints and the close finish");
    executor.join().unwrap();
    let checkpoint = Checkpoint::load(&scratch.0.join("checkpoint-1")).unwrap();
    assert!(checkpoint.clean && checkpoint.synced == checkpoint.log_end && checkpoint.log_end > 0, "{checkpoint:?}");
}

/// A message for queue 0 of TopicA without tag or keys.
fn untagged<'a>(body: &'a [u8], properties: &'a str) -> MessageToStore<'a> {
    MessageToStore {
        topic: "TopicA",
        queue_id: 0,
        flag: 0,
        body,
        properties,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: SocketAddr::from(([10, 0, 0, 1], 5000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        tags_code: 0,
        keys: Vec::new(),
    }
}

/// A batch of `count` messages for queue 0 of TopicA; `properties_of(i)` gives entry i's.
fn batch_put(
    store: &ShardStore<MemoryStorage>,
    count: usize,
    properties_of: impl Fn(usize) -> String,
) -> Result<Vec<ringmq::store::shard_store::PutResult>, PutError> {
    let bodies: Vec<String> = (0..count).map(|index| format!("batch-{index}").repeat(40)).collect();
    let properties: Vec<String> = (0..count).map(properties_of).collect();
    let messages: Vec<MessageToStore<'_>> =
        (0..count).map(|index| untagged(bodies[index].as_bytes(), &properties[index])).collect();
    store.put_batch(&messages)
}

#[test]
fn a_batch_is_stored_whole_or_refused_whole() {
    // Before: a batch was stored message by message, so one refused half-way (the disk behind,
    // or an entry past the format's limits) left its first messages stored under a refusal,
    // and the client's retry of SYSTEM_BUSY stored them twice.
    let scratch = Scratch::new("shard-batch-whole");
    let storage = MemoryStorage::new();
    let mut options = options(&scratch);
    options.unwritten_bytes_max = 48 * 1024;
    let store = block_on(ShardStore::open(storage.clone(), options, false, |_, _| true)).unwrap();
    let plain = |_: usize| String::from("TAGS\u{1}T");
    let first = batch_put(&store, 100, plain).unwrap();
    assert_eq!(first.iter().map(|result| result.queue_offset).collect::<Vec<_>>(), (0..100).collect::<Vec<_>>());
    // 100 records of ~430 bytes wait for the disk; 100 more do not fit under 48 KiB.
    let busy = batch_put(&store, 100, plain).unwrap_err();
    assert!(matches!(busy, PutError::Append(ringmq::store::commit_log::AppendError::Busy { .. })), "{busy}");
    let too_long = |index: usize| if index == 3 { "K\u{1}".to_string() + &"v".repeat(40_000) } else { plain(index) };
    let illegal = batch_put(&store, 5, too_long).unwrap_err();
    assert!(matches!(illegal, PutError::Illegal(_)), "{illegal}");
    let read = block_on(store.read_queue("TopicA", 0, 0, 1024, |_| true));
    assert_eq!(read.max_offset, 100, "nothing of the refused batches was stored");
    // Once the disk caught up, the same batch is taken whole, across a segment roll
    // (64 KiB segments: 200 records of ~430 bytes roll once).
    block_on(flush::flush(&store.log_cell_for_tests(), true)).unwrap();
    let second = batch_put(&store, 100, plain).unwrap();
    assert_eq!(second.iter().map(|result| result.queue_offset).collect::<Vec<_>>(), (100..200).collect::<Vec<_>>());
    let segments: std::collections::BTreeSet<u64> = first
        .iter()
        .chain(&second)
        .map(|result| (result.commit_log_offset as u64 & ((1 << 48) - 1)) / SEGMENT_BYTES)
        .collect();
    assert_eq!(segments.len(), 2, "the batches spanned a segment roll");
}

#[test]
fn puts_assign_queue_offsets_and_pulls_return_whole_records_filtered_by_tag() {
    let scratch = Scratch::new("shard-pull");
    let storage = MemoryStorage::new();
    let store = open(&storage, &scratch, false);
    for index in 0..10 {
        let result = put(&store, 2, index, if index % 2 == 0 { "TagA" } else { "TagB" });
        assert_eq!(result.queue_offset, index as i64);
        assert_eq!((result.commit_log_offset as u64) >> 48, 1, "the shard id is in the top bits");
    }
    let tag_a = i64::from(java_string_hash("TagA"));
    let read = block_on(store.read_queue("TopicA", 2, 0, 32, |unit| unit.tags_code == tag_a));
    assert_eq!(read.status, ReadStatus::Found);
    assert_eq!(read.records.len(), 5);
    assert_eq!(read.next_begin_offset, 10);
    for (position, bytes) in read.records.iter().enumerate() {
        let decoded = record::decode(bytes).unwrap();
        assert_eq!(decoded.queue_offset, 2 * position as i64);
        assert!(decoded.properties.contains("TagA"));
    }
    assert_eq!(block_on(store.read_queue("TopicA", 2, 10, 32, |_| true)).status, ReadStatus::OffsetOverflowOne);
    assert_eq!(block_on(store.read_queue("TopicA", 2, 11, 32, |_| true)).status, ReadStatus::OffsetOverflowBadly);
    assert_eq!(block_on(store.read_queue("TopicA", 3, 0, 32, |_| true)).status, ReadStatus::NoMatchedLogicQueue);
    let none = block_on(store.read_queue("TopicA", 2, 0, 32, |_| false));
    assert_eq!((none.status, none.next_begin_offset), (ReadStatus::NoMatchedMessage, 10));
}

#[test]
fn query_by_key_finds_the_records_that_hold_the_key() {
    let scratch = Scratch::new("shard-query");
    let storage = MemoryStorage::new();
    let store = open(&storage, &scratch, false);
    for index in 0..20 {
        put(&store, 0, index, "T");
    }
    let found = block_on(store.query_by_key("TopicA", "key-7", 32, 0, i64::MAX));
    assert_eq!(found.len(), 1);
    assert!(record::decode(&found[0]).unwrap().properties.contains("key-7"));
    assert!(block_on(store.query_by_key("TopicB", "key-7", 32, 0, i64::MAX)).is_empty());
}

#[test]
fn a_crash_rebuilds_consume_queues_and_index_from_the_commit_log() {
    let scratch = Scratch::new("shard-recover");
    let storage = MemoryStorage::new();
    let store = open(&storage, &scratch, false);
    for index in 0..30 {
        put(&store, index as i32 % 3, index, "T");
    }
    block_on(store.checkpoint_after_flush_for_tests()).unwrap();
    for index in 30..60 {
        put(&store, index as i32 % 3, index, "T");
    }
    block_on(flush::flush(&store.log_cell_for_tests(), true)).unwrap();
    drop(store);
    storage.crash(|_, length| length); // every write reached the disk; the process died
    let store = open(&storage, &scratch, true);
    assert!(store.recovered.scanned);
    assert!(store.recovered.records_replayed >= 30);
    for queue_id in 0..3 {
        let read = block_on(store.read_queue("TopicA", queue_id, 0, 32, |_| true));
        assert_eq!(read.max_offset, 20, "queue {queue_id} rebuilt");
    }
    assert_eq!(block_on(store.query_by_key("TopicA", "key-55", 4, 0, i64::MAX)).len(), 1);
}

#[test]
fn retention_deletes_old_segments_and_moves_queue_minimums_and_a_full_disk_refuses_sends() {
    let scratch = Scratch::new("shard-retention");
    let storage = MemoryStorage::new();
    let store = open(&storage, &scratch, false);
    for index in 0..1000 {
        put(&store, 0, index, "T");
        if index % 100 == 99 {
            block_on(flush::flush(&store.log_cell_for_tests(), true)).unwrap();
        }
    }
    let segments = |storage: &MemoryStorage| {
        storage.paths().iter().filter(|path| path.starts_with(scratch.0.join("commitlog"))).count()
    };
    let before = segments(&storage);
    assert!(before >= 3);
    let now = ringmq::protocol::now_ms();
    for path in storage.paths() {
        storage.set_modified_ms(&path, now - 2 * 3_600_000);
    }
    // Not the hour, disk not full: nothing happens.
    assert!(block_on(store.run_retention(now, 5, 0.10)).unwrap().is_empty());
    let deleted = block_on(store.run_retention(now, 4, 0.10)).unwrap();
    assert!(!deleted.is_empty());
    assert!(segments(&storage) < before);
    let read = block_on(store.read_queue("TopicA", 0, 0, 32, |_| true));
    assert_eq!(read.status, ReadStatus::OffsetTooSmall, "the queue minimum moved past deleted data");
    let newest = block_on(store.read_queue("TopicA", 0, 999, 32, |_| true));
    assert_eq!(newest.status, ReadStatus::Found, "the current data is intact");

    block_on(store.run_retention(now, 5, 0.95)).unwrap();
    let body = b"x";
    let refused = store.put(&untagged(body, ""));
    assert!(matches!(refused, Err(PutError::DiskFull { .. })));
    assert_eq!(block_on(store.read_queue("TopicA", 0, 999, 32, |_| true)).status, ReadStatus::Found);
    block_on(store.run_retention(now, 5, 0.50)).unwrap();
    put(&store, 0, 1000, "T");
}
