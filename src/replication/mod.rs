//! Master/slave replication (DESIGN §4), RocketMQ's classic HA protocol per shard.
//!
//! * [`wire`]: the two stream formats: the slave's 8-byte offset reports and the master's
//!   `[offset u64][size u32][bytes]` frames.
//! * [`pump`]: the master side. One pump per shard per slave runs on the shard that owns the log
//!   and sends slices of it: `Bytes` clones of the in-memory tail, or blocks read from the
//!   segment files for a slave behind the hot window (a read that never touches the window, so
//!   a catching-up slave cannot evict what producers and tailing consumers need).
//!   [`pump::ReplicaSet`] is what a SYNC_MASTER send waits on.
//! * [`follower`]: the slave side. One stream per shard: report the log end, append every frame
//!   at the same positions (the slave's logs are a byte-identical prefix of the master's),
//!   rebuild consume queues and the index from the records, report again.
//!
//! A ringmq slave reports `shard << 48 | position` (the client-visible commit-log offset), so
//! the master knows from the top bits which shard's log a stream follows.

pub mod follower;
pub mod pump;
pub mod wire;

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::runtime;

/// Ends (with the reason) once nothing was heard for `limit`, checking every quarter of it:
/// one timer for the life of a stream instead of one per read.
async fn silence(heard: &Cell<Instant>, limit: Duration) -> String {
    loop {
        runtime::sleep(limit / 4).await;
        if heard.get().elapsed() >= limit {
            return format!("nothing received for {limit:?}");
        }
    }
}

/// Sends a tick every `every` (dropped when one is still pending); never ends.
async fn ticker(tick: runtime::ChannelSender<()>, every: Duration) -> String {
    loop {
        runtime::sleep(every).await;
        let _ = tick.try_send(());
    }
}
