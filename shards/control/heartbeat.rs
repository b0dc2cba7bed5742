//! The HEART_BEAT (34) body (protocol §4.6): `HeartbeatData`, `ConsumerData`,
//! `SubscriptionData` and the consumer enums, parsed leniently ([`HeartbeatData::decode`]).
//!
//! Java clients write enums by name, the C++ clients by ordinal (`"consumeType":1`), write
//! `subVersion` as a string and omit `expressionType`, `classFilterMode` and `unitMode`; 5.x
//! clients add fields (`heartbeatFingerprint`, `withoutSub`), which are ignored. The C++ clients
//! also send `codeSet:[0]`, so tag sets and tag hash codes are rebuilt here from `subString` as
//! Java's `FilterAPI.buildSubscriptionData` does. The registry of what heartbeats announce is
//! `clients.rs`.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::protocol::json;
use crate::protocol::message::java_string_hash;

/// The producer group every Java client instance heartbeats with.
pub const CLIENT_INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";
/// `SubscriptionData.SUB_ALL`.
pub const SUB_ALL: &str = "*";
/// `ExpressionType.TAG`; the other is `SQL92`.
pub const EXPRESSION_TYPE_TAG: &str = "TAG";

/// A Java enum that travels by name (Java, fastjson) or by ordinal (C++ clients). Serialized by
/// name, as fastjson writes it.
macro_rules! java_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $java:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            /// Java's constants in declaration order: the index is the ordinal.
            const JAVA: &'static [($name, &'static str)] = &[$(($name::$variant, $java),)+];

            pub fn java_name(self) -> &'static str {
                Self::JAVA[self as usize].1
            }

            pub fn from_java_name(name: &str) -> Option<Self> {
                Self::JAVA.iter().find(|(_, java)| *java == name).map(|(variant, _)| *variant)
            }

            pub fn from_ordinal(ordinal: i64) -> Option<Self> {
                usize::try_from(ordinal).ok().and_then(|index| Self::JAVA.get(index)).map(|(variant, _)| *variant)
            }

            /// A name, an ordinal, or an ordinal in a string.
            pub fn from_json(value: &Value) -> Option<Self> {
                match value {
                    Value::String(text) => {
                        Self::from_java_name(text).or_else(|| text.parse().ok().and_then(Self::from_ordinal))
                    }
                    Value::Number(number) => number.as_i64().and_then(Self::from_ordinal),
                    _ => None,
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.java_name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(deserializer)?;
                Self::from_json(&value)
                    .ok_or_else(|| D::Error::custom(format!("{value} is not a {}", stringify!($name))))
            }
        }
    };
}

java_enum! {
    /// `ConsumeType`: pull (ACTIVELY) or push (PASSIVELY).
    ConsumeType {
        ConsumeActively = "CONSUME_ACTIVELY",
        ConsumePassively = "CONSUME_PASSIVELY",
    }
}

java_enum! {
    /// `MessageModel`.
    MessageModel {
        Broadcasting = "BROADCASTING",
        Clustering = "CLUSTERING",
    }
}

java_enum! {
    /// `ConsumeFromWhere`, deprecated constants included: they hold the ordinals in place.
    ConsumeFromWhere {
        LastOffset = "CONSUME_FROM_LAST_OFFSET",
        LastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        MinOffset = "CONSUME_FROM_MIN_OFFSET",
        MaxOffset = "CONSUME_FROM_MAX_OFFSET",
        FirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        Timestamp = "CONSUME_FROM_TIMESTAMP",
    }
}

/// `SubscriptionData`: one topic of a consumer group. Serialized as Java does (fastjson's
/// alphabetical order; `filterClassSource` is never written).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    pub class_filter_mode: bool,
    /// `String.hashCode()` of each tag, matched against the consume queue's tags code.
    pub code_set: BTreeSet<i32>,
    pub expression_type: String,
    pub sub_string: String,
    /// When the client built the subscription (ms); only a newer one replaces it.
    pub sub_version: i64,
    pub tags_set: BTreeSet<String>,
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        Self {
            class_filter_mode: false,
            code_set: BTreeSet::new(),
            expression_type: EXPRESSION_TYPE_TAG.to_string(),
            sub_string: SUB_ALL.to_string(),
            sub_version: 0,
            tags_set: BTreeSet::new(),
            topic: String::new(),
        }
    }
}

