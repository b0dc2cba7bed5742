//! The key schema: one row per key that RocketMQ 4.9.8's broker or name server reads, plus
//! ringmq's own keys, plus old spellings (aliases) and keys users write that 4.x never had
//! (ghosts).
//!
//! Rows are grouped by the Java class that owns the setter (`section`), in the order of
//! `shared/reference/operations.md` §1.5 and §1.8. `writeBufferHighWaterMark` and
//! `writeBufferLowWaterMark` have setters in both NettyServerConfig and NettyClientConfig; they
//! have one row each, in the NettyServer section, and one value sets both, as in Java.
//!
//! The mapping from Java's camelCase key to a Rust field name lives only in `typed.rs`, where
//! the typed configs read this table's values by key.

use std::fmt;

use super::host;
use crate::limits::SHARD_INBOX_CAPACITY_MAX;

/// The Java object a key belongs to; it decides which process reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    Broker,
    Store,
    NettyServer,
    NettyClient,
    Namesrv,
    /// ringmq's own keys (no Java counterpart).
    Ringmq,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Section::Broker,
        Section::Store,
        Section::NettyServer,
        Section::NettyClient,
        Section::Namesrv,
        Section::Ringmq,
    ];

    /// Java class name, as operators know it from RocketMQ's docs.
    pub fn class_name(self) -> &'static str {
        match self {
            Section::Broker => "BrokerConfig",
            Section::Store => "MessageStoreConfig",
            Section::NettyServer => "NettyServerConfig",
            Section::NettyClient => "NettyClientConfig",
            Section::Namesrv => "NamesrvConfig",
            Section::Ringmq => "ringmq",
        }
    }

    /// Whether `process` applies this section's keys from its `-c` file. Java's broker applies
    /// Broker, NettyServer, NettyClient and MessageStore; its name server NamesrvConfig and
    /// NettyServerConfig.
    pub fn read_by(self, process: Process) -> bool {
        match process {
            Process::Broker => !matches!(self, Section::Namesrv),
            Process::Namesrv => matches!(self, Section::Namesrv | Section::NettyServer),
        }
    }
}

/// Which command reads a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Process {
    Broker,
    Namesrv,
}

impl Process {
    /// The other command: the broker for the nameserver and the reverse.
    pub fn other(self) -> Process {
        match self {
            Process::Broker => Process::Namesrv,
            Process::Namesrv => Process::Broker,
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Process::Broker => "broker",
            Process::Namesrv => "nameserver",
        })
    }
}

/// What a value must look like. Java converts with `Integer.parseInt`, `Long.parseLong`,
/// `Boolean.parseBoolean` and `Enum.valueOf` and silently keeps the default when that fails;
/// ringmq checks the same syntax and stops with an error instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`, any case (Java reads anything else as false; we refuse it).
    Bool,
    /// Java `int`, narrowed to `min..=max` where a value outside makes no sense to ringmq.
    Int { min: i64, max: i64 },
    /// Java `long`, narrowed likewise.
    Long { min: i64, max: i64 },
    /// A TCP port, 1..=65535.
    Port,
    /// Any text, empty included.
    Str,
    /// Non-empty text (names that end up in routes and topic names).
    Name,
    /// A file-system path; `$VAR` and `${VAR}` are expanded from the environment. Empty is
    /// refused where ringmq needs the path (an empty store root would put the store in `/`).
    Path { empty_ok: bool },
    /// One of these spellings, case-sensitive as Java's `Enum.valueOf`.
    Enum(&'static [&'static str]),
    /// `host:port` entries separated by `;`; empty means none.
    NamesrvAddrs,
    /// One `host:port`; empty means none.
    Address,
    /// Hours of the day 0..=23 separated by `;` (`deleteWhen`).
    Hours,
    /// Space-separated delays with a unit `s`, `m`, `h` or `d` (`messageDelayLevel`).
    DelayLevels,
}

impl Kind {
    pub const fn int(min: i64, max: i64) -> Kind {
        Kind::Int { min, max }
    }

    pub const fn long(min: i64, max: i64) -> Kind {
        Kind::Long { min, max }
    }

    /// Short name for tables.
    pub fn name(&self) -> String {
        match self {
            Kind::Bool => "bool".to_owned(),
            Kind::Int { min, max } => integer_name("int", *min, *max, INT_MIN, INT_MAX),
            Kind::Long { min, max } => integer_name("long", *min, *max, i64::MIN, i64::MAX),
            Kind::Port => "port".to_owned(),
            Kind::Str => "string".to_owned(),
            Kind::Name => "name".to_owned(),
            Kind::Path { .. } => "path".to_owned(),
            Kind::Enum(values) => values.join(" | "),
            Kind::NamesrvAddrs => "host:port;…".to_owned(),
            Kind::Address => "host:port".to_owned(),
            Kind::Hours => "hours;…".to_owned(),
            Kind::DelayLevels => "delay levels".to_owned(),
        }
    }
}

fn integer_name(java: &str, min: i64, max: i64, java_min: i64, java_max: i64) -> String {
    match (min == java_min, max == java_max) {
        (true, true) => java.to_owned(),
        (false, true) => format!("{java} ≥ {min}"),
        _ => format!("{java} {min}..={max}"),
    }
}

const INT_MIN: i64 = i32::MIN as i64;
const INT_MAX: i64 = i32::MAX as i64;

/// Largest `mappedFileSizeConsumeQueue` whose round-up to a multiple of 20 still fits a Java
/// `int` (Java would overflow; we refuse).
pub const CQ_FILE_SIZE_BYTES_MAX: i64 = INT_MAX / 20 * 20;

/// Shards one broker may run. Far above any CPU count we run on; it keeps a typo such as
/// `shardCount=10000` from starting thousands of executors.
pub const SHARD_COUNT_MAX: i64 = 1024;
/// `shardSpinBeforeParkMicros` above 10 ms is a busy loop, not a latency trade.
pub const SPIN_BEFORE_PARK_MICROS_MAX: i64 = 10_000;

pub const BROKER_ROLES: &[&str] = &["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"];
pub const FLUSH_DISK_TYPES: &[&str] = &["ASYNC_FLUSH", "SYNC_FLUSH"];
pub const SYNC_FLUSH_METHODS: &[&str] = &["WRITE_THROUGH", "FDATASYNC"];

const BOOL: Kind = Kind::Bool;
const INT: Kind = Kind::int(INT_MIN, INT_MAX);
const INT_NON_NEGATIVE: Kind = Kind::int(0, INT_MAX);
const INT_POSITIVE: Kind = Kind::int(1, INT_MAX);
const LONG: Kind = Kind::long(i64::MIN, i64::MAX);
const LONG_NON_NEGATIVE: Kind = Kind::long(0, i64::MAX);
const LONG_POSITIVE: Kind = Kind::long(1, i64::MAX);
const PORT: Kind = Kind::Port;
const STR: Kind = Kind::Str;
const NAME: Kind = Kind::Name;
const PATH: Kind = Kind::Path { empty_ok: true };
const PATH_REQUIRED: Kind = Kind::Path { empty_ok: false };
const NAMESRV_ADDRS: Kind = Kind::NamesrvAddrs;
const ADDRESS: Kind = Kind::Address;
const HOURS: Kind = Kind::Hours;
const DELAY_LEVELS: Kind = Kind::DelayLevels;
const BROKER_ROLE: Kind = Kind::Enum(BROKER_ROLES);
const FLUSH_DISK_TYPE: Kind = Kind::Enum(FLUSH_DISK_TYPES);
const SYNC_FLUSH_METHOD: Kind = Kind::Enum(SYNC_FLUSH_METHODS);

