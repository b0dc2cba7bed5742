//! Maps keyed by `MessageQueue` (protocol §4.3): fastjson writes the key as an object,
//! `{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}}`, which is not JSON, and
//! Java's mqadmin accepts exactly that form. `TopicStatsTable` (GET_TOPIC_STATS_INFO) and
//! `ConsumeStats` (GET_CONSUME_STATS) are written by hand here, and read back with
//! [`parse_offset_table`].

use std::fmt::Write;

/// `MessageQueue`, ordered as Java's `compareTo`: topic, broker name, queue id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageQueue {
    pub topic: String,
    pub broker_name: String,
    pub queue_id: i32,
}

impl MessageQueue {
    /// fastjson's form: fields in alphabetical order.
    pub fn to_fastjson(&self) -> String {
        format!(
            "{{\"brokerName\":{},\"queueId\":{},\"topic\":{}}}",
            quoted(&self.broker_name),
            self.queue_id,
            quoted(&self.topic)
        )
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// `TopicOffset`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopicOffset {
    pub min_offset: i64,
    pub max_offset: i64,
    pub last_update_timestamp: i64,
}

/// `OffsetWrapper` (4.9.4: exactly three fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffsetWrapper {
    pub broker_offset: i64,
    pub consumer_offset: i64,
    pub last_timestamp: i64,
}

/// `TopicStatsTable` JSON.
pub fn topic_stats_json(entries: &[(MessageQueue, TopicOffset)]) -> String {
    let mut text = String::from("{\"offsetTable\":{");
    for (index, (queue, offset)) in entries.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        let _ = write!(
            text,
            "{}:{{\"lastUpdateTimestamp\":{},\"maxOffset\":{},\"minOffset\":{}}}",
            queue.to_fastjson(),
            offset.last_update_timestamp,
            offset.max_offset,
            offset.min_offset
        );
    }
    text.push_str("}}");
    text
}

/// `ConsumeStats` JSON.
pub fn consume_stats_json(consume_tps: f64, entries: &[(MessageQueue, OffsetWrapper)]) -> String {
    let mut text = format!("{{\"consumeTps\":{consume_tps:?},\"offsetTable\":{{");
    for (index, (queue, offset)) in entries.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        let _ = write!(
            text,
            "{}:{{\"brokerOffset\":{},\"consumerOffset\":{},\"lastTimestamp\":{}}}",
            queue.to_fastjson(),
            offset.broker_offset,
            offset.consumer_offset,
            offset.last_timestamp
        );
    }
    text.push_str("}}");
    text
}

/// The end (exclusive) of the JSON value starting at `start` (an object or array), tracking
/// string literals.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut index = start;
    while index < bytes.len() {
        let byte = bytes[index];
        if in_string {
            match byte {
                b'\\' => index += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(index + 1);
                    }
                }
                _ => {}
            }
        }
        index += 1;
    }
    None
}

fn skip_space(bytes: &[u8], mut index: usize) -> usize {
    while index < bytes.len() && bytes[index].is_ascii_whitespace() {
        index += 1;
    }
    index
}

