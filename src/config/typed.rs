//! Typed configs built from the effective table. Field names carry units at the end; each
//! field's doc names the Java key it comes from. Like Java's getters, the builders clamp
//! `registerNameServerPeriod` and `diskMaxUsedSpaceRatio` and round the consume-queue file size
//! up to a whole number of 20-byte units, while the effective table keeps the value as written
//! (as Java's `-p` does).

use std::path::PathBuf;

use super::effective::Values;
use super::host;
use super::report::{ConfigError, Warning};
use super::value;

/// `brokerRole`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerRole {
    AsyncMaster,
    SyncMaster,
    Slave,
}

impl BrokerRole {
    /// Java's `Enum.valueOf` spelling.
    pub fn from_java(text: &str) -> Option<BrokerRole> {
        match text {
            "ASYNC_MASTER" => Some(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Some(BrokerRole::SyncMaster),
            "SLAVE" => Some(BrokerRole::Slave),
            _ => None,
        }
    }

    pub fn as_java(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }

    pub fn is_master(self) -> bool {
        self != BrokerRole::Slave
    }
}

/// `flushDiskType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushDiskType {
    AsyncFlush,
    SyncFlush,
}

impl FlushDiskType {
    pub fn from_java(text: &str) -> Option<FlushDiskType> {
        match text {
            "ASYNC_FLUSH" => Some(FlushDiskType::AsyncFlush),
            "SYNC_FLUSH" => Some(FlushDiskType::SyncFlush),
            _ => None,
        }
    }

    pub fn as_java(self) -> &'static str {
        match self {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
        }
    }
}

/// `syncFlushMethod` (ringmq): how a SYNC_FLUSH commit is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncFlushMethod {
    WriteThrough,
    Fdatasync,
}

impl SyncFlushMethod {
    pub fn from_text(text: &str) -> Option<SyncFlushMethod> {
        match text {
            "WRITE_THROUGH" => Some(SyncFlushMethod::WriteThrough),
            "FDATASYNC" => Some(SyncFlushMethod::Fdatasync),
            _ => None,
        }
    }
}

/// Java's getter clamps the register period to this range (ms).
pub const REGISTER_NAME_SERVER_PERIOD_MS_MIN: i64 = 10_000;
pub const REGISTER_NAME_SERVER_PERIOD_MS_MAX: i64 = 60_000;
/// Java's getter clamps `diskMaxUsedSpaceRatio` to this range (percent).
pub const DISK_MAX_USED_SPACE_RATIO_PERCENT_MIN: i64 = 10;
pub const DISK_MAX_USED_SPACE_RATIO_PERCENT_MAX: i64 = 95;
/// One consume-queue unit: commit-log offset (8), size (4), tag hash code (8).
pub const CQ_UNIT_SIZE_BYTES: u64 = 20;

