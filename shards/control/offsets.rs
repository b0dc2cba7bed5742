//! Consumer offsets (`ConsumerOffsetManager`, protocol §7.4) and the delay-level progress of
//! scheduled messages (`ScheduleMessageService`'s offset table, protocol §7.7).
//!
//! * `<store root>/config/consumerOffset.json`: `{"offsetTable":{"T@g":{0:12,1:7}}}`, the value
//!   being the **next** offset to consume. Also the GET_ALL_CONSUMER_OFFSET body.
//! * `<store root>/config/delayOffset.json`: `{"offsetTable":{1:0,2:13}}`, level → offset. Also
//!   the GET_ALL_DELAY_OFFSET body.
//!
//! Both are written in fastjson's dialect (unquoted integer keys), exactly as Java writes them,
//! so a Java broker can take over the store and a Java slave can read the bodies. Both track
//! whether anything changed so the periodic flush (5 s for offsets, 10 s for delay levels) is
//! skipped when idle. Owned by shard 0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::persist::{self, ConfigFileError};
use crate::protocol::json;

/// The file names under `<store root>/config/`.
pub const CONSUMER_OFFSET_FILE_NAME: &str = "consumerOffset.json";
pub const DELAY_OFFSET_FILE_NAME: &str = "delayOffset.json";

/// `(topic@group, queueId)` offsets one broker keeps. Clients choose queue ids and group names,
/// so without a bound one client could grow the table (and every 5-second flush) at will. A
/// queue's entry costs ~50 bytes in memory and ~12 in the file: this is ~100 MiB and a
/// 25 MiB file at worst, while 1,000 topics × 20 groups × 16 queues is 320,000.
pub const CONSUMER_OFFSET_ENTRIES_MAX: usize = 2_000_000;

/// Separates topic and group in the table's keys (`TOPIC_GROUP_SEPARATOR`). Neither names may
/// contain it (protocol §7.1 character rule).
pub const TOPIC_GROUP_SEPARATOR: char = '@';

type QueueOffsets = BTreeMap<i32, i64>;

/// Both files have one key, `offsetTable`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetFile<T> {
    #[serde(default = "BTreeMap::new")]
    offset_table: BTreeMap<String, T>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OffsetFileRef<'a, K: Ord, T> {
    offset_table: &'a BTreeMap<K, T>,
}

/// serde_json output with fastjson's unquoted integer keys, pretty (as Java's persist) or not
/// (as Java's request bodies).
fn encode_fastjson<T: Serialize>(value: &T, pretty: bool) -> String {
    let text = if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) };
    json::unquote_integer_keys(&text.expect("offset tables always serialize"))
}

fn key_of(topic: &str, group: &str) -> String {
    format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
}

/// `(topic, group)` of a key; `None` unless it has exactly one separator, as Java's split.
fn split_key(key: &str) -> Option<(&str, &str)> {
    let (topic, group) = key.split_once(TOPIC_GROUP_SEPARATOR)?;
    (!group.contains(TOPIC_GROUP_SEPARATOR)).then_some((topic, group))
}

/// `topic@group → (queueId → next offset)`.
#[derive(Clone, Debug)]
pub struct ConsumerOffsetTable {
    /// `None` for in-memory tables, which never persist.
    path: Option<PathBuf>,
    offsets: BTreeMap<String, QueueOffsets>,
    /// Number of `(key, queueId)` entries, bounded by [`CONSUMER_OFFSET_ENTRIES_MAX`].
    entry_count: usize,
    dirty: bool,
}

impl ConsumerOffsetTable {
    pub fn in_memory() -> Self {
        Self { path: None, offsets: BTreeMap::new(), entry_count: 0, dirty: false }
    }

