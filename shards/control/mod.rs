//! The broker's control-plane state: topics, subscription groups, consumer offsets, delay
//! offsets, the client registry (HEART_BEAT) and the orderly-consumption queue locks, plus
//! `plane.rs`, the shard-0 service that owns them.
//!
//! Lives on shard 0 (`CONTROL_SHARD`, DESIGN §2), the one authority for these tables. The tables
//! are plain data: no networking, no async, no shared ownership. A table is `Clone`, and
//! `snapshot()` gives the read-only copy pushed to the data shards (a snapshot has no file, so
//! it can never persist over shard 0's copy).
//!
//! Mutations change memory only and mark the table dirty; the owner decides when to write
//! (`persist` / `persist_if_dirty`, or `persist_change`, which does the blocking file I/O with
//! its fsyncs on the blocking-work thread). Java persists topics and groups on every change and
//! offsets every 5 s; once a broker serves, every write goes through `persist_change` (shard
//! 0's topics, groups and broker config; each data shard's offsets), never on a run loop. What each operation reports (a new topic to register with the
//! nameserver, the consumer groups to send NOTIFY_CONSUMER_IDS_CHANGED) is in its return value.
//!
//! Files (protocol §8.1), each kept with a `.bak` of its previous content and loaded from the
//! `.bak` when the main file is missing, empty or unreadable, as Java's `ConfigManager` does:
//!
//! | file | table |
//! |---|---|
//! | `<store root>/config/topics.json` | [`TopicTable`] |
//! | `<store root>/config/subscriptionGroup.json` | [`SubscriptionGroupTable`] |
//! | `<store root>/config/consumerOffset.json` | [`ConsumerOffsetTable`] |
//! | `<store root>/config/delayOffset.json` | [`DelayOffsetTable`] |

pub mod admin;
pub mod clients;
pub mod groups;
pub mod heartbeat;
pub mod locks;
pub mod offsets;
mod persist;
pub mod plane;
pub mod slave;
pub mod topics;

use std::path::{Path, PathBuf};

pub use clients::{
    ClientChannel, ClientRegistry, ConnectionInfo, ConsumerConnection, ConsumerGroup, ExpireOutcome, HeartbeatOutcome,
    ProducerConnection,
};
pub use groups::{SubscriptionGroupConfig, SubscriptionGroupTable};
pub use heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, HeartbeatError, MessageModel, SubscriptionData,
};
pub use locks::{LockBatchRequestBody, LockBatchResponseBody, MessageQueue, QueueLocks, UnlockBatchRequestBody};
pub use offsets::{ConsumerOffsetTable, DelayOffsetTable};
pub use persist::{persist_change, ConfigFileError, PersistedTable};
pub use topics::{BrokerIdentity, EnsuredTopic, TopicError, TopicTable};

/// `<store root>/config`, where every control-plane file lives.
pub fn config_directory(store_root: &Path) -> PathBuf {
    store_root.join("config")
}