/// The broker's identity, roles and behaviour switches (BrokerConfig, plus the keys of
/// MessageStoreConfig that describe behaviour rather than storage, plus ringmq's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// `brokerClusterName`.
    pub broker_cluster_name: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `brokerId`, after the fix-ups: 0 for a master role, > 0 for a slave.
    pub broker_id: i64,
    /// `brokerRole`.
    pub broker_role: BrokerRole,
    /// `namesrvAddr` (or `-n`, or `NAMESRV_ADDR`) as `host:port` entries; empty: run the
    /// embedded nameserver on `namesrv_listen_port`.
    pub namesrv_addrs: Vec<String>,
    /// `brokerIP1`: advertised to clients as `brokerIP1:listenPort`.
    pub broker_ip1: String,
    /// `brokerIP2`: advertised to slaves as `brokerIP2:listenPort+1`.
    pub broker_ip2: String,
    /// `autoCreateTopicEnable`.
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup`.
    pub auto_create_subscription_group: bool,
    /// `defaultTopicQueueNums`.
    pub default_topic_queue_count: u32,
    /// `brokerPermission` (2 write, 4 read, 6 both, 1 inherit).
    pub broker_permission: u32,
    /// `clusterTopicEnable`.
    pub cluster_topic_enable: bool,
    /// `brokerTopicEnable`.
    pub broker_topic_enable: bool,
    /// `traceTopicEnable`.
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName`.
    pub msg_trace_topic_name: String,
    /// `messageDelayLevel`: level 1 is index 0.
    pub message_delay_levels_ms: Vec<u64>,
    /// `slaveReadEnable`.
    pub slave_read_enable: bool,
    /// `longPollingEnable`.
    pub long_polling_enable: bool,
    /// `shortPollingTimeMills`.
    pub short_polling_time_ms: u64,
    /// `notifyConsumerIdsChangedEnable`.
    pub notify_consumer_ids_changed_enable: bool,
    /// `registerNameServerPeriod`, clamped to 10 000..=60 000.
    pub register_name_server_period_ms: u64,
    /// `registerBrokerTimeoutMills`.
    pub register_broker_timeout_ms: u64,
    /// `forceRegister`.
    pub force_register: bool,
    /// `compressedRegister`.
    pub compressed_register: bool,
    /// `regionId`.
    pub region_id: String,
    /// `traceOn`.
    pub trace_on: bool,
    /// `rejectTransactionMessage`.
    pub reject_transaction_message: bool,
    /// `transactionTimeOut`.
    pub transaction_timeout_ms: u64,
    /// `transactionCheckMax`.
    pub transaction_check_count_max: u32,
    /// `transactionCheckInterval`.
    pub transaction_check_interval_ms: u64,
    /// `brokerFastFailureEnable`: refuse sends that waited `waitTimeMillsInSendQueue`.
    pub fast_failure_enable: bool,
    /// `waitTimeMillsInSendQueue`.
    pub send_queue_wait_time_ms_max: u64,
    /// `sendThreadPoolQueueCapacity`.
    pub send_queue_capacity: u32,
    /// `pullThreadPoolQueueCapacity`.
    pub pull_queue_capacity: u32,
    /// `flushConsumerOffsetInterval`.
    pub flush_consumer_offset_interval_ms: u64,
    /// `startAcceptSendRequestTimeStamp`: sends before this epoch time are refused.
    pub start_accept_send_request_timestamp_ms: u64,
    /// `configBlackList`: keys UPDATE_BROKER_CONFIG refuses.
    pub config_black_list: Vec<String>,
    /// `shardCount` (ringmq).
    pub shard_count: usize,
    /// `shardSpinBeforeParkMicros` (ringmq).
    pub shard_spin_before_park: std::time::Duration,
    /// `shardInboxCapacity` (ringmq): messages one shard's inbox from another holds.
    pub shard_inbox_capacity: usize,
    /// `namesrvListenPort` (ringmq): the embedded nameserver's port.
    pub namesrv_listen_port: u16,
}

/// Whether a broker's shards spin before they sleep: as `shardSpinBeforeParkMicros` says when it
/// is set; by default (tuning.md) not on a slave, whose shards serve replication and whose spinning
/// beside its master on shared cores starved both (SYNC_MASTER 1 × 1 p50 1.3 ms with both
/// spinning, 167 µs with only the master). A SYNC_FLUSH broker spins like any master since
/// session 10: its sends cross the shard twice around each fdatasync, and a parked shard makes
/// each crossing a wake-up (1 × 1 p50 ~180 µs spinning against ~315 µs parked, 4 × 32 within
/// noise; on a slower VM, session 9, spinning cost 4 × 32 12 %).
fn spins(values: &Values, broker_role: BrokerRole) -> bool {
    values.is_set("shardSpinBeforeParkMicros") || broker_role != BrokerRole::Slave
}

