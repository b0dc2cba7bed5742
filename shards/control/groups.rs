//! The subscription-group table (`SubscriptionGroupManager`): `group → SubscriptionGroupConfig`
//! (protocol §4.7) with a DataVersion, persisted as `<store root>/config/subscriptionGroup.json`
//! (`{"dataVersion":…,"subscriptionGroupTable":{…}}`, also the GET_ALL_SUBSCRIPTIONGROUP_CONFIG
//! body).
//!
//! Owned by shard 0; data shards hold a [`SubscriptionGroupTable::snapshot`] (pull checks
//! `consumeEnable` and `consumeBroadcastEnable`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::persist::{self, ConfigFileError};
use super::topics::validate_group_name;
use crate::protocol::bodies::DataVersion;

/// The file name under `<store root>/config/`.
pub const SUBSCRIPTION_GROUP_FILE_NAME: &str = "subscriptionGroup.json";

/// Subscription groups one broker holds. Any client can create one by heartbeating with a new
/// group name (autoCreateSubscriptionGroup defaults to true), so the table needs a bound; a
/// config is ~200 bytes, so this caps it near 50 MiB.
pub const SUBSCRIPTION_GROUPS_MAX: usize = 262_144;

/// Groups starting with this are always auto-created (`MixAll.CID_RMQ_SYS_PREFIX`).
pub const SYSTEM_GROUP_PREFIX: &str = "CID_RMQ_SYS_";

/// The groups a 4.9.4 broker creates at start, all with default settings (Java sets
/// consumeBroadcastEnable on five of them, which is the default anyway).
pub const SYSTEM_GROUPS: [&str; 8] = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
];

/// `SubscriptionGroupConfig` (protocol §4.7). Fields in fastjson's alphabetical order; missing
/// fields take Java's defaults; unknown (5.x) fields are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// Which broker (0 = master) consumers of this group pull from.
    pub broker_id: i64,
    pub consume_broadcast_enable: bool,
    pub consume_enable: bool,
    pub consume_from_min_enable: bool,
    pub group_name: String,
    pub notify_consumer_ids_changed_enable: bool,
    pub retry_max_times: i32,
    pub retry_queue_nums: i32,
    pub which_broker_when_consume_slowly: i64,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        Self {
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            group_name: String::new(),
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            which_broker_when_consume_slowly: 1,
        }
    }
}

impl SubscriptionGroupConfig {
    /// A group with Java's defaults.
    pub fn new(group_name: &str) -> Self {
        Self { group_name: group_name.to_string(), ..Self::default() }
    }
}

/// Why a group operation is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupError {
    /// [`SUBSCRIPTION_GROUPS_MAX`] reached.
    TableFull { groups_max: usize },
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TableFull { groups_max } => {
                write!(f, "the broker holds {groups_max} subscription groups, its limit; delete unused groups first")
            }
        }
    }
}

impl std::error::Error for GroupError {}

/// `subscriptionGroup.json` as read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupsFile {
    #[serde(default)]
    data_version: DataVersion,
    #[serde(default)]
    subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

/// `subscriptionGroup.json` as written: borrowed, so persisting does not clone the table.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupsFileRef<'a> {
    data_version: &'a DataVersion,
    subscription_group_table: &'a BTreeMap<String, SubscriptionGroupConfig>,
}

/// `group → SubscriptionGroupConfig` plus its DataVersion.
#[derive(Clone, Debug)]
pub struct SubscriptionGroupTable {
    /// `None` for in-memory tables and snapshots, which never persist.
    path: Option<PathBuf>,
    groups: BTreeMap<String, SubscriptionGroupConfig>,
    data_version: DataVersion,
    dirty: bool,
}

impl persist::PersistedTable for SubscriptionGroupTable {
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
    /// `subscriptionGroup.json`.
    fn file_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.to_file()).expect("group configs always serialize")
    }
}

impl SubscriptionGroupTable {
    pub fn in_memory() -> Self {
        Self { path: None, groups: BTreeMap::new(), data_version: DataVersion::now(), dirty: false }
    }

