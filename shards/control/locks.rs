//! Queue locks for orderly consumption (`RebalanceLockManager`, protocol §7.9): LOCK_BATCH_MQ
//! (41) and UNLOCK_BATCH_MQ (42), and their bodies.
//!
//! A lock is `(group, queue) → client id`, granted when the queue is unlocked, its lock has
//! expired (no renewal for `rocketmq.broker.rebalance.lockMaxLiveTime` = 60 s) or the client
//! already holds it (which renews it). Locks live in memory only and are **not** released when
//! a connection closes: a client that reconnects within the minute keeps its queues. Owned by
//! shard 0.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::protocol::bodies::BodyError;
use crate::protocol::json;

/// `rocketmq.broker.rebalance.lockMaxLiveTime` default.
pub const LOCK_MAX_LIVE_TIME_MS: i64 = 60_000;

/// Queue locks held at once, across groups. Clients name the queues, so a bound is needed; an
/// entry is ~150 bytes. Expired locks are pruned before a lock is refused for this.
pub const QUEUE_LOCKS_MAX: usize = 1_000_000;

/// `MessageQueue`: `{"brokerName":..,"queueId":..,"topic":..}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

impl MessageQueue {
    pub fn new(topic: &str, broker_name: &str, queue_id: i32) -> Self {
        Self { broker_name: broker_name.to_string(), queue_id, topic: topic.to_string() }
    }
}

/// `LockBatchRequestBody` (LOCK_BATCH_MQ) and, with the same fields, `UnlockBatchRequestBody`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub consumer_group: String,
    #[serde(default)]
    pub mq_set: BTreeSet<MessageQueue>,
    /// 5.x: do not forward to other brokers (ringmq never forwards).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only_this_broker: bool,
}

/// UNLOCK_BATCH_MQ carries the same fields.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

impl LockBatchRequestBody {
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        json::from_fastjson(body).map_err(|error| BodyError(format!("lock batch body: {error}")))
    }
}

/// `LockBatchResponseBody`: the queues the client now holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", default)]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LockEntry {
    client_id: String,
    last_update_ms: i64,
}

/// `group → (queue → holder)`.
#[derive(Clone, Debug)]
pub struct QueueLocks {
    groups: BTreeMap<String, BTreeMap<MessageQueue, LockEntry>>,
    lock_count: usize,
    lock_max_live_time_ms: i64,
}

impl Default for QueueLocks {
    fn default() -> Self {
        Self::new(LOCK_MAX_LIVE_TIME_MS)
    }
}

impl QueueLocks {
    /// `lock_max_live_time_ms`: normally [`LOCK_MAX_LIVE_TIME_MS`].
    pub fn new(lock_max_live_time_ms: i64) -> Self {
        assert!(lock_max_live_time_ms > 0);
        Self { groups: BTreeMap::new(), lock_count: 0, lock_max_live_time_ms }
    }

    fn is_expired(&self, entry: &LockEntry, now_ms: i64) -> bool {
        now_ms - entry.last_update_ms > self.lock_max_live_time_ms
    }