impl BrokerConfig {
    pub(crate) fn from_values(values: &Values, warnings: &mut Vec<Warning>) -> Result<BrokerConfig, ConfigError> {
        let broker_role = values.parse("brokerRole", |text| {
            BrokerRole::from_java(text).ok_or_else(|| "ASYNC_MASTER, SYNC_MASTER or SLAVE".to_owned())
        })?;
        let shard_count = usize::try_from(values.u64("shardCount")?).unwrap_or(usize::MAX);
        Ok(BrokerConfig {
            broker_cluster_name: values.text("brokerClusterName").to_owned(),
            broker_name: values.text("brokerName").to_owned(),
            broker_id: values.integer("brokerId")?,
            broker_role,
            namesrv_addrs: values.parse("namesrvAddr", value::parse_namesrv_addrs)?,
            broker_ip1: values.text("brokerIP1").to_owned(),
            broker_ip2: values.text("brokerIP2").to_owned(),
            auto_create_topic_enable: values.bool("autoCreateTopicEnable")?,
            auto_create_subscription_group: values.bool("autoCreateSubscriptionGroup")?,
            default_topic_queue_count: values.u32("defaultTopicQueueNums")?,
            broker_permission: values.u32("brokerPermission")?,
            cluster_topic_enable: values.bool("clusterTopicEnable")?,
            broker_topic_enable: values.bool("brokerTopicEnable")?,
            trace_topic_enable: values.bool("traceTopicEnable")?,
            msg_trace_topic_name: values.text("msgTraceTopicName").to_owned(),
            message_delay_levels_ms: values.parse("messageDelayLevel", value::parse_delay_levels_ms)?,
            slave_read_enable: values.bool("slaveReadEnable")?,
            long_polling_enable: values.bool("longPollingEnable")?,
            short_polling_time_ms: values.u64("shortPollingTimeMills")?,
            notify_consumer_ids_changed_enable: values.bool("notifyConsumerIdsChangedEnable")?,
            register_name_server_period_ms: register_period_ms(values, warnings)?,
            register_broker_timeout_ms: values.u64("registerBrokerTimeoutMills")?,
            force_register: values.bool("forceRegister")?,
            compressed_register: values.bool("compressedRegister")?,
            region_id: values.text("regionId").to_owned(),
            trace_on: values.bool("traceOn")?,
            reject_transaction_message: values.bool("rejectTransactionMessage")?,
            transaction_timeout_ms: values.u64("transactionTimeOut")?,
            transaction_check_count_max: values.u32("transactionCheckMax")?,
            transaction_check_interval_ms: values.u64("transactionCheckInterval")?,
            fast_failure_enable: values.bool("brokerFastFailureEnable")?,
            send_queue_wait_time_ms_max: values.u64("waitTimeMillsInSendQueue")?,
            send_queue_capacity: values.u32("sendThreadPoolQueueCapacity")?,
            pull_queue_capacity: values.u32("pullThreadPoolQueueCapacity")?,
            flush_consumer_offset_interval_ms: values.u64("flushConsumerOffsetInterval")?,
            start_accept_send_request_timestamp_ms: values.u64("startAcceptSendRequestTimeStamp")?,
            config_black_list: key_list(values.text("configBlackList")),
            shard_count,
            shard_spin_before_park: if spins(values, broker_role) {
                std::time::Duration::from_micros(values.u64("shardSpinBeforeParkMicros")?)
            } else {
                std::time::Duration::ZERO
            },
            shard_inbox_capacity: usize::try_from(values.u64("shardInboxCapacity")?).unwrap_or(usize::MAX),
            namesrv_listen_port: values.port("namesrvListenPort")?,
        })
    }
}

fn register_period_ms(values: &Values, warnings: &mut Vec<Warning>) -> Result<u64, ConfigError> {
    let period_ms = clamped(
        values,
        "registerNameServerPeriod",
        REGISTER_NAME_SERVER_PERIOD_MS_MIN,
        REGISTER_NAME_SERVER_PERIOD_MS_MAX,
        warnings,
    )?;
    // Clamped into a positive range, so the conversion cannot fail.
    Ok(u64::try_from(period_ms).unwrap_or(REGISTER_NAME_SERVER_PERIOD_MS_MIN as u64))
}

/// The value of `key` brought into `min..=max`, with a warning when that changed it.
fn clamped(
    values: &Values,
    key: &'static str,
    min: i64,
    max: i64,
    warnings: &mut Vec<Warning>,
) -> Result<i64, ConfigError> {
    let value = values.integer(key)?;
    let effective = value.clamp(min, max);
    if effective != value {
        let at = values.origin(key).clone();
        warnings.push(Warning::Clamped { at, key, value, effective });
    }
    Ok(effective)
}

/// `a;b;c` to its non-empty parts.
fn key_list(text: &str) -> Vec<String> {
    text.split(';').map(str::trim).filter(|key| !key.is_empty()).map(str::to_owned).collect()
}

