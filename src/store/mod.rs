//! One shard's store: O_DIRECT commit-log segments with group-commit sync flush, consume queues,
//! the key index, checkpoint, recovery and retention. One instance per data shard; nothing in
//! it is shared between shards.

pub mod checkpoint;
mod cold_read;
pub mod commit_log;
pub mod consume_queue;
pub mod flush;
pub mod index;
mod record_arena;
pub mod recovery;
pub mod root;
pub mod shard_store;
#[cfg(test)]
pub(crate) mod temp_directory;

/// The topic scheduled (delayed) messages wait in.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// Bits of a commit-log offset below the shard id.
///
/// ```text
///  bit 63 ......... 48   47 .......................................... 0
/// +------------------+---------------------------------------------------+
/// |     shard id     |          byte position in that shard's log        |
/// +------------------+---------------------------------------------------+
/// ```
/// This is the 8-byte offset clients see inside msgId and records; VIEW_MESSAGE_BY_ID routes
/// on the top bits. Clients treat it as opaque.
pub const SHARD_SHIFT: u32 = 48;

/// The client-visible commit-log offset of a position in a shard's log.
pub fn commit_log_offset(shard: u16, position: commit_log::Position) -> i64 {
    assert!(position < 1 << SHARD_SHIFT, "a shard's log stays below 256 TiB");
    ((u64::from(shard) << SHARD_SHIFT) | position) as i64
}

/// Splits a commit-log offset into shard and position.
pub fn position_of(commit_log_offset: i64) -> (u16, commit_log::Position) {
    let raw = commit_log_offset as u64;
    ((raw >> SHARD_SHIFT) as u16, raw & ((1 << SHARD_SHIFT) - 1))
}
pub mod check;
pub mod retention;