impl SubscriptionData {
    /// A TAG subscription as `FilterAPI.buildSubscriptionData` builds it: `*` or empty is
    /// "all"; otherwise each trimmed, non-empty tag of `a || b` with its Java hash code.
    pub fn from_tags(topic: &str, sub_string: &str, sub_version: i64) -> Self {
        let mut data = Self { topic: topic.to_string(), sub_version, ..Self::default() };
        if sub_string.is_empty() || sub_string == SUB_ALL {
            return data;
        }
        data.sub_string = sub_string.to_string();
        for tag in sub_string.split("||").map(str::trim).filter(|tag| !tag.is_empty()) {
            data.code_set.insert(java_string_hash(tag));
            data.tags_set.insert(tag.to_string());
        }
        data
    }

    /// `ExpressionType.isTagType`: TAG, or no type at all.
    pub fn is_tag_type(&self) -> bool {
        self.expression_type.is_empty() || self.expression_type == EXPRESSION_TYPE_TAG
    }

    /// Broker-side tag filtering on a consume-queue unit's tags code
    /// (`ExpressionMessageFilter.isMatchedByConsumeQueue`). Non-TAG expressions match here;
    /// they are evaluated elsewhere.
    pub fn matches_tags_code(&self, tags_code: i64) -> bool {
        !self.is_tag_type() || self.sub_string == SUB_ALL || self.code_set.contains(&(tags_code as i32))
    }

    fn from_json(value: &Value) -> Result<Self, HeartbeatError> {
        let map = object(value, "subscriptionDataSet")?;
        let topic = required_str(map, "topic")?;
        let sub_string = optional_str(map, "subString")?.unwrap_or_default();
        // Java's constructor stamps the current time when a client omits the version.
        let sub_version = optional_i64(map, "subVersion")?.unwrap_or_else(crate::protocol::now_ms);
        let class_filter_mode = optional_bool(map, "classFilterMode")?.unwrap_or(false);
        let expression_type = optional_str(map, "expressionType")?.filter(|kind| !kind.is_empty());
        let expression_type = expression_type.unwrap_or_else(|| EXPRESSION_TYPE_TAG.to_string());
        if expression_type == EXPRESSION_TYPE_TAG {
            return Ok(Self { class_filter_mode, ..Self::from_tags(&topic, &sub_string, sub_version) });
        }
        let tags_set = array(map, "tagsSet")?.iter().filter_map(Value::as_str).map(str::to_string).collect();
        let code_set = array(map, "codeSet")?
            .iter()
            .filter_map(Value::as_i64)
            .filter_map(|code| i32::try_from(code).ok())
            .collect();
        Ok(Self { class_filter_mode, code_set, expression_type, sub_string, sub_version, tags_set, topic })
    }
}

/// Why a HEART_BEAT body is refused (the reply is SYSTEM_ERROR with this remark).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeartbeatError {
    NotJson { reason: String },
    Missing { field: &'static str },
    Invalid { field: &'static str, value: String },
}

impl fmt::Display for HeartbeatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson { reason } => write!(f, "the HEART_BEAT body is not JSON: {reason}"),
            Self::Missing { field } => write!(f, "the HEART_BEAT body has no {field}"),
            Self::Invalid { field, value } => write!(f, "the HEART_BEAT body has an invalid {field}: {value}"),
        }
    }
}

impl std::error::Error for HeartbeatError {}

fn invalid(field: &'static str, value: &Value) -> HeartbeatError {
    let mut text = value.to_string();
    text.truncate(200);
    HeartbeatError::Invalid { field, value: text }
}

fn object<'a>(value: &'a Value, field: &'static str) -> Result<&'a Map<String, Value>, HeartbeatError> {
    value.as_object().ok_or_else(|| invalid(field, value))
}

/// A present, non-null field.
fn present<'a>(map: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    map.get(field).filter(|value| !value.is_null())
}

/// An array field; missing or null is empty.
fn array<'a>(map: &'a Map<String, Value>, field: &'static str) -> Result<&'a [Value], HeartbeatError> {
    match present(map, field) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(invalid(field, other)),
    }
}

fn optional_str(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, HeartbeatError> {
    match present(map, field) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(invalid(field, other)),
    }
}

fn required_str(map: &Map<String, Value>, field: &'static str) -> Result<String, HeartbeatError> {
    optional_str(map, field)?.ok_or(HeartbeatError::Missing { field })
}

/// A number, or a number in a string (C++ clients write `subVersion` so).
fn optional_i64(map: &Map<String, Value>, field: &'static str) -> Result<Option<i64>, HeartbeatError> {
    let Some(value) = present(map, field) else {
        return Ok(None);
    };
    let parsed = match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| invalid(field, value))
}