/// Where and how the broker stores messages (MessageStoreConfig).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// `storePathRootDir`: consume queues, index, checkpoint, abort, lock and config/ live here.
    pub store_root_path: PathBuf,
    /// `storePathCommitLog`, default `<storePathRootDir>/commitlog`.
    pub commit_log_path: PathBuf,
    /// `mappedFileSizeCommitLog` (old spelling `mapedFileSizeCommitLog`).
    pub segment_size_bytes: u64,
    /// `mappedFileSizeConsumeQueue`, rounded up to a multiple of 20 as Java's getter does.
    pub cq_file_size_bytes: u64,
    /// `flushDiskType`.
    pub flush_disk_type: FlushDiskType,
    /// `syncFlushMethod` (ringmq).
    pub sync_flush_method: SyncFlushMethod,
    /// `flushIntervalCommitLog`.
    pub flush_interval_commit_log_ms: u64,
    /// `flushCommitLogLeastPages` (4 KiB pages).
    pub flush_commit_log_least_pages: u32,
    /// `flushCommitLogThoroughInterval`.
    pub flush_commit_log_thorough_interval_ms: u64,
    /// `syncFlushTimeout`.
    pub sync_flush_timeout_ms: u64,
    /// `slaveTimeout`.
    pub slave_timeout_ms: u64,
    /// `deleteWhen`.
    pub delete_when_hours: Vec<u8>,
    /// `fileReservedTime`.
    pub file_reserved_time_hours: u32,
    /// `diskMaxUsedSpaceRatio`, clamped to 10..=95.
    pub disk_max_used_space_ratio_percent: u8,
    /// `maxMessageSize`.
    pub max_message_size_bytes: u32,
    /// `checkCRCOnRecover`.
    pub check_crc_on_recover: bool,
    /// `messageIndexEnable`.
    pub message_index_enable: bool,
    /// `maxHashSlotNum`: hash slots per index file.
    pub index_hash_slot_count: u32,
    /// `maxIndexNum`: entries per index file.
    pub index_entry_count_max: u32,
    /// `maxMsgsNumBatch`: results of one index query.
    pub index_query_messages_max: u32,
    /// `defaultQueryMaxNum`.
    pub query_messages_default_max: u32,
    /// `maxTransferBytesOnMessageInMemory`.
    pub transfer_bytes_in_memory_max: u32,
    /// `maxTransferCountOnMessageInMemory`.
    pub transfer_count_in_memory_max: u32,
    /// `maxTransferBytesOnMessageInDisk`.
    pub transfer_bytes_on_disk_max: u32,
    /// `maxTransferCountOnMessageInDisk`.
    pub transfer_count_on_disk_max: u32,
    /// `accessMessageInMemoryMaxRatio`.
    pub access_message_in_memory_ratio_percent_max: u8,
    /// `haMasterAddress`: a slave's static master HA address.
    pub ha_master_address: Option<String>,
    /// `haSendHeartbeatInterval`.
    pub ha_heartbeat_interval_ms: u64,
    /// `haHousekeepingInterval`.
    pub ha_housekeeping_interval_ms: u64,
    /// `haTransferBatchSize`.
    pub ha_transfer_batch_size_bytes: u32,
    /// `haSlaveFallbehindMax`.
    pub ha_slave_fallbehind_bytes_max: u64,
    /// `flushDelayOffsetInterval`.
    pub flush_delay_offset_interval_ms: u64,
}