/// A key's value when the file does not set it.
#[derive(Clone, Copy, Debug)]
pub enum DefaultValue {
    /// A literal, as Java's `-p` prints it.
    Text(&'static str),
    /// Java's `null`: `-p` prints nothing after `=`, and the key counts as unset.
    Null,
    /// Differs between the broker and the name server (`listenPort`: 10911 vs 9876).
    PerProcess { broker: &'static str, namesrv: &'static str },
    /// Computed on this host when a file is loaded (CPU count, home directory, ...).
    Host { describe: &'static str, compute: fn() -> String },
    /// Derived by the loader from other keys, the command line or the environment.
    Derived(&'static str),
}

impl DefaultValue {
    /// The default's text for `process`; `None` when the loader derives it.
    pub fn resolve(&self, process: Process) -> Option<String> {
        match self {
            DefaultValue::Text(text) => Some((*text).to_owned()),
            DefaultValue::Null => Some(String::new()),
            DefaultValue::PerProcess { broker, namesrv } => Some(
                match process {
                    Process::Broker => *broker,
                    Process::Namesrv => *namesrv,
                }
                .to_owned(),
            ),
            DefaultValue::Host { compute, .. } => Some(compute()),
            DefaultValue::Derived(_) => None,
        }
    }

    /// How the default reads in documentation (stable across hosts).
    pub fn describe(&self) -> String {
        match self {
            DefaultValue::Text("") => "(empty)".to_owned(),
            DefaultValue::Text(text) => format!("`{text}`"),
            DefaultValue::Null => "(none)".to_owned(),
            DefaultValue::PerProcess { broker, namesrv } => {
                format!("`{broker}` (broker), `{namesrv}` (nameserver)")
            }
            DefaultValue::Host { describe, .. } | DefaultValue::Derived(describe) => (*describe).to_owned(),
        }
    }
}

const fn text(text: &'static str) -> DefaultValue {
    DefaultValue::Text(text)
}

const fn host(describe: &'static str, compute: fn() -> String) -> DefaultValue {
    DefaultValue::Host { describe, compute }
}

const fn derived(describe: &'static str) -> DefaultValue {
    DefaultValue::Derived(describe)
}

const fn per_process(broker: &'static str, namesrv: &'static str) -> DefaultValue {
    DefaultValue::PerProcess { broker, namesrv }
}

const NULL: DefaultValue = DefaultValue::Null;

/// One key.
#[derive(Clone, Copy, Debug)]
pub struct KeyRow {
    /// Java's spelling: the setter name without `set`, first letter lower-cased.
    pub key: &'static str,
    pub section: Section,
    pub kind: Kind,
    pub default: DefaultValue,
    /// ringmq changes behaviour on this key; otherwise it is accepted and ignored.
    pub honoured: bool,
    /// Java's `@ImportantField`: what `-m` prints.
    pub important: bool,
    /// One line, from the reference tables.
    pub doc: &'static str,
}

impl KeyRow {
    pub fn is_java(&self) -> bool {
        self.section != Section::Ringmq && !STARTUP_ONLY_KEYS.contains(&self.key)
    }
}

/// Flags of a row: H honoured, M important (`-m`), A accepted only.
const H: u8 = 0b01;
const HM: u8 = 0b11;
const A: u8 = 0b00;
const AM: u8 = 0b10;

const fn row(
    section: Section,
    key: &'static str,
    kind: Kind,
    default: DefaultValue,
    flags: u8,
    doc: &'static str,
) -> KeyRow {
    KeyRow { key, section, kind, default, honoured: flags & H != 0, important: flags & AM != 0, doc }
}

/// Keys `BrokerStartup.properties2SystemEnv` reads from the file that are not fields of any
/// config object (so Java's `-p` does not print them).
pub const STARTUP_ONLY_KEYS: &[&str] = &["rmqAddressServerDomain", "rmqAddressServerSubGroup"];

use Section::{Broker, Namesrv, NettyClient, NettyServer, Ringmq, Store};

/// Every key, grouped by section.
#[rustfmt::skip]
pub static KEYS: &[KeyRow] = &[
    row(Broker, "rocketmqHome", PATH, host("env ROCKETMQ_HOME", host::rocketmq_home), A,
        "Install dir; `conf/logback_broker.xml` (and `conf/plain_acl.yml`) are loaded from here. \
         Broker exits with code -2 and \"Please set the ROCKETMQ_HOME variable…\" if null."),
    row(Broker, "namesrvAddr", NAMESRV_ADDRS,
        derived("-n, else env NAMESRV_ADDR, else none (embedded nameserver)"), HM,
        "Name-server list, `host:port;host:port` (semicolon-separated, each validated at startup; \
         bad → exit -3 \"The Name Server Address[...] illegal\"). `-n` on the command line \
         overrides the file."),
    row(Broker, "brokerIP1", NAME, host("auto-detected local IP", host::local_ip), HM,
        "IP advertised to name server/clients (`brokerAddr = brokerIP1:listenPort`). Does NOT \
         change the bind address (always 0.0.0.0). Set it on multi-NIC/docker hosts."),
    row(Broker, "brokerIP2", NAME, host("auto-detected local IP", host::local_ip), H,
        "IP advertised for HA (`haServerAddr = brokerIP2:haListenPort`); slaves connect here."),
    row(Broker, "brokerName", NAME,
        host("host name (DEFAULT_BROKER if unknown)", host::host_name), HM,
        "Replica-set name; master and its slaves share it. Also the name of an auto-created \
         1-queue topic (see `brokerTopicEnable`)."),
    row(Broker, "brokerClusterName", NAME, text("DefaultCluster"), HM,
        "Cluster name; also the name of an auto-created topic (see `clusterTopicEnable`)."),
    row(Broker, "brokerId", LONG, text("0"), HM,
        "0 = master, >0 = slave. Forced to 0 when `brokerRole` is a master; a SLAVE with brokerId \
         ≤ 0 exits -3 (\"Slave's brokerId must be > 0\"); forced to -1 with DLedger."),
    row(Broker, "brokerPermission", Kind::int(0, 7), text("6"), H,
        "Broker-wide perm bitmask (2=W,4=R,6=RW,1=inherit). Applied to all topics when \
         registering; `wipeWritePerm` does not touch this key: it only strips W from this \
         broker's queue data inside the name servers. Changing the key via updateBrokerConfig \
         triggers an immediate re-register."),
    row(Broker, "defaultTopicQueueNums", INT_POSITIVE, text("8"), H,
        "Queue count for topics auto-created via TBW102 (capped by the producer's \
         `defaultTopicQueueNums`, default 4)."),
    row(Broker, "autoCreateTopicEnable", BOOL, text("true"), HM,
        "Create the `TBW102` template topic so producers may auto-create unknown topics. \
         Recommended `false` in production."),
    row(Broker, "clusterTopicEnable", BOOL, text("true"), H,
        "Give the topic named after `brokerClusterName` RW perm (otherwise inherit-only)."),
    row(Broker, "brokerTopicEnable", BOOL, text("true"), H,
        "Give the topic named after `brokerName` RW perm; `mqadmin sendMsgStatus` and `clusterRT` \
         send to it."),
    row(Broker, "autoCreateSubscriptionGroup", BOOL, text("true"), HM,
        "Auto-create a subscription group on first use by a consumer."),
    row(Broker, "messageStorePlugIn", STR, text(""), A,
        "Comma-separated list of MessageStore plugin class names wrapping the store."),
    row(Broker, "msgTraceTopicName", NAME, text("RMQ_SYS_TRACE_TOPIC"), HM,
        "Topic name used for message traces."),
    row(Broker, "traceTopicEnable", BOOL, text("false"), HM,
        "Create the trace topic on this broker at startup."),
    row(Broker, "sendMessageThreadPoolNums", INT, host("min(nCPU, 4)", host::cpus_min_4), A,
        "Threads executing SEND_MESSAGE/V2/BATCH/CONSUMER_SEND_MSG_BACK."),
    row(Broker, "putMessageFutureThreadPoolNums", INT, host("min(nCPU, 4)", host::cpus_min_4), A,
        "Threads completing async put futures."),
    row(Broker, "pullMessageThreadPoolNums", INT,
        host("16 + 2·nCPU", host::cpus_times_2_plus_16), A,
        "Threads executing PULL_MESSAGE."),
    row(Broker, "processReplyMessageThreadPoolNums", INT,
        host("16 + 2·nCPU", host::cpus_times_2_plus_16), A,
        "Threads for request-reply (SEND_REPLY_MESSAGE*)."),
    row(Broker, "queryMessageThreadPoolNums", INT, host("8 + nCPU", host::cpus_plus_8), A,
        "Threads for QUERY_MESSAGE / VIEW_MESSAGE_BY_ID."),
    row(Broker, "adminBrokerThreadPoolNums", INT, text("16"), A,
        "Threads for the default (admin) processor."),
    row(Broker, "clientManageThreadPoolNums", INT, text("32"), A,
        "Threads for UNREGISTER_CLIENT / CHECK_CLIENT_CONFIG."),
    row(Broker, "consumerManageThreadPoolNums", INT, text("32"), A,
        "Threads for consumer-list and consumer-offset requests."),
    row(Broker, "heartbeatThreadPoolNums", INT, host("min(32, nCPU)", host::cpus_min_32), A,
        "Threads for HEART_BEAT."),
    row(Broker, "endTransactionThreadPoolNums", INT,
        host("max(8 + 2·nCPU, 4·min(nCPU, 4))", host::end_transaction_threads), A,
        "Threads for END_TRANSACTION."),
    row(Broker, "flushConsumerOffsetInterval", INT_POSITIVE, text("5000"), H,
        "Period (ms) for persisting `config/consumerOffset.json`."),
    row(Broker, "flushConsumerOffsetHistoryInterval", INT, text("60000"), A,
        "Read nowhere in 4.9.x."),
    row(Broker, "rejectTransactionMessage", BOOL, text("false"), HM,
        "Reject prepared (transactional half) messages."),
    row(Broker, "fetchNamesrvAddrByAddressServer", BOOL, text("false"), AM,
        "If no namesrvAddr: poll an HTTP address server every 2 min \
         (`http://{rmqAddressServerDomain}:8080/rocketmq/{rmqAddressServerSubGroup}`, default \
         domain `jmenv.tbsite.net`, subgroup `nsaddr`)."),
    row(Broker, "sendThreadPoolQueueCapacity", INT_POSITIVE, text("10000"), H,
        "Bound of the send request queue. Overflow answers SYSTEM_BUSY `[OVERLOAD]system busy, \
         start flow control for a while` and, sampled, logs `…too many requests and system thread \
         pool busy…` in remoting.log."),
    row(Broker, "putThreadPoolQueueCapacity", INT, text("10000"), A,
        "Bound of the put-future queue."),
    row(Broker, "pullThreadPoolQueueCapacity", INT_POSITIVE, text("100000"), H,
        "Bound of the pull request queue."),
    row(Broker, "replyThreadPoolQueueCapacity", INT, text("10000"), A,
        "Bound of the reply request queue."),
    row(Broker, "queryThreadPoolQueueCapacity", INT, text("20000"), A,
        "Bound of the query request queue."),
    row(Broker, "clientManagerThreadPoolQueueCapacity", INT, text("1000000"), A,
        "Bound of the client-manage queue."),
    row(Broker, "consumerManagerThreadPoolQueueCapacity", INT, text("1000000"), A,
        "Bound of the consumer-manage queue (declared; the executor actually uses an unbounded \
         fixed pool)."),
    row(Broker, "heartbeatThreadPoolQueueCapacity", INT, text("50000"), A,
        "Bound of the heartbeat queue."),
    row(Broker, "endTransactionPoolQueueCapacity", INT, text("100000"), A,
        "Bound of the end-transaction queue."),
    row(Broker, "filterServerNums", INT, text("0"), A,
        "Filter-server processes (feature removed); read nowhere in 4.9.x."),
    row(Broker, "longPollingEnable", BOOL, text("true"), H,
        "Hold PULL requests (long polling) instead of short polling."),
    row(Broker, "shortPollingTimeMills", LONG_NON_NEGATIVE, text("1000"), H,
        "Hold time (ms) for pulls when long polling is disabled."),
    row(Broker, "notifyConsumerIdsChangedEnable", BOOL, text("true"), H,
        "Push NOTIFY_CONSUMER_IDS_CHANGED to consumers when group membership changes (triggers \
         rebalance)."),
    row(Broker, "highSpeedMode", BOOL, text("false"), A,
        "Unused."),
    row(Broker, "commercialEnable", BOOL, text("true"), A,
        "Unused."),
    row(Broker, "commercialTimerCount", INT, text("1"), A,
        "Unused."),
    row(Broker, "commercialTransCount", INT, text("1"), A,
        "Unused."),
    row(Broker, "commercialBigCount", INT, text("1"), A,
        "Unused."),
    row(Broker, "commercialBaseCount", INT, text("1"), A,
        "Size unit for commercial (billing) stats in commercial.log."),
    row(Broker, "transferMsgByHeap", BOOL, text("true"), A,
        "true: copy pulled messages into a heap byte[] (and record GROUP_GET_LATENCY); false: \
         hand the mmapped slices to Netty as a FileRegion (no heap copy). Tuning guides often set \
         false."),
    row(Broker, "maxDelayTime", INT, text("40"), A,
        "Unused."),
    row(Broker, "regionId", STR, text("DefaultRegion"), H,
        "Region id written into trace data."),
    row(Broker, "registerBrokerTimeoutMills", INT_POSITIVE, text("6000"), H,
        "Timeout (ms) of REGISTER_BROKER / QUERY_DATA_VERSION calls to each name server."),
    row(Broker, "slaveReadEnable", BOOL, text("false"), H,
        "When a pull is served from disk (beyond `accessMessageInMemoryMaxRatio`), suggest \
         consumers read from slave (brokerId 1)."),
    row(Broker, "disableConsumeIfConsumerReadSlowly", BOOL, text("false"), A,
        "Disable a consumer group whose lag exceeds `consumerFallbehindThreshold` (checked every \
         3 min, logged to protection.log)."),
    row(Broker, "consumerFallbehindThreshold", LONG, text("17179869184"), A,
        "Lag in bytes for the rule above."),
    row(Broker, "brokerFastFailureEnable", BOOL, text("true"), H,
        "Java: every 10 ms, fail queued requests older than the waitTimeMills* limits and, when \
         the page cache is busy, clean the send queue ([PCBUSY_CLEAN_QUEUE]). ringmq applies \
         waitTimeMillsInSendQueue only (it has no page cache); false lets sends wait for their \
         shard however long it takes."),
    row(Broker, "waitTimeMillsInSendQueue", LONG_NON_NEGATIVE, text("200"), H,
        "Max age (ms) of a queued send before \"[TIMEOUT_CLEAN_QUEUE]broker busy\" (response code \
         2). The key most often raised in production (1000–3000). In ringmq a send queues when \
         the shard that took the connection forwards it to the shard owning its queue; the age \
         counts until that shard starts it, and a refused send is never stored. 0 counts as 1 \
         ms (Java checks only sends still queued, ringmq every forwarded send)."),
    row(Broker, "waitTimeMillsInPullQueue", LONG, text("5000"), A,
        "Same for the pull queue."),
    row(Broker, "waitTimeMillsInHeartbeatQueue", LONG, text("31000"), A,
        "Same for the heartbeat queue."),
    row(Broker, "waitTimeMillsInTransactionQueue", LONG, text("3000"), A,
        "Same for the end-transaction queue."),
    row(Broker, "startAcceptSendRequestTimeStamp", LONG_NON_NEGATIVE, text("0"), H,
        "Epoch ms before which sends are rejected (SYSTEM_ERROR \"broker unable to service, until \
         <time>\"); reported in runtime info."),
    row(Broker, "traceOn", BOOL, text("true"), H,
        "Record trace info in send results / broker send hooks."),
    row(Broker, "enableCalcFilterBitMap", BOOL, text("false"), A,
        "Compute bloom-filter bitmaps when building consume queues (SQL92 filter acceleration; \
         needs consume-queue ext)."),
    row(Broker, "expectConsumerNumUseFilter", INT, text("32"), A,
        "Expected number of filtering consumers (bloom filter sizing)."),
    row(Broker, "maxErrorRateOfBloomFilter", INT, text("20"), A,
        "Bloom filter error rate in percent (1–100)."),
    row(Broker, "filterDataCleanTimeSpan", LONG, text("86400000"), A,
        "Keep filter data of dead consumers for this long (ms)."),
    row(Broker, "filterSupportRetry", BOOL, text("false"), A,
        "Apply filters to retry topics as well."),
    row(Broker, "enablePropertyFilter", BOOL, text("false"), A,
        "Allow SQL92 property filtering (consumers using `MessageSelector.bySql` fail without \
         it)."),
    row(Broker, "compressedRegister", BOOL, text("false"), H,
        "Compress (zip) the topic table in REGISTER_BROKER."),
    row(Broker, "forceRegister", BOOL, text("true"), H,
        "Re-register every period even if the data version did not change (else \
         QUERY_DATA_VERSION first)."),
    row(Broker, "registerNameServerPeriod", INT, text("30000"), H,
        "Register-to-namesrv period (ms), clamped to [10000, 60000]. Name server expires a broker \
         after 120 s of silence."),
    row(Broker, "transactionTimeOut", LONG_NON_NEGATIVE, text("6000"), HM,
        "Half message age (ms) before the first check-back."),
    row(Broker, "transactionCheckMax", INT_NON_NEGATIVE, text("15"), HM,
        "Check-backs before a half message is discarded."),
    row(Broker, "transactionCheckInterval", LONG_POSITIVE, text("60000"), HM,
        "Period (ms) of the transaction check service."),
    row(Broker, "aclEnable", BOOL, text("false"), AM,
        "Enable ACL 1.0 (`conf/plain_acl.yml`, hot-reloaded)."),
    row(Broker, "storeReplyMessageEnable", BOOL, text("true"), A,
        "Besides pushing a reply (PUSH_REPLY_MESSAGE_TO_CLIENT) to the requester, also store it \
         in the commitlog."),
    row(Broker, "enableDetailStat", BOOL, text("true"), A,
        "Keep per-queue/per-topic detail stats (QUEUE_* stats items)."),
    row(Broker, "autoDeleteUnusedStats", BOOL, text("false"), A,
        "Delete stats items for deleted topics/groups."),
    row(Broker, "isolateLogEnable", BOOL, text("false"), A,
        "Write logs to `~/logs/rocketmqlogs/<brokerName>_<brokerId>/` (or `_<dLegerSelfId>`) so \
         several brokers on one host do not share files."),
    row(Broker, "configBlackList", STR, text("configBlackList;brokerConfigPath"), H,
        "`;`-separated keys that `updateBrokerConfig` refuses to change (NO_PERMISSION \"Can not \
         update config in black list.\")."),
    row(Store, "storePathRootDir", PATH_REQUIRED, host("$HOME/store", host::home_store), HM,
        "Store root: `consumequeue/`, `index/`, `checkpoint`, `abort`, `lock`, `config/*.json` \
         live under it. Two brokers must never share it (\"Lock failed,MQ already started\")."),
    row(Store, "storePathCommitLog", PATH_REQUIRED, derived("<storePathRootDir>/commitlog"), HM,
        "CommitLog dir; default `<storePathRootDir>/commitlog`. May list several dirs separated \
         by `,` (`-Drocketmq.broker.multiPathSplitter`). Version trap: up to 4.9.3 the field \
         default was `${user.home}/store/commitlog`, independent of `storePathRootDir`; only from \
         4.9.4 is it derived from the root (checked in `MessageStoreConfig` at tags 4.3.0 … \
         4.9.8). Two brokers on one host that set only `storePathRootDir` therefore shared one \
         commit-log directory on ≤ 4.9.3 (the `lock` file lives in the root, so nothing stopped \
         them)."),
    row(Store, "storePathDLedgerCommitLog", PATH, NULL, AM,
        "DLedger commit log dir (default derived from storePathRootDir)."),
    row(Store, "readOnlyCommitLogStorePaths", PATH, NULL, A,
        "Extra commitlog dirs that are read but never written (multi-path migration)."),
    row(Store, "mappedFileSizeCommitLog", INT_POSITIVE, text("1073741824"), H,
        "Size of each commitlog segment file (bytes). Old spelling `mapedFileSizeCommitLog` is \
         IGNORED by ≥4.5.2."),
    row(Store, "mappedFileSizeConsumeQueue", Kind::int(1, CQ_FILE_SIZE_BYTES_MAX),
        text("6000000"), H,
        "Consume-queue file size in bytes (rounded up to a multiple of 20). Old spelling \
         `mapedFileSizeConsumeQueue` IGNORED by ≥4.5.2. Note: bytes, not entries."),
    row(Store, "enableConsumeQueueExt", BOOL, text("false"), A,
        "Write consume-queue extension files (`consumequeue_ext/`, filter bitmaps)."),
    row(Store, "mappedFileSizeConsumeQueueExt", INT, text("50331648"), A,
        "Size of each consume-queue-ext file."),
    row(Store, "bitMapLengthConsumeQueueExt", INT, text("64"), A,
        "Bitmap length (bits) in consume-queue ext."),
    row(Store, "flushIntervalCommitLog", INT_POSITIVE, text("500"), HM,
        "Async flush: interval (ms) of the commitlog flush thread."),
    row(Store, "commitIntervalCommitLog", INT, text("200"), AM,
        "TransientStorePool only: interval (ms) to commit the off-heap buffer into the file \
         channel."),
    row(Store, "useReentrantLockWhenPutMessage", BOOL, text("true"), A,
        "true: ReentrantLock around commitlog append; false: spin lock (docs advise spin for \
         async flush, reentrant for sync flush / many send threads)."),
    row(Store, "flushCommitLogTimed", BOOL, text("true"), AM,
        "true: flush thread sleeps a fixed interval; false: it can be woken early."),
    row(Store, "flushIntervalConsumeQueue", INT, text("1000"), A,
        "Interval (ms) of the consume-queue flush thread."),
    row(Store, "cleanResourceInterval", INT, text("10000"), A,
        "Period (ms) of expired-file cleaning checks."),
    row(Store, "deleteCommitLogFilesInterval", INT, text("100"), A,
        "Pause (ms) between deleting two commitlog files."),
    row(Store, "deleteConsumeQueueFilesInterval", INT, text("100"), A,
        "Pause (ms) between deleting two consume-queue files."),
    row(Store, "destroyMapedFileIntervalForcibly", INT, text("120000"), A,
        "Force-destroy a mapped file still referenced after this many ms (odd spelling kept)."),
    row(Store, "redeleteHangedFileInterval", INT, text("120000"), A,
        "Retry deleting a \"hanged\" first file every this many ms."),
    row(Store, "deleteWhen", HOURS, text("04"), HM,
        "Hour(s) of day to delete expired files, e.g. `04`, or several `04;16`."),
    row(Store, "diskMaxUsedSpaceRatio", INT, text("75"), H,
        "Disk usage % above which expired files are deleted regardless of `deleteWhen` (clamped \
         10–95). Hard limits are JVM props: 0.85 clean-forcibly, 0.90 mark disk full → writes \
         rejected."),
    row(Store, "fileReservedTime", INT_NON_NEGATIVE, text("72"), HM,
        "Retention in hours for commitlog files (default 72; shipped confs use 48). Docs misspell \
         it `fileReserverdTime`, which is ignored."),
    row(Store, "putMsgIndexHightWater", INT, text("600000"), A,
        "Unused (typo \"Hight\" kept)."),
    row(Store, "maxMessageSize", INT_POSITIVE, text("4194304"), H,
        "Max message body size in bytes (4 MiB); producers must set a matching `maxMessageSize`."),
    row(Store, "checkCRCOnRecover", BOOL, text("true"), H,
        "Verify CRC of records during recovery."),
    row(Store, "flushCommitLogLeastPages", INT_NON_NEGATIVE, text("4"), H,
        "Async flush: only flush when ≥ N dirty 4 KiB pages (unless the thorough interval \
         elapsed). A SLAVE writes at least 256 pages (1 MiB) at a time, as a Java slave writes \
         on its interval only."),
    row(Store, "commitCommitLogLeastPages", INT, text("4"), A,
        "TransientStorePool: least pages per commit."),
    row(Store, "flushLeastPagesWhenWarmMapedFile", INT, text("4096"), A,
        "Flush every N pages while pre-touching a new mapped file (4096 pages = 16 MiB)."),
    row(Store, "flushConsumeQueueLeastPages", INT, text("2"), A,
        "Least dirty pages per consume-queue flush."),
    row(Store, "flushCommitLogThoroughInterval", INT_NON_NEGATIVE, text("10000"), H,
        "Force a full commitlog flush at least this often (ms)."),
    row(Store, "commitCommitLogThoroughInterval", INT, text("200"), A,
        "Force a full commit at least this often (ms)."),
    row(Store, "flushConsumeQueueThoroughInterval", INT, text("60000"), A,
        "Force a full consume-queue flush at least this often (ms)."),
    row(Store, "maxTransferBytesOnMessageInMemory", INT_POSITIVE, text("262144"), HM,
        "Per-pull byte cap when the data is hot (in page cache)."),
    row(Store, "maxTransferCountOnMessageInMemory", INT_POSITIVE, text("32"), HM,
        "Per-pull message cap when hot."),
    row(Store, "maxTransferBytesOnMessageInDisk", INT_POSITIVE, text("65536"), HM,
        "Per-pull byte cap when the data is cold."),
    row(Store, "maxTransferCountOnMessageInDisk", INT_POSITIVE, text("8"), HM,
        "Per-pull message cap when cold."),
    row(Store, "accessMessageInMemoryMaxRatio", Kind::int(0, 100), text("40"), HM,
        "Data older than (RAM × ratio %) behind the commitlog head is treated as \"on disk\" \
         (cold limits, slave-read suggestion). Reduced by 10 only if the compiled-in role default \
         were SLAVE (it is not, so no effect)."),
    row(Store, "messageIndexEnable", BOOL, text("true"), HM,
        "Build the key/unique-key hash index (`index/`) used by QUERY_MESSAGE / queryMsgByKey."),
    row(Store, "maxHashSlotNum", INT_POSITIVE, text("5000000"), H,
        "Hash slots per index file."),
    row(Store, "maxIndexNum", INT_POSITIVE, text("20000000"), H,
        "Index entries per index file (file ≈ 40 B + 4·slots + 20·entries ≈ 420 MB)."),
    row(Store, "maxMsgsNumBatch", INT_POSITIVE, text("64"), H,
        "Max results of one index query."),
    row(Store, "messageIndexSafe", BOOL, text("false"), AM,
        "Include index files in the checkpoint min-timestamp (safer recovery, slower)."),
    row(Store, "haListenPort", PORT, derived("listenPort+1 (always, as 4.x)"), A,
        "HA port. Ignored from the file in 4.x: always forced to listenPort+1 (5.x honours it)."),
    row(Store, "haSendHeartbeatInterval", INT_POSITIVE, text("5000"), H,
        "Slave → master heartbeat period (ms)."),
    row(Store, "haHousekeepingInterval", INT_POSITIVE, text("20000"), H,
        "HA connection idle timeout (ms)."),
    row(Store, "haTransferBatchSize", INT_POSITIVE, text("32768"), H,
        "Max bytes per HA transfer."),
    row(Store, "haMasterAddress", ADDRESS, NULL, HM,
        "Slave: static master HA address `ip:port` (otherwise learned from the name server \
         register response)."),
    row(Store, "haSlaveFallbehindMax", INT_NON_NEGATIVE, text("268435456"), H,
        "SYNC_MASTER treats slave as available only if it lags less than this many bytes (else \
         SLAVE_NOT_AVAILABLE)."),
    row(Store, "brokerRole", BROKER_ROLE, text("ASYNC_MASTER"), HM,
        "`ASYNC_MASTER` / `SYNC_MASTER` / `SLAVE` (Enum.valueOf; anything else, incl. trailing \
         spaces, is silently ignored)."),
    row(Store, "flushDiskType", FLUSH_DISK_TYPE, text("ASYNC_FLUSH"), HM,
        "`ASYNC_FLUSH` / `SYNC_FLUSH` (same parsing rule). A SYNC_FLUSH SLAVE writes and \
         fdatasyncs every 10 ms, as Java's slave, rather than per replicated frame: nobody \
         waits for a slave's syncs."),
    row(Store, "syncFlushTimeout", INT_NON_NEGATIVE, text("5000"), H,
        "SYNC_FLUSH: wait (ms) for the group-commit flush before FLUSH_DISK_TIMEOUT. The blocking \
         put waits max(syncFlushTimeout, slaveTimeout)+5000 ms overall."),
    row(Store, "slaveTimeout", INT_NON_NEGATIVE, text("3000"), H,
        "SYNC_MASTER: wait (ms) for the slave to acknowledge before FLUSH_SLAVE_TIMEOUT."),
    row(Store, "messageDelayLevel", DELAY_LEVELS,
        text("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"), H,
        "Delay levels 1..18 for scheduled messages (`SCHEDULE_TOPIC_XXXX` queues). Units s/m/h/d."),
    row(Store, "flushDelayOffsetInterval", LONG_POSITIVE, text("10000"), H,
        "Period (ms) for persisting `config/delayOffset.json`."),
    row(Store, "cleanFileForciblyEnable", BOOL, text("true"), AM,
        "Allow deleting unexpired files when the disk is above the clean-forcibly ratio."),
    row(Store, "warmMapedFileEnable", BOOL, text("false"), A,
        "Pre-touch (write zeros + flush + mlock) each new commitlog file; single \"p\" spelling."),
    row(Store, "offsetCheckInSlave", BOOL, text("false"), A,
        "On a slave, return OFFSET_OVERFLOW/ILLEGAL corrections to consumers instead of leaving \
         them."),
    row(Store, "debugLockEnable", BOOL, text("false"), A,
        "If the commitlog put lock has been held > 1 s, write a jstack to \
         `~/debug/lock/stack-<begin>-<ms>`."),
    row(Store, "duplicationEnable", BOOL, text("false"), A,
        "Only dispatch (build consume queues for) commitlog data below the externally set \
         confirmOffset; used for replication/duplication setups."),
    row(Store, "diskFallRecorded", BOOL, text("true"), A,
        "Record GROUP_GET_FALL_SIZE/TIME stats for pulls served from disk."),
    row(Store, "osPageCacheBusyTimeOutMills", LONG, text("1000"), A,
        "If the commitlog put lock has been held longer than this (ms), sends fail with \
         \"[PC_SYNCHRONIZED]broker busy\" and queued sends are purged with [PCBUSY_CLEAN_QUEUE]."),
    row(Store, "defaultQueryMaxNum", INT_POSITIVE, text("32"), H,
        "Default max messages returned by QUERY_MESSAGE."),
    row(Store, "transientStorePoolEnable", BOOL, text("false"), AM,
        "Write into off-heap, mlocked buffers (one per commitlog-sized segment) and commit to the \
         file later. Only effective with ASYNC_FLUSH on a master. Most-recommended cure for \
         \"broker busy\"."),
    row(Store, "transientStorePoolSize", INT, text("5"), A,
        "Number of such buffers (each `mappedFileSizeCommitLog` bytes → needs RLIMIT_MEMLOCK)."),
    row(Store, "fastFailIfNoBufferInStorePool", BOOL, text("false"), A,
        "Fail sends fast when no transient buffer is free."),
    row(Store, "enableDLegerCommitLog", BOOL, text("false"), A,
        "Use the DLedger (Raft) commit log; brokerId becomes -1 and roles are elected."),
    row(Store, "dLegerGroup", STR, NULL, A,
        "DLedger group name (usually = brokerName). Key spelled \"Leger\"."),
    row(Store, "dLegerPeers", STR, NULL, A,
        "`n0-host:port;n1-host:port;...` Raft peers (same on all members)."),
    row(Store, "dLegerSelfId", STR, NULL, A,
        "This node's id in dLegerPeers (unique in group)."),
    row(Store, "preferredLeaderId", STR, NULL, A,
        "Preferred DLedger leader."),
    row(Store, "enableBatchPush", BOOL, text("false"), A,
        "DLedger batch push (field is `isEnableBatchPush`, so `-p` prints `isEnableBatchPush=` \
         but the settable key is `enableBatchPush`)."),
    row(Store, "enableScheduleMessageStats", BOOL, text("true"), A,
        "Keep stats for scheduled-message delivery."),
    row(Store, "enableLmq", BOOL, text("false"), A,
        "Light message queue (MQTT-style) support."),
    row(Store, "enableMultiDispatch", BOOL, text("false"), A,
        "Dispatch one message into several (LMQ) queues."),
    row(Store, "maxLmqConsumeQueueNum", INT, text("20000"), A,
        "Max LMQ consume queues."),
    row(Store, "enableScheduleAsyncDeliver", BOOL, text("false"), A,
        "Deliver due scheduled messages asynchronously."),
    row(Store, "scheduleAsyncDeliverMaxPendingLimit", INT, text("2000"), A,
        "Max pending async deliveries per level."),
    row(Store, "scheduleAsyncDeliverMaxResendNum2Blocked", INT, text("3"), A,
        "Resends before a level is considered blocked."),
    row(NettyServer, "listenPort", PORT, per_process("10911", "9876"), H,
        "Main remoting port (clients, admin tools, name-server calls). Fast/VIP port = \
         listenPort−2, HA port = listenPort+1 (both derived, not configurable in 4.x)."),
    row(NettyServer, "serverWorkerThreads", INT, text("8"), A,
        "Netty \"worker\" EventExecutorGroup threads (codec/handler). On the name server also the \
         size of the request-processing pool."),
    row(NettyServer, "serverCallbackExecutorThreads", INT, text("0"), A,
        "Public executor for processors registered without one (0 → 4)."),
    row(NettyServer, "serverSelectorThreads", INT, text("3"), A,
        "Netty I/O (selector) threads; boss is 1."),
    row(NettyServer, "serverOnewaySemaphoreValue", INT, text("256"), A,
        "Max concurrent server-initiated oneway calls."),
    row(NettyServer, "serverAsyncSemaphoreValue", INT, text("64"), A,
        "Max concurrent server-initiated async calls (e.g. broker→client callbacks)."),
    row(NettyServer, "serverChannelMaxIdleTimeSeconds", INT_NON_NEGATIVE, text("120"), H,
        "Close a connection idle (no read/write) for this long."),
    row(NettyServer, "serverSocketSndBufSize", INT, text("0"), A,
        "SO_SNDBUF for accepted sockets (0 = leave OS default)."),
    row(NettyServer, "serverSocketRcvBufSize", INT, text("0"), A,
        "SO_RCVBUF (0 = OS default)."),
    row(NettyServer, "writeBufferHighWaterMark", INT, text("0"), A,
        "Netty channel high water mark (0 = Netty default). One key sets both \
         NettyServerConfig and NettyClientConfig."),
    row(NettyServer, "writeBufferLowWaterMark", INT, text("0"), A,
        "Netty channel low water mark (0 = Netty default). One key sets both \
         NettyServerConfig and NettyClientConfig."),
    row(NettyServer, "serverSocketBacklog", INT, text("1024"), A,
        "listen(2) backlog."),
    row(NettyServer, "serverPooledByteBufAllocatorEnable", BOOL, text("true"), A,
        "Use Netty pooled ByteBuf allocator."),
    row(NettyServer, "useEpollNativeSelector", BOOL, text("false"), A,
        "Use Netty native epoll transport on Linux."),
    row(NettyClient, "clientWorkerThreads", INT, text("4"), A,
        "Client-side (broker→namesrv/master) Netty worker threads."),
    row(NettyClient, "clientCallbackExecutorThreads", INT, host("nCPU", host::cpus), A,
        "Threads running async-callback completions."),
    row(NettyClient, "clientOnewaySemaphoreValue", INT, text("65535"), A,
        "Max concurrent oneway calls."),
    row(NettyClient, "clientAsyncSemaphoreValue", INT, text("65535"), A,
        "Max concurrent async calls."),
    row(NettyClient, "connectTimeoutMillis", INT, text("3000"), A,
        "Connect timeout (ms) toward name servers / master."),
    row(NettyClient, "channelNotActiveInterval", LONG, text("60000"), A,
        "Unused."),
    row(NettyClient, "clientChannelMaxIdleTimeSeconds", INT, text("120"), A,
        "Idle close for outbound connections."),
    row(NettyClient, "clientSocketSndBufSize", INT, text("0"), A,
        "SO_SNDBUF for outbound sockets."),
    row(NettyClient, "clientSocketRcvBufSize", INT, text("0"), A,
        "SO_RCVBUF for outbound sockets."),
    row(NettyClient, "clientPooledByteBufAllocatorEnable", BOOL, text("false"), A,
        "Unused."),
    row(NettyClient, "clientCloseSocketIfTimeout", BOOL, text("true"), A,
        "Close the channel when a sync call times out."),
    row(NettyClient, "useTLS", BOOL, text("false"), A,
        "Use TLS toward name servers/master (default from `-Dtls.enable` or \
         tls.server.mode=enforcing)."),
    row(Namesrv, "rocketmqHome", PATH, host("env ROCKETMQ_HOME", host::rocketmq_home), A,
        "Install dir (logback_namesrv.xml loaded from `conf/`)."),
    row(Namesrv, "kvConfigPath", PATH_REQUIRED,
        host("$HOME/namesrv/kvConfig.json", host::home_kv_config), H,
        "KV store file (namespaces such as ORDER_TOPIC_CONFIG); written by \
         updateKvConfig/updateOrderConf."),
    row(Namesrv, "configStorePath", PATH_REQUIRED,
        host("-c file, else $HOME/namesrv/namesrv.properties", host::home_namesrv_properties), H,
        "File updateNamesrvConfig persists to; set to the `-c` file when given."),
    row(Namesrv, "productEnvName", STR, text("center"), A,
        "Env name used only with clusterTest."),
    row(Namesrv, "clusterTest", BOOL, text("false"), A,
        "Use ClusterTestRequestProcessor (routes unknown topics to a product-env namesrv)."),
    row(Namesrv, "orderMessageEnable", BOOL, text("false"), H,
        "Return ORDER_TOPIC_CONFIG kv (orderTopicConf) in GET_ROUTEINFO_BY_TOPIC."),
    row(Namesrv, "configBlackList", STR, text("configBlackList;configStorePath;kvConfigPath"), H,
        "Keys updateNamesrvConfig refuses."),
    row(Broker, "rmqAddressServerDomain", STR, text("jmenv.tbsite.net"), A,
        "Not a BrokerConfig field: BrokerStartup copies it into the rocketmq.namesrv.domain \
         system property, the host of the HTTP address server (see \
         fetchNamesrvAddrByAddressServer)."),
    row(Broker, "rmqAddressServerSubGroup", STR, text("nsaddr"), A,
        "Not a BrokerConfig field: BrokerStartup copies it into the \
         rocketmq.namesrv.domain.subgroup system property (address-server URL path)."),
    row(Ringmq, "shardCount", Kind::int(1, SHARD_COUNT_MAX),
        host("usable CPUs (nCPU)", host::cpus), HM,
        "Shards (one executor pinned to one CPU each) the broker runs. Recorded in the store on \
         first start; an existing store refuses another count."),
    row(Ringmq, "shardSpinBeforeParkMicros", Kind::int(0, SPIN_BEFORE_PARK_MICROS_MAX), text("500"), H,
        "How long an idle shard polls its io_uring rings before it sleeps in the kernel, yielding its \
         CPU to any other runnable thread at every turn. A request that finds its shard polling \
         skips a wake-up (~30 µs on a VM); spinning costs CPU only while a shard is idle but \
         recently busy. 0 sleeps at once; a SLAVE defaults to 0. See \
         tuning.md."),
    row(Ringmq, "syncFlushMethod", SYNC_FLUSH_METHOD, text("WRITE_THROUGH"), H,
        "How a SYNC_FLUSH master makes a group commit durable. `WRITE_THROUGH`: the records are \
         written through O_DSYNC file handles, one I/O per commit. `FDATASYNC`: written, then \
         fdatasync (Java's GroupCommitService), two I/Os, the second through an io_uring \
         worker thread. Both wait for the device's cache flush; on the VM of tuning.md \
         WRITE_THROUGH answered 1 × 1 sends ~13 % sooner and 4 × 32 carried ~19 % more. \
         Ignored under ASYNC_FLUSH and on a slave."),
    row(Ringmq, "shardInboxCapacity", Kind::int(1, SHARD_INBOX_CAPACITY_MAX as i64), text("1024"), H,
        "Messages one shard's inbox from another holds (sends, pulls and offset work forwarded \
         to the shard that owns the queue). A full inbox makes the forwarding shard wait; a \
         client's send that waits waitTimeMillsInSendQueue is answered SYSTEM_BUSY. Smaller \
         turns a slow shard into SYSTEM_BUSY sooner."),
    row(Ringmq, "namesrvListenPort", PORT, text("9876"), H,
        "Port of the nameserver that ringmq broker embeds when no namesrvAddr is configured (no \
         -n, no namesrvAddr key, no NAMESRV_ADDR); unused otherwise."),
];

/// An old spelling that still works, mapped to its current key.
#[derive(Clone, Copy, Debug)]
pub struct Alias {
    pub old_key: &'static str,
    pub new_key: &'static str,
    /// Why it matters, for the warning.
    pub note: &'static str,
}

pub static ALIASES: &[Alias] = &[
    Alias {
        old_key: "mapedFileSizeCommitLog",
        new_key: "mappedFileSizeCommitLog",
        note: "RocketMQ 4.5.2 and later ignore the old spelling: a Java broker given this file \
               used the default, 1073741824",
    },
    Alias {
        old_key: "mapedFileSizeConsumeQueue",
        new_key: "mappedFileSizeConsumeQueue",
        note: "RocketMQ 4.5.2 and later ignore the old spelling: a Java broker given this file \
               used the default, 6000000 (the value is in bytes, not entries)",
    },
];

/// A key users write that no 4.x release reads: warned about, then ignored (kept in the
/// effective table like any unknown key, as Java keeps it).
#[derive(Clone, Copy, Debug)]
pub struct Ghost {
    pub key: &'static str,
    pub explanation: &'static str,
    /// For store paths: where 4.x always puts the thing, relative to `storePathRootDir`.
    pub path_under_root: Option<&'static str>,
    /// The key that was most likely meant.
    pub meant_key: Option<&'static str>,
}

const DERIVED_PATH: &str = "not a RocketMQ 4.x key: store paths other than the commit log are \
                            always derived from storePathRootDir";
const FIVE_X_LISTENER: &str = "not a RocketMQ 4.x key (5.x has it); like 4.x, ringmq binds \
                               0.0.0.0 and always serves listenPort-2 as the fast port; set \
                               brokerIP1 to change the advertised address";

pub static GHOSTS: &[Ghost] = &[
    Ghost {
        key: "storePathConsumeQueue",
        explanation: DERIVED_PATH,
        path_under_root: Some("consumequeue"),
        meant_key: None,
    },
    Ghost {
        key: "storePathConsumerQueue",
        explanation: DERIVED_PATH,
        path_under_root: Some("consumequeue"),
        meant_key: None,
    },
    Ghost { key: "storePathIndex", explanation: DERIVED_PATH, path_under_root: Some("index"), meant_key: None },
    Ghost { key: "storeCheckpoint", explanation: DERIVED_PATH, path_under_root: Some("checkpoint"), meant_key: None },
    Ghost { key: "abortFile", explanation: DERIVED_PATH, path_under_root: Some("abort"), meant_key: None },
    Ghost {
        key: "fileReserverdTime",
        explanation: "a misspelling (from RocketMQ's own docs) that Java ignores, and so does \
                      ringmq",
        path_under_root: None,
        meant_key: Some("fileReservedTime"),
    },
    Ghost {
        key: "fastListenPort",
        explanation: "not a RocketMQ 4.x key: the fast port is always listenPort-2",
        path_under_root: None,
        meant_key: None,
    },
    Ghost {
        key: "enableFastRemoting",
        explanation: "not a RocketMQ 4.x key: the fast port listenPort-2 is always served",
        path_under_root: None,
        meant_key: None,
    },
    Ghost { key: "bindAddress", explanation: FIVE_X_LISTENER, path_under_root: None, meant_key: None },
    Ghost { key: "bindIP", explanation: FIVE_X_LISTENER, path_under_root: None, meant_key: None },
    Ghost {
        key: "checkTransactionMessageEnable",
        explanation: "not a RocketMQ key (it circulates in blog templates); transaction \
                      check-back always runs, every transactionCheckInterval",
        path_under_root: None,
        meant_key: None,
    },
];

/// Rows `process` reads, in table order.
pub fn rows_for(process: Process) -> impl Iterator<Item = &'static KeyRow> {
    KEYS.iter().filter(move |row| row.section.read_by(process))
}

/// The row of `key` as `process` reads it.
pub fn find(process: Process, key: &str) -> Option<&'static KeyRow> {
    rows_for(process).find(|row| row.key == key)
}

pub fn find_alias(key: &str) -> Option<&'static Alias> {
    ALIASES.iter().find(|alias| alias.old_key == key)
}