    /// Loads `path` (or its `.bak`); a fresh store gives an empty table.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let mut table = Self::in_memory();
        table.path = Some(path.to_path_buf());
        if let Some(file) = persist::load::<OffsetFile<QueueOffsets>>(path)? {
            table.entry_count = file.offset_table.values().map(BTreeMap::len).sum();
            table.offsets = file.offset_table;
        }
        Ok(table)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The GET_ALL_CONSUMER_OFFSET body, in fastjson's dialect as Java sends it.
    pub fn to_fastjson(&self) -> String {
        encode_fastjson(&OffsetFileRef { offset_table: &self.offsets }, false)
    }

    /// UPDATE_CONSUMER_OFFSET: stores `offset` as the next offset of the queue. Returns false
    /// (nothing stored) only when a new entry would exceed [`CONSUMER_OFFSET_ENTRIES_MAX`].
    pub fn commit(&mut self, group: &str, topic: &str, queue_id: i32, offset: i64) -> bool {
        let key = key_of(topic, group);
        let known = self.offsets.get(&key).and_then(|queues| queues.get(&queue_id)).copied();
        match known {
            Some(previous) if previous == offset => return true,
            Some(_) => {}
            None if self.entry_count >= CONSUMER_OFFSET_ENTRIES_MAX => return false,
            None => self.entry_count += 1,
        }
        self.offsets.entry(key).or_default().insert(queue_id, offset);
        self.dirty = true;
        true
    }

    /// QUERY_CONSUMER_OFFSET: the stored next offset, if any.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.offsets.get(&key_of(topic, group))?.get(&queue_id).copied()
    }

    /// Every queue's offset of `group` on `topic` (GET_CONSUME_STATS).
    pub fn offsets_of(&self, group: &str, topic: &str) -> Option<&BTreeMap<i32, i64>> {
        self.offsets.get(&key_of(topic, group))
    }

    /// `(topic, group, queue offsets)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &BTreeMap<i32, i64>)> {
        self.offsets.iter().filter_map(|(key, queues)| split_key(key).map(|(topic, group)| (topic, group, queues)))
    }

    /// Number of `(topic@group, queueId)` entries.
    pub fn entry_count(&self) -> usize {
        self.entry_count
    }

    fn remove_keys(&mut self, matches: impl Fn(&str, &str) -> bool) -> usize {
        let before = self.offsets.len();
        let mut entries_removed = 0;
        self.offsets.retain(|key, queues| {
            let keep = !matches!(split_key(key), Some((topic, group)) if matches(topic, group));
            if !keep {
                entries_removed += queues.len();
            }
            keep
        });
        self.entry_count -= entries_removed;
        let removed = before - self.offsets.len();
        if removed > 0 {
            self.dirty = true;
        }
        removed
    }

    /// DELETE_SUBSCRIPTIONGROUP (with cleanOffset): drops every topic's offsets of `group`.
    /// Returns the number of `topic@group` keys removed.
    pub fn remove_group(&mut self, group: &str) -> usize {
        self.remove_keys(|_, key_group| key_group == group)
    }

    /// `whichGroupByTopic`: the groups with offsets on `topic` (QUERY_TOPIC_CONSUME_BY_WHO).
    pub fn groups_of_topic(&self, topic: &str) -> BTreeSet<String> {
        self.iter().filter(|(key_topic, _, _)| *key_topic == topic).map(|(_, group, _)| group.to_string()).collect()
    }

    /// `whichTopicByConsumer`: the topics `group` has offsets on.
    pub fn topics_of_group(&self, group: &str) -> BTreeSet<String> {
        self.iter().filter(|(_, key_group, _)| *key_group == group).map(|(topic, _, _)| topic.to_string()).collect()
    }

    /// `cloneOffset`: copies `source_group`'s offsets on `topic` to `target_group` (replacing
    /// the target's). Returns false when the source has none or the table is full.
    pub fn clone_offsets(&mut self, source_group: &str, target_group: &str, topic: &str) -> bool {
        let Some(source) = self.offsets.get(&key_of(topic, source_group)).cloned() else {
            return false;
        };
        let target_key = key_of(topic, target_group);
        let replaced = self.offsets.get(&target_key).map_or(0, BTreeMap::len);
        let entry_count = self.entry_count - replaced + source.len();
        if entry_count > CONSUMER_OFFSET_ENTRIES_MAX {
            return false;
        }
        self.entry_count = entry_count;
        self.offsets.insert(target_key, source);
        self.dirty = true;
        true
    }
}