impl StoreConfig {
    pub(crate) fn from_values(values: &Values, warnings: &mut Vec<Warning>) -> Result<StoreConfig, ConfigError> {
        Ok(StoreConfig {
            store_root_path: PathBuf::from(values.text("storePathRootDir")),
            commit_log_path: commit_log_path(values)?,
            segment_size_bytes: values.u64("mappedFileSizeCommitLog")?,
            cq_file_size_bytes: values.u64("mappedFileSizeConsumeQueue")?.div_ceil(CQ_UNIT_SIZE_BYTES)
                * CQ_UNIT_SIZE_BYTES,
            flush_disk_type: values.parse("flushDiskType", |text| {
                FlushDiskType::from_java(text).ok_or_else(|| "ASYNC_FLUSH or SYNC_FLUSH".to_owned())
            })?,
            sync_flush_method: values.parse("syncFlushMethod", |text| {
                SyncFlushMethod::from_text(text).ok_or_else(|| "WRITE_THROUGH or FDATASYNC".to_owned())
            })?,
            flush_interval_commit_log_ms: values.u64("flushIntervalCommitLog")?,
            flush_commit_log_least_pages: values.u32("flushCommitLogLeastPages")?,
            flush_commit_log_thorough_interval_ms: values.u64("flushCommitLogThoroughInterval")?,
            sync_flush_timeout_ms: values.u64("syncFlushTimeout")?,
            slave_timeout_ms: values.u64("slaveTimeout")?,
            delete_when_hours: values.parse("deleteWhen", value::parse_hours)?,
            file_reserved_time_hours: values.u32("fileReservedTime")?,
            disk_max_used_space_ratio_percent: disk_ratio_percent(values, warnings)?,
            max_message_size_bytes: values.u32("maxMessageSize")?,
            check_crc_on_recover: values.bool("checkCRCOnRecover")?,
            message_index_enable: values.bool("messageIndexEnable")?,
            index_hash_slot_count: values.u32("maxHashSlotNum")?,
            index_entry_count_max: values.u32("maxIndexNum")?,
            index_query_messages_max: values.u32("maxMsgsNumBatch")?,
            query_messages_default_max: values.u32("defaultQueryMaxNum")?,
            transfer_bytes_in_memory_max: values.u32("maxTransferBytesOnMessageInMemory")?,
            transfer_count_in_memory_max: values.u32("maxTransferCountOnMessageInMemory")?,
            transfer_bytes_on_disk_max: values.u32("maxTransferBytesOnMessageInDisk")?,
            transfer_count_on_disk_max: values.u32("maxTransferCountOnMessageInDisk")?,
            access_message_in_memory_ratio_percent_max: percent(values, "accessMessageInMemoryMaxRatio")?,
            ha_master_address: values.parse("haMasterAddress", value::parse_address_optional)?,
            ha_heartbeat_interval_ms: values.u64("haSendHeartbeatInterval")?,
            ha_housekeeping_interval_ms: values.u64("haHousekeepingInterval")?,
            ha_transfer_batch_size_bytes: values.u32("haTransferBatchSize")?,
            ha_slave_fallbehind_bytes_max: values.u64("haSlaveFallbehindMax")?,
            flush_delay_offset_interval_ms: values.u64("flushDelayOffsetInterval")?,
        })
    }
}

/// Java splits `storePathCommitLog` on `,` into several directories (multi-path commit log);
/// ringmq keeps one commit log per shard under one directory, so it refuses a list rather than
/// create a directory whose name contains a comma.
fn commit_log_path(values: &Values) -> Result<PathBuf, ConfigError> {
    values.parse("storePathCommitLog", |text| {
        if text.contains(',') {
            return Err("one directory (ringmq does not spread the commit log over several \
                        `,`-separated directories)"
                .to_owned());
        }
        Ok(PathBuf::from(text))
    })
}

fn disk_ratio_percent(values: &Values, warnings: &mut Vec<Warning>) -> Result<u8, ConfigError> {
    let ratio = clamped(
        values,
        "diskMaxUsedSpaceRatio",
        DISK_MAX_USED_SPACE_RATIO_PERCENT_MIN,
        DISK_MAX_USED_SPACE_RATIO_PERCENT_MAX,
        warnings,
    )?;
    // Clamped into 10..=95, so the conversion cannot fail.
    Ok(u8::try_from(ratio).unwrap_or(95))
}

fn percent(values: &Values, key: &str) -> Result<u8, ConfigError> {
    let value = values.integer(key)?;
    // The row's kind limits it to 0..=100.
    Ok(u8::try_from(value.clamp(0, 100)).unwrap_or(100))
}

/// The remoting listener (NettyServerConfig).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// `listenPort`: 10911 for the broker, 9876 for the nameserver.
    pub listen_port: u16,
    /// `serverChannelMaxIdleTimeSeconds`: a connection silent this long is closed (0: never).
    pub channel_idle_seconds: u64,
}

