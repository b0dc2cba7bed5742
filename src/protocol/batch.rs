//! The batch send body (protocol §5.4): the client's `MessageBatch` encoding, a concatenation of
//! `[TOTALSIZE i32][MAGIC i32 = 0][BODYCRC i32 = 0][FLAG i32][BODY i32+B][PROPERTIES i16+P]`.

use std::fmt;

use bytes::{BufMut, Bytes};

/// One message of a batch; `body` is a slice of the request body (no copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEntry {
    pub flag: i32,
    pub body: Bytes,
    pub properties: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    Truncated { at_bytes: usize },
    Size { at_bytes: usize, total_size: i32 },
    PropertiesUtf8 { at_bytes: usize },
    TooManyEntries { count_max: usize },
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { at_bytes } => write!(f, "batch entry at byte {at_bytes} is truncated"),
            Self::Size { at_bytes, total_size } => {
                write!(f, "batch entry at byte {at_bytes} has an inconsistent size {total_size}")
            }
            Self::PropertiesUtf8 { at_bytes } => {
                write!(f, "batch entry at byte {at_bytes} has non-UTF-8 properties")
            }
            Self::TooManyEntries { count_max } => write!(f, "batch has more than {count_max} messages"),
        }
    }
}

impl std::error::Error for BatchError {}

const ENTRY_FIXED_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// Splits a batch body into its entries. Every entry must be complete and its TOTALSIZE must
/// agree with its fields; `count_max` bounds the work a hostile body can cause.
pub fn decode(body: &Bytes, count_max: usize) -> Result<Vec<BatchEntry>, BatchError> {
    let mut entries = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        if entries.len() >= count_max {
            return Err(BatchError::TooManyEntries { count_max });
        }
        let entry = decode_entry(body, at)?;
        at += entry.0;
        entries.push(entry.1);
    }
    Ok(entries)
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn decode_entry(body: &Bytes, at: usize) -> Result<(usize, BatchEntry), BatchError> {
    let rest = &body[at..];
    if rest.len() < ENTRY_FIXED_BYTES {
        return Err(BatchError::Truncated { at_bytes: at });
    }
    let total_size = read_i32(rest, 0);
    let flag = read_i32(rest, 12);
    let body_bytes = read_i32(rest, 16);
    if body_bytes < 0 || rest.len() < 20 + body_bytes as usize + 2 {
        return Err(BatchError::Truncated { at_bytes: at });
    }
    let body_end = 20 + body_bytes as usize;
    let properties_bytes = i16::from_be_bytes([rest[body_end], rest[body_end + 1]]);
    if properties_bytes < 0 {
        return Err(BatchError::Size { at_bytes: at, total_size });
    }
    let end = body_end + 2 + properties_bytes as usize;
    if rest.len() < end {
        return Err(BatchError::Truncated { at_bytes: at });
    }
    if total_size < 0 || total_size as usize != end {
        return Err(BatchError::Size { at_bytes: at, total_size });
    }
    let properties = std::str::from_utf8(&rest[body_end + 2..end])
        .map_err(|_| BatchError::PropertiesUtf8 { at_bytes: at })?
        .to_string();
    let entry = BatchEntry { flag, body: body.slice(at + 20..at + body_end), properties };
    Ok((end, entry))
}

/// Encodes entries as the Java client does (magic and CRC written as 0).
pub fn encode(entries: &[BatchEntry], target: &mut impl BufMut) {
    for entry in entries {
        let size = 20 + entry.body.len() + 2 + entry.properties.len();
        target.put_i32(size as i32);
        target.put_i32(0);
        target.put_i32(0);
        target.put_i32(entry.flag);
        target.put_i32(entry.body.len() as i32);
        target.put_slice(&entry.body);
        target.put_i16(entry.properties.len() as i16);
        target.put_slice(entry.properties.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_and_rejects_damage() {
        let entries = vec![
            BatchEntry { flag: 0, body: Bytes::from_static(b"Hello 0"), properties: "TAGS\u{1}A".into() },
            BatchEntry { flag: 5, body: Bytes::new(), properties: String::new() },
        ];
        let mut encoded = Vec::new();
        encode(&entries, &mut encoded);
        let encoded = Bytes::from(encoded);
        assert_eq!(decode(&encoded, 100).unwrap(), entries);
        for cut in 1..encoded.len() {
            if cut == 20 + 7 + 2 + 6 {
                continue; // a whole first entry is a valid batch
            }
            assert!(decode(&encoded.slice(..cut), 100).is_err(), "cut at {cut}");
        }
        assert!(matches!(decode(&encoded, 1), Err(BatchError::TooManyEntries { .. })));
    }
}