pub fn find_ghost(key: &str) -> Option<&'static Ghost> {
    GHOSTS.iter().find(|ghost| ghost.key == key)
}

/// The known key nearest to `unknown` for `process`, when it is close enough to be a typo:
/// same letters in another case, or an edit distance of at most 3 and at most a third of the
/// key's length (so short keys only match near-exactly).
pub fn suggest(process: Process, unknown: &str) -> Option<&'static str> {
    let unknown_lower = unknown.to_ascii_lowercase();
    let candidates = rows_for(process).map(|row| row.key);
    let (distance, key) = candidates
        .map(|key| (edit_distance(&unknown_lower, &key.to_ascii_lowercase()), key))
        .min_by_key(|(distance, _)| *distance)?;
    let length = unknown.chars().count();
    (distance <= 3 && distance * 3 <= length.max(3)).then_some(key)
}

/// Levenshtein distance over chars.
pub fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    let mut current = vec![0; right.len() + 1];
    for (i, left_char) in left.chars().enumerate() {
        current[0] = i + 1;
        for (j, &right_char) in right.iter().enumerate() {
            let substitution = previous[j] + usize::from(left_char != right_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[right.len()]
}

/// `conf/README.md`: every key, honoured or accepted-only, with its default. A test keeps the
/// checked-in file equal to this.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str(README_HEAD);
    for section in Section::ALL {
        reference_markdown_section(&mut out, section);
    }
    reference_markdown_aliases(&mut out);
    out
}

const README_HEAD: &str = "\
# ringmq configuration keys

<!-- Generated from src/config/schema.rs by `RINGMQ_BLESS=1 cargo test --test config_vectors`;
     do not edit by hand. -->

ringmq reads the same `.properties` files as RocketMQ 4.9.8 (`ringmq broker -c FILE`,
`ringmq namesrv -c FILE`), with Java's syntax (`=`, `:` or whitespace separators, `#`/`!`
comments, `\\` continuations, `\\uXXXX` escapes). Where it differs from Java, it does so to fail
loudly instead of silently:

