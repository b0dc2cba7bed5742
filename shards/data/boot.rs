//! Starting and stopping one data shard on its executor.
//!
//! Order: join the mesh (the join order gives the shard id), open (and recover) this shard's
//! store, load its consumer offsets, start the control plane on shard 0, drain the inboxes
//! from the other shards, then accept connections on the broker ports. Shard 0 also runs the
//! embedded nameserver (when no nameserver address is configured) in a low-share task queue,
//! and registers with every nameserver. On a stop request (SIGTERM), shard 0 unregisters, and
//! every shard persists its offsets and closes its store cleanly, so the next start needs no
//! recovery scan.

use crate::shards::control::PersistedTable;
use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::consumer_offset::OwnedOffsets;
use super::{BrokerContext, DataShard, ParkedPulls};
use crate::config::{BrokerSettings, FlushDiskType, StoreConfig, SyncFlushMethod};
use crate::limits;
use crate::net;
use crate::runtime::{self, BackgroundQueue, DmaStorage, Mesh};
use crate::shards::messages::ShardMessage;
use crate::shards::{control, namesrv, routing};
use crate::store::commit_log::{FlushMode, SyncMethod};
use crate::store::retention::RetentionPolicy;
use crate::store::root::StoreRoot;
use crate::store::shard_store::{ShardStore, StoreOptions, TransferLimits};

/// Connections one shard accepts at once.
const SHARD_CONNECTIONS_MAX: usize = 16 * 1024;

/// The shortest send-queue wait honoured (`waitTimeMillsInSendQueue` below it counts as this).
const SEND_QUEUE_WAIT_TIME_MS_MIN: u64 = 1;

/// How often offsets are written to disk (Java's `flushConsumerOffsetInterval` default).
const OFFSET_PERSIST_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);

/// What every shard starts from; built once in the launcher.
#[derive(Clone)]
pub struct BootSpec {
    pub settings: Arc<BrokerSettings>,
    pub store_root: PathBuf,
    pub unclean: bool,
    pub advertised: SocketAddr,
}

/// The ports clients connect to: `listenPort` and Java's "fast" port `listenPort - 2`.
pub fn client_ports(settings: &BrokerSettings) -> [u16; 2] {
    [settings.net.listen_port, settings.net.listen_port - 2]
}

