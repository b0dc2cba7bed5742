//! The HA wire (protocol.md §9): plain TCP on the master's `haListenPort`.
//!
//! ```text
//!  slave → master: report = 8 bytes, big-endian: shard << 48 | position ("I have everything
//!                  before this"); the first one says where to start.
//!  master → slave: frame  = [position u64][size u32][size bytes of the shard's log]
//!                  size 0 is a heartbeat.
//! ```

use crate::store::commit_log::Position;
use crate::store::{commit_log_offset, position_of};

pub const REPORT_BYTES: usize = 8;
pub const FRAME_HEADER_BYTES: usize = 12;

/// A slave's report for `shard`'s log ending at `position`.
pub fn encode_report(shard: u16, position: Position) -> [u8; REPORT_BYTES] {
    commit_log_offset(shard, position).to_be_bytes()
}

/// The shard and position of a report.
pub fn decode_report(bytes: [u8; REPORT_BYTES]) -> (u16, Position) {
    position_of(i64::from_be_bytes(bytes))
}

/// The header of a frame of `size_bytes` log bytes starting at `position`. The offset on the
/// wire is the client-visible commit-log offset, as in the reports.
pub fn encode_frame_header(shard: u16, position: Position, size_bytes: u32) -> [u8; FRAME_HEADER_BYTES] {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    header[..8].copy_from_slice(&commit_log_offset(shard, position).to_be_bytes());
    header[8..].copy_from_slice(&size_bytes.to_be_bytes());
    header
}

/// `(shard, position, size_bytes)` of a frame header.
pub fn decode_frame_header(header: [u8; FRAME_HEADER_BYTES]) -> (u16, Position, u32) {
    let offset = i64::from_be_bytes(header[..8].try_into().expect("8 bytes"));
    let size = u32::from_be_bytes(header[8..].try_into().expect("4 bytes"));
    let (shard, position) = position_of(offset);
    (shard, position, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_carry_the_shard_in_the_top_bits_big_endian() {
        let report = encode_report(3, 0x1234);
        assert_eq!(report, [0, 3, 0, 0, 0, 0, 0x12, 0x34]);
        assert_eq!(decode_report(report), (3, 0x1234));
        assert_eq!(decode_report(encode_report(0, 0)), (0, 0));
    }

    #[test]
    fn frame_headers_round_trip() {
        let header = encode_frame_header(1, 1 << 30, 32 * 1024);
        assert_eq!(&header[..2], &[0, 1]);
        assert_eq!(decode_frame_header(header), (1, 1 << 30, 32 * 1024));
        assert_eq!(decode_frame_header(encode_frame_header(0, 77, 0)), (0, 77, 0));
    }
}