- trailing whitespace of a value is trimmed, with a warning (Java keeps it, and the value then
  fails to parse and is silently replaced by the default);
- an unknown key is a warning that names the nearest known key;
- a value that does not parse (`listenPort=abc`, `brokerRole=master`, `autoCreateTopicEnable=yes`)
  stops start-up with `FILE:LINE`, the key, the value and what was expected (exit status 2);
- `$VAR` and `${VAR}` in path values are expanded from the environment, and logged;
- the old spellings `mapedFileSizeCommitLog` and `mapedFileSizeConsumeQueue` still work, with a
  warning.

**Honoured** keys change what ringmq does. **Accepted** keys are parsed and checked, shown by
`-p` and `GET_BROKER_CONFIG`, and otherwise ignored: most tune Java thread pools, Netty or
features ringmq does not have. **(m)** marks the keys `-m` prints. `nCPU` is the number of usable
CPUs.
";

fn reference_markdown_section(out: &mut String, section: Section) {
    let title = match section {
        Section::Ringmq => "ringmq's own keys".to_owned(),
        Section::Namesrv => "NamesrvConfig (name server only; it also reads NettyServerConfig)".to_owned(),
        Section::NettyServer => "NettyServerConfig (broker and name server)".to_owned(),
        _ => format!("{} (broker)", section.class_name()),
    };
    out.push_str(&format!("\n## {title}\n\n"));
    out.push_str("| key | type | default | ringmq | meaning |\n|---|---|---|---|---|\n");
    for row in KEYS.iter().filter(|row| row.section == section) {
        let status = if row.honoured { "honoured" } else { "accepted" };
        let important = if row.important { " (m)" } else { "" };
        out.push_str(&format!(
            "| `{}`{important} | {} | {} | {status} | {} |\n",
            row.key,
            row.kind.name().replace('|', "\\|"),
            row.default.describe().replace('|', "\\|"),
            row.doc.replace('|', "\\|"),
        ));
    }
}