/// Set by the launcher's signal handler; every shard polls it.
static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks every shard to stop cleanly.
pub fn request_stop() {
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub(crate) fn stop_requested() -> bool {
    STOP_REQUESTED.load(std::sync::atomic::Ordering::SeqCst)
}

pub fn context_of(spec: &BootSpec) -> BrokerContext {
    let broker = &spec.settings.broker;
    let store = &spec.settings.store;
    let port = spec.settings.net.listen_port;
    BrokerContext {
        cluster_name: broker.broker_cluster_name.clone(),
        broker_name: broker.broker_name.clone(),
        broker_id: broker.broker_id,
        advertised: spec.advertised,
        listen_port: port,
        fast_port: port - 2,
        region_id: broker.region_id.clone(),
        trace_on: broker.trace_on,
        sync_flush: store.flush_disk_type == FlushDiskType::SyncFlush,
        sync_flush_timeout: Duration::from_millis(store.sync_flush_timeout_ms),
        max_message_size_bytes: store.max_message_size_bytes as usize,
        long_polling_enable: broker.long_polling_enable,
        short_polling_time: Duration::from_millis(broker.short_polling_time_ms),
        auto_create_topic_enable: broker.auto_create_topic_enable,
        reject_transaction_message: broker.reject_transaction_message,
        default_topic_queue_count: broker.default_topic_queue_count,
        broker_permission: broker.broker_permission as i32,
        delay_level_count: broker.message_delay_levels_ms.len(),
        broker_role: broker.broker_role,
        slave_read_enable: broker.slave_read_enable,
        slave_timeout: Duration::from_millis(store.slave_timeout_ms),
        slave_fallbehind_bytes_max: store.ha_slave_fallbehind_bytes_max,
        // At least 1 ms: Java looks only at sends still queued (every 10 ms), while every
        // forwarded send here is checked when it starts, so 0 would refuse them all.
        send_queue_wait_time_max: broker
            .fast_failure_enable
            .then(|| Duration::from_millis(broker.send_queue_wait_time_ms_max.max(SEND_QUEUE_WAIT_TIME_MS_MIN))),
    }
}

/// The hot window of one shard: `STORE_HOT_WINDOW_BYTES`, or less on a machine whose memory
/// could not hold every shard's window in a quarter of it (the windows are faulted in at boot).
fn hot_window_bytes(shard_count: usize) -> usize {
    let share_bytes = physical_memory_bytes() / 4 / shard_count.max(1) as u64;
    crate::limits::STORE_HOT_WINDOW_BYTES.min(share_bytes as usize).max(crate::limits::STORE_HOT_WINDOW_BYTES_MIN)
}

/// Java's "in memory" reach from a log's end: `accessMessageInMemoryMaxRatio` of physical RAM.
/// It decides which transfer limits a pull gets, where a new consumer group starts and when a
/// consumer is told to read from the slave.
fn memory_window_bytes(store: &StoreConfig) -> u64 {
    physical_memory_bytes() / 100 * u64::from(store.access_message_in_memory_ratio_percent_max)
}

fn physical_memory_bytes() -> u64 {
    // SAFETY: sysconf only reads system configuration.
    let (pages, page_size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages.max(0) as u64) * (page_size.max(0) as u64)
}

/// How a shard's flusher runs. A slave's differs from its configuration as a Java slave's does:
/// nobody waits for its disk (a SYNC_MASTER send waits for its acknowledgement of the append),
/// so it writes in large pieces and, under SYNC_FLUSH, syncs on a short interval rather than
/// per replicated frame, as Java's group commit service syncs every 10 ms when no send waits.
fn flush_mode(store: &StoreConfig, slave: bool) -> FlushMode {
    let least_pages = u64::from(store.flush_commit_log_least_pages);
    match (store.flush_disk_type, slave) {
        (FlushDiskType::SyncFlush, false) => FlushMode::Sync(store.sync_flush_method.into()),
        (FlushDiskType::SyncFlush, true) => FlushMode::Async {
            interval_ms: limits::SLAVE_SYNC_INTERVAL_MS,
            least_pages: limits::SLAVE_FLUSH_LEAST_PAGES,
            thorough_interval_ms: limits::SLAVE_SYNC_INTERVAL_MS,
        },
        (FlushDiskType::AsyncFlush, slave) => FlushMode::Async {
            interval_ms: store.flush_interval_commit_log_ms,
            least_pages: if slave { least_pages.max(limits::SLAVE_FLUSH_LEAST_PAGES) } else { least_pages },
            thorough_interval_ms: store.flush_commit_log_thorough_interval_ms,
        },
    }
}

/// The configuration's `syncFlushMethod` as the store's commit method (config and store stay
/// apart; the broker and `ringmq store-check` both map through here).
impl From<SyncFlushMethod> for SyncMethod {
    fn from(method: SyncFlushMethod) -> Self {
        match method {
            SyncFlushMethod::WriteThrough => SyncMethod::WriteThrough,
            SyncFlushMethod::Fdatasync => SyncMethod::Fdatasync,
        }
    }
}

fn store_options(spec: &BootSpec, root: &std::path::Path, shard: u16, shard_count: usize) -> StoreOptions {
    let store = &spec.settings.store;
    let flush_mode = flush_mode(store, context_of(spec).is_slave());
    StoreOptions {
        shard,
        root: root.to_path_buf(),
        commit_log_directory: store.commit_log_path.join(format!("shard-{shard}")),
        index_directory: root.join("index").join(format!("shard-{shard}")),
        checkpoint_path: root.join(format!("checkpoint-{shard}")),
        segment_size_bytes: store.segment_size_bytes,
        consume_queue_file_size_bytes: store.cq_file_size_bytes,
        flush_mode,
        hot_window_bytes: hot_window_bytes(shard_count),
        unwritten_bytes_max: crate::limits::STORE_UNWRITTEN_BYTES_MAX,
        store_host: spec.advertised,
        index_enabled: store.message_index_enable,
        index_slot_count: store.index_hash_slot_count,
        index_entry_count_max: store.index_entry_count_max,
        checkpoint_interval: Duration::from_secs(10),
        delay_levels_ms: spec.settings.broker.message_delay_levels_ms.iter().map(|ms| *ms as i64).collect(),
        retention: RetentionPolicy {
            delete_when_hours: store.delete_when_hours.clone(),
            file_reserved_hours: u64::from(store.file_reserved_time_hours),
            disk_max_used_ratio: f64::from(store.disk_max_used_space_ratio_percent) / 100.0,
            ..RetentionPolicy::default()
        },
        transfer: TransferLimits {
            count_max_hot: store.transfer_count_in_memory_max as usize,
            bytes_max_hot: store.transfer_bytes_in_memory_max as usize,
            count_max_cold: store.transfer_count_on_disk_max as usize,
            bytes_max_cold: store.transfer_bytes_on_disk_max as usize,
            memory_window_bytes: memory_window_bytes(store),
        },
    }
}

/// The loops that drain the inboxes from the other shards, and the run-loop stall watch.
fn start_inboxes_and_stall_watch(data: &Rc<DataShard>, shard_count: usize) {
    for peer in (0..shard_count).filter(|peer| *peer != data.shard) {
        runtime::spawn(data.clone().inbox_loop(peer)).detach();
    }
    runtime::watch_stalls(format!("shard {}", data.shard));
}

/// Runs one shard until a stop is requested; `listeners` are its sockets of the client ports,
/// bound by the launcher.
pub async fn run(spec: BootSpec, mesh: Mesh<ShardMessage>, listeners: Vec<OwnedFd>) -> Result<(), String> {
    let end = Rc::new(mesh.join().await.map_err(|error| error.to_string())?);
    let shard = end.shard();
    let shard_count = end.shard_count();
    let store = ShardStore::open(
        DmaStorage,
        store_options(&spec, &spec.store_root, shard as u16, shard_count),
        spec.unclean,
        |topic, queue_id| routing::shard_for(topic, queue_id, shard_count) == shard,
    )
    .await
    .map_err(|error| format!("shard {shard}: {error}"))?;
    if context_of(&spec).is_slave() {
        store.set_replica();
    }
    store.start_background_tasks();
    let config_directory = control::config_directory(&spec.store_root);
    std::fs::create_dir_all(&config_directory).map_err(|error| format!("{}: {error}", config_directory.display()))?;
    let offsets = OwnedOffsets::load(config_directory.join(format!("consumerOffset-{shard}.json")))?;
    let context = Rc::new(context_of(&spec));
    let control_plane = if shard == 0 {
        Some(control::plane::ControlShard::open(&spec.settings, &config_directory, context.clone(), end.clone())?)
    } else {
        None
    };
    let delay_offsets = Rc::new(RefCell::new(
        control::DelayOffsetTable::load(&config_directory.join(format!("delayOffset-{shard}.json")))
            .map_err(|error| error.to_string())?,
    ));
    let data = Rc::new(DataShard {
        shard,
        shard_count,
        context: context.clone(),
        store: store.clone(),
        mesh: end.clone(),
        topics: RefCell::new(Arc::default()),
        subscriptions: RefCell::new(Arc::default()),
        parked: RefCell::new(ParkedPulls::default()),
        offsets: RefCell::new(offsets),
        connections: RefCell::new(HashMap::new()),
        control: control_plane.clone().map(|plane| plane as Rc<dyn super::ControlPlane>),
        replicas: crate::replication::pump::ReplicaSet::new(shard as u16),
        master: RefCell::new(None),
        pump_options: super::replica::options_of(&spec.settings),
        delay_offsets: delay_offsets.clone(),
        sends_queued: Rc::default(),
    });
    if let Some(plane) = &control_plane {
        plane.attach(Rc::downgrade(&data));
        plane.publish_topics().await;
    }
    start_inboxes_and_stall_watch(&data, shard_count);
    let embedded_namesrv = if shard == 0 { start_embedded_namesrv(&spec)? } else { None };
    let mut serving = serve_ports(&spec, &data, listeners);
    if context.is_slave() {
        serving.push(super::replica::follow(&data, &spec.settings));
    } else {
        serving.push(runtime::spawn(data.replicas.clone().expire_loop()));
        if shard == 0 {
            serving.push(super::replica::listen(&data, &spec.settings)?);
        }
    }
    // A slave delivers nothing itself: the master's deliveries arrive through replication.
    if !context.is_slave() {
        super::schedule::start(&data, delay_offsets.clone(), spec.settings.broker.message_delay_levels_ms.len());
    }
    super::transaction_check::start(
        &data,
        super::transaction_check::CheckSettings {
            interval: Duration::from_millis(spec.settings.broker.transaction_check_interval_ms.max(1)),
            timeout_ms: spec.settings.broker.transaction_timeout_ms as i64,
            check_count_max: spec.settings.broker.transaction_check_count_max,
        },
    );
    let offsets_interval = Duration::from_millis(spec.settings.broker.flush_consumer_offset_interval_ms);
    let persist_turn = Rc::new(runtime::Semaphore::new(1));
    runtime::spawn(persist_offsets_loop(data.clone(), delay_offsets.clone(), offsets_interval, persist_turn.clone()))
        .detach();
    if let Some(plane) = &control_plane {
        plane.start_registration();
        if context.is_slave() {
            control::slave::start(plane, &data, &spec.settings);
        }
        plane.wait_first_registration().await;
        announce_boot(&spec);
    }
    while !stop_requested() {
        runtime::sleep(Duration::from_millis(100)).await;
    }
    let result = shutdown(&data, control_plane.as_deref(), &persist_turn).await;
    // Stop accepting before the executor ends: dropping the accept tasks cancels their pending
    // io_uring accepts and closes the listeners; otherwise the kernel's asynchronous ring
    // teardown keeps the ports listening after the process is gone, and a restart finds them
    // busy.
    drop(serving);
    drop(embedded_namesrv);
    runtime::sleep(Duration::from_millis(50)).await;
    match FATAL.get() {
        Some(message) if shard == 0 => Err(message.clone()),
        _ => result,
    }
}

/// Why the broker stopped on its own (for example: a slave whose master has another shard
/// count); reported as the exit error.
static FATAL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Stops the broker because it cannot work as configured.
pub fn fail(message: String) {
    tracing::error!("{message}");
    let _ = FATAL.set(message);
    request_stop();
}

fn serve_ports(spec: &BootSpec, data: &Rc<DataShard>, listeners: Vec<OwnedFd>) -> Vec<runtime::Task<()>> {
    let idle = Duration::from_secs(spec.settings.net.channel_idle_seconds);
    listeners
        .into_iter()
        .map(|listener| {
            let listener = runtime::adopt_listener(listener);
            runtime::spawn(net::serve(listener, data.clone(), SHARD_CONNECTIONS_MAX, idle))
        })
        .collect()
}

fn start_embedded_namesrv(spec: &BootSpec) -> Result<Option<namesrv::NamesrvHandle>, String> {
    let Some(settings) = spec.settings.embedded_namesrv() else {
        return Ok(None);
    };
    let options = namesrv::NamesrvOptions {
        listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, settings.net.listen_port)),
        kv_config_path: Some(settings.namesrv.kv_config_path.clone()),
        order_message_enable: settings.namesrv.order_message_enable,
        idle_timeout: Duration::from_secs(settings.net.channel_idle_seconds),
        effective: settings.effective.clone(),
        config_black_list: settings.namesrv.config_black_list.clone(),
    };
    // A low-share queue: the nameserver answers a few requests a second and must never
    // delay sends and pulls on this shard.
    let queue = BackgroundQueue::new("namesrv", 100);
    namesrv::start(options, Some(queue)).map(Some).map_err(|error| format!("embedded nameserver: {error}"))
}