/// Delay level (1-based) → offset in that level's queue of `SCHEDULE_TOPIC_XXXX`.
#[derive(Clone, Debug)]
pub struct DelayOffsetTable {
    /// `None` for in-memory tables, which never persist.
    path: Option<PathBuf>,
    offsets: BTreeMap<i32, i64>,
    dirty: bool,
}

impl DelayOffsetTable {
    pub fn in_memory() -> Self {
        Self { path: None, offsets: BTreeMap::new(), dirty: false }
    }

    /// Loads `path` (or its `.bak`); a fresh store gives an empty table. Keys that are not
    /// levels are ignored (the file is ours or Java's, both write integers).
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let mut table = Self::in_memory();
        table.path = Some(path.to_path_buf());
        if let Some(file) = persist::load::<OffsetFile<i64>>(path)? {
            table.offsets = file
                .offset_table
                .into_iter()
                .filter_map(|(level, offset)| level.parse().ok().map(|level| (level, offset)))
                .collect();
        }
        Ok(table)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The GET_ALL_DELAY_OFFSET body, in fastjson's dialect as Java sends it.
    pub fn to_fastjson(&self) -> String {
        encode_fastjson(&OffsetFileRef { offset_table: &self.offsets }, false)
    }

    pub fn get(&self, level: i32) -> Option<i64> {
        self.offsets.get(&level).copied()
    }

    /// Records the progress of `level`'s delivery timer. Levels come from configuration
    /// (`messageDelayLevel`), never from clients, so the table is bounded by it.
    pub fn set(&mut self, level: i32, offset: i64) {
        assert!(level >= 1, "delay levels are 1-based, got {level}");
        if self.offsets.insert(level, offset) != Some(offset) {
            self.dirty = true;
        }
    }

    /// `(level, offset)` in level order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.offsets.iter().map(|(level, offset)| (*level, *offset))
    }
}

/// Both offset files are written in fastjson's dialect (unquoted integer keys), as Java does.
macro_rules! offset_file {
    ($table:ty, $file:literal) => {
        impl persist::PersistedTable for $table {
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
            #[doc = $file]
            fn file_bytes(&self) -> Vec<u8> {
                encode_fastjson(&OffsetFileRef { offset_table: &self.offsets }, true).into_bytes()
            }
        }
    };
}

offset_file!(ConsumerOffsetTable, "`consumerOffset.json`.");
offset_file!(DelayOffsetTable, "`delayOffset.json`.");

#[cfg(test)]
mod tests {
    use super::super::persist::tests::scratch;
    use super::super::PersistedTable;
    use super::*;

    /// `consumerOffset.json` exactly as a 4.9.x Java broker pretty-prints it (fastjson puts the
    /// closing brace of an integer-keyed map on its own line).
    const JAVA_CONSUMER_OFFSET: &str = "{\n\t\"offsetTable\":{\n\t\t\"%RETRY%cg@cg\":{0:0\n\t\t},\n\t\t\"TopicTest@cg\":{0:250,1:249,2:250,3:251\n\t\t},\n\t\t\"TopicTest@other\":{0:12\n\t\t}\n\t}\n}";