fn reference_markdown_aliases(out: &mut String) {
    out.push_str("\n## Old spellings (still applied, with a warning)\n\n");
    out.push_str("| old key | current key | note |\n|---|---|---|\n");
    for alias in ALIASES {
        out.push_str(&format!("| `{}` | `{}` | {} |\n", alias.old_key, alias.new_key, alias.note));
    }
    out.push_str("\n## Keys 4.x never had (warned about, then ignored)\n\n");
    out.push_str("| key | why |\n|---|---|\n");
    for ghost in GHOSTS {
        let mut why = ghost.explanation.to_owned();
        if let Some(path) = ghost.path_under_root {
            why.push_str(&format!(" (always `<storePathRootDir>/{path}`)"));
        }
        if let Some(meant) = ghost.meant_key {
            why.push_str(&format!("; the key is `{meant}`"));
        }
        out.push_str(&format!("| `{}` | {why} |\n", ghost.key));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::config::value;

    #[test]
    fn no_key_appears_twice_for_a_process() {
        for process in [Process::Broker, Process::Namesrv] {
            let mut seen = HashSet::new();
            for row in rows_for(process) {
                assert!(seen.insert(row.key), "`{}` twice for the {process}", row.key);
            }
        }
        let mut seen = HashSet::new();
        for row in KEYS {
            assert!(seen.insert((row.section, row.key)), "`{}` twice in {:?}", row.key, row.section);
        }
    }

    #[test]
    fn every_key_of_the_four_4_9_8_classes_and_the_namesrv_is_present() {
        let count = |section| KEYS.iter().filter(|row| row.section == section).count();
        // BrokerConfig has 81 fields; the two extra rows are the keys BrokerStartup reads.
        assert_eq!(count(Section::Broker), 81 + STARTUP_ONLY_KEYS.len());
        assert_eq!(count(Section::Store), 78);
        assert_eq!(count(Section::NettyServer), 14);
        // NettyClientConfig has 14; its two write-buffer marks share the NettyServer rows.
        assert_eq!(count(Section::NettyClient), 12);
        assert_eq!(count(Section::Namesrv), 7);
        assert_eq!(count(Section::Ringmq), 5);
        let java_broker_keys = rows_for(Process::Broker).filter(|row| row.is_java()).count();
        assert_eq!(java_broker_keys, 185, "the README of tests/data/conf counts 185 setters");
    }

    #[test]
    fn every_default_parses_as_its_kind() {
        for process in [Process::Broker, Process::Namesrv] {
            for row in rows_for(process) {
                if matches!(row.default, DefaultValue::Null | DefaultValue::Derived(_)) {
                    continue;
                }
                let Some(text) = row.default.resolve(process) else {
                    continue;
                };
                let checked = value::check(&row.kind, &text);
                assert!(checked.is_ok(), "default of `{}` = `{text}`: {checked:?}", row.key);
            }
        }
    }

    #[test]
    fn the_keys_ringmq_acts_on_are_marked_honoured() {
        let broker = "brokerClusterName brokerName brokerId brokerRole flushDiskType namesrvAddr \
            brokerIP1 brokerIP2 listenPort storePathRootDir storePathCommitLog \
            mappedFileSizeCommitLog mappedFileSizeConsumeQueue deleteWhen fileReservedTime \
            diskMaxUsedSpaceRatio maxMessageSize flushIntervalCommitLog flushCommitLogLeastPages \
            flushCommitLogThoroughInterval syncFlushTimeout slaveTimeout autoCreateTopicEnable \
            autoCreateSubscriptionGroup defaultTopicQueueNums brokerPermission clusterTopicEnable \
            brokerTopicEnable traceTopicEnable msgTraceTopicName messageDelayLevel slaveReadEnable \
            haMasterAddress haSendHeartbeatInterval haHousekeepingInterval haTransferBatchSize \
            haSlaveFallbehindMax longPollingEnable shortPollingTimeMills \
            notifyConsumerIdsChangedEnable registerNameServerPeriod registerBrokerTimeoutMills \
            forceRegister compressedRegister checkCRCOnRecover messageIndexEnable maxHashSlotNum \
            maxIndexNum maxMsgsNumBatch defaultQueryMaxNum maxTransferBytesOnMessageInMemory \
            maxTransferCountOnMessageInMemory maxTransferBytesOnMessageInDisk \
            maxTransferCountOnMessageInDisk accessMessageInMemoryMaxRatio waitTimeMillsInSendQueue \
            sendThreadPoolQueueCapacity pullThreadPoolQueueCapacity flushConsumerOffsetInterval \
            flushDelayOffsetInterval regionId traceOn rejectTransactionMessage transactionTimeOut \
            transactionCheckMax transactionCheckInterval serverChannelMaxIdleTimeSeconds \
            startAcceptSendRequestTimeStamp configBlackList shardCount shardSpinBeforeParkMicros \
            syncFlushMethod shardInboxCapacity namesrvListenPort brokerFastFailureEnable";
        let namesrv = "listenPort kvConfigPath configStorePath orderMessageEnable configBlackList \
            serverChannelMaxIdleTimeSeconds";
        for (process, keys) in [(Process::Broker, broker), (Process::Namesrv, namesrv)] {
            let listed: HashSet<&str> = keys.split_whitespace().collect();
            for row in rows_for(process) {
                let expected = listed.contains(row.key);
                assert_eq!(row.honoured, expected, "`{}` honoured for the {process}", row.key);
            }
        }
    }

    #[test]
    fn aliases_point_at_rows_and_ghosts_are_not_rows() {
        for alias in ALIASES {
            assert!(find(Process::Broker, alias.new_key).is_some(), "{}", alias.new_key);
            assert!(find(Process::Broker, alias.old_key).is_none(), "{}", alias.old_key);
        }
        for ghost in GHOSTS {
            assert!(KEYS.iter().all(|row| row.key != ghost.key), "{}", ghost.key);
            if let Some(meant) = ghost.meant_key {
                assert!(find(Process::Broker, meant).is_some(), "{meant}");
            }
        }
    }

    #[test]
    fn suggestions_catch_typos_but_not_strangers() {
        assert_eq!(suggest(Process::Broker, "flushDiskTyp"), Some("flushDiskType"));
        assert_eq!(suggest(Process::Broker, "brokerip1"), Some("brokerIP1"));
        assert_eq!(suggest(Process::Broker, "autoCreateTopicEnabled"), Some("autoCreateTopicEnable"));
        assert_eq!(suggest(Process::Broker, "somethingElseEntirely"), None);
        assert_eq!(suggest(Process::Broker, "abc"), None);
        assert_eq!(suggest(Process::Namesrv, "listenPrt"), Some("listenPort"));
    }

    /// `expected-java.json` holds what `Properties.load` produced for each vector file; the
    /// README of that folder says how many of each file's keys the 4.9.8 broker recognises.
    #[test]
    fn every_key_java_recognises_in_the_vectors_is_in_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/conf/expected-java.json");
        let text = std::fs::read_to_string(path).unwrap();
        let files: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text).unwrap();
        let recognised_expected: BTreeMap<&str, usize> = [
            ("seed-a.properties", 11),
            ("seed-b-s.properties", 11),
            ("seed-full.properties", 16),
            ("seed-sync-master.properties", 13),
            ("seed-sync-slave.properties", 11),
            ("seed-2m-noslave-a.properties", 9),
            ("seed-oneline.properties", 0),
        ]
        .into_iter()
        .collect();
        let not_java = [
            "mapedFileSizeCommitLog",
            "mapedFileSizeConsumeQueue",
            "storePathConsumeQueue",
            "storePathIndex",
            "storeCheckpoint",
            "abortFile",
        ];
        for (file, keys) in &files {
            let recognised = keys.keys().filter(|key| find(Process::Broker, key).is_some()).count();
            let expected = recognised_expected.get(file.as_str()).copied().unwrap_or(7);
            assert_eq!(recognised, expected, "{file}");
            for key in keys.keys().filter(|key| find(Process::Broker, key).is_none()) {
                assert!(not_java.contains(&key.as_str()), "{file}: `{key}` is not in the table");
            }
        }
        assert_eq!(files.len(), 19);
    }
}
