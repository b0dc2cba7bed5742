//! The broker's topic table (`TopicConfigManager`): `topic → TopicConfig` with a DataVersion
//! bumped on every change, persisted as `<store root>/config/topics.json` in RocketMQ's
//! `TopicConfigSerializeWrapper` form (protocol §4.4).
//!
//! Also the topic rules of protocol §7.1 as pure functions: name validation, the topics that
//! refuse sends (NO_PERMISSION), the "system topics" admin creation refuses, the topics a 4.9.4
//! broker creates at start, and auto-creation on send from the TBW102 template.
//!
//! Owned by shard 0; data shards hold a [`TopicTable::snapshot`]. A new topic must be
//! persisted and registered with the nameservers right away (Java registers oneway at once);
//! [`EnsuredTopic::created`] says when.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::persist::{self, ConfigFileError};
use crate::config::BrokerConfig;
use crate::limits::TOPIC_NAME_BYTES_MAX;
use crate::protocol::bodies::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use crate::protocol::codes::perm;
use crate::protocol::response;

/// The file name under `<store root>/config/`.
pub const TOPICS_FILE_NAME: &str = "topics.json";

/// Topics one broker holds. Every topic costs a config here, a route entry at the nameserver
/// (whose own bound is `NAMESRV_TOPICS_MAX`, the same value) and consume queues; past this,
/// creation is refused instead of growing without bound.
pub const BROKER_TOPICS_MAX: usize = 1_000_000;

/// Group names may be longer than topics (`Validators.CHARACTER_MAX_LENGTH`).
pub const GROUP_NAME_BYTES_MAX: usize = 255;

/// The template topic of auto-creation (`TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TOPIC_KEY_TOPIC: &str = "TBW102";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
pub const OFFSET_MOVED_EVENT_TOPIC: &str = "OFFSET_MOVED_EVENT";
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Any topic starting with this is a system topic (`TopicValidator.SYSTEM_TOPIC_PREFIX`).
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
pub const RETRY_TOPIC_PREFIX: &str = "%RETRY%";
pub const DLQ_TOPIC_PREFIX: &str = "%DLQ%";
/// `<brokerClusterName>_REPLY_TOPIC` (request/reply messages).
pub const REPLY_TOPIC_SUFFIX: &str = "_REPLY_TOPIC";

/// One queue per delay level (`messageDelayLevel` has 18 by default).
pub const SCHEDULE_TOPIC_QUEUE_COUNT: i32 = 18;
pub const BENCHMARK_TOPIC_QUEUE_COUNT: i32 = 1024;
/// `TopicConfig`'s default queue count, used by the cluster topic.
pub const DEFAULT_QUEUE_COUNT: i32 = 16;
/// `DLQ_NUMS_PER_GROUP`.
pub const DLQ_QUEUE_COUNT: i32 = 1;

/// `TopicSysFlag` bits: a unit topic, and a topic with unit subscriptions.
pub const TOPIC_SYS_FLAG_UNIT: i32 = 0x1;
pub const TOPIC_SYS_FLAG_UNIT_SUB: i32 = 0x2;

/// Sending to these answers NO_PERMISSION (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`).
pub const SEND_FORBIDDEN_TOPICS: [&str; 6] = [
    SCHEDULE_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT_TOPIC,
];

/// The static part of `TopicValidator.SYSTEM_TOPIC_SET`; the broker adds its cluster name,
/// broker name, reply topic and trace topic at start ([`system_topics`]).
pub const STATIC_SYSTEM_TOPICS: [&str; 9] = [
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    SCHEDULE_TOPIC,
    BENCHMARK_TOPIC,
    TRANS_HALF_TOPIC,
    TRACE_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT_TOPIC,
];