fn optional_bool(map: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, HeartbeatError> {
    match present(map, field) {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(Value::String(text)) if text == "true" || text == "false" => Ok(Some(text == "true")),
        Some(other) => Err(invalid(field, other)),
    }
}

fn optional_enum<E>(
    map: &Map<String, Value>,
    field: &'static str,
    parse: fn(&Value) -> Option<E>,
) -> Result<Option<E>, HeartbeatError> {
    match present(map, field) {
        None => Ok(None),
        Some(value) => parse(value).map(Some).ok_or_else(|| invalid(field, value)),
    }
}

/// `ConsumerData`: one consumer group of a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerData {
    pub group_name: String,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    pub subscriptions: Vec<SubscriptionData>,
    pub unit_mode: bool,
}

impl ConsumerData {
    /// Missing enums take the values of a default push consumer (PASSIVELY, CLUSTERING,
    /// LAST_OFFSET); every client seen sends them.
    fn from_json(value: &Value) -> Result<Self, HeartbeatError> {
        let map = object(value, "consumerDataSet")?;
        let subscriptions =
            array(map, "subscriptionDataSet")?.iter().map(SubscriptionData::from_json).collect::<Result<_, _>>()?;
        Ok(Self {
            group_name: required_str(map, "groupName")?,
            consume_type: optional_enum(map, "consumeType", ConsumeType::from_json)?
                .unwrap_or(ConsumeType::ConsumePassively),
            message_model: optional_enum(map, "messageModel", MessageModel::from_json)?
                .unwrap_or(MessageModel::Clustering),
            consume_from_where: optional_enum(map, "consumeFromWhere", ConsumeFromWhere::from_json)?
                .unwrap_or(ConsumeFromWhere::LastOffset),
            subscriptions,
            unit_mode: optional_bool(map, "unitMode")?.unwrap_or(false),
        })
    }
}

/// `HeartbeatData`, the HEART_BEAT body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatData {
    /// `clientID`: `ip@instanceName[@unitName]`.
    pub client_id: String,
    pub consumers: Vec<ConsumerData>,
    pub producer_groups: Vec<String>,
}

