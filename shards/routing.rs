//! Which shard owns what (DESIGN §2).
//!
//! Queue `(topic, queueId)` belongs to shard `(hash(topic) + queueId) mod N`, where `hash` is
//! Java's `String.hashCode` of the topic read as an unsigned 32-bit number. That hash is stable
//! (it is specified by the Java language and already used by RocketMQ for tags), so an existing
//! store always finds its queues where it left them; N is recorded in the store and cannot
//! change (`store::root`). Consecutive queues of a topic land on consecutive shards, so a
//! topic's queues spread over all shards.
//!
//! A commit-log offset carries its shard in the top 16 bits (`store::SHARD_SHIFT`), so a
//! VIEW_MESSAGE_BY_ID or CONSUMER_SEND_MSG_BACK is routed from the offset alone.

use crate::protocol::message::java_string_hash;

/// The shard that owns `(topic, queue_id)`.
pub fn shard_for(topic: &str, queue_id: i32, shard_count: usize) -> usize {
    assert!(shard_count > 0);
    let hash = u64::from(java_string_hash(topic) as u32);
    let queue = u64::from(queue_id.max(0) as u32);
    ((hash + queue) % shard_count as u64) as usize
}

/// The shard whose log holds `commit_log_offset`.
pub fn shard_of_offset(commit_log_offset: i64) -> usize {
    crate::store::position_of(commit_log_offset).0 as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topics_queues_spread_over_every_shard_and_the_mapping_is_stable() {
        let shards: std::collections::BTreeSet<usize> = (0..8).map(|queue| shard_for("TopicTest", queue, 2)).collect();
        assert_eq!(shards.len(), 2);
        // Pinned values: changing them would strand every existing store's queues.
        assert_eq!(shard_for("TopicTest", 0, 2), (java_string_hash("TopicTest") as u32 as usize) % 2);
        assert_eq!(shard_for("TopicTest", 0, 1), 0);
        assert_eq!(shard_for("TopicTest", 3, 4), ((java_string_hash("TopicTest") as u32 as usize) + 3) % 4);
        let offset = crate::store::commit_log_offset(3, 12345);
        assert_eq!(shard_of_offset(offset), 3);
    }
}
