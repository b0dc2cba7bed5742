//! The stored message record, v1 layout (protocol §5.3): the commit-log format, and therefore
//! also the PULL / QUERY_MESSAGE / VIEW_MESSAGE_BY_ID body format and the replication payload.
//! 4.x clients decode it positionally and require v1 (1-byte topic length).
//!
//! ```text
//!  0 TOTALSIZE i32 | 4 MAGICCODE i32 | 8 BODYCRC i32 | 12 QUEUEID i32 | 16 FLAG i32
//! 20 QUEUEOFFSET i64 | 28 PHYSICALOFFSET i64 | 36 SYSFLAG i32 | 40 BORNTIMESTAMP i64
//! 48 BORNHOST (4+4 or 16+4) | STORETIMESTAMP i64 | STOREHOST (4+4 or 16+4) | RECONSUMETIMES i32
//! PREPAREDTRANSACTIONOFFSET i64 | BODY i32+B | TOPIC i8+T | PROPERTIES i16+P
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::BufMut;

use super::message::{crc32, sys_flag};
use crate::limits::{PROPERTIES_BYTES_MAX, TOPIC_NAME_BYTES_MAX};

/// Magic of a v1 message record.
pub const MAGIC_MESSAGE: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of the end-of-segment blank record.
pub const MAGIC_BLANK: i32 = 0xCBD4_3194_u32 as i32;
/// Size of the end-of-segment blank record's meaningful part (TOTALSIZE + MAGICCODE).
pub const BLANK_SIZE_BYTES: usize = 8;

/// Fixed positions that readers use without decoding the whole record.
pub const POSITION_MAGIC: usize = 4;
pub const POSITION_BODY_CRC: usize = 8;
pub const POSITION_QUEUE_ID: usize = 12;
pub const POSITION_QUEUE_OFFSET: usize = 20;
pub const POSITION_PHYSICAL_OFFSET: usize = 28;
pub const POSITION_SYS_FLAG: usize = 36;
pub const POSITION_BORN_TIMESTAMP: usize = 40;
pub const POSITION_BORN_HOST: usize = 48;

/// What a record holds, borrowed: the input of [`encode`] and the output of [`decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    /// The host-v6 bits are derived from the two addresses on encode.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    pub properties: &'a str,
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    Truncated { needed_bytes: usize, available_bytes: usize },
    Magic(i32),
    Size { total_size: i32, computed_size: usize },
    Crc { stored: i32, computed: i32 },
    Utf8(&'static str),
    TopicTooLong(usize),
    PropertiesTooLong(usize),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed_bytes, available_bytes } => {
                write!(f, "record truncated: needs {needed_bytes} bytes, {available_bytes} available")
            }
            Self::Magic(magic) => write!(f, "bad magic code {magic:#x}"),
            Self::Size { total_size, computed_size } => {
                write!(f, "total size {total_size} disagrees with the fields ({computed_size})")
            }
            Self::Crc { stored, computed } => write!(f, "body CRC {stored} != computed {computed}"),
            Self::Utf8(field) => write!(f, "{field} is not UTF-8"),
            Self::TopicTooLong(length) => write!(f, "topic of {length} bytes exceeds 127"),
            Self::PropertiesTooLong(length) => {
                write!(f, "properties of {length} bytes exceed {PROPERTIES_BYTES_MAX}")
            }
        }
    }
}

impl std::error::Error for RecordError {}

fn host_size_bytes(host: &SocketAddr) -> usize {
    match host.ip() {
        IpAddr::V4(_) => 8,
        IpAddr::V6(_) => 20,
    }
}

/// Encoded size of a record with these variable parts: 91 + B + T + P for IPv4 hosts.
pub fn encoded_size(
    born_host: &SocketAddr,
    store_host: &SocketAddr,
    body_bytes: usize,
    topic_bytes: usize,
    properties_bytes: usize,
) -> usize {
    4 + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + host_size_bytes(born_host)
        + 8
        + host_size_bytes(store_host)
        + 4
        + 8
        + 4
        + body_bytes
        + 1
        + topic_bytes
        + 2
        + properties_bytes
}

impl Record<'_> {
    pub fn size_bytes(&self) -> usize {
        encoded_size(&self.born_host, &self.store_host, self.body.len(), self.topic.len(), self.properties.len())
    }

    /// `sys_flag` with the host-v6 bits set from the addresses.
    pub fn sys_flag_encoded(&self) -> i32 {
        let mut flag = self.sys_flag & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOST_V6);
        if self.born_host.is_ipv6() {
            flag |= sys_flag::BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            flag |= sys_flag::STOREHOST_V6;
        }
        flag
    }

    /// Checks the limits a record must respect before it can be encoded.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_lengths(self.topic, self.properties)
    }
}

