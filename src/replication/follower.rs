//! The slave side: one stream per shard to the master's HA port.
//!
//! Connect, report the log end, then apply every frame at its position (the records land at the
//! same positions as on the master, so the logs stay byte-identical), dispatch them to consume
//! queues and the index, and report the new end; report at least every `heartbeat` too. Any
//! failure closes the stream; the follower reconnects with a growing backoff and says so. A
//! restarted slave resumes from its recovered log end.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::wire;
use crate::runtime::{self, Storage};
use crate::store::commit_log::{Position, ReplicaAppendError};
use crate::store::shard_store::ShardStore;

/// How a follower behaves (from the HA keys of the store config).
#[derive(Clone, Copy, Debug)]
pub struct FollowerOptions {
    /// `haSendHeartbeatInterval`.
    pub heartbeat: Duration,
    /// `haHousekeepingInterval`: a master silent this long is dropped.
    pub housekeeping: Duration,
    /// A frame larger than this is refused (bad input closes the stream).
    pub frame_bytes_max: usize,
}

/// Bytes read from the master's stream at once.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// First and largest pause between reconnection attempts (Java retries every 5 s).
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the follower needs from the shard it runs on.
pub trait FollowerHost {
    /// The master's HA address, once known.
    fn master_ha_address(&self) -> Option<String>;
    /// Records were applied to these queues (wake their parked pulls).
    fn applied(&self, queues: &[(String, i32)]);
    /// The broker is stopping.
    fn stopping(&self) -> bool;
}

/// Follows the master for one shard until the broker stops.
pub async fn follow<S: Storage>(store: Rc<ShardStore<S>>, host: Rc<dyn FollowerHost>, options: FollowerOptions) {
    let shard = store.options.shard;
    let mut backoff = BACKOFF_FIRST;
    let mut waiting_logged = false;
    while !host.stopping() {
        let Some(address) = host.master_ha_address() else {
            if !waiting_logged {
                tracing::info!("HA: shard {shard} waits for the master's HA address");
                waiting_logged = true;
            }
            runtime::sleep(BACKOFF_FIRST).await;
            continue;
        };
        let outcome = follow_once(&store, &*host, &address, options).await;
        if host.stopping() {
            break;
        }
        match outcome {
            Ok(()) => backoff = BACKOFF_FIRST,
            Err(reason) => {
                tracing::warn!(
                    "HA: shard {shard} lost the master {address}: {reason}; reconnecting in {} ms",
                    backoff.as_millis()
                );
                runtime::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One connection: returns why it ended.
async fn follow_once<S: Storage>(
    store: &Rc<ShardStore<S>>,
    host: &dyn FollowerHost,
    address: &str,
    options: FollowerOptions,
) -> Result<(), String> {
    let shard = store.options.shard;
    let target: std::net::SocketAddr =
        address.parse().map_err(|_| format!("the master HA address {address:?} is not ip:port"))?;
    let stream =
        runtime::tcp_connect(target, options.housekeeping).await.map_err(|error| format!("cannot connect: {error}"))?;
    let _ = stream.set_nodelay(true);
    let start = store.log().appended();
    tracing::info!("HA: shard {shard} connected to master {address}, replicating from position {start}");
    let (reader, writer) = futures_lite::io::split(stream);
    // Buffered: under load one read brings many frames, and the report waits until all the
    // frames that arrived together are applied.
    let reader = futures_lite::io::BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    let (notify, reports) = runtime::channel_bounded::<()>(1);
    let (tick, ticks) = runtime::channel_bounded::<()>(1);
    let end = Rc::new(Cell::new(start));
    let heard = Cell::new(std::time::Instant::now());
    let report = send_reports(writer, shard, end.clone(), reports, ticks);
    let apply = apply_frames(reader, store, host, end, notify, &heard, options);
    let timers = async {
        let reason = futures_lite::future::or(
            super::silence(&heard, options.housekeeping),
            super::ticker(tick, options.heartbeat),
        )
        .await;
        Err(format!("the master: {reason}"))
    };
    futures_lite::future::or(futures_lite::future::or(report, apply), timers).await
}

/// Writes the log end at once, after every applied frame, and every `heartbeat`.
async fn send_reports<W: AsyncWrite + Unpin>(
    mut writer: W,
    shard: u16,
    end: Rc<Cell<Position>>,
    applied: runtime::ChannelReceiver<()>,
    ticks: runtime::ChannelReceiver<()>,
) -> Result<(), String> {
    loop {
        writer
            .write_all(&wire::encode_report(shard, end.get()))
            .await
            .map_err(|error| format!("sending a report: {error}"))?;
        // After each applied burst, and on the heartbeat ticker (no timer per report).
        futures_lite::future::or(
            async {
                applied.recv().await;
            },
            async {
                ticks.recv().await;
            },
        )
        .await;
    }
}

async fn apply_frames<S: Storage, R: AsyncRead + Unpin>(
    mut reader: futures_lite::io::BufReader<R>,
    store: &Rc<ShardStore<S>>,
    host: &dyn FollowerHost,
    end: Rc<Cell<Position>>,
    applied: runtime::ChannelSender<()>,
    heard: &Cell<std::time::Instant>,
    options: FollowerOptions,
) -> Result<(), String> {
    let shard = store.options.shard;
    // One buffer for every frame: the store copies the records out of it.
    let mut body = Vec::new();
    loop {
        let mut header = [0u8; wire::FRAME_HEADER_BYTES];
        reader.read_exact(&mut header).await.map_err(|error| error.to_string())?;
        heard.set(std::time::Instant::now());
        let (frame_shard, position, size) = wire::decode_frame_header(header);
        if frame_shard != shard {
            return Err(format!("a frame of shard {frame_shard} on the stream of shard {shard}"));
        }
        if size as usize > options.frame_bytes_max {
            return Err(format!("a frame of {size} bytes (limit {})", options.frame_bytes_max));
        }
        if size == 0 {
            continue; // heartbeat
        }
        body.clear();
        body.resize(size as usize, 0);
        reader.read_exact(&mut body).await.map_err(|error| error.to_string())?;
        loop {
            match store.apply_replicated(position, &body) {
                Ok((queues, new_end)) => {
                    end.set(new_end);
                    host.applied(&queues);
                    if reader.buffer().is_empty() {
                        let _ = applied.try_send(());
                    }
                    break;
                }
                // The disk is behind: TCP flow control slows the master meanwhile.
                Err(ReplicaAppendError::Busy) => runtime::sleep(Duration::from_millis(1)).await,
                Err(error) => return Err(error.to_string()),
            }
        }
    }
}
