//! JSON bodies of the nameserver and admin requests (protocol §4). Field order is alphabetical
//! (fastjson's SortField), nulls are omitted, integer map keys are quoted on output unless the
//! caller asks for fastjson's unquoted form (`json::unquote_integer_keys`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;

use serde::{Deserialize, Serialize};

use super::json;
use crate::limits::REGISTER_BODY_INFLATED_BYTES_MAX;

/// `DataVersion`: a timestamp plus a counter bumped on every change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataVersion {
    #[serde(default)]
    pub counter: i64,
    #[serde(default)]
    pub timestamp: i64,
}

impl DataVersion {
    pub fn now() -> Self {
        Self { counter: 0, timestamp: crate::protocol::now_ms() }
    }

    pub fn next(&mut self) {
        self.counter += 1;
        self.timestamp = crate::protocol::now_ms();
    }
}

fn default_queue_nums() -> i32 {
    16
}

fn default_perm() -> i32 {
    6
}

fn default_filter_type() -> String {
    "SINGLE_TAG".to_string()
}

/// `TopicConfig` (protocol §4.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    #[serde(default)]
    pub order: bool,
    #[serde(default = "default_perm")]
    pub perm: i32,
    #[serde(default = "default_queue_nums")]
    pub read_queue_nums: i32,
    #[serde(default = "default_filter_type")]
    pub topic_filter_type: String,
    pub topic_name: String,
    #[serde(default)]
    pub topic_sys_flag: i32,
    #[serde(default = "default_queue_nums")]
    pub write_queue_nums: i32,
}

impl TopicConfig {
    pub fn new(topic_name: &str, queue_nums: i32, perm: i32) -> Self {
        Self {
            order: false,
            perm,
            read_queue_nums: queue_nums,
            topic_filter_type: default_filter_type(),
            topic_name: topic_name.to_string(),
            topic_sys_flag: 0,
            write_queue_nums: queue_nums,
        }
    }

    /// The compact text form used by compressed registration:
    /// `topicName readQueueNums writeQueueNums perm topicFilterType`.
    pub fn to_text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.topic_name, self.read_queue_nums, self.write_queue_nums, self.perm, self.topic_filter_type
        )
    }

    pub fn from_text(text: &str) -> Option<Self> {
        let tokens: Vec<&str> = text.split(' ').collect();
        let [name, read, write, perm, filter] = tokens.as_slice() else {
            return None;
        };
        if name.is_empty() {
            return None;
        }
        Some(Self {
            order: false,
            perm: perm.parse().ok()?,
            read_queue_nums: read.parse().ok()?,
            topic_filter_type: (*filter).to_string(),
            topic_name: (*name).to_string(),
            topic_sys_flag: 0,
            write_queue_nums: write.parse().ok()?,
        })
    }
}

/// `TopicConfigSerializeWrapper`: GET_ALL_TOPIC_CONFIG body and `topics.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfigSerializeWrapper {
    #[serde(default)]
    pub data_version: DataVersion,
    #[serde(default)]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

/// `RegisterBrokerBody`, plain (JSON) form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBrokerBody {
    #[serde(default)]
    pub filter_server_list: Vec<String>,
    #[serde(default)]
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

impl RegisterBrokerBody {
    /// Decodes either form; an empty body means no topics (protocol §6.2 step 2).
    pub fn decode(body: &[u8], compressed: bool) -> Result<Self, BodyError> {
        if body.is_empty() {
            return Ok(Self::default());
        }
        if compressed {
            return Self::decode_compressed(body);
        }
        json::from_fastjson(body).map_err(|error| BodyError(format!("register body: {error}")))
    }

    fn decode_compressed(body: &[u8]) -> Result<Self, BodyError> {
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(REGISTER_BODY_INFLATED_BYTES_MAX as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|error| BodyError(format!("register body does not inflate: {error}")))?;
        if inflated.len() > REGISTER_BODY_INFLATED_BYTES_MAX {
            return Err(BodyError("inflated register body exceeds the limit".into()));
        }
        let mut cursor = inflated.as_slice();
        let data_version_json = take_chunk(&mut cursor)?;
        let data_version: DataVersion =
            json::from_fastjson(data_version_json).map_err(|error| BodyError(format!("data version: {error}")))?;
        let topic_count = take_i32(&mut cursor)?;
        if topic_count < 0 {
            return Err(BodyError("negative topic count".into()));
        }
        let mut table = BTreeMap::new();
        for _ in 0..topic_count {
            let text = std::str::from_utf8(take_chunk(&mut cursor)?)
                .map_err(|_| BodyError("topic config is not UTF-8".into()))?;
            let config =
                TopicConfig::from_text(text).ok_or_else(|| BodyError(format!("bad topic config text {text:?}")))?;
            table.insert(config.topic_name.clone(), config);
        }
        let filter_server_list = match take_chunk(&mut cursor) {
            Ok(chunk) if !chunk.is_empty() => {
                json::from_fastjson(chunk).map_err(|error| BodyError(format!("filter server list: {error}")))?
            }
            _ => Vec::new(),
        };
        Ok(Self {
            filter_server_list,
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper { data_version, topic_config_table: table },
        })
    }

