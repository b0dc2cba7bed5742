//! `ringmq store-check`: a durability check of the store, used by the crash test and available
//! to operators who want to try their own disks.
//!
//! `write` appends under SYNC_FLUSH from several concurrent writers and prints one line per
//! acknowledged record, only after its commit completed (the O_DSYNC write, or the fdatasync):
//! `ACK <commit log offset> <size> <topic> <queue id> <queue offset> <crc32 of the record>`.
//! Kill it at any moment (SIGKILL), then `verify` recovers the store and checks that every
//! acknowledged record is there byte for byte and that its consume queue points at it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::commit_log::{FlushMode, SyncMethod};
use super::root::StoreRoot;
use super::shard_store::{MessageToStore, ShardStore, StoreOptions};
use crate::protocol::message::crc32;
use crate::runtime::{self, DmaStorage};

const TOPIC: &str = "CrashTopic";
const QUEUES: i32 = 4;

/// Options of the check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub directory: PathBuf,
    pub writers: usize,
    pub body_size_bytes: usize,
    pub segment_size_bytes: u64,
    /// Stop after this many acknowledged records (None: until killed).
    pub records_max: Option<u64>,
    /// How a commit is made durable (`syncFlushMethod`).
    pub sync_method: SyncMethod,
}

fn store_options(directory: &Path, segment_size_bytes: u64, sync_method: SyncMethod, root: &StoreRoot) -> StoreOptions {
    StoreOptions {
        shard: 0,
        root: directory.to_path_buf(),
        commit_log_directory: root.commit_log_directory(0),
        index_directory: root.index_directory(0),
        checkpoint_path: root.checkpoint_path(0),
        segment_size_bytes,
        consume_queue_file_size_bytes: 20 * 1024,
        flush_mode: FlushMode::Sync(sync_method),
        hot_window_bytes: 8 << 20,
        unwritten_bytes_max: 64 << 20,
        store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
        index_enabled: true,
        index_slot_count: 1024,
        index_entry_count_max: 4096,
        checkpoint_interval: Duration::from_millis(200),
        delay_levels_ms: Vec::new(),
        retention: super::retention::RetentionPolicy::default(),
        transfer: Default::default(),
    }
}

fn body_of(writer: usize, sequence: u64, size_bytes: usize) -> Vec<u8> {
    let seed = format!("writer-{writer}-record-{sequence}|");
    seed.bytes().cycle().take(size_bytes.max(seed.len())).collect()
}

async fn open_store(options: &CheckOptions) -> Result<(StoreRoot, Rc<ShardStore<DmaStorage>>), String> {
    let root = StoreRoot::open(&options.directory, 1).map_err(|error| error.to_string())?;
    let store_options = store_options(&options.directory, options.segment_size_bytes, options.sync_method, &root);
    let store = ShardStore::open(DmaStorage, store_options, root.was_unclean, |_, _| true)
        .await
        .map_err(|error| error.to_string())?;
    Ok((root, store))
}

/// Appends until killed (or `records_max`), printing acknowledged records.
pub async fn write(options: CheckOptions) -> Result<(), String> {
    let (root, store) = open_store(&options).await?;
    store.start_background_tasks();
    println!("READY replayed={}", store.recovered.records_replayed);
    let acknowledged = Rc::new(std::cell::Cell::new(0u64));
    let mut tasks = Vec::new();
    for writer in 0..options.writers {
        let store = store.clone();
        let options = options.clone();
        let acknowledged = acknowledged.clone();
        tasks.push(runtime::spawn(async move {
            let mut sequence = 0u64;
            while options.records_max.is_none_or(|max| acknowledged.get() < max) {
                write_one(&store, writer, sequence, options.body_size_bytes).await?;
                acknowledged.set(acknowledged.get() + 1);
                sequence += 1;
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await?;
    }
    store.close().await?;
    root.mark_clean().map_err(|error| error.to_string())
}

async fn write_one(
    store: &ShardStore<DmaStorage>,
    writer: usize,
    sequence: u64,
    body_size_bytes: usize,
) -> Result<(), String> {
    let body = body_of(writer, sequence, body_size_bytes);
    let key = format!("w{writer}s{sequence}");
    let queue_id = (writer as i32) % QUEUES;
    let message = MessageToStore {
        topic: TOPIC,
        queue_id,
        flag: 0,
        body: &body,
        properties: &format!("KEYS\u{1}{key}"),
        sys_flag: 0,
        born_timestamp: crate::protocol::now_ms(),
        born_host: SocketAddr::from(([127, 0, 0, 1], 40000 + writer as u16)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        tags_code: 0,
        keys: vec![&key],
    };
    let put = store.put(&message).map_err(|error| error.to_string())?;
    match store.durable(put.end).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(format!("sync failed: {error:?}")),
        Err(_) => return Err("the store dropped the waiter".into()),
    }
    let bytes = store.read(put.commit_log_offset, put.size_bytes).await.map_err(|error| error.to_string())?;
    let mut stdout = std::io::stdout().lock();
    let line = format!(
        "ACK {} {} {TOPIC} {queue_id} {} {}\n",
        put.commit_log_offset,
        put.size_bytes,
        put.queue_offset,
        crc32(&bytes)
    );
    stdout.write_all(line.as_bytes()).and_then(|()| stdout.flush()).map_err(|error| error.to_string())
}

/// Recovers the store and checks every ACK line of `acks`; returns how many were checked.
pub async fn verify(options: CheckOptions, acks: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(acks).map_err(|error| format!("{}: {error}", acks.display()))?;
    let (root, store) = open_store(&options).await?;
    let mut checked = 0u64;
    for line in text.lines().filter(|line| line.starts_with("ACK ")) {
        verify_line(&store, line).await?;
        checked += 1;
    }
    println!(
        "VERIFIED {checked} replayed={} scanned={} log_end={}",
        store.recovered.records_replayed, store.recovered.scanned, store.recovered.log_end
    );
    store.close().await?;
    root.mark_clean().map_err(|error| error.to_string())?;
    Ok(checked)
}

async fn verify_line(store: &ShardStore<DmaStorage>, line: &str) -> Result<(), String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let [_, offset, size, topic, queue_id, queue_offset, crc] = fields.as_slice() else {
        return Err(format!("bad ACK line {line:?}"));
    };
    let parse = |text: &str| text.parse::<i64>().map_err(|_| format!("bad number in {line:?}"));
    let (offset, size, queue_id, queue_offset, crc) =
        (parse(offset)?, parse(size)?, parse(queue_id)? as i32, parse(queue_offset)?, parse(crc)? as i32);
    let bytes = store.read(offset, size as usize).await.map_err(|error| format!("LOST {line}: {error}"))?;
    if crc32(&bytes) != crc {
        return Err(format!("CHANGED {line}: the record's bytes differ"));
    }
    let unit =
        store.with_queue(topic, queue_id, |queue| queue.and_then(|queue| queue.get(queue_offset).ok().flatten()));
    match unit {
        Some(unit) if unit.commit_log_offset == offset && unit.size_bytes as i64 == size => Ok(()),
        other => Err(format!("CONSUME QUEUE {line}: unit is {other:?}")),
    }
}
