//! Remoting frames (protocol §1.1–§1.3): a length-prefixed frame holding a JSON or ROCKETMQ
//! binary header and an opaque body.
//!
//! ```text
//! +----------------+--------------------------+-----------------+-----------------+
//! | length: i32 BE | type<<24 | header length | header          | body            |
//! +----------------+--------------------------+-----------------+-----------------+
//!   = 4 + header length + body length
//! ```
//!
//! Decoding checks before it parses (mini-redis `Frame::check`): the length is validated against
//! `FRAME_SIZE_BYTES_MAX` from the first four bytes, so a hostile or foreign peer (an HTTP/2
//! preface reads as a 1.3 GB length) is refused before anything is buffered. The body is a
//! zero-copy slice of the read buffer.
//!
//! Leniency lives only where real clients need it (`reference/clients.md` §5): ext values that
//! are JSON numbers or booleans, `language` as a name or a number, a trailing newline after the
//! JSON header, explicit `null`s. Everything else is strict: unknown serialize types, header
//! lengths past the frame, invalid UTF-8, truncated binary fields and trailing garbage in a
//! binary header are errors that close the connection.

use std::borrow::Cow;
use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::codes::Language;
use super::command::{Command, ExtFields, SerializeType};
use crate::limits::{FRAME_SIZE_BYTES_MAX, HEADER_EXT_FIELDS_MAX};

/// Why a frame could not be decoded. Each one closes that connection only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is larger than the frame limit.
    TooLarge { length_bytes: u64, length_bytes_max: usize },
    /// The length prefix cannot even hold the header-length word.
    TooSmall { length_bytes: i64 },
    /// The header length in the second word points past the end of the frame.
    HeaderLength { header_bytes: usize, frame_bytes: usize },
    /// The serialize type byte is neither 0 (JSON) nor 1 (ROCKETMQ).
    SerializeType(u8),
    /// The JSON header does not parse.
    Json(String),
    /// The binary header is malformed.
    Binary(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { length_bytes, length_bytes_max } => {
                write!(f, "frame length {length_bytes} exceeds the limit of {length_bytes_max} bytes")
            }
            Self::TooSmall { length_bytes } => write!(f, "frame length {length_bytes} is too small"),
            Self::HeaderLength { header_bytes, frame_bytes } => {
                write!(f, "header length {header_bytes} does not fit in a frame of {frame_bytes} bytes")
            }
            Self::SerializeType(kind) => write!(f, "unknown serialize type {kind}"),
            Self::Json(reason) => write!(f, "bad JSON header: {reason}"),
            Self::Binary(reason) => write!(f, "bad ROCKETMQ header: {reason}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// How many bytes the frame at the start of `buffer` occupies, length prefix included, once the
/// prefix is available: `Ok(None)` means "need more bytes". Fails as soon as the prefix shows
/// the frame can never be valid, so the caller never buffers an oversized frame.
pub fn frame_size(buffer: &[u8]) -> Result<Option<usize>, FrameError> {
    if buffer.len() < 4 {
        return Ok(None);
    }
    let length = i32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
    if length < 4 {
        return Err(FrameError::TooSmall { length_bytes: i64::from(length) });
    }
    let length = length as usize;
    if length > FRAME_SIZE_BYTES_MAX {
        return Err(FrameError::TooLarge { length_bytes: length as u64, length_bytes_max: FRAME_SIZE_BYTES_MAX });
    }
    Ok(Some(4 + length))
}

/// Decodes one frame from the front of `buffer`, consuming it. `Ok(None)` means the frame is not
/// complete yet (nothing is consumed).
pub fn decode(buffer: &mut BytesMut) -> Result<Option<Command>, FrameError> {
    let Some(size) = frame_size(buffer)? else {
        return Ok(None);
    };
    if buffer.len() < size {
        return Ok(None);
    }
    let mut frame = buffer.split_to(size).freeze();
    frame.advance(4);
    decode_frame_body(frame).map(Some)
}

/// Decodes a frame whose length prefix has been stripped: `frame` = type/length word, header,
/// body. The body is a slice of `frame` (no copy).
pub fn decode_frame_body(mut frame: Bytes) -> Result<Command, FrameError> {
    let frame_bytes = frame.len();
    if frame_bytes < 4 {
        return Err(FrameError::TooSmall { length_bytes: frame_bytes as i64 });
    }
    let word = frame.get_u32();
    let kind = (word >> 24) as u8;
    let header_bytes = (word & 0x00FF_FFFF) as usize;
    if header_bytes > frame.len() {
        return Err(FrameError::HeaderLength { header_bytes, frame_bytes });
    }
    let header = frame.split_to(header_bytes);
    let body = frame;
    let mut command = match kind {
        0 => decode_json_header(&header)?,
        1 => decode_binary_header(&header)?,
        other => return Err(FrameError::SerializeType(other)),
    };
    command.body = body;
    Ok(command)
}

/// Appends the encoded frame of `command` to `target`, in `command.serialize_type`.
pub fn encode(command: &Command, target: &mut BytesMut) {
    encode_head(command, target);
    target.extend_from_slice(&command.body);
}

/// Encodes everything of `command` but its body, with the frame length counting the body:
/// a writer can send a large body as it is instead of copying it behind the header.
pub fn encode_head(command: &Command, target: &mut BytesMut) {
    let start = target.len();
    target.put_u32(0); // length, patched below
    target.put_u32(0); // type and header length, patched below
    let header_start = target.len();
    match command.serialize_type {
        SerializeType::Json => encode_json_header(command, target),
        SerializeType::Rocketmq => encode_binary_header(command, target),
    }
    let header_bytes = target.len() - header_start;
    assert!(header_bytes <= 0x00FF_FFFF, "header of {header_bytes} bytes exceeds 24 bits");
    let length = target.len() - start - 4 + command.body.len();
    assert!(length <= i32::MAX as usize);
    let word = ((command.serialize_type as u32) << 24) | header_bytes as u32;
    target[start..start + 4].copy_from_slice(&(length as u32).to_be_bytes());
    target[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
}

/// Encodes `command` into a new buffer.
pub fn encode_to_bytes(command: &Command) -> Bytes {
    let mut target = BytesMut::with_capacity(256 + command.body.len());
    encode(command, &mut target);
    target.freeze()
}

// ---------------------------------------------------------------------------------------------
// JSON header (protocol §1.2)

#[derive(Deserialize)]
struct JsonHeader {
    code: i32,
    #[serde(default)]
    language: Option<JsonLanguage>,
    #[serde(default)]
    version: Option<i32>,
    opaque: i32,
    #[serde(default)]
    flag: Option<i32>,
    #[serde(default)]
    remark: Option<String>,
    #[serde(default, rename = "extFields")]
    ext_fields: Option<JsonExtFields>,
}

/// `language` arrives as the enum name from every captured client; a number is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonLanguage {
    Name(String),
    Code(u8),
}

/// ext values are strings from Java; ali-ons and the C++ clients also send JSON numbers and
/// booleans, which fastjson turns into their string form. `null` values are dropped, as Java's
/// encoder never writes a null entry.
struct JsonExtFields(ExtFields);

impl<'de> Deserialize<'de> for JsonExtFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ExtFieldsVisitor)
    }
}

