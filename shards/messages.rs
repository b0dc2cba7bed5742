//! Typed cross-shard messages (DESIGN §2): every shard sends the others work through the
//! bounded mesh inboxes, one variant per kind of work, and gets a typed reply back.
//!
//! Replies travel on one-shot channels, so a request completes whenever its owner finishes,
//! out of order with others; the connection's shard matches the reply to the client by
//! `opaque`, which is inside the reply command.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use crate::protocol::bodies::TopicConfig;
use crate::protocol::Command;

/// Where a request came from: the connection's shard and id, and the peer's address (the
/// born host of a sent message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub shard: usize,
    pub connection_id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// A reply: `None` when the request wanted none (oneway).
pub type Reply = oneshot::Sender<Option<Command>>;

/// One message between shards.
pub enum ShardMessage {
    /// Queue work (send, pull, offsets, reads) for the shard that owns the queue or the
    /// commit-log offset. A client's send carries how long it may wait for the owner to start
    /// it (`None`: the broker's own work, which waits).
    QueueWork { request: Command, origin: Origin, reply: Reply, wait: Option<SendQueueWait> },
    /// Control-plane work (client registry, topic and group administration) for shard 0.
    Control { request: Command, origin: Origin, reply: Reply },
    /// A connection closed on `origin.shard`: shard 0 drops its client registrations.
    ConnectionClosed { origin: Origin },
    /// Shard 0 asks the connection's shard to write a broker-initiated request (for example
    /// NOTIFY_CONSUMER_IDS_CHANGED) to one of its connections.
    Push { connection_id: u64, request: Command },
    /// To shard 0: write a broker-initiated request (CHECK_TRANSACTION_STATE) to one live
    /// connection of a producer group.
    PushToProducer { producer_group: String, request: Command },
    /// Shard 0's new topic table, copied to every shard so the hot path never asks shard 0.
    Topics(Arc<TopicTableCopy>),
    /// Shard 0's new subscription table (what HEART_BEAT registered), for pulls that do not
    /// carry their subscription.
    Subscriptions(Arc<SubscriptionCopy>),
    /// A slave's replication stream for this shard, accepted on shard 0 (the HA port has one
    /// listener) and handed over whole with the position of the slave's first report.
    ReplicaStream { socket: std::os::fd::OwnedFd, peer: String, first: u64 },
    /// Slave: shard 0 learned (and checked) the master's addresses.
    Master(Option<MasterAddress>),
    /// Slave: the master's consumer and delay offsets; every shard keeps what it owns.
    OffsetsFromMaster(Arc<MasterOffsets>),
}

/// A client's send on its way to the owner shard: Java's send thread pool queue, where a send
/// that waited `waitTimeMillsInSendQueue` before a thread took it is answered "[TIMEOUT_CLEAN_
/// QUEUE]broker busy" (BrokerFastFailure). Here the queue is the owner's inbox plus its task
/// queue; `queued_at` is taken on the connection's shard, before the wait for inbox room.
#[derive(Clone, Copy, Debug)]
pub struct SendQueueWait {
    pub queued_at: Instant,
    pub wait_time_max: Duration,
}

impl SendQueueWait {
    pub fn new(wait_time_max: Duration) -> Self {
        Self { queued_at: Instant::now(), wait_time_max }
    }

    pub fn waited(&self) -> Duration {
        self.queued_at.elapsed()
    }

    /// As Java's `behind >= maxWaitTimeMillsInQueue`.
    pub fn expired(&self) -> bool {
        self.waited() >= self.wait_time_max
    }
}

/// A master's GET_ALL_CONSUMER_OFFSET and GET_ALL_DELAY_OFFSET tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MasterOffsets {
    /// `(topic, group, queue id) → next offset`.
    pub consumer: Vec<(String, String, i32, i64)>,
    /// `delay level → offset`.
    pub delay: Vec<(i32, i64)>,
}

/// Where a slave's master serves clients (`masterAddr`) and replication (`haServerAddr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterAddress {
    pub broker: String,
    pub ha: String,
}

/// A read-only copy of the topic table.
#[derive(Clone, Debug, Default)]
pub struct TopicTableCopy {
    pub version: u64,
    pub topics: std::collections::HashMap<String, TopicConfig>,
    /// The live `brokerPermission` (UPDATE_BROKER_CONFIG changes it); `None` until shard 0
    /// first publishes: the start-up value in `BrokerContext` applies.
    pub broker_permission: Option<i32>,
}

/// A read-only copy of the registered subscriptions: `(group, topic) → expression`.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionCopy {
    pub version: u64,
    pub subscriptions: std::collections::HashMap<(String, String), SubscriptionEntry>,
}

/// One registered subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionEntry {
    pub expression: String,
    pub expression_type: String,
    pub sub_version: i64,
}
