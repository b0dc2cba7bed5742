//! Message-level codecs shared by send, store and pull: the properties string (§5.1), the tag
//! hash (§5.6), RocketMQ's CRC32 (§5.8), flag words (§5.2) and delay-level parsing helpers.

/// Separates a property name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separates two properties.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Well-known property names (`MessageConst`).
pub mod property {
    pub const KEYS: &str = "KEYS";
    pub const TAGS: &str = "TAGS";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QID: &str = "REAL_QID";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const PGROUP: &str = "PGROUP";
    /// How often the broker asked the producer about a half message.
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
    /// A half message's own minimum age before a check, in seconds.
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const CLUSTER: &str = "CLUSTER";
    pub const MSG_REGION: &str = "MSG_REGION";
    pub const TRACE_ON: &str = "TRACE_ON";
}

/// `MessageSysFlag` bits.
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_MASK: i32 = 0xC;
    pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    pub const BORNHOST_V6: i32 = 0x10;
    pub const STOREHOST_V6: i32 = 0x20;
}

/// `PullSysFlag` bits.
pub mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

/// A message's properties in arrival order. Later duplicates replace earlier ones, as Java's
/// `string2messageProperties` does with its HashMap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties(Vec<(String, String)>);

impl Properties {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Parses `name\x01value\x02name\x01value`: a segment is kept only if its first `\x01` is
    /// neither its first nor its last character (so empty names and empty values are dropped,
    /// exactly as Java does). A trailing `\x02` (C++ clients, ali-ons) is harmless.
    pub fn parse(text: &str) -> Self {
        let mut properties = Self::new();
        for segment in text.split(PROPERTY_SEPARATOR) {
            if segment.len() < 3 {
                continue;
            }
            let Some(split) = segment.find(NAME_VALUE_SEPARATOR) else {
                continue;
            };
            if split == 0 || split + 1 >= segment.len() {
                continue;
            }
            properties.insert(&segment[..split], &segment[split + 1..]);
        }
        properties
    }

    /// Encodes without a trailing separator, as the Java client does.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(self.0.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                text.push(PROPERTY_SEPARATOR);
            }
            text.push_str(name);
            text.push(NAME_VALUE_SEPARATOR);
            text.push_str(value);
        }
        text
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn insert(&mut self, name: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.0.push((name.to_string(), value.to_string())),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(index).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The space-separated KEYS, each indexed for QUERY_MESSAGE.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.get(property::KEYS).unwrap_or("").split(' ').filter(|k| !k.is_empty())
    }
}

/// Java's `String.hashCode`: over UTF-16 code units with wrapping i32 arithmetic.
pub fn java_string_hash(text: &str) -> i32 {
    let mut hash: i32 = 0;
    for unit in text.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    hash
}

/// The consume-queue tags code of a message: the hash of its TAGS, or 0 without tags.
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(tags) if !tags.is_empty() => i64::from(java_string_hash(tags)),
        _ => 0,
    }
}

/// RocketMQ's `UtilAll.crc32`: IEEE CRC-32 with the top bit cleared.
pub fn crc32(bytes: &[u8]) -> i32 {
    (crc32fast::hash(bytes) & 0x7FFF_FFFF) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_as_java_does() {
        let parsed = Properties::parse("TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}WAIT\u{1}true\u{2}");
        assert_eq!(parsed.get("TAGS"), Some("TagA"));
        assert_eq!(parsed.keys().collect::<Vec<_>>(), vec!["k1", "k2"]);
        assert_eq!(parsed.encode(), "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}WAIT\u{1}true");
        // Empty values, empty names and segments without a separator are dropped.
        let parsed = Properties::parse("A\u{1}\u{2}\u{1}B\u{2}junk\u{2}C\u{1}1\u{2}C\u{1}2");
        assert_eq!(parsed.iter().collect::<Vec<_>>(), vec![("C", "2")]);
        // Only the first separator splits.
        assert_eq!(Properties::parse("K\u{1}a\u{1}b").get("K"), Some("a\u{1}b"));
    }

    #[test]
    fn tag_hash_matches_java_string_hash_code() {
        // "TagA".hashCode() == 2598919, as Java and ali-ons send in codeSet.
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        assert_eq!(java_string_hash(""), 0);
        // Wrapping arithmetic and a non-BMP character (two UTF-16 units).
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(java_string_hash("\u{1F600}"), 55357 * 31 + 56832);
        assert_eq!(tags_code(Some("TagA")), 2_598_919);
        assert_eq!(tags_code(None), 0);
    }

    #[test]
    fn crc_clears_the_top_bit() {
        assert_eq!(crc32(b"123456789"), (0xCBF4_3926u32 & 0x7FFF_FFFF) as i32);
    }
}