impl NetConfig {
    pub(crate) fn from_values(values: &Values) -> Result<NetConfig, ConfigError> {
        Ok(NetConfig {
            listen_port: values.port("listenPort")?,
            channel_idle_seconds: values.u64("serverChannelMaxIdleTimeSeconds")?,
        })
    }

    /// The fast ("VIP") port, always listenPort-2 in 4.x. The broker loader refuses
    /// listenPort < 3, so this does not saturate for a loaded broker config.
    pub fn fast_port(&self) -> u16 {
        self.listen_port.saturating_sub(2)
    }

    /// The HA port, always listenPort+1 in 4.x. The broker loader refuses listenPort > 65534.
    pub fn ha_port(&self) -> u16 {
        self.listen_port.saturating_add(1)
    }
}

/// The nameserver (NamesrvConfig). Its port is [`NetConfig::listen_port`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamesrvConfig {
    /// `rocketmqHome`; ringmq needs no install directory, so it is informational.
    pub rocketmq_home: String,
    /// `kvConfigPath`: the KV store file (ORDER_TOPIC_CONFIG and friends).
    pub kv_config_path: PathBuf,
    /// `configStorePath`: where UPDATE_NAMESRV_CONFIG persists; the `-c` file when given.
    pub config_store_path: PathBuf,
    /// `orderMessageEnable`: add ORDER_TOPIC_CONFIG to route replies.
    pub order_message_enable: bool,
    /// `productEnvName`.
    pub product_env_name: String,
    /// `clusterTest`.
    pub cluster_test: bool,
    /// `configBlackList`: keys UPDATE_NAMESRV_CONFIG refuses.
    pub config_black_list: Vec<String>,
}

impl NamesrvConfig {
    /// Every key at its default, as the nameserver embedded in a broker runs.
    pub fn defaults() -> NamesrvConfig {
        NamesrvConfig {
            rocketmq_home: host::rocketmq_home(),
            kv_config_path: PathBuf::from(host::home_kv_config()),
            config_store_path: PathBuf::from(host::home_namesrv_properties()),
            order_message_enable: false,
            product_env_name: "center".to_owned(),
            cluster_test: false,
            config_black_list: key_list("configBlackList;configStorePath;kvConfigPath"),
        }
    }