    /// LOCK_BATCH_MQ: grants or renews each queue that is free, expired or already
    /// `client_id`'s. Returns the queues `client_id` now holds among `queues`.
    pub fn lock<'a>(
        &mut self,
        group: &str,
        client_id: &str,
        queues: impl IntoIterator<Item = &'a MessageQueue>,
        now_ms: i64,
    ) -> BTreeSet<MessageQueue> {
        let mut locked = BTreeSet::new();
        for queue in queues {
            if self.lock_one(group, client_id, queue, now_ms) {
                locked.insert(queue.clone());
            }
        }
        locked
    }

    fn lock_one(&mut self, group: &str, client_id: &str, queue: &MessageQueue, now_ms: i64) -> bool {
        let held = self.groups.get(group).and_then(|locks| locks.get(queue));
        match held {
            Some(entry) if entry.client_id != client_id && !self.is_expired(entry, now_ms) => return false,
            Some(_) => {}
            None => {
                if self.lock_count >= QUEUE_LOCKS_MAX {
                    self.expire(now_ms);
                }
                if self.lock_count >= QUEUE_LOCKS_MAX {
                    return false;
                }
                self.lock_count += 1;
            }
        }
        let entry = LockEntry { client_id: client_id.to_string(), last_update_ms: now_ms };
        self.groups.entry(group.to_string()).or_default().insert(queue.clone(), entry);
        true
    }

    /// UNLOCK_BATCH_MQ: releases the queues `client_id` holds; others' locks are untouched.
    pub fn unlock<'a>(&mut self, group: &str, client_id: &str, queues: impl IntoIterator<Item = &'a MessageQueue>) {
        let Some(locks) = self.groups.get_mut(group) else {
            return;
        };
        for queue in queues {
            if locks.get(queue).is_some_and(|entry| entry.client_id == client_id) {
                locks.remove(queue);
                self.lock_count -= 1;
            }
        }
        if locks.is_empty() {
            self.groups.remove(group);
        }
    }

    /// The client holding `queue` for `group`, unless its lock expired.
    pub fn holder(&self, group: &str, queue: &MessageQueue, now_ms: i64) -> Option<&str> {
        let entry = self.groups.get(group)?.get(queue)?;
        (!self.is_expired(entry, now_ms)).then_some(entry.client_id.as_str())
    }

    /// Drops expired locks (Java never does; they cost memory until reused). Returns how many.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let live_time_ms = self.lock_max_live_time_ms;
        let mut removed = 0;
        self.groups.retain(|_, locks| {
            let before = locks.len();
            locks.retain(|_, entry| now_ms - entry.last_update_ms <= live_time_ms);
            removed += before - locks.len();
            !locks.is_empty()
        });
        self.lock_count -= removed;
        removed
    }

    /// Locks held, expired ones included until [`Self::expire`].
    pub fn len(&self) -> usize {
        self.lock_count
    }

    pub fn is_empty(&self) -> bool {
        self.lock_count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(ids: &[i32]) -> Vec<MessageQueue> {
        ids.iter().map(|id| MessageQueue::new("T", "broker-a", *id)).collect()
    }

    #[test]
    fn a_lock_is_granted_once_and_renewed_by_its_holder() {
        let mut locks = QueueLocks::default();
        let wanted = queues(&[0, 1]);
        assert_eq!(locks.lock("cg", "c1", &wanted, 0), wanted.iter().cloned().collect());
        assert!(locks.lock("cg", "c2", &wanted, 1_000).is_empty());
        // Another group locks the same queues independently.
        assert_eq!(locks.lock("other", "c2", &wanted, 1_000).len(), 2);
        // c1 renews at 50 s; at 100 s its lock is 50 s old, still valid against c2.
        assert_eq!(locks.lock("cg", "c1", &wanted[..1], 50_000).len(), 1);
        assert!(locks.lock("cg", "c2", &wanted[..1], 100_000).is_empty());
        // Queue 1 was not renewed: expired after 60 s, so c2 takes it.
        assert_eq!(locks.lock("cg", "c2", &wanted[1..], 60_001).len(), 1);
        assert_eq!(locks.holder("cg", &wanted[1], 60_001), Some("c2"));
        assert_eq!(locks.len(), 4);
    }

    #[test]
    fn unlock_releases_only_the_holders_queues() {
        let mut locks = QueueLocks::default();
        let wanted = queues(&[0, 1, 2]);
        locks.lock("cg", "c1", &wanted[..2], 0);
        locks.lock("cg", "c2", &wanted[2..], 0);
        locks.unlock("cg", "c2", &wanted[..1]);
        assert_eq!(locks.holder("cg", &wanted[0], 1), Some("c1"));
        locks.unlock("cg", "c1", &wanted);
        assert_eq!(locks.holder("cg", &wanted[0], 1), None);
        assert_eq!(locks.holder("cg", &wanted[2], 1), Some("c2"));
        assert_eq!(locks.len(), 1);
        assert_eq!(locks.lock("cg", "c3", &wanted, 2).len(), 2);
    }

    #[test]
    fn expired_locks_are_pruned_and_reported_free() {
        let mut locks = QueueLocks::default();
        locks.lock("cg", "c1", &queues(&[0, 1]), 0);
        locks.lock("cg", "c1", &queues(&[1]), 30_000);
        assert_eq!(locks.holder("cg", &queues(&[0])[0], 60_001), None);
        assert_eq!(locks.expire(60_001), 1);
        assert_eq!(locks.len(), 1);
        assert_eq!(locks.expire(200_000), 1);
        assert!(locks.is_empty());
    }

    #[test]
    fn lock_bodies_use_javas_field_names() {
        let body = br#"{"clientId":"c1","consumerGroup":"cg","mqSet":[{"brokerName":"broker-a","queueId":1,"topic":"T"},{"brokerName":"broker-a","queueId":0,"topic":"T"}]}"#;
        let request = LockBatchRequestBody::decode(body).unwrap();
        assert_eq!((request.client_id.as_str(), request.consumer_group.as_str()), ("c1", "cg"));
        assert_eq!(request.mq_set.iter().map(|queue| queue.queue_id).collect::<Vec<_>>(), vec![0, 1]);
        assert!(!request.only_this_broker);
        assert!(!serde_json::to_string(&request).unwrap().contains("onlyThisBroker"));
        let response = LockBatchResponseBody { lock_ok_mq_set: request.mq_set.clone() };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"lockOKMQSet":[{"brokerName":"broker-a","queueId":0,"topic":"T"},{"brokerName":"broker-a","queueId":1,"topic":"T"}]}"#
        );
        assert!(LockBatchRequestBody::decode(b"[").is_err());
    }
}