/// The broker settings that decide which topics exist at start and how auto-creation behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerIdentity {
    /// `brokerClusterName`.
    pub broker_cluster_name: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `autoCreateTopicEnable`: TBW102 exists and is inheritable.
    pub auto_create_topic_enable: bool,
    /// `defaultTopicQueueNums`: TBW102's queue count.
    pub default_topic_queue_nums: i32,
    /// `clusterTopicEnable`: the cluster-name topic is writable (perm 7, else 1).
    pub cluster_topic_enable: bool,
    /// `brokerTopicEnable`: the broker-name topic is writable (perm 7, else 1).
    pub broker_topic_enable: bool,
    /// `traceTopicEnable`: create `msgTraceTopicName`.
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName`.
    pub msg_trace_topic_name: String,
}

impl BrokerIdentity {
    /// Java's defaults for every switch (protocol §12).
    pub fn new(broker_cluster_name: &str, broker_name: &str) -> Self {
        Self {
            broker_cluster_name: broker_cluster_name.to_string(),
            broker_name: broker_name.to_string(),
            auto_create_topic_enable: true,
            default_topic_queue_nums: 8,
            cluster_topic_enable: true,
            broker_topic_enable: true,
            trace_topic_enable: false,
            msg_trace_topic_name: TRACE_TOPIC.to_string(),
        }
    }

    pub fn from_config(config: &BrokerConfig) -> Self {
        Self {
            broker_cluster_name: config.broker_cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            auto_create_topic_enable: config.auto_create_topic_enable,
            default_topic_queue_nums: i32::try_from(config.default_topic_queue_count).unwrap_or(i32::MAX),
            cluster_topic_enable: config.cluster_topic_enable,
            broker_topic_enable: config.broker_topic_enable,
            trace_topic_enable: config.trace_topic_enable,
            msg_trace_topic_name: config.msg_trace_topic_name.clone(),
        }
    }

    /// `<brokerClusterName>_REPLY_TOPIC`.
    pub fn reply_topic(&self) -> String {
        format!("{}{REPLY_TOPIC_SUFFIX}", self.broker_cluster_name)
    }
}

/// Why a topic or group name, or a topic operation, is refused. Display is Java's remark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// `kind` is "topic" or "group".
    Blank {
        kind: &'static str,
    },
    IllegalCharacters {
        kind: &'static str,
        name: String,
    },
    TooLong {
        kind: &'static str,
        name: String,
        length_bytes_max: usize,
    },
    /// Admin creation of a system topic.
    SystemTopic {
        topic: String,
    },
    /// A send to a topic of [`SEND_FORBIDDEN_TOPICS`].
    SendForbidden {
        topic: String,
    },
    /// [`BROKER_TOPICS_MAX`] reached.
    TableFull {
        topics_max: usize,
    },
}

impl TopicError {
    /// The single place where a topic error becomes a response code (protocol §7.1).
    pub fn response_code(&self) -> i32 {
        match self {
            Self::SendForbidden { .. } => response::NO_PERMISSION,
            _ => response::SYSTEM_ERROR,
        }
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blank { kind } => write!(f, "The specified {kind} is blank."),
            Self::IllegalCharacters { kind, name } => {
                write!(f, "The specified {kind}[{name}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$")
            }
            Self::TooLong { kind, name, length_bytes_max } => {
                write!(f, "The specified {kind}[{name}] is longer than {kind} max length {length_bytes_max}.")
            }
            Self::SystemTopic { topic } => write!(f, "The topic[{topic}] is conflict with system topic."),
            Self::SendForbidden { topic } => write!(f, "Sending message to topic[{topic}] is forbidden."),
            Self::TableFull { topics_max } => {
                write!(f, "the broker holds {topics_max} topics, its limit; delete unused topics first")
            }
        }
    }
}

impl std::error::Error for TopicError {}

fn validate_name(kind: &'static str, name: &str, length_bytes_max: usize) -> Result<(), TopicError> {
    if name.trim().is_empty() {
        return Err(TopicError::Blank { kind });
    }
    let legal = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'%' | b'|' | b'_' | b'-');
    if !name.bytes().all(legal) {
        return Err(TopicError::IllegalCharacters { kind, name: name.to_string() });
    }
    if name.len() > length_bytes_max {
        return Err(TopicError::TooLong { kind, name: name.to_string(), length_bytes_max });
    }
    Ok(())
}

/// `TopicValidator.validateTopic`: non-blank, `[%|a-zA-Z0-9_-]` only, at most 127 bytes.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    validate_name("topic", topic, TOPIC_NAME_BYTES_MAX)
}

/// The same character rule for groups, at most 255 bytes.
pub fn validate_group_name(group: &str) -> Result<(), TopicError> {
    validate_name("group", group, GROUP_NAME_BYTES_MAX)
}

pub fn is_send_forbidden(topic: &str) -> bool {
    SEND_FORBIDDEN_TOPICS.contains(&topic)
}

/// The topic checks of a send, in Java's order: the name, then the forbidden list.
pub fn check_send_topic(topic: &str) -> Result<(), TopicError> {
    validate_topic_name(topic)?;
    if is_send_forbidden(topic) {
        return Err(TopicError::SendForbidden { topic: topic.to_string() });
    }
    Ok(())
}

/// The system topics of this broker (GET_SYSTEM_TOPIC_LIST_FROM_BROKER): the static set plus
/// the names the broker registers at start. Names starting `rmq_sys_` are system topics too.
pub fn system_topics(identity: &BrokerIdentity) -> BTreeSet<String> {
    let mut topics: BTreeSet<String> = STATIC_SYSTEM_TOPICS.iter().map(|topic| topic.to_string()).collect();
    topics.insert(identity.broker_cluster_name.clone());
    topics.insert(identity.broker_name.clone());
    topics.insert(identity.reply_topic());
    if identity.trace_topic_enable {
        topics.insert(identity.msg_trace_topic_name.clone());
    }
    topics
}

/// `TopicValidator.isSystemTopic`.
pub fn is_system_topic(topic: &str, identity: &BrokerIdentity) -> bool {
    topic.starts_with(SYSTEM_TOPIC_PREFIX)
        || STATIC_SYSTEM_TOPICS.contains(&topic)
        || topic == identity.broker_cluster_name
        || topic == identity.broker_name
        || topic == identity.reply_topic()
        || (identity.trace_topic_enable && topic == identity.msg_trace_topic_name)
}

/// The topic checks of UPDATE_AND_CREATE_TOPIC: the name, then "not a system topic".
pub fn check_admin_topic(topic: &str, identity: &BrokerIdentity) -> Result<(), TopicError> {
    validate_topic_name(topic)?;
    if is_system_topic(topic, identity) {
        return Err(TopicError::SystemTopic { topic: topic.to_string() });
    }
    Ok(())
}

pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_TOPIC_PREFIX}{group}")
}

pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_TOPIC_PREFIX}{group}")
}

pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_TOPIC_PREFIX)
}

pub fn is_dlq_topic(topic: &str) -> bool {
    topic.starts_with(DLQ_TOPIC_PREFIX)
}

/// The topicSysFlag a send in unit mode gives a new topic: retry topics get "has unit
/// subscriptions", others "unit topic" (`TopicSysFlag.buildSysFlag`).
pub fn unit_sys_flag(topic: &str, is_unit: bool) -> i32 {
    match (is_unit, is_retry_topic(topic)) {
        (false, _) => 0,
        (true, true) => TOPIC_SYS_FLAG_UNIT_SUB,
        (true, false) => TOPIC_SYS_FLAG_UNIT,
    }
}

/// The topics a 4.9.4 broker creates at start (protocol §7.1 table), in Java's order: when two
/// names collide (a broker named like its cluster), the later entry is the one Java keeps.
pub fn system_topic_configs(identity: &BrokerIdentity) -> Vec<TopicConfig> {
    let read_write = perm::READ | perm::WRITE;
    let switchable = |enabled: bool| if enabled { perm::INHERIT | read_write } else { perm::INHERIT };
    let mut configs = vec![TopicConfig::new(SELF_TEST_TOPIC, 1, read_write)];
    if identity.auto_create_topic_enable {
        let queue_count = identity.default_topic_queue_nums;
        configs.push(TopicConfig::new(AUTO_CREATE_TOPIC_KEY_TOPIC, queue_count, perm::INHERIT | read_write));
    }
    configs.push(TopicConfig::new(BENCHMARK_TOPIC, BENCHMARK_TOPIC_QUEUE_COUNT, read_write));
    let cluster_perm = switchable(identity.cluster_topic_enable);
    configs.push(TopicConfig::new(&identity.broker_cluster_name, DEFAULT_QUEUE_COUNT, cluster_perm));
    configs.push(TopicConfig::new(&identity.broker_name, 1, switchable(identity.broker_topic_enable)));
    configs.push(TopicConfig::new(OFFSET_MOVED_EVENT_TOPIC, 1, read_write));
    configs.push(TopicConfig::new(SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_COUNT, read_write));
    if identity.trace_topic_enable {
        configs.push(TopicConfig::new(&identity.msg_trace_topic_name, 1, read_write));
    }
    configs.push(TopicConfig::new(&identity.reply_topic(), 1, read_write));
    configs
}

/// A topic that exists after an "ensure" operation, and whether this call created it (then the
/// table is dirty and the caller persists and registers with the nameservers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsuredTopic {
    pub config: TopicConfig,
    pub created: bool,
}

/// `topics.json` as written: borrowed, so persisting does not clone the table.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicsFile<'a> {
    data_version: &'a DataVersion,
    topic_config_table: &'a BTreeMap<String, TopicConfig>,
}

/// `topic → TopicConfig` plus its DataVersion. See the module doc for ownership.
#[derive(Clone, Debug)]
pub struct TopicTable {
    /// `None` for in-memory tables and snapshots, which never persist.
    path: Option<PathBuf>,
    topics: BTreeMap<String, TopicConfig>,
    data_version: DataVersion,
    /// `autoCreateTopicEnable`, which auto-creation consults (step 2 of protocol §7.1).
    auto_create_topic_enable: bool,
    dirty: bool,
}

impl persist::PersistedTable for TopicTable {
    fn file_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    fn is_dirty(&self) -> bool {
        self.dirty
    }
    fn mark_clean(&mut self) {
        self.dirty = false;
    }
    fn mark_dirty(&mut self) {
        self.dirty = true;
    }
    /// `topics.json`.
    fn file_bytes(&self) -> Vec<u8> {
        let file = TopicsFile { data_version: &self.data_version, topic_config_table: &self.topics };
        serde_json::to_vec_pretty(&file).expect("topic configs always serialize")
    }
}

impl TopicTable {
    pub fn in_memory() -> Self {
        Self {
            path: None,
            topics: BTreeMap::new(),
            data_version: DataVersion::now(),
            auto_create_topic_enable: true,
            dirty: false,
        }
    }

    /// Loads `path` (or its `.bak`); a fresh store gives an empty table. Call
    /// [`Self::create_system_topics`] next.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let mut table = Self::in_memory();
        table.path = Some(path.to_path_buf());
        if let Some(wrapper) = persist::load::<TopicConfigSerializeWrapper>(path)? {
            table.topics = wrapper.topic_config_table;
            table.data_version = wrapper.data_version;
        }
        Ok(table)
    }

    /// A read-only copy for a data shard: same topics and version, no file.
    pub fn snapshot(&self) -> Self {
        Self { path: None, dirty: false, ..self.clone() }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn get(&self, topic: &str) -> Option<&TopicConfig> {
        self.topics.get(topic)
    }

    pub fn contains(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    pub fn len(&self) -> usize {
        self.topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// In topic-name order.
    pub fn iter(&self) -> impl Iterator<Item = &TopicConfig> {
        self.topics.values()
    }

    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    /// The GET_ALL_TOPIC_CONFIG body and the registration payload (a copy).
    pub fn to_wrapper(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper { data_version: self.data_version, topic_config_table: self.topics.clone() }
    }

    /// The GET_ALL_TOPIC_CONFIG body as JSON, without copying the table.
    pub fn to_json(&self) -> Vec<u8> {
        let file = TopicsFile { data_version: &self.data_version, topic_config_table: &self.topics };
        serde_json::to_vec(&file).expect("topic configs always serialize")
    }

    /// What auto-creation consults; changed by UPDATE_BROKER_CONFIG too.
    pub fn set_auto_create_topic_enable(&mut self, enabled: bool) {
        self.auto_create_topic_enable = enabled;
    }

    /// Bumps the data version (and persists it) so the nameservers re-read the routes: a
    /// broker-wide change such as `brokerPermission` (UPDATE_BROKER_CONFIG).
    pub fn touch(&mut self) {
        self.changed();
    }

    fn changed(&mut self) {
        self.data_version.next();
        self.dirty = true;
    }

    /// Adds the topics a 4.9.4 broker creates at start ([`system_topic_configs`]) that the
    /// loaded file does not already have: as in Java, the file's values win. Returns the names
    /// added. The data version is not bumped (Java's constructor does not either), but the
    /// table becomes dirty so the next persist writes them.
    pub fn create_system_topics(&mut self, identity: &BrokerIdentity) -> Vec<String> {
        self.auto_create_topic_enable = identity.auto_create_topic_enable;
        let mut configs = BTreeMap::new();
        for config in system_topic_configs(identity) {
            configs.insert(config.topic_name.clone(), config);
        }
        let mut added = Vec::new();
        for (name, config) in configs {
            if !self.topics.contains_key(&name) {
                self.topics.insert(name.clone(), config);
                added.push(name);
            }
        }
        if !added.is_empty() {
            self.dirty = true;
        }
        added
    }

    /// UPDATE_AND_CREATE_TOPIC: inserts or replaces, bumps the version. Returns the previous
    /// config. The caller validates the name first ([`check_admin_topic`]).
    pub fn create_or_update(&mut self, config: TopicConfig) -> Result<Option<TopicConfig>, TopicError> {
        assert!(!config.topic_name.is_empty(), "a topic config without a name");
        if !self.topics.contains_key(&config.topic_name) && self.topics.len() >= BROKER_TOPICS_MAX {
            return Err(TopicError::TableFull { topics_max: BROKER_TOPICS_MAX });
        }
        let previous = self.topics.insert(config.topic_name.clone(), config);
        self.changed();
        Ok(previous)
    }

    /// DELETE_TOPIC_IN_BROKER: bumps the version only when the topic existed.
    pub fn delete(&mut self, topic: &str) -> Option<TopicConfig> {
        let removed = self.topics.remove(topic)?;
        self.changed();
        Some(removed)
    }

    /// Java's `createTopicInSendMessageBackMethod`: the existing topic as it is, or a new one
    /// with `queue_count` read and write queues. `None` only when the table is full.
    pub fn create_if_absent(
        &mut self,
        topic: &str,
        queue_count: i32,
        perm: i32,
        sys_flag: i32,
    ) -> Option<EnsuredTopic> {
        if let Some(existing) = self.topics.get(topic) {
            return Some(EnsuredTopic { config: existing.clone(), created: false });
        }
        let mut config = TopicConfig::new(topic, queue_count, perm);
        config.topic_sys_flag = sys_flag;
        self.insert_new(config)
    }

    fn insert_new(&mut self, config: TopicConfig) -> Option<EnsuredTopic> {
        debug_assert!(!self.topics.contains_key(&config.topic_name));
        if self.topics.len() >= BROKER_TOPICS_MAX {
            return None;
        }
        self.topics.insert(config.topic_name.clone(), config.clone());
        self.changed();
        Some(EnsuredTopic { config, created: true })
    }

    /// `%RETRY%<group>` with the group's `retryQueueNums`, perm 6 (HEART_BEAT, send-back).
    pub fn create_retry_topic(&mut self, group: &str, retry_queue_nums: i32) -> Option<EnsuredTopic> {
        self.create_if_absent(&retry_topic(group), retry_queue_nums, perm::READ | perm::WRITE, 0)
    }

    /// `%DLQ%<group>` with one queue, perm 6 (send-back past the retry limit).
    pub fn create_dlq_topic(&mut self, group: &str) -> Option<EnsuredTopic> {
        self.create_if_absent(&dlq_topic(group), DLQ_QUEUE_COUNT, perm::READ | perm::WRITE, 0)
    }

    /// Auto-creation on send (`createTopicInSendMessageMethod` plus the `%RETRY%` fallback of
    /// `msgCheck`), protocol §7.1 steps 1–4. A known topic is returned as it is. `None` means
    /// TOPIC_NOT_EXIST ("topic[X] not exist, apply first please!").
    ///
    /// 1. No `default_topic` template → no creation (step 4 may still apply).
    /// 2. Template TBW102 while autoCreateTopicEnable=false → its perm is reset to 6 in place
    ///    (as Java does, without a version bump) and it no longer lends itself.
    /// 3. Template with INHERIT → queues = min(client's defaultTopicQueueNums, template write
    ///    queues) (at least 0), perm = template perm without INHERIT, template filter type,
    ///    topicSysFlag from unit mode.
    /// 4. Otherwise a `%RETRY%` topic is created with 1 queue, perm 6.
    pub fn auto_create_on_send(
        &mut self,
        topic: &str,
        default_topic: &str,
        default_topic_queue_nums_from_client: i32,
        is_unit: bool,
    ) -> Option<EnsuredTopic> {
        if let Some(existing) = self.topics.get(topic) {
            return Some(EnsuredTopic { config: existing.clone(), created: false });
        }
        let sys_flag = unit_sys_flag(topic, is_unit);
        if let Some(config) =
            self.auto_create_inherit(topic, default_topic, default_topic_queue_nums_from_client, sys_flag)
        {
            return self.insert_new(config);
        }
        if is_retry_topic(topic) {
            return self.create_if_absent(topic, 1, perm::READ | perm::WRITE, sys_flag);
        }
        None
    }

    /// Steps 1–3: the new topic's config inherited from the template, if it may inherit.
    fn auto_create_inherit(
        &mut self,
        topic: &str,
        default_topic: &str,
        client_queue_count: i32,
        sys_flag: i32,
    ) -> Option<TopicConfig> {
        let template = self.topics.get_mut(default_topic)?;
        if default_topic == AUTO_CREATE_TOPIC_KEY_TOPIC && !self.auto_create_topic_enable {
            template.perm = perm::READ | perm::WRITE;
            self.dirty = true;
        }
        if template.perm & perm::INHERIT == 0 {
            return None;
        }
        let queue_count = client_queue_count.min(template.write_queue_nums).max(0);
        Some(TopicConfig {
            order: false,
            perm: template.perm & !perm::INHERIT,
            read_queue_nums: queue_count,
            topic_filter_type: template.topic_filter_type.clone(),
            topic_name: topic.to_string(),
            topic_sys_flag: sys_flag,
            write_queue_nums: queue_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::persist::tests::scratch;
    use super::super::PersistedTable;
    use super::*;

    fn started(identity: &BrokerIdentity) -> TopicTable {
        let mut table = TopicTable::in_memory();
        table.create_system_topics(identity);
        table
    }

    #[test]
    fn a_new_topic_inherits_from_tbw102_without_the_inherit_bit() {
        let mut table = started(&BrokerIdentity::new("DefaultCluster", "broker-a"));
        let before = table.data_version();
        let created = table.auto_create_on_send("NewTopic", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, false).unwrap();
        assert!(created.created);
        assert_eq!(created.config, TopicConfig::new("NewTopic", 4, 6));
        assert_eq!(table.data_version().counter, before.counter + 1);
        assert!(table.is_dirty());
        let again = table.auto_create_on_send("NewTopic", AUTO_CREATE_TOPIC_KEY_TOPIC, 4, false).unwrap();
        assert!(!again.created);
        assert_eq!(table.data_version().counter, before.counter + 1);
    }

    #[test]
    fn auto_created_queue_count_is_the_minimum_of_client_and_template() {
        let mut table = started(&BrokerIdentity::new("DefaultCluster", "broker-a"));
        let wide = table.auto_create_on_send("Wide", "TBW102", 16, false).unwrap().config;
        assert_eq!((wide.read_queue_nums, wide.write_queue_nums), (8, 8));
        let negative = table.auto_create_on_send("Negative", "TBW102", -3, false).unwrap().config;
        assert_eq!((negative.read_queue_nums, negative.write_queue_nums), (0, 0));
        let mut template = TopicConfig::new("Template", 3, 7);
        template.topic_filter_type = "MULTI_TAG".into();
        table.create_or_update(template).unwrap();
        let inherited = table.auto_create_on_send("FromTemplate", "Template", 4, false).unwrap().config;
        assert_eq!((inherited.write_queue_nums, inherited.perm), (3, 6));
        assert_eq!(inherited.topic_filter_type, "MULTI_TAG");
    }

    #[test]
    fn autocreate_disabled_resets_a_loaded_tbw102_and_creates_nothing() {
        let mut identity = BrokerIdentity::new("DefaultCluster", "broker-a");
        identity.auto_create_topic_enable = false;
        let mut table = TopicTable::in_memory();
        // As loaded from a topics.json written while auto-creation was enabled.
        table.create_or_update(TopicConfig::new(AUTO_CREATE_TOPIC_KEY_TOPIC, 8, 7)).unwrap();
        assert!(!table.create_system_topics(&identity).contains(&"TBW102".to_string()));
        let version = table.data_version();
        assert_eq!(table.auto_create_on_send("NewTopic", "TBW102", 4, false), None);
        assert_eq!(table.get("TBW102").unwrap().perm, 6);
        assert_eq!(table.data_version(), version);
        assert!(!table.contains("NewTopic"));
        // A template other than TBW102 still lends itself.
        table.create_or_update(TopicConfig::new("Template", 2, 7)).unwrap();
        assert!(table.auto_create_on_send("Other", "Template", 4, false).unwrap().created);
    }

    #[test]
    fn retry_topics_are_created_with_one_queue_when_nothing_can_be_inherited() {
        let mut table = TopicTable::in_memory();
        assert_eq!(table.auto_create_on_send("Plain", "TBW102", 4, false), None);
        let retry = table.auto_create_on_send("%RETRY%cg", "TBW102", 4, false).unwrap();
        assert!(retry.created);
        assert_eq!(retry.config, TopicConfig::new("%RETRY%cg", 1, 6));
        table.create_or_update(TopicConfig::new("NotInheritable", 8, 6)).unwrap();
        assert_eq!(table.auto_create_on_send("Plain", "NotInheritable", 4, false), None);
        let unit = table.auto_create_on_send("%RETRY%unit", "NotInheritable", 4, true).unwrap().config;
        assert_eq!(unit.topic_sys_flag, TOPIC_SYS_FLAG_UNIT_SUB);
    }

    #[test]
    fn unit_mode_sends_mark_new_topics_as_unit_topics() {
        let mut table = started(&BrokerIdentity::new("DefaultCluster", "broker-a"));
        let unit = table.auto_create_on_send("UnitTopic", "TBW102", 4, true).unwrap().config;
        assert_eq!(unit.topic_sys_flag, TOPIC_SYS_FLAG_UNIT);
        let retry = table.auto_create_on_send("%RETRY%g", "TBW102", 4, true).unwrap().config;
        assert_eq!((retry.topic_sys_flag, retry.write_queue_nums), (TOPIC_SYS_FLAG_UNIT_SUB, 4));
    }

    #[test]
    fn a_default_broker_creates_the_4_9_4_system_topics_at_start() {
        let identity = BrokerIdentity::new("DefaultCluster", "broker-a");
        let table = started(&identity);
        let summary: Vec<(String, i32, i32)> =
            table.iter().map(|config| (config.topic_name.clone(), config.write_queue_nums, config.perm)).collect();
        let expected = [
            ("BenchmarkTest", 1024, 6),
            ("DefaultCluster", 16, 7),
            ("DefaultCluster_REPLY_TOPIC", 1, 6),
            ("OFFSET_MOVED_EVENT", 1, 6),
            ("SCHEDULE_TOPIC_XXXX", 18, 6),
            ("SELF_TEST_TOPIC", 1, 6),
            ("TBW102", 8, 7),
            ("broker-a", 1, 7),
        ];
        let expected: Vec<(String, i32, i32)> =
            expected.iter().map(|(name, queues, perm)| (name.to_string(), *queues, *perm)).collect();
        assert_eq!(summary, expected);
        assert!(table.iter().all(|config| config.read_queue_nums == config.write_queue_nums));
    }

    #[test]
    fn switches_change_the_system_topics_and_loaded_values_win() {
        let mut identity = BrokerIdentity::new("C1", "b1");
        identity.auto_create_topic_enable = false;
        identity.cluster_topic_enable = false;
        identity.broker_topic_enable = false;
        identity.trace_topic_enable = true;
        identity.default_topic_queue_nums = 4;
        let mut table = TopicTable::in_memory();
        table.create_or_update(TopicConfig::new(SCHEDULE_TOPIC, 20, 6)).unwrap();
        let added = table.create_system_topics(&identity);
        assert!(!added.contains(&SCHEDULE_TOPIC.to_string()));
        assert_eq!(table.get(SCHEDULE_TOPIC).unwrap().write_queue_nums, 20);
        assert!(!table.contains("TBW102"));
        assert_eq!(table.get("C1").unwrap().perm, 1);
        assert_eq!(table.get("b1").unwrap().perm, 1);
        assert_eq!(table.get(TRACE_TOPIC).unwrap().write_queue_nums, 1);
        assert!(table.contains("C1_REPLY_TOPIC"));
    }

    #[test]
    fn names_are_validated_as_topic_validator_does() {
        assert!(validate_topic_name("Topic_A-1|%x").is_ok());
        assert_eq!(validate_topic_name(" \t"), Err(TopicError::Blank { kind: "topic" }));
        assert!(matches!(validate_topic_name("a b"), Err(TopicError::IllegalCharacters { .. })));
        assert!(matches!(validate_topic_name("a@b"), Err(TopicError::IllegalCharacters { .. })));
        assert!(matches!(validate_topic_name("tópico"), Err(TopicError::IllegalCharacters { .. })));
        assert!(validate_topic_name(&"t".repeat(127)).is_ok());
        assert!(matches!(validate_topic_name(&"t".repeat(128)), Err(TopicError::TooLong { .. })));
        assert!(validate_group_name(&"g".repeat(255)).is_ok());
        assert!(validate_group_name(&"g".repeat(256)).is_err());
        let error = validate_topic_name("a b").unwrap_err();
        assert_eq!(error.response_code(), response::SYSTEM_ERROR);
        assert!(error.to_string().contains("^[%|a-zA-Z0-9_-]+$"));
    }

    #[test]
    fn sends_to_internal_topics_are_refused_with_no_permission() {
        for topic in SEND_FORBIDDEN_TOPICS {
            let error = check_send_topic(topic).unwrap_err();
            assert_eq!(error.response_code(), response::NO_PERMISSION, "{topic}");
        }
        assert!(check_send_topic("TBW102").is_ok());
        assert!(check_send_topic("%RETRY%g").is_ok());
        assert!(check_send_topic("RMQ_SYS_TRACE_TOPIC").is_ok());
    }

    #[test]
    fn admin_creation_refuses_system_topics() {
        let identity = BrokerIdentity::new("DefaultCluster", "broker-a");
        for topic in ["TBW102", "BenchmarkTest", "RMQ_SYS_TRACE_TOPIC", "SCHEDULE_TOPIC_XXXX", "rmq_sys_anything"] {
            let error = check_admin_topic(topic, &identity).unwrap_err();
            assert_eq!(error, TopicError::SystemTopic { topic: topic.to_string() });
            assert_eq!(error.response_code(), response::SYSTEM_ERROR);
        }
        for topic in ["DefaultCluster", "broker-a", "DefaultCluster_REPLY_TOPIC"] {
            assert!(check_admin_topic(topic, &identity).is_err(), "{topic}");
        }
        assert!(check_admin_topic("TopicTest", &identity).is_ok());
        assert!(check_admin_topic("%DLQ%g", &identity).is_ok());
        let listed = system_topics(&identity);
        assert!(listed.contains("broker-a") && listed.contains("TRANS_CHECK_MAX_TIME_TOPIC"));
        assert!(listed.iter().all(|topic| is_system_topic(topic, &identity)));
    }

    #[test]
    fn retry_and_dlq_topics_are_created_once() {
        let mut table = TopicTable::in_memory();
        let retry = table.create_retry_topic("cg", 2).unwrap();
        assert_eq!((retry.created, retry.config.write_queue_nums, retry.config.perm), (true, 2, 6));
        assert!(!table.create_retry_topic("cg", 5).unwrap().created);
        assert_eq!(table.get("%RETRY%cg").unwrap().write_queue_nums, 2);
        let dlq = table.create_dlq_topic("cg").unwrap();
        assert_eq!(dlq.config, TopicConfig::new("%DLQ%cg", 1, 6));
        let version = table.data_version();
        assert!(table.delete("missing").is_none());
        assert_eq!(table.data_version(), version);
        assert!(table.delete("%DLQ%cg").is_some());
        assert_eq!(table.data_version().counter, version.counter + 1);
    }

    #[test]
    fn topics_json_round_trips_and_java_text_loads() {
        let directory = scratch("topics");
        let path = directory.join("config").join(TOPICS_FILE_NAME);
        let java = "{\n\t\"dataVersion\":{\n\t\t\"counter\":3,\n\t\t\"timestamp\":1650000000000\n\t},\n\t\"topicConfigTable\":{\n\t\t\"TopicTest\":{\n\t\t\t\"order\":false,\n\t\t\t\"perm\":6,\n\t\t\t\"readQueueNums\":4,\n\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\t\t\t\"topicName\":\"TopicTest\",\n\t\t\t\"topicSysFlag\":0,\n\t\t\t\"writeQueueNums\":4\n\t\t},\n\t\t\"TBW102\":{\n\t\t\t\"order\":false,\n\t\t\t\"perm\":7,\n\t\t\t\"readQueueNums\":8,\n\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\t\t\t\"topicName\":\"TBW102\",\n\t\t\t\"topicSysFlag\":0,\n\t\t\t\"writeQueueNums\":8\n\t\t}\n\t}\n}";
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, java).unwrap();
        let mut table = TopicTable::load(&path).unwrap();
        assert_eq!(table.data_version(), DataVersion { counter: 3, timestamp: 1_650_000_000_000 });
        assert_eq!(table.get("TopicTest").unwrap(), &TopicConfig::new("TopicTest", 4, 6));
        table.create_or_update(TopicConfig::new("Another", 2, 6)).unwrap();
        table.persist().unwrap();
        assert_eq!(std::fs::read_to_string(persist::backup_path(&path)).unwrap(), java);
        let reloaded = TopicTable::load(&path).unwrap();
        assert_eq!(reloaded.to_wrapper(), table.to_wrapper());
        assert_eq!(reloaded.data_version().counter, 4);
        let body: TopicConfigSerializeWrapper = serde_json::from_slice(&table.to_json()).unwrap();
        assert_eq!(body, table.to_wrapper());
        let snapshot = table.snapshot();
        assert_eq!((snapshot.path(), snapshot.len()), (None, 3));
        std::fs::remove_dir_all(directory).unwrap();
    }
}