impl HeartbeatData {
    /// Parses any client's body (see the module doc); unknown keys are ignored.
    pub fn decode(body: &[u8]) -> Result<Self, HeartbeatError> {
        let root: Value = json::from_fastjson(body).map_err(|reason| HeartbeatError::NotJson { reason })?;
        let map = root.as_object().ok_or_else(|| HeartbeatError::NotJson { reason: "not an object".into() })?;
        let consumers = array(map, "consumerDataSet")?.iter().map(ConsumerData::from_json).collect::<Result<_, _>>()?;
        let producer_groups = array(map, "producerDataSet")?
            .iter()
            .map(|producer| required_str(object(producer, "producerDataSet")?, "groupName"))
            .collect::<Result<_, _>>()?;
        Ok(Self { client_id: required_str(map, "clientID")?, consumers, producer_groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{frame, request, Command};

    fn captured(name: &str) -> Command {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cluster").join(name);
        let mut buffer = bytes::BytesMut::from(&std::fs::read(&path).unwrap()[..]);
        let command = frame::decode(&mut buffer).unwrap().unwrap();
        assert_eq!(command.code, request::HEART_BEAT, "{name}");
        command
    }

    fn decode(name: &str) -> HeartbeatData {
        HeartbeatData::decode(&captured(name).body).unwrap()
    }

    #[test]
    fn a_java_heartbeat_decodes_with_enum_names() {
        let command = captured("java-4.9.7-consumer-broker-1-01-c34.bin");
        assert_eq!((command.language.name(), command.version), ("JAVA", 407));
        let data = HeartbeatData::decode(&command.body).unwrap();
        assert_eq!(data.client_id, "192.0.2.2@17001#1255178250318");
        assert_eq!(data.producer_groups, vec![CLIENT_INNER_PRODUCER_GROUP.to_string()]);
        let consumer = &data.consumers[0];
        assert_eq!(consumer.group_name, "TestConsumerGroup");
        assert_eq!(consumer.consume_type, ConsumeType::ConsumePassively);
        assert_eq!(consumer.message_model, MessageModel::Clustering);
        assert_eq!(consumer.consume_from_where, ConsumeFromWhere::FirstOffset);
        let tagged = &consumer.subscriptions[0];
        assert_eq!((tagged.topic.as_str(), tagged.sub_string.as_str()), ("TestTopic", "TagA"));
        assert_eq!(tagged.code_set, BTreeSet::from([2_598_919]));
        assert_eq!(tagged.tags_set, BTreeSet::from(["TagA".to_string()]));
        assert_eq!(tagged.sub_version, 1_795_235_836_872);
        assert_eq!(
            consumer.subscriptions[1],
            SubscriptionData::from_tags("%RETRY%TestConsumerGroup", "*", 1_795_235_836_977)
        );
    }

    #[test]
    fn a_cpp_heartbeat_decodes_with_ordinals_and_rebuilt_code_sets() {
        let command = captured("py-rocketmq-client-python-consumer-broker-1-01-c34.bin");
        assert_eq!(command.language.name(), "CPP");
        let data = HeartbeatData::decode(&command.body).unwrap();
        assert_eq!(data.client_id, "127.0.0.1@20975#DEFAULT");
        assert!(data.producer_groups.is_empty());
        let consumer = &data.consumers[0];
        assert_eq!(consumer.consume_type, ConsumeType::ConsumePassively);
        assert_eq!(consumer.message_model, MessageModel::Clustering);
        assert_eq!(consumer.consume_from_where, ConsumeFromWhere::LastOffset);
        assert!(!consumer.unit_mode);
        let tagged = consumer.subscriptions.iter().find(|data| data.topic == "TestTopic").unwrap();
        // The client sent codeSet [0] and subVersion as a string.
        assert_eq!(tagged.code_set, BTreeSet::from([2_598_919]));
        assert_eq!(tagged.sub_version, 1_795_235_989_096);
        assert_eq!(tagged.expression_type, "TAG");
        let producer = decode("py-rocketmq044-async-broker-1-04-c34.bin");
        assert_eq!(producer.client_id, "28357-127.0.0.1@DEFAULT");
        assert!(producer.consumers.is_empty());
        assert_eq!(producer.producer_groups, vec!["TestProducerGroup".to_string()]);
    }

    #[test]
    fn ali_ons_and_5x_heartbeats_decode_despite_missing_and_extra_fields() {
        let ons = decode("ali-ons-consumer-broker-1-11-c34.bin");
        assert_eq!(ons.client_id, "192.0.2.2@18839");
        assert!(ons.consumers[0].subscriptions.iter().all(SubscriptionData::is_tag_type));
        assert_eq!(ons.consumers[0].subscriptions[0].code_set, BTreeSet::from([2_598_919]));
        let rust = decode("rocketmq-client-rust-consumer-route5x-broker-1-01-c34.bin");
        assert_eq!(rust.consumers[0].subscriptions[0].sub_version, 0);
        assert_eq!(rust.producer_groups, vec![CLIENT_INNER_PRODUCER_GROUP.to_string()]);
    }

    #[test]
    fn every_captured_heartbeat_decodes() {
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cluster");
        let mut count = 0;
        for entry in std::fs::read_dir(directory).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with("-c34.bin") {
                let data = decode(&name);
                assert!(!data.client_id.is_empty(), "{name}");
                count += 1;
            }
        }
        assert!(count >= 30, "{count} captures");
    }

    #[test]
    fn malformed_heartbeats_are_refused_with_the_field_named() {
        assert!(matches!(HeartbeatData::decode(b"{"), Err(HeartbeatError::NotJson { .. })));
        assert_eq!(HeartbeatData::decode(b"{}"), Err(HeartbeatError::Missing { field: "clientID" }));
        let bad_type = br#"{"clientID":"c","consumerDataSet":[{"groupName":"g","consumeType":"PUSHY"}]}"#;
        let error = HeartbeatData::decode(bad_type).unwrap_err();
        assert!(error.to_string().contains("consumeType"), "{error}");
        let ordinal_out_of_range = br#"{"clientID":"c","consumerDataSet":[{"groupName":"g","messageModel":2}]}"#;
        assert!(HeartbeatData::decode(ordinal_out_of_range).is_err());
    }

    #[test]
    fn tag_expressions_build_code_sets_as_filter_api_does() {
        let data = SubscriptionData::from_tags("T", " TagA || TagB ||  ", 7);
        assert_eq!(data.tags_set, BTreeSet::from(["TagA".to_string(), "TagB".to_string()]));
        assert_eq!(data.code_set.len(), 2);
        assert!(data.matches_tags_code(2_598_919));
        assert!(!data.matches_tags_code(1));
        let all = SubscriptionData::from_tags("T", "", 7);
        assert_eq!(all.sub_string, "*");
        assert!(all.matches_tags_code(1));
    }
}