/// Reads the `offsetTable` of a TopicStatsTable or ConsumeStats body: each MessageQueue key
/// with its value object (as JSON). Also accepts keys written as JSON strings holding the
/// object. Other top-level fields are returned by [`top_level_number`].
pub fn parse_offset_table(text: &str) -> Result<Vec<(MessageQueue, serde_json::Value)>, String> {
    let bytes = text.as_bytes();
    let key = "\"offsetTable\"";
    let at = text.find(key).ok_or("no offsetTable")?;
    let mut index = skip_space(bytes, at + key.len());
    if bytes.get(index) != Some(&b':') {
        return Err("offsetTable without ':'".into());
    }
    index = skip_space(bytes, index + 1);
    if bytes.get(index) != Some(&b'{') {
        return Err("offsetTable is not an object".into());
    }
    index = skip_space(bytes, index + 1);
    let mut entries = Vec::new();
    loop {
        match bytes.get(index) {
            Some(b'}') => return Ok(entries),
            Some(b',') => index = skip_space(bytes, index + 1),
            Some(b'{') => {
                let end = value_end(bytes, index).ok_or("unterminated key")?;
                let queue = queue_of(&text[index..end])?;
                index = skip_space(bytes, end);
                if bytes.get(index) != Some(&b':') {
                    return Err("key without ':'".into());
                }
                index = skip_space(bytes, index + 1);
                let value_end = value_end(bytes, index).ok_or("unterminated value")?;
                let value = serde_json::from_str(&text[index..value_end]).map_err(|error| error.to_string())?;
                entries.push((queue, value));
                index = skip_space(bytes, value_end);
            }
            Some(b'"') => {
                // A string key (standard JSON writers): the object as text.
                let mut stream = serde_json::Deserializer::from_str(&text[index..]).into_iter::<String>();
                let key_text = stream.next().ok_or("no key")?.map_err(|error| error.to_string())?;
                let queue = queue_of(&key_text)?;
                index = skip_space(bytes, index + stream.byte_offset());
                if bytes.get(index) != Some(&b':') {
                    return Err("key without ':'".into());
                }
                index = skip_space(bytes, index + 1);
                let value_end = value_end(bytes, index).ok_or("unterminated value")?;
                let value = serde_json::from_str(&text[index..value_end]).map_err(|error| error.to_string())?;
                entries.push((queue, value));
                index = skip_space(bytes, value_end);
            }
            other => return Err(format!("unexpected {:?} in offsetTable", other.map(|byte| *byte as char))),
        }
    }
}

fn queue_of(text: &str) -> Result<MessageQueue, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    Ok(MessageQueue {
        topic: value["topic"].as_str().unwrap_or_default().to_string(),
        broker_name: value["brokerName"].as_str().unwrap_or_default().to_string(),
        queue_id: value["queueId"].as_i64().unwrap_or(0) as i32,
    })
}

/// A number field at the top level of the body, outside `offsetTable` (e.g. `consumeTps`).
pub fn top_level_number(text: &str, field: &str) -> Option<f64> {
    let key = format!("\"{field}\":");
    let at = text.find(&key)? + key.len();
    let rest = &text[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(topic: &str, queue_id: i32) -> MessageQueue {
        MessageQueue { topic: topic.into(), broker_name: "b".into(), queue_id }
    }

    #[test]
    fn topic_stats_table_has_object_keys_in_fastjson_order() {
        let entries = vec![
            (queue("T", 0), TopicOffset { min_offset: 0, max_offset: 3, last_update_timestamp: 1700000000123 }),
            (queue("T", 1), TopicOffset::default()),
        ];
        assert_eq!(
            topic_stats_json(&entries),
            "{\"offsetTable\":{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:{\"lastUpdateTimestamp\":1700000000123,\"maxOffset\":3,\"minOffset\":0},{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"T\"}:{\"lastUpdateTimestamp\":0,\"maxOffset\":0,\"minOffset\":0}}}"
        );
        assert_eq!(topic_stats_json(&[]), "{\"offsetTable\":{}}");
    }

    #[test]
    fn consume_stats_has_object_keys_and_a_double_tps() {
        let entries = vec![(queue("T", 0), OffsetWrapper { broker_offset: 5, consumer_offset: 2, last_timestamp: 17 })];
        assert_eq!(
            consume_stats_json(0.0, &entries),
            "{\"consumeTps\":0.0,\"offsetTable\":{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:{\"brokerOffset\":5,\"consumerOffset\":2,\"lastTimestamp\":17}}}"
        );
    }

    #[test]
    fn tables_read_back_including_escaped_names_and_string_keys() {
        let entries = vec![
            (queue("a\"}{b", 0), TopicOffset { min_offset: 1, max_offset: 2, last_update_timestamp: 3 }),
            (queue("T", 7), TopicOffset::default()),
        ];
        let parsed = parse_offset_table(&topic_stats_json(&entries)).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, entries[0].0);
        assert_eq!(parsed[0].1["maxOffset"], 2);
        assert_eq!(parsed[1].0.queue_id, 7);
        let text = consume_stats_json(1.5, &[(queue("T", 0), OffsetWrapper::default())]);
        assert_eq!(top_level_number(&text, "consumeTps"), Some(1.5));
        let standard = r#"{"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":3,\"topic\":\"T\"}":{"maxOffset":9}}}"#;
        let parsed = parse_offset_table(standard).unwrap();
        assert_eq!(parsed[0].0, queue("T", 3));
        assert_eq!(parsed[0].1["maxOffset"], 9);
    }
}