/// The record format's limits on the two variable-length fields with short length prefixes.
pub fn check_lengths(topic: &str, properties: &str) -> Result<(), RecordError> {
    if topic.len() > TOPIC_NAME_BYTES_MAX {
        return Err(RecordError::TopicTooLong(topic.len()));
    }
    if properties.len() > PROPERTIES_BYTES_MAX {
        return Err(RecordError::PropertiesTooLong(properties.len()));
    }
    Ok(())
}

fn put_host(target: &mut impl BufMut, host: &SocketAddr) {
    match host.ip() {
        IpAddr::V4(ip) => target.put_slice(&ip.octets()),
        IpAddr::V6(ip) => target.put_slice(&ip.octets()),
    }
    target.put_i32(i32::from(host.port()));
}

/// Appends the encoded record. The caller has validated it ([`Record::validate`]); a topic or
/// properties past the limits here is a programming error.
pub fn encode(record: &Record<'_>, target: &mut impl BufMut) {
    assert!(record.validate().is_ok(), "encode of an invalid record");
    let size = record.size_bytes();
    assert!(size <= i32::MAX as usize);
    target.put_i32(size as i32);
    target.put_i32(MAGIC_MESSAGE);
    target.put_i32(record.body_crc);
    target.put_i32(record.queue_id);
    target.put_i32(record.flag);
    target.put_i64(record.queue_offset);
    target.put_i64(record.physical_offset);
    target.put_i32(record.sys_flag_encoded());
    target.put_i64(record.born_timestamp);
    put_host(target, &record.born_host);
    target.put_i64(record.store_timestamp);
    put_host(target, &record.store_host);
    target.put_i32(record.reconsume_times);
    target.put_i64(record.prepared_transaction_offset);
    target.put_i32(record.body.len() as i32);
    target.put_slice(record.body);
    target.put_i8(record.topic.len() as i8);
    target.put_slice(record.topic.as_bytes());
    target.put_i16(record.properties.len() as i16);
    target.put_slice(record.properties.as_bytes());
}

/// Reads the i32 TOTALSIZE and MAGICCODE at the start of `bytes`, if present.
pub fn peek_size_and_magic(bytes: &[u8]) -> Option<(i32, i32)> {
    if bytes.len() < 8 {
        return None;
    }
    Some((read_i32(bytes, 0), read_i32(bytes, 4)))
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Overwrites the queue offset of an encoded record in place.
pub fn patch_queue_offset(bytes: &mut [u8], queue_offset: i64) {
    bytes[POSITION_QUEUE_OFFSET..POSITION_QUEUE_OFFSET + 8].copy_from_slice(&queue_offset.to_be_bytes());
}

/// Overwrites the physical offset of an encoded record in place.
pub fn patch_physical_offset(bytes: &mut [u8], physical_offset: i64) {
    bytes[POSITION_PHYSICAL_OFFSET..POSITION_PHYSICAL_OFFSET + 8].copy_from_slice(&physical_offset.to_be_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn need(&self, count: usize) -> Result<(), RecordError> {
        if self.at + count > self.bytes.len() {
            return Err(RecordError::Truncated { needed_bytes: self.at + count, available_bytes: self.bytes.len() });
        }
        Ok(())
    }
    fn i32(&mut self) -> Result<i32, RecordError> {
        self.need(4)?;
        self.at += 4;
        Ok(read_i32(self.bytes, self.at - 4))
    }
    fn i64(&mut self) -> Result<i64, RecordError> {
        self.need(8)?;
        self.at += 8;
        Ok(read_i64(self.bytes, self.at - 8))
    }
    fn slice(&mut self, count: usize) -> Result<&'a [u8], RecordError> {
        self.need(count)?;
        self.at += count;
        Ok(&self.bytes[self.at - count..self.at])
    }
    fn host(&mut self, v6: bool) -> Result<SocketAddr, RecordError> {
        let ip: IpAddr = if v6 {
            let octets: [u8; 16] = self.slice(16)?.try_into().expect("16 bytes");
            IpAddr::from(octets)
        } else {
            let octets: [u8; 4] = self.slice(4)?.try_into().expect("4 bytes");
            IpAddr::V4(Ipv4Addr::from(octets))
        };
        let port = self.i32()?;
        Ok(SocketAddr::new(ip, port as u16))
    }
}

/// Decodes the record at the start of `bytes`, checking magic and that TOTALSIZE agrees with
/// the fields. The body CRC is checked separately ([`verify_crc`]) because pulls do not need it.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, RecordError> {
    let mut reader = Reader { bytes, at: 0 };
    let total_size = reader.i32()?;
    let magic = reader.i32()?;
    if magic != MAGIC_MESSAGE {
        return Err(RecordError::Magic(magic));
    }
    let body_crc = reader.i32()?;
    let queue_id = reader.i32()?;
    let flag = reader.i32()?;
    let queue_offset = reader.i64()?;
    let physical_offset = reader.i64()?;
    let sys_flag = reader.i32()?;
    let born_timestamp = reader.i64()?;
    let born_host = reader.host(sys_flag & sys_flag::BORNHOST_V6 != 0)?;
    let store_timestamp = reader.i64()?;
    let store_host = reader.host(sys_flag & sys_flag::STOREHOST_V6 != 0)?;
    let reconsume_times = reader.i32()?;
    let prepared_transaction_offset = reader.i64()?;
    let body_bytes = reader.i32()?;
    if body_bytes < 0 {
        return Err(RecordError::Size { total_size, computed_size: 0 });
    }
    let body = reader.slice(body_bytes as usize)?;
    let topic_bytes = reader.slice(1)?[0] as i8;
    if topic_bytes < 0 {
        return Err(RecordError::TopicTooLong(topic_bytes as u8 as usize));
    }
    let topic = std::str::from_utf8(reader.slice(topic_bytes as usize)?).map_err(|_| RecordError::Utf8("topic"))?;
    let properties_bytes = i16::from_be_bytes(reader.slice(2)?.try_into().expect("2 bytes"));
    if properties_bytes < 0 {
        return Err(RecordError::PropertiesTooLong(properties_bytes as u16 as usize));
    }
    let properties =
        std::str::from_utf8(reader.slice(properties_bytes as usize)?).map_err(|_| RecordError::Utf8("properties"))?;
    if total_size < 0 || total_size as usize != reader.at {
        return Err(RecordError::Size { total_size, computed_size: reader.at });
    }
    Ok(Record {
        body_crc,
        queue_id,
        flag,
        queue_offset,
        physical_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic,
        properties,
    })
}