    /// Encodes the compressed form (zlib of length-prefixed chunks, protocol §4.5).
    pub fn encode_compressed(&self) -> Vec<u8> {
        use std::io::Write;
        let mut raw = Vec::new();
        let wrapper = &self.topic_config_serialize_wrapper;
        let version = serde_json::to_vec(&wrapper.data_version).expect("serializable");
        raw.extend_from_slice(&(version.len() as i32).to_be_bytes());
        raw.extend_from_slice(&version);
        raw.extend_from_slice(&(wrapper.topic_config_table.len() as i32).to_be_bytes());
        for config in wrapper.topic_config_table.values() {
            let text = config.to_text();
            raw.extend_from_slice(&(text.len() as i32).to_be_bytes());
            raw.extend_from_slice(text.as_bytes());
        }
        let filters = serde_json::to_vec(&self.filter_server_list).expect("serializable");
        raw.extend_from_slice(&(filters.len() as i32).to_be_bytes());
        raw.extend_from_slice(&filters);
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&raw).expect("writing to a Vec cannot fail");
        encoder.finish().expect("writing to a Vec cannot fail")
    }
}

fn take_i32(cursor: &mut &[u8]) -> Result<i32, BodyError> {
    if cursor.len() < 4 {
        return Err(BodyError("compressed register body truncated".into()));
    }
    let value = i32::from_be_bytes(cursor[..4].try_into().expect("4 bytes"));
    *cursor = &cursor[4..];
    Ok(value)
}

fn take_chunk<'a>(cursor: &mut &'a [u8]) -> Result<&'a [u8], BodyError> {
    let length = take_i32(cursor)?;
    if length < 0 || length as usize > cursor.len() {
        return Err(BodyError("compressed register body chunk out of range".into()));
    }
    let (chunk, rest) = cursor.split_at(length as usize);
    *cursor = rest;
    Ok(chunk)
}

/// `QueueData` of a route (protocol §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    pub perm: i32,
    pub read_queue_nums: i32,
    #[serde(default, alias = "topicSynFlag")]
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

/// `BrokerData`: the addresses of one broker name (0 = master).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    pub cluster: String,
    /// 5.x field. 4.x clients ignore it; rocketmq-client-rust cannot parse a route without it
    /// (clients.md §6), so it is always written.
    #[serde(default)]
    pub enable_acting_master: bool,
}

/// `TopicRouteData` (GET_ROUTEINFO_BY_TOPIC).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    #[serde(default)]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
}

/// `ClusterInfo` (GET_BROKER_CLUSTER_INFO).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

/// `TopicList`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    pub topic_list: BTreeSet<String>,
}

/// `KVTable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvTable {
    pub table: BTreeMap<String, String>,
}

/// Serializes a body; integer keys quoted (standard JSON).
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("body types always serialize")
}

/// Serializes a body in fastjson's dialect (unquoted integer keys), for pre-4.9.4 clients.
pub fn to_fastjson<T: Serialize>(value: &T) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("body types always serialize");
    json::unquote_integer_keys(&text).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_data_parses_the_stub_route_and_writes_both_dialects() {
        let text = br#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
        let route: TopicRouteData = json::from_fastjson(text).unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs[&0], "127.0.0.1:10911");
        let standard = String::from_utf8(to_json(&route)).unwrap();
        assert!(standard.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#), "{standard}");
        assert!(standard.contains(r#""enableActingMaster":false"#));
        let fastjson = String::from_utf8(to_fastjson(&route)).unwrap();
        assert!(fastjson.contains(r#""brokerAddrs":{0:"127.0.0.1:10911"}"#), "{fastjson}");
    }

    #[test]
    fn compressed_register_body_round_trips() {
        let mut body = RegisterBrokerBody::default();
        let wrapper = &mut body.topic_config_serialize_wrapper;
        wrapper.data_version = DataVersion { counter: 3, timestamp: 17 };
        wrapper.topic_config_table.insert("T".into(), TopicConfig::new("T", 4, 6));
        let encoded = body.encode_compressed();
        assert_eq!(RegisterBrokerBody::decode(&encoded, true).unwrap(), body);
        assert!(RegisterBrokerBody::decode(&encoded[..encoded.len() / 2], true).is_err());
        assert!(RegisterBrokerBody::decode(b"not zlib", true).is_err());
        assert_eq!(RegisterBrokerBody::decode(b"", false).unwrap(), RegisterBrokerBody::default());
    }

    #[test]
    fn plain_register_body_parses_java_json() {
        let text = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":2,"stateVersion":0,"timestamp":1},"topicConfigTable":{"TBW102":{"order":false,"perm":7,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8}}}}"#;
        let body = RegisterBrokerBody::decode(text, false).unwrap();
        let table = &body.topic_config_serialize_wrapper.topic_config_table;
        assert_eq!(table["TBW102"].perm, 7);
    }
}