struct ExtFieldsVisitor;

impl<'de> Visitor<'de> for ExtFieldsVisitor {
    type Value = JsonExtFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of scalar values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = ExtFields::with_capacity(16, 512);
        while let Some(ScalarText(key)) = map.next_key::<ScalarText>()? {
            if fields.len() >= HEADER_EXT_FIELDS_MAX {
                return Err(de::Error::custom("too many ext fields"));
            }
            let Some(ScalarText(value)) = map.next_value::<Option<ScalarText>>()? else {
                continue;
            };
            fields.insert(key, value);
        }
        Ok(JsonExtFields(fields))
    }
}

/// A JSON scalar as the text fastjson would give Java for it. Deserialized directly rather
/// than through `serde_json::Value`, which cost a fifth of header decoding; borrowed from the
/// frame unless it had escapes.
struct ScalarText<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for ScalarText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarTextVisitor)
    }
}

struct ScalarTextVisitor;

impl<'de> Visitor<'de> for ScalarTextVisitor {
    type Value = ScalarText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ScalarText<'de>, E> {
        Ok(ScalarText(Cow::Owned(text.to_owned())))
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<ScalarText<'de>, E> {
        Ok(ScalarText(Cow::Borrowed(text)))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<ScalarText<'de>, E> {
        Ok(ScalarText(Cow::Owned(text)))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<ScalarText<'de>, E> {
        Ok(ScalarText(Cow::Owned(number.to_string())))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<ScalarText<'de>, E> {
        Ok(ScalarText(Cow::Owned(number.to_string())))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<ScalarText<'de>, E> {
        // As serde_json::Number prints it (what this decoder gave before).
        Ok(ScalarText(Cow::Owned(
            serde_json::Number::from_f64(number).map_or_else(|| number.to_string(), |n| n.to_string()),
        )))
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<ScalarText<'de>, E> {
        Ok(ScalarText(Cow::Owned(flag.to_string())))
    }
}