    #[test]
    fn java_consumer_offset_json_with_unquoted_keys_loads() {
        let directory = scratch("offsets-java");
        let path = directory.join(CONSUMER_OFFSET_FILE_NAME);
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(&path, JAVA_CONSUMER_OFFSET).unwrap();
        let table = ConsumerOffsetTable::load(&path).unwrap();
        assert_eq!(table.query("cg", "TopicTest", 3), Some(251));
        assert_eq!(table.query("cg", "%RETRY%cg", 0), Some(0));
        assert_eq!(table.query("cg", "TopicTest", 4), None);
        assert_eq!(table.entry_count(), 6);
        assert!(!table.is_dirty());
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn consumer_offsets_are_written_with_unquoted_keys_and_round_trip() {
        let directory = scratch("offsets-round-trip");
        let path = directory.join("config").join(CONSUMER_OFFSET_FILE_NAME);
        let mut table = ConsumerOffsetTable::load(&path).unwrap();
        assert!(!table.persist_if_dirty().unwrap(), "nothing changed, nothing written");
        assert!(!path.exists());
        table.commit("cg", "T", 0, 12);
        table.commit("cg", "T", 1, 7);
        assert_eq!(table.to_fastjson(), r#"{"offsetTable":{"T@cg":{0:12,1:7}}}"#);
        assert!(table.persist_if_dirty().unwrap());
        assert!(!table.persist_if_dirty().unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("0: 12") && !text.contains("\"0\""), "{text}");
        let reloaded = ConsumerOffsetTable::load(&path).unwrap();
        assert_eq!(reloaded.iter().collect::<Vec<_>>(), table.iter().collect::<Vec<_>>());
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn committing_the_same_offset_again_does_not_dirty_the_table() {
        let mut table = ConsumerOffsetTable::in_memory();
        assert!(table.commit("cg", "T", 0, 5));
        table.persist().unwrap();
        assert!(table.commit("cg", "T", 0, 5));
        assert!(!table.is_dirty());
        assert!(table.commit("cg", "T", 0, 6));
        assert!(table.is_dirty());
        assert_eq!(table.entry_count(), 1);
    }

    #[test]
    fn groups_and_topics_are_found_by_either_side_of_the_key_and_groups_removed() {
        let mut table = ConsumerOffsetTable::in_memory();
        table.commit("cg", "T1", 0, 1);
        table.commit("cg", "T2", 0, 1);
        table.commit("other", "T1", 0, 1);
        table.commit("cg-suffix", "T1", 0, 1);
        assert_eq!(table.groups_of_topic("T1"), ["cg", "cg-suffix", "other"].map(String::from).into());
        assert_eq!(table.topics_of_group("cg"), ["T1", "T2"].map(String::from).into());
        assert_eq!(table.remove_group("cg"), 2);
        assert_eq!(table.topics_of_group("cg"), BTreeSet::new());
        assert_eq!(table.query("cg-suffix", "T1", 0), Some(1));
        assert_eq!(table.remove_group("other"), 1);
        assert_eq!(table.entry_count(), 1);
    }

    #[test]
    fn offsets_clone_from_one_group_to_another() {
        let mut table = ConsumerOffsetTable::in_memory();
        table.commit("source", "T", 0, 10);
        table.commit("source", "T", 1, 20);
        table.commit("target", "T", 5, 99);
        assert!(table.clone_offsets("source", "target", "T"));
        assert_eq!(table.offsets_of("target", "T"), table.offsets_of("source", "T"));
        assert_eq!(table.entry_count(), 4);
        assert!(!table.clone_offsets("absent", "target", "T"));
    }

    #[test]
    fn delay_offsets_use_fastjson_keys_and_skip_unchanged_flushes() {
        let directory = scratch("delay");
        let path = directory.join(DELAY_OFFSET_FILE_NAME);
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(&path, "{\n\t\"offsetTable\":{1:0,2:13\n\t}\n}").unwrap();
        let mut table = DelayOffsetTable::load(&path).unwrap();
        assert_eq!((table.get(1), table.get(2), table.get(3)), (Some(0), Some(13), None));
        table.set(2, 13);
        assert!(!table.persist_if_dirty().unwrap());
        table.set(3, 4);
        assert_eq!(table.to_fastjson(), r#"{"offsetTable":{1:0,2:13,3:4}}"#);
        assert!(table.persist_if_dirty().unwrap());
        let reloaded = DelayOffsetTable::load(&path).unwrap();
        assert_eq!(reloaded.iter().collect::<Vec<_>>(), vec![(1, 0), (2, 13), (3, 4)]);
        std::fs::remove_dir_all(directory).unwrap();
    }
}
