//! A remoting command: the decoded form of one frame, request or response (protocol §1).

use std::cell::Cell;

use bytes::Bytes;

use super::codes::{version, Language};

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: the request wants no response.
pub const FLAG_ONEWAY: i32 = 2;

/// Header encoding, the high byte of the frame's second word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerializeType {
    Json = 0,
    Rocketmq = 1,
}

/// `extFields`: every value is a string on the wire. Kept in arrival order (not a hash map) so
/// that a decoded header re-encodes byte for byte, and because headers hold a handful of keys,
/// where a linear scan beats hashing. Keys and values live back to back in one string, found by
/// their spans: a send's header has ~15 fields, and a `(String, String)` pair each was two
/// allocations and two frees per field (~5% of a shard's CPU at 4×32 sends).
#[derive(Clone, Default)]
pub struct ExtFields {
    text: String,
    entries: Vec<ExtEntry>,
    /// Where the next `get` starts looking: just after the last key it found. A header struct
    /// reads its fields in declaration order, which is the order clients write them in, so a
    /// whole decode finds each key at the first probe instead of scanning for each (`get` was
    /// 2.5–2.9 % of a shard's samples at 4 × 32 sends, with each send's header decoded twice).
    next_get: Cell<usize>,
    /// One bit per key present, at [`key_bit`] of its fingerprint: an `insert` whose bit is
    /// clear appends without looking for the key (a decoder inserts every key of a frame, and
    /// the look-up made decoding quadratic in the number of fields).
    key_bits: u64,
}

/// Byte spans of one key and its value in `ExtFields::text`.
#[derive(Clone, Copy)]
struct ExtEntry {
    /// [`fingerprint`] of the key.
    key_fingerprint: u64,
    key_start: u32,
    key_end: u32,
    value_start: u32,
    value_end: u32,
}