fn decode_json_header(header: &[u8]) -> Result<Command, FrameError> {
    let parsed: JsonHeader = serde_json::from_slice(header).map_err(|error| FrameError::Json(error.to_string()))?;
    let language = match parsed.language {
        None => Language::Java,
        Some(JsonLanguage::Name(name)) => {
            Language::from_name(&name).ok_or_else(|| FrameError::Json(format!("unknown language {name:?}")))?
        }
        Some(JsonLanguage::Code(code)) => {
            Language::from_code(code).ok_or_else(|| FrameError::Json(format!("unknown language code {code}")))?
        }
    };
    Ok(Command {
        code: parsed.code,
        language,
        version: parsed.version.unwrap_or(0),
        opaque: parsed.opaque,
        flag: parsed.flag.unwrap_or(0),
        remark: parsed.remark,
        ext_fields: parsed.ext_fields.map(|fields| fields.0).unwrap_or_default(),
        serialize_type: SerializeType::Json,
        body: Bytes::new(),
    })
}

/// Writes the header as Java's fastjson does: keys in alphabetical order, nulls omitted,
/// `serializeTypeCurrentRPC` included. A Java-made header therefore re-encodes byte for byte.
fn encode_json_header(command: &Command, target: &mut BytesMut) {
    let mut text = String::with_capacity(128 + command.ext_fields.len() * 32);
    text.push_str("{\"code\":");
    text.push_str(&command.code.to_string());
    if !command.ext_fields.is_empty() {
        text.push_str(",\"extFields\":{");
        for (index, (key, value)) in command.ext_fields.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            push_json_string(&mut text, key);
            text.push(':');
            push_json_string(&mut text, value);
        }
        text.push('}');
    }
    text.push_str(",\"flag\":");
    text.push_str(&command.flag.to_string());
    text.push_str(",\"language\":\"");
    text.push_str(command.language.name());
    text.push_str("\",\"opaque\":");
    text.push_str(&command.opaque.to_string());
    if let Some(remark) = &command.remark {
        text.push_str(",\"remark\":");
        push_json_string(&mut text, remark);
    }
    text.push_str(",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    text.push_str(&command.version.to_string());
    text.push('}');
    target.extend_from_slice(text.as_bytes());
}

/// Appends `value` as a JSON string literal.
pub fn push_json_string(target: &mut String, value: &str) {
    target.push('"');
    for character in value.chars() {
        match character {
            '"' => target.push_str("\\\""),
            '\\' => target.push_str("\\\\"),
            '\n' => target.push_str("\\n"),
            '\r' => target.push_str("\\r"),
            '\t' => target.push_str("\\t"),
            '\u{08}' => target.push_str("\\b"),
            '\u{0c}' => target.push_str("\\f"),
            c if (c as u32) < 0x20 => target.push_str(&format!("\\u{:04x}", c as u32)),
            c => target.push(c),
        }
    }
    target.push('"');
}

// ---------------------------------------------------------------------------------------------
// ROCKETMQ binary header (protocol §1.3)

fn decode_binary_header(header: &[u8]) -> Result<Command, FrameError> {
    let mut cursor = header;
    let code = i32::from(take_i16(&mut cursor)?);
    let language_code = take_u8(&mut cursor)?;
    let language = Language::from_code(language_code).ok_or(FrameError::Binary("unknown language code"))?;
    let version = i32::from(take_i16(&mut cursor)?);
    let opaque = take_i32(&mut cursor)?;
    let flag = take_i32(&mut cursor)?;
    let remark_bytes = take_length(&mut cursor, header.len())?;
    let remark = match remark_bytes {
        0 => None,
        length => Some(take_str(&mut cursor, length)?.to_owned()),
    };
    let ext_bytes = take_length(&mut cursor, header.len())?;
    if ext_bytes > cursor.len() {
        return Err(FrameError::Binary("ext fields length past the header"));
    }
    let (mut ext, rest) = cursor.split_at(ext_bytes);
    if !rest.is_empty() {
        return Err(FrameError::Binary("trailing bytes after the ext fields"));
    }
    let mut ext_fields = ExtFields::with_capacity(16, ext.len());
    while !ext.is_empty() {
        if ext_fields.len() >= HEADER_EXT_FIELDS_MAX {
            return Err(FrameError::Binary("too many ext fields"));
        }
        let key_bytes = take_i16(&mut ext)?;
        if key_bytes < 0 {
            return Err(FrameError::Binary("negative ext key length"));
        }
        let key = take_str(&mut ext, key_bytes as usize)?;
        let value_bytes = take_length(&mut ext, header.len())?;
        let value = take_str(&mut ext, value_bytes)?;
        ext_fields.insert(key, value);
    }
    Ok(Command {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        serialize_type: SerializeType::Rocketmq,
        body: Bytes::new(),
    })
}