    pub(crate) fn from_values(values: &Values) -> Result<NamesrvConfig, ConfigError> {
        Ok(NamesrvConfig {
            rocketmq_home: values.text("rocketmqHome").to_owned(),
            kv_config_path: PathBuf::from(values.text("kvConfigPath")),
            config_store_path: PathBuf::from(values.text("configStorePath")),
            order_message_enable: values.bool("orderMessageEnable")?,
            product_env_name: values.text("productEnvName").to_owned(),
            cluster_test: values.bool("clusterTest")?,
            config_black_list: key_list(values.text("configBlackList")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::report::Origin;
    use crate::config::schema::Process;

    fn broker_defaults() -> Values {
        let mut values = Values::defaults(Process::Broker);
        values.set_text("storePathCommitLog", "/tmp/store/commitlog".to_owned());
        values
    }

    #[test]
    fn a_slave_does_not_spin_unless_told_to() {
        let spin = |settings: &[(&str, &str)]| {
            let mut values = broker_defaults();
            for (line, (key, text)) in (1..).zip(settings) {
                let origin = crate::config::report::Origin::File { path: "broker.properties".into(), line };
                values.set(key, text.to_string(), origin);
            }
            BrokerConfig::from_values(&values, &mut Vec::new()).unwrap().shard_spin_before_park.as_micros()
        };
        assert_eq!(spin(&[]), 500);
        assert_eq!(spin(&[("brokerRole", "SLAVE")]), 0);
        assert_eq!(spin(&[("brokerRole", "SLAVE"), ("shardSpinBeforeParkMicros", "200")]), 200);
        assert_eq!(spin(&[("brokerRole", "SYNC_MASTER"), ("shardSpinBeforeParkMicros", "0")]), 0);
        assert_eq!(spin(&[("brokerRole", "SYNC_MASTER")]), 500);
        assert_eq!(spin(&[("flushDiskType", "SYNC_FLUSH")]), 500);
        assert_eq!(spin(&[("flushDiskType", "SYNC_FLUSH"), ("shardSpinBeforeParkMicros", "0")]), 0);
        assert_eq!(spin(&[("brokerRole", "SLAVE"), ("flushDiskType", "SYNC_FLUSH")]), 0);
    }

    /// The schema's default text and the limit it documents are one number.
    #[test]
    fn the_default_shard_inbox_is_the_limits_default_and_sends_fail_fast() {
        let broker = BrokerConfig::from_values(&broker_defaults(), &mut Vec::new()).unwrap();
        assert_eq!(broker.shard_inbox_capacity, crate::limits::SHARD_INBOX_CAPACITY);
        assert!(broker.fast_failure_enable);
        assert_eq!(broker.send_queue_wait_time_ms_max, 200);
    }

    #[test]
    fn defaults_build_java_defaults() {
        let values = broker_defaults();
        let mut warnings = Vec::new();
        let broker = BrokerConfig::from_values(&values, &mut warnings).unwrap();
        let store = StoreConfig::from_values(&values, &mut warnings).unwrap();
        let net = NetConfig::from_values(&values).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(broker.broker_role, BrokerRole::AsyncMaster);
        assert_eq!(broker.broker_cluster_name, "DefaultCluster");
        assert_eq!(broker.default_topic_queue_count, 8);
        assert_eq!(broker.register_name_server_period_ms, 30_000);
        assert_eq!(broker.message_delay_levels_ms.len(), 18);
        assert_eq!(broker.message_delay_levels_ms[17], 2 * 3_600_000);
        assert_eq!(broker.config_black_list, vec!["configBlackList", "brokerConfigPath"]);
        assert_eq!(broker.namesrv_listen_port, 9876);
        assert_eq!(store.segment_size_bytes, 1 << 30);
        assert_eq!(store.cq_file_size_bytes, 6_000_000);
        assert_eq!(store.flush_disk_type, FlushDiskType::AsyncFlush);
        assert_eq!(store.sync_flush_method, SyncFlushMethod::WriteThrough);
        assert_eq!(store.delete_when_hours, vec![4]);
        assert_eq!(store.file_reserved_time_hours, 72);
        assert_eq!(store.disk_max_used_space_ratio_percent, 75);
        assert_eq!(store.max_message_size_bytes, 4 * 1024 * 1024);
        assert_eq!(store.ha_master_address, None);
        assert_eq!((net.listen_port, net.fast_port(), net.ha_port()), (10911, 10909, 10912));
        assert_eq!(net.channel_idle_seconds, 120);
    }

    #[test]
    fn getters_clamp_and_round_like_java() {
        let mut values = broker_defaults();
        let at = Origin::File { path: "b.properties".into(), line: 3 };
        values.set("diskMaxUsedSpaceRatio", "99".to_owned(), at.clone());
        values.set("registerNameServerPeriod", "5000".to_owned(), at.clone());
        values.set("mappedFileSizeConsumeQueue", "300001".to_owned(), at);
        let mut warnings = Vec::new();
        let broker = BrokerConfig::from_values(&values, &mut warnings).unwrap();
        let store = StoreConfig::from_values(&values, &mut warnings).unwrap();
        assert_eq!(store.disk_max_used_space_ratio_percent, 95);
        assert_eq!(broker.register_name_server_period_ms, 10_000);
        assert_eq!(store.cq_file_size_bytes, 300_020);
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].to_string().starts_with("b.properties:3: `registerNameServerPeriod`=5000"));
    }

    #[test]
    fn namesrv_defaults() {
        let values = Values::defaults(Process::Namesrv);
        let namesrv = NamesrvConfig::from_values(&values).unwrap();
        let net = NetConfig::from_values(&values).unwrap();
        assert_eq!(net.listen_port, 9876);
        assert!(namesrv.kv_config_path.ends_with("namesrv/kvConfig.json"));
        assert!(!namesrv.order_message_enable);
        assert_eq!(namesrv.config_black_list.len(), 3);
        assert_eq!(namesrv, NamesrvConfig::defaults());
    }
}