/// Checks the stored body CRC against the body.
pub fn verify_crc(record: &Record<'_>) -> Result<(), RecordError> {
    let computed = crc32(record.body);
    if computed != record.body_crc {
        return Err(RecordError::Crc { stored: record.body_crc, computed });
    }
    Ok(())
}

/// Writes the 8-byte end-of-segment blank record: TOTALSIZE = the bytes left in the segment.
pub fn encode_blank(remaining_bytes: u32, target: &mut impl BufMut) {
    assert!(remaining_bytes as usize >= BLANK_SIZE_BYTES);
    target.put_i32(remaining_bytes as i32);
    target.put_i32(MAGIC_BLANK);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(body: &'a [u8], topic: &'a str, properties: &'a str) -> Record<'a> {
        Record {
            body_crc: crc32(body),
            queue_id: 3,
            flag: 7,
            queue_offset: 42,
            physical_offset: 1 << 48 | 4096,
            sys_flag: 0,
            born_timestamp: 1_650_000_000_000,
            born_host: "10.0.0.5:51000".parse().unwrap(),
            store_timestamp: 1_650_000_000_123,
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic,
            properties,
        }
    }

    #[test]
    fn ipv4_record_is_91_plus_variable_parts_and_round_trips() {
        let record = sample(b"Hello RocketMQ 0", "TestTopic", "TAGS\u{1}TagA");
        let mut encoded = Vec::new();
        encode(&record, &mut encoded);
        assert_eq!(encoded.len(), 91 + 16 + 9 + 9);
        let decoded = decode(&encoded).unwrap();
        assert_eq!(decoded, record);
        verify_crc(&decoded).unwrap();
        assert_eq!(read_i64(&encoded, POSITION_QUEUE_OFFSET), 42);
    }

    #[test]
    fn ipv6_hosts_set_the_sys_flag_bits_and_round_trip() {
        let mut record = sample(b"x", "T", "");
        record.born_host = "[fd00::1]:40000".parse().unwrap();
        let mut encoded = Vec::new();
        encode(&record, &mut encoded);
        let decoded = decode(&encoded).unwrap();
        assert_eq!(decoded.born_host, record.born_host);
        assert_eq!(decoded.sys_flag, sys_flag::BORNHOST_V6);
    }

    #[test]
    fn corruption_is_detected() {
        let record = sample(b"payload", "T", "K\u{1}V");
        let mut encoded = Vec::new();
        encode(&record, &mut encoded);
        for cut in 0..encoded.len() {
            assert!(decode(&encoded[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_magic = encoded.clone();
        bad_magic[4] ^= 1;
        assert!(matches!(decode(&bad_magic), Err(RecordError::Magic(_))));
        let mut bad_body = encoded.clone();
        let body_at = encoded.len() - 1 - 2 - 3 - 1 - 7;
        bad_body[body_at] ^= 0xFF;
        assert!(matches!(verify_crc(&decode(&bad_body).unwrap()), Err(RecordError::Crc { .. })));
        let mut bad_size = encoded.clone();
        bad_size[3] += 1;
        assert!(decode(&bad_size).is_err());
    }

    #[test]
    fn patches_write_at_the_fixed_positions() {
        let record = sample(b"b", "T", "");
        let mut encoded = Vec::new();
        encode(&record, &mut encoded);
        patch_queue_offset(&mut encoded, 99);
        patch_physical_offset(&mut encoded, 1234);
        let decoded = decode(&encoded).unwrap();
        assert_eq!((decoded.queue_offset, decoded.physical_offset), (99, 1234));
    }
}