fn encode_binary_header(command: &Command, target: &mut BytesMut) {
    assert!(i16::try_from(command.code).is_ok(), "code {} does not fit i16", command.code);
    target.put_i16(command.code as i16);
    target.put_u8(command.language.code());
    target.put_i16(command.version as i16);
    target.put_i32(command.opaque);
    target.put_i32(command.flag);
    match &command.remark {
        Some(remark) => {
            target.put_i32(remark.len() as i32);
            target.extend_from_slice(remark.as_bytes());
        }
        None => target.put_i32(0),
    }
    let ext_bytes: usize = command.ext_fields.iter().map(|(key, value)| 2 + key.len() + 4 + value.len()).sum();
    target.put_i32(ext_bytes as i32);
    for (key, value) in command.ext_fields.iter() {
        target.put_i16(key.len() as i16);
        target.extend_from_slice(key.as_bytes());
        target.put_i32(value.len() as i32);
        target.extend_from_slice(value.as_bytes());
    }
}

fn take_u8(cursor: &mut &[u8]) -> Result<u8, FrameError> {
    if cursor.is_empty() {
        return Err(FrameError::Binary("truncated header"));
    }
    Ok(cursor.get_u8())
}

fn take_i16(cursor: &mut &[u8]) -> Result<i16, FrameError> {
    if cursor.len() < 2 {
        return Err(FrameError::Binary("truncated header"));
    }
    Ok(cursor.get_i16())
}

fn take_i32(cursor: &mut &[u8]) -> Result<i32, FrameError> {
    if cursor.len() < 4 {
        return Err(FrameError::Binary("truncated header"));
    }
    Ok(cursor.get_i32())
}

/// A length field: non-negative and not larger than the header (Java's rule).
fn take_length(cursor: &mut &[u8], header_bytes: usize) -> Result<usize, FrameError> {
    let length = take_i32(cursor)?;
    if length < 0 || length as usize > header_bytes {
        return Err(FrameError::Binary("length field out of range"));
    }
    Ok(length as usize)
}

