//! A remoting command: the decoded form of one frame, request or response (protocol §1).

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
/// where a linear scan beats hashing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtFields(Vec<(String, String)>);

impl ExtFields {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Replaces the value of an existing key in place, or appends.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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

    pub fn with_ext(mut self, key: &str, value: impl Into<String>) -> Self {
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