fn announce_boot(spec: &BootSpec) {
    let broker = &spec.settings.broker;
    let mut line = format!("The broker[{}, {}] boot success. serializeType=JSON", broker.broker_name, spec.advertised);
    let namesrvs = if broker.namesrv_addrs.is_empty() {
        vec![format!("127.0.0.1:{}", broker.namesrv_listen_port)]
    } else {
        broker.namesrv_addrs.clone()
    };
    line.push_str(&format!(" and name server is {}", namesrvs.join(";")));
    tracing::info!("{line}");
    let _ = std::io::Write::write_all(&mut std::io::stdout(), format!("{line}\n").as_bytes());
}

async fn persist_offsets_loop(
    data: Rc<DataShard>,
    delay_offsets: Rc<RefCell<control::DelayOffsetTable>>,
    interval: Duration,
    turn: Rc<runtime::Semaphore>,
) {
    let interval =
        if interval.is_zero() { OFFSET_PERSIST_INTERVAL_DEFAULT } else { interval.max(Duration::from_millis(100)) };
    while !stop_requested() {
        runtime::sleep(interval).await;
        let offsets = || RefMut::map(data.offsets.borrow_mut(), |offsets| &mut offsets.table);
        if let Err(error) = control::persist_change(offsets, &turn).await {
            tracing::error!("persisting consumer offsets of shard {}: {error}", data.shard);
        }
        if let Err(error) = control::persist_change(|| delay_offsets.borrow_mut(), &turn).await {
            tracing::error!("persisting delay offsets of shard {}: {error}", data.shard);
        }
    }
}