fn take_str<'a>(cursor: &mut &'a [u8], length: usize) -> Result<&'a str, FrameError> {
    if cursor.len() < length {
        return Err(FrameError::Binary("string past the end of the header"));
    }
    let (text, rest) = cursor.split_at(length);
    *cursor = rest;
    std::str::from_utf8(text).map_err(|_| FrameError::Binary("string is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(kind: u8, header: &[u8], body: &[u8]) -> BytesMut {
        let mut frame = BytesMut::new();
        frame.put_u32((4 + header.len() + body.len()) as u32);
        frame.put_u32(((kind as u32) << 24) | header.len() as u32);
        frame.extend_from_slice(header);
        frame.extend_from_slice(body);
        frame
    }

    #[test]
    fn binary_response_matches_the_worked_example() {
        // protocol §1.3.1: SUCCESS to GET_MAX_OFFSET, opaque 0, version 401, ext offset=42.
        let mut command = Command::response_to(&Command::request(30, 0), 0).with_ext("offset", "42");
        command.serialize_type = SerializeType::Rocketmq;
        command.version = 401;
        let encoded = encode_to_bytes(&command);
        let expected: &[u8] = &[
            0, 0, 0, 0x27, 1, 0, 0, 0x23, 0, 0, 0, 1, 0x91, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 6,
            b'o', b'f', b'f', b's', b'e', b't', 0, 0, 0, 2, b'4', b'2',
        ];
        assert_eq!(&encoded[..], expected);
        let decoded = decode(&mut BytesMut::from(&encoded[..])).unwrap().unwrap();
        assert_eq!(decoded, command);
    }

    #[test]
    fn json_header_accepts_scalar_ext_values_and_a_trailing_newline() {
        let header = br#"{"code":310,"language":"CPP","opaque":3,"flag":0,"version":333,"extFields":{"d":4,"k":false,"e":"1","n":null}}
"#;
        let command = decode(&mut frame_of(0, header, b"body")).unwrap().unwrap();
        assert_eq!(command.code, 310);
        assert_eq!(command.language, Language::Cpp);
        assert_eq!(command.ext_fields.get("d"), Some("4"));
        assert_eq!(command.ext_fields.get("k"), Some("false"));
        assert_eq!(command.ext_fields.get("n"), None);
        assert_eq!(&command.body[..], b"body");
    }

    #[test]
    fn json_header_accepts_a_numeric_language() {
        let header = br#"{"code":105,"language":12,"opaque":1}"#;
        let command = decode(&mut frame_of(0, header, b"")).unwrap().unwrap();
        assert_eq!(command.language, Language::Rust);
    }

    #[test]
    fn json_header_rejects_garbage_and_unknown_languages() {
        assert!(matches!(decode(&mut frame_of(0, b"{\"code\":", b"")), Err(FrameError::Json(_))));
        let header = br#"{"code":105,"language":"COBOL","opaque":1}"#;
        assert!(matches!(decode(&mut frame_of(0, header, b"")), Err(FrameError::Json(_))));
        let header = br#"{"code":105,"opaque":1,"extFields":{"a":[1]}}"#;
        assert!(matches!(decode(&mut frame_of(0, header, b"")), Err(FrameError::Json(_))));
    }

    #[test]
    fn oversized_length_is_refused_from_the_prefix_alone() {
        // An HTTP/2 preface ("PRI ") reads as a 1.3 GB length.
        let mut buffer = BytesMut::from(&b"PRI * HTTP/2.0"[..]);
        assert!(matches!(decode(&mut buffer), Err(FrameError::TooLarge { .. })));
        let mut buffer = BytesMut::from(&[0u8, 0, 0, 2, 0, 0][..]);
        assert!(matches!(decode(&mut buffer), Err(FrameError::TooSmall { .. })));
    }

    #[test]
    fn incomplete_frames_wait_for_more_bytes() {
        let full = frame_of(0, br#"{"code":1,"opaque":1}"#, b"xyz");
        for cut in 0..full.len() {
            let mut partial = BytesMut::from(&full[..cut]);
            assert_eq!(decode(&mut partial).unwrap(), None, "cut at {cut}");
            assert_eq!(partial.len(), cut, "nothing consumed");
        }
    }

    #[test]
    fn header_length_past_the_frame_is_refused() {
        let mut frame = BytesMut::new();
        frame.put_u32(8);
        frame.put_u32(100);
        frame.put_u32(0);
        assert!(matches!(decode(&mut frame), Err(FrameError::HeaderLength { .. })));
        let mut frame = frame_of(7, b"{}", b"");
        assert!(matches!(decode(&mut frame), Err(FrameError::SerializeType(7))));
    }

    #[test]
    fn binary_header_rejects_truncation_and_trailing_bytes() {
        let mut command = Command::request(105, 9).with_ext("topic", "T");
        command.serialize_type = SerializeType::Rocketmq;
        let encoded = encode_to_bytes(&command);
        let header_bytes = (u32::from_be_bytes(encoded[4..8].try_into().unwrap()) & 0xFFFFFF) as usize;
        let header = &encoded[8..8 + header_bytes];
        for cut in 0..header.len() {
            assert!(decode(&mut frame_of(1, &header[..cut], b"")).is_err(), "cut at {cut}");
        }
        let mut longer = header.to_vec();
        longer.push(0);
        assert!(decode(&mut frame_of(1, &longer, b"")).is_err());
    }

    #[test]
    fn json_round_trip_keeps_remark_and_ext_order() {
        let command = Command::request(17, 5)
            .with_ext("z", "1")
            .with_ext("a", "x\u{1}y\"")
            .with_remark("hello\n")
            .with_body(&b"payload"[..]);
        let encoded = encode_to_bytes(&command);
        let decoded = decode(&mut BytesMut::from(&encoded[..])).unwrap().unwrap();
        assert_eq!(decoded, command);
        assert_eq!(encode_to_bytes(&decoded), encoded);
    }
}
