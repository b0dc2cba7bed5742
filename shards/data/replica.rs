//! Replication glue for the data shards (DESIGN §4; the mechanisms are in `src/replication/`).
//!
//! Master: the HA port (`listenPort + 1`) has one listener, on shard 0. It reads a slave's
//! first report, whose top bits name the shard the stream follows, and hands the socket whole
//! to that shard, where the pump runs beside the log it sends (a shard owns its state; the
//! pump needs no lock).
//!
//! Slave: every shard runs a follower for its own log once shard 0 has learned the master's
//! address and checked that both brokers have the same shard count and segment size.

use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use futures_lite::AsyncReadExt;

use super::DataShard;
use crate::config::BrokerSettings;
use crate::replication::follower::{self, FollowerHost, FollowerOptions};
use crate::replication::pump::{self, PumpOptions};
use crate::replication::wire;
use crate::runtime;
use crate::shards::messages::ShardMessage;

fn pump_options(settings: &BrokerSettings) -> PumpOptions {
    let store = &settings.store;
    PumpOptions {
        batch_bytes: store.ha_transfer_batch_size_bytes.max(4096) as usize,
        heartbeat: Duration::from_millis(store.ha_heartbeat_interval_ms.max(1)),
        housekeeping: Duration::from_millis(store.ha_housekeeping_interval_ms.max(1)),
    }
}

/// Master, shard 0: accepts slave streams on the HA port and hands each to its shard.
pub fn listen(data: &Rc<DataShard>, settings: &BrokerSettings) -> Result<runtime::Task<()>, String> {
    let address = SocketAddr::from((Ipv4Addr::UNSPECIFIED, settings.net.ha_port()));
    let listener =
        runtime::tcp_listen(address, false).map_err(|error| format!("cannot listen on {address}: {error}"))?;
    let options = pump_options(settings);
    let data = data.clone();
    Ok(runtime::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::warn!("HA: accept failed: {error}");
                    runtime::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            runtime::spawn(route_stream(data.clone(), stream, options)).detach();
        }
    }))
}

/// Reads the first report and sends the stream to the shard it follows.
async fn route_stream(data: Rc<DataShard>, mut stream: runtime::TcpStream, options: PumpOptions) {
    let peer = stream.peer_addr().map(|address| address.to_string()).unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    let mut report = [0u8; wire::REPORT_BYTES];
    let read = futures_lite::future::or(async { Some(stream.read_exact(&mut report).await) }, async {
        runtime::sleep(options.housekeeping).await;
        None
    })
    .await;
    match read {
        Some(Ok(())) => {}
        Some(Err(error)) => return tracing::warn!("HA: {peer} closed before its first report: {error}"),
        None => return tracing::warn!("HA: {peer} sent no report within {:?}; closing", options.housekeeping),
    }
    let (shard, first) = wire::decode_report(report);
    let shard = usize::from(shard);
    if shard >= data.shard_count {
        tracing::error!(
            "HA: slave {peer} asks for shard {shard}, but this master has {} shards; a slave \
             needs the same shardCount as its master; closing",
            data.shard_count
        );
        return;
    }
    if shard == data.shard {
        serve(&data, stream, peer, first, options).await;
        return;
    }
    let socket = match runtime::detach_stream(stream) {
        Ok(socket) => socket,
        Err(error) => return tracing::error!("HA: cannot hand {peer} to shard {shard}: {error}"),
    };
    if let Err(error) = data.mesh.send_to(shard, ShardMessage::ReplicaStream { socket, peer, first }).await {
        tracing::error!("HA: {error}");
    }
}

/// Master, any shard: a stream handed over by shard 0.
pub(super) fn adopt(data: &Rc<DataShard>, socket: std::os::fd::OwnedFd, peer: String, first: u64) {
    let stream = runtime::adopt_stream(socket);
    let data = data.clone();
    let options = data.pump_options;
    runtime::spawn(async move { serve(&data, stream, peer, first, options).await }).detach();
}

async fn serve(data: &Rc<DataShard>, stream: runtime::TcpStream, peer: String, first: u64, options: PumpOptions) {
    pump::serve(stream, peer, first, data.store.clone(), data.replicas.clone(), options).await;
}

/// What a follower sees of its shard.
struct Host {
    data: Rc<DataShard>,
}

impl FollowerHost for Host {
    fn master_ha_address(&self) -> Option<String> {
        self.data.master.borrow().as_ref().map(|master| master.ha.clone())
    }

    fn applied(&self, queues: &[(String, i32)]) {
        let mut parked = self.data.parked.borrow_mut();
        for (topic, queue_id) in queues {
            parked.notify(topic, *queue_id);
        }
    }

    fn stopping(&self) -> bool {
        super::boot::stop_requested()
    }
}

/// Slave, every shard: follows the master's log of this shard until the broker stops.
pub fn follow(data: &Rc<DataShard>, settings: &BrokerSettings) -> runtime::Task<()> {
    let store = &settings.store;
    let options = FollowerOptions {
        heartbeat: Duration::from_millis(store.ha_heartbeat_interval_ms.max(1)),
        housekeeping: Duration::from_millis(store.ha_housekeeping_interval_ms.max(1)),
        frame_bytes_max: crate::limits::REPLICATION_FRAME_BYTES_MAX,
    };
    let host = Rc::new(Host { data: data.clone() });
    runtime::spawn(follower::follow(data.store.clone(), host, options))
}

pub(super) fn options_of(settings: &BrokerSettings) -> PumpOptions {
    pump_options(settings)
}