impl ExtFields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `count` fields of `text_bytes` in total, so that decoding allocates twice.
    pub fn with_capacity(count: usize, text_bytes: usize) -> Self {
        Self {
            text: String::with_capacity(text_bytes),
            entries: Vec::with_capacity(count),
            next_get: Cell::new(0),
            key_bits: 0,
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        let key_fingerprint = fingerprint(key.as_bytes());
        let start = self.next_get.get().min(self.entries.len());
        let (before_start, from_start) = self.entries.split_at(start);
        // Keys are unique (`insert` replaces), so the order of the search changes nothing found.
        let found = from_start.iter().chain(before_start).position(|entry| self.key_is(entry, key_fingerprint, key))?;
        let index = (start + found) % self.entries.len();
        self.next_get.set(index + 1);
        Some(self.value_of(&self.entries[index]))
    }

    /// Replaces the value of an existing key, or appends. A replaced value's old text stays
    /// in the buffer until the fields are dropped: replacing is rare (a decoder meeting a
    /// duplicate key, a handler rewriting one field).
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        let value_start = self.push_text(value);
        let value_end = self.text_len();
        let key_fingerprint = fingerprint(key.as_bytes());
        let bit = key_bit(key_fingerprint);
        let existing = if self.key_bits & bit == 0 {
            None
        } else {
            self.entries.iter().position(|entry| self.key_is(entry, key_fingerprint, key))
        };
        self.key_bits |= bit;
        match existing {
            Some(index) => {
                self.entries[index].value_start = value_start;
                self.entries[index].value_end = value_end;
            }
            None => {
                let key_start = self.push_text(key);
                let key_end = self.text_len();
                self.entries.push(ExtEntry { key_fingerprint, key_start, key_end, value_start, value_end });
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|entry| (self.key_of(entry), self.value_of(entry)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn push_text(&mut self, text: &str) -> u32 {
        let start = self.text_len();
        self.text.push_str(text);
        assert!(self.text.len() <= u32::MAX as usize, "ext fields are bounded by the header size");
        start
    }

    fn text_len(&self) -> u32 {
        self.text.len() as u32
    }

    /// Fingerprints first: they settle keys of up to `FINGERPRINT_HEAD_BYTES` (a send's are
    /// one letter) without comparing bytes; longer keys with equal heads compare the rest.
    fn key_is(&self, entry: &ExtEntry, key_fingerprint: u64, key: &str) -> bool {
        entry.key_fingerprint == key_fingerprint
            && (key.len() <= FINGERPRINT_HEAD_BYTES
                || self.text.as_bytes()[entry.key_start as usize + FINGERPRINT_HEAD_BYTES..entry.key_end as usize]
                    == key.as_bytes()[FINGERPRINT_HEAD_BYTES..])
    }

    fn key_of(&self, entry: &ExtEntry) -> &str {
        &self.text[entry.key_start as usize..entry.key_end as usize]
    }

    fn value_of(&self, entry: &ExtEntry) -> &str {
        &self.text[entry.value_start as usize..entry.value_end as usize]
    }
}

/// Key bytes a fingerprint holds beside the key's length.
const FINGERPRINT_HEAD_BYTES: usize = 6;

/// A key's first bytes and its length in one word: equal fingerprints mean equal keys up to
/// `FINGERPRINT_HEAD_BYTES`. Looking a field up compared key bytes with `memcmp` for every
/// field of the same length: ~8% of a shard's CPU at 4×32 sends, where every key is one
/// letter.
fn fingerprint(key: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let head = key.len().min(FINGERPRINT_HEAD_BYTES);
    word[..head].copy_from_slice(&key[..head]);
    let length = key.len().min(u16::MAX as usize) as u16;
    word[FINGERPRINT_HEAD_BYTES..].copy_from_slice(&length.to_le_bytes());
    u64::from_le_bytes(word)
}

/// A key's bit in `ExtFields::key_bits`: the top 6 bits of its mixed fingerprint.
fn key_bit(key_fingerprint: u64) -> u64 {
    1 << (key_fingerprint.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl std::fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// One remoting command.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// Request code for requests, response code for responses.
    pub code: i32,
    pub language: Language,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: ExtFields,
    /// The header encoding this command arrived in, or will be sent in.
    pub serialize_type: SerializeType,
    pub body: Bytes,
}

impl Command {
    /// A request as our own client sends it: JSON header, Java language (servers ignore it),
    /// our version.
    pub fn request(code: i32, opaque: i32) -> Self {
        Self {
            code,
            language: Language::Java,
            version: version::SERVER,
            opaque,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            serialize_type: SerializeType::Json,
            body: Bytes::new(),
        }
    }

    /// The response to `request` with `code`: same opaque, same header encoding (protocol §1.1:
    /// answer in the encoding of the request). The language is JAVA because that is what every
    /// client has only ever seen from a broker.
    pub fn response_to(request: &Command, code: i32) -> Self {
        Self {
            code,
            language: Language::Java,
            version: version::SERVER,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark: None,
            ext_fields: ExtFields::new(),
            serialize_type: request.serialize_type,
            body: Bytes::new(),
        }
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_ext(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.ext_fields.insert(key, value);
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }
}

#[cfg(test)]
mod tests {
    use super::ExtFields;

    /// Keys that share their first bytes, their length, or both, with keys of every length
    /// around the fingerprint's head: each finds its own value, a replaced value replaces
    /// only its key, and a missing key is missing.
    #[test]
    fn fields_with_similar_keys_each_keep_their_own_value() {
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abcdef",
            "abcdeg",
            "abcdefg",
            "abcdefh",
            "abcdefgh",
            "abcdefhg",
            "topic",
            "topic1",
            "topic12",
            "consumerGroup",
            "consumerGroupX",
            "consumerGroup",
        ];
        let mut fields = ExtFields::new();
        for (index, key) in keys.iter().enumerate() {
            fields.insert(key, index.to_string());
        }
        // "consumerGroup" appears twice: the later insert replaced the earlier value.
        assert_eq!(fields.len(), keys.len() - 1);
        for (index, key) in keys.iter().enumerate().filter(|(index, _)| *index != 14) {
            assert_eq!(fields.get(key), Some(index.to_string().as_str()), "{key:?}");
        }
        for missing in ["c", "abcde", "abcdefi", "abcdefgi", "topic123", "consumerGroupY", "ABCDEF"] {
            assert_eq!(fields.get(missing), None, "{missing:?}");
        }
        let long_a = "k".repeat(70_000) + "a";
        let long_b = "k".repeat(70_001);
        fields.insert(&long_a, "long a");
        assert_eq!(fields.get(&long_a), Some("long a"));
        assert_eq!(fields.get(&long_b), None);
    }

    /// `get` starts after the last key it found; any order of reads still finds every key.
    #[test]
    fn reads_in_any_order_find_every_key() {
        let mut fields = ExtFields::new();
        for index in 0..12 {
            fields.insert(format!("key{index}"), index.to_string());
        }
        let in_order: Vec<usize> = (0..12).collect();
        let reversed: Vec<usize> = (0..12).rev().collect();
        let scattered: Vec<usize> = (0..36).map(|step| step * 7 % 12).collect();
        for order in [&in_order, &reversed, &scattered, &in_order] {
            for &index in order {
                assert_eq!(fields.get(&format!("key{index}")), Some(index.to_string().as_str()));
                assert_eq!(fields.get("absent"), None);
            }
        }
        fields.insert("key11", "replaced");
        assert_eq!(fields.get("key11"), Some("replaced"));
        assert_eq!(ExtFields::new().get("key0"), None);
    }
}