    /// Loads `path` (or its `.bak`); a fresh store gives an empty table. Call
    /// [`Self::create_system_groups`] next.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let mut table = Self::in_memory();
        table.path = Some(path.to_path_buf());
        if let Some(file) = persist::load::<GroupsFile>(path)? {
            table.groups = file.subscription_group_table;
            table.data_version = file.data_version;
        }
        Ok(table)
    }

    /// A read-only copy for a data shard: same groups and version, no file.
    pub fn snapshot(&self) -> Self {
        Self { path: None, dirty: false, ..self.clone() }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn to_file(&self) -> GroupsFileRef<'_> {
        GroupsFileRef { data_version: &self.data_version, subscription_group_table: &self.groups }
    }

    /// The GET_ALL_SUBSCRIPTIONGROUP_CONFIG body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_file()).expect("group configs always serialize")
    }

    pub fn get(&self, group: &str) -> Option<&SubscriptionGroupConfig> {
        self.groups.get(group)
    }

    pub fn contains(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// In group-name order.
    pub fn iter(&self) -> impl Iterator<Item = &SubscriptionGroupConfig> {
        self.groups.values()
    }

    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    fn changed(&mut self) {
        self.data_version.next();
        self.dirty = true;
    }

    /// Adds the groups a 4.9.4 broker creates at start that the loaded file does not have (the
    /// file's values win, as in Java). No version bump, as Java's constructor; dirty if any.
    pub fn create_system_groups(&mut self) -> Vec<String> {
        let mut added = Vec::new();
        for group in SYSTEM_GROUPS {
            if !self.groups.contains_key(group) {
                self.groups.insert(group.to_string(), SubscriptionGroupConfig::new(group));
                added.push(group.to_string());
            }
        }
        if !added.is_empty() {
            self.dirty = true;
        }
        added
    }

    /// `findSubscriptionGroupConfig`: the group, auto-created with defaults when
    /// `auto_create_enabled` (autoCreateSubscriptionGroup) or the name starts `CID_RMQ_SYS_`.
    /// `None` (SUBSCRIPTION_GROUP_NOT_EXIST) when it does not exist and may not be created: not
    /// enabled, an illegal or too long name, or a full table.
    pub fn get_or_auto_create(&mut self, group: &str, auto_create_enabled: bool) -> Option<&SubscriptionGroupConfig> {
        if !self.groups.contains_key(group) {
            let allowed = auto_create_enabled || group.starts_with(SYSTEM_GROUP_PREFIX);
            if !allowed || validate_group_name(group).is_err() || self.groups.len() >= SUBSCRIPTION_GROUPS_MAX {
                return None;
            }
            self.groups.insert(group.to_string(), SubscriptionGroupConfig::new(group));
            self.changed();
        }
        self.groups.get(group)
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: inserts or replaces, bumps the version. Returns the
    /// previous config.
    pub fn create_or_update(
        &mut self,
        config: SubscriptionGroupConfig,
    ) -> Result<Option<SubscriptionGroupConfig>, GroupError> {
        assert!(!config.group_name.is_empty(), "a subscription group config without a name");
        if !self.groups.contains_key(&config.group_name) && self.groups.len() >= SUBSCRIPTION_GROUPS_MAX {
            return Err(GroupError::TableFull { groups_max: SUBSCRIPTION_GROUPS_MAX });
        }
        let previous = self.groups.insert(config.group_name.clone(), config);
        self.changed();
        Ok(previous)
    }

    /// DELETE_SUBSCRIPTIONGROUP: bumps the version only when the group existed.
    pub fn delete(&mut self, group: &str) -> Option<SubscriptionGroupConfig> {
        let removed = self.groups.remove(group)?;
        self.changed();
        Some(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::persist::tests::scratch;
    use super::super::PersistedTable;
    use super::*;

    #[test]
    fn missing_fields_take_java_defaults_and_output_is_camel_case() {
        let config: SubscriptionGroupConfig = serde_json::from_str(r#"{"groupName":"cg","retryMaxTimes":3}"#).unwrap();
        assert_eq!(config, SubscriptionGroupConfig { retry_max_times: 3, ..SubscriptionGroupConfig::new("cg") });
        let text = serde_json::to_string(&SubscriptionGroupConfig::new("cg")).unwrap();
        assert_eq!(
            text,
            r#"{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"groupName":"cg","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#
        );
    }

    #[test]
    fn groups_are_auto_created_only_when_enabled_or_system() {
        let mut table = SubscriptionGroupTable::in_memory();
        let version = table.data_version();
        assert!(table.get_or_auto_create("cg", false).is_none());
        assert_eq!(table.data_version(), version);
        assert_eq!(table.get_or_auto_create("cg", true).unwrap(), &SubscriptionGroupConfig::new("cg"));
        assert_eq!(table.data_version().counter, version.counter + 1);
        assert!(table.get_or_auto_create("cg", false).is_some());
        assert!(table.get_or_auto_create("CID_RMQ_SYS_X", false).is_some());
        assert!(table.get_or_auto_create("bad group", true).is_none());
        assert!(table.get_or_auto_create(&"g".repeat(256), true).is_none());
        assert_eq!(table.data_version().counter, version.counter + 2);
    }

    #[test]
    fn updates_and_deletes_bump_the_version_and_system_groups_are_added_once() {
        let mut table = SubscriptionGroupTable::in_memory();
        assert_eq!(table.create_system_groups().len(), SYSTEM_GROUPS.len());
        assert!(table.create_system_groups().is_empty());
        let version = table.data_version();
        let config = SubscriptionGroupConfig { retry_queue_nums: 4, ..SubscriptionGroupConfig::new("cg") };
        assert_eq!(table.create_or_update(config.clone()).unwrap(), None);
        assert_eq!(table.create_or_update(config.clone()).unwrap(), Some(config));
        assert!(table.delete("absent").is_none());
        assert!(table.delete("cg").is_some());
        assert_eq!(table.data_version().counter, version.counter + 3);
    }

    #[test]
    fn subscription_group_json_round_trips_and_java_text_loads() {
        let directory = scratch("groups");
        let path = directory.join("config").join(SUBSCRIPTION_GROUP_FILE_NAME);
        let java = "{\n\t\"dataVersion\":{\n\t\t\"counter\":1,\n\t\t\"timestamp\":1650000000000\n\t},\n\t\"subscriptionGroupTable\":{\n\t\t\"cg\":{\n\t\t\t\"brokerId\":0,\n\t\t\t\"consumeBroadcastEnable\":true,\n\t\t\t\"consumeEnable\":false,\n\t\t\t\"consumeFromMinEnable\":true,\n\t\t\t\"groupName\":\"cg\",\n\t\t\t\"groupSysFlag\":0,\n\t\t\t\"notifyConsumerIdsChangedEnable\":true,\n\t\t\t\"retryMaxTimes\":16,\n\t\t\t\"retryQueueNums\":1,\n\t\t\t\"whichBrokerWhenConsumeSlowly\":1\n\t\t}\n\t}\n}";
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, java).unwrap();
        let mut table = SubscriptionGroupTable::load(&path).unwrap();
        assert!(!table.get("cg").unwrap().consume_enable);
        assert_eq!(table.data_version().counter, 1);
        table.create_system_groups();
        assert!(table.persist_if_dirty().unwrap());
        assert!(!table.persist_if_dirty().unwrap());
        let reloaded = SubscriptionGroupTable::load(&path).unwrap();
        assert_eq!(reloaded.iter().collect::<Vec<_>>(), table.iter().collect::<Vec<_>>());
        assert_eq!(reloaded.data_version(), table.data_version());
        let body: serde_json::Value = serde_json::from_slice(&table.to_json()).unwrap();
        assert_eq!(body["subscriptionGroupTable"]["cg"]["consumeEnable"], false);
        std::fs::remove_dir_all(directory).unwrap();
    }
}