async fn shutdown(
    data: &Rc<DataShard>,
    control_plane: Option<&control::plane::ControlShard>,
    persist_turn: &runtime::Semaphore,
) -> Result<(), String> {
    // The last writes, after any the offsets loop has in flight, on the run loop: nothing else
    // runs now.
    let _turn = persist_turn.acquire_permit(1).await.expect("the persist turn is never closed");
    if let Err(error) = data.delay_offsets.borrow_mut().persist() {
        tracing::error!("persisting delay offsets of shard {}: {error}", data.shard);
    }
    if let Some(plane) = control_plane {
        plane.unregister_all().await;
        plane.persist().await;
    }
    if let Err(error) = data.offsets.borrow_mut().table.persist() {
        tracing::error!("persisting consumer offsets of shard {}: {error}", data.shard);
    }
    data.store.close().await.map_err(|error| format!("shard {}: closing the store: {error}", data.shard))?;
    tracing::info!("shard {} stopped cleanly", data.shard);
    Ok(())
}

/// Opens the store root (lock, abort marker, shard count) for the launcher.
pub fn open_root(spec_root: &std::path::Path, shard_count: usize) -> Result<StoreRoot, String> {
    StoreRoot::open(spec_root, shard_count as u32).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_config(properties: &str) -> StoreConfig {
        let scratch = crate::store::temp_directory::TempDirectory::new("boot", "flush-mode");
        std::fs::create_dir_all(&scratch.0).unwrap();
        let path = scratch.0.join("broker.properties");
        std::fs::write(&path, properties).unwrap();
        crate::config::load_broker(Some(&path), &crate::config::Overrides::default()).unwrap().0.store
    }

    #[test]
    fn a_slave_flushes_in_large_pieces_and_syncs_on_an_interval_as_a_java_slave() {
        let master_sync = store_config("flushDiskType=SYNC_FLUSH\n");
        assert_eq!(flush_mode(&master_sync, false), FlushMode::Sync(SyncMethod::WriteThrough));
        assert_eq!(
            flush_mode(&master_sync, true),
            FlushMode::Async {
                interval_ms: limits::SLAVE_SYNC_INTERVAL_MS,
                least_pages: limits::SLAVE_FLUSH_LEAST_PAGES,
                thorough_interval_ms: limits::SLAVE_SYNC_INTERVAL_MS,
            }
        );
        let asynchronous = store_config("flushDiskType=ASYNC_FLUSH\nflushCommitLogLeastPages=8\n");
        let configured = FlushMode::Async { interval_ms: 500, least_pages: 8, thorough_interval_ms: 10_000 };
        assert_eq!(flush_mode(&asynchronous, false), configured);
        let slave = FlushMode::Async {
            interval_ms: 500,
            least_pages: limits::SLAVE_FLUSH_LEAST_PAGES,
            thorough_interval_ms: 10_000,
        };
        assert_eq!(flush_mode(&asynchronous, true), slave);
        // A slave configured for larger pieces keeps them.
        let large = store_config("flushDiskType=ASYNC_FLUSH\nflushCommitLogLeastPages=4096\n");
        assert!(matches!(flush_mode(&large, true), FlushMode::Async { least_pages: 4096, .. }));
    }

    #[test]
    fn a_sync_flush_master_commits_by_the_configured_method() {
        let fdatasync = store_config("flushDiskType=SYNC_FLUSH\nsyncFlushMethod=FDATASYNC\n");
        assert_eq!(flush_mode(&fdatasync, false), FlushMode::Sync(SyncMethod::Fdatasync));
        assert_eq!(flush_mode(&fdatasync, false).durability(), crate::runtime::Durability::OnSync);
        let default = store_config("flushDiskType=SYNC_FLUSH\n");
        assert_eq!(flush_mode(&default, false).durability(), crate::runtime::Durability::OnWrite);
        let scratch = crate::store::temp_directory::TempDirectory::new("boot", "sync-method");
        std::fs::create_dir_all(&scratch.0).unwrap();
        let path = scratch.0.join("broker.properties");
        std::fs::write(&path, "flushDiskType=SYNC_FLUSH\nsyncFlushMethod=O_DSYNC\n").unwrap();
        let error =
            crate::config::load_broker(Some(&path), &crate::config::Overrides::default()).unwrap_err().to_string();
        assert!(
            error.contains("syncFlushMethod") && error.contains("O_DSYNC") && error.contains("broker.properties:2"),
            "{error}"
        );
    }
}
