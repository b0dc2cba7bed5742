//! One TCP connection speaking the remoting protocol.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info, warn};

use crate::limits::{
    CONNECTION_READ_BUFFER_BYTES_MAX, CONNECTION_REQUESTS_IN_FLIGHT_MAX, CONNECTION_WRITE_QUEUE_FRAMES_MAX,
};
use crate::protocol::{frame, Command};
use crate::runtime::{self, ChannelReceiver, ChannelSender, Semaphore, TcpListener, TcpStream};

/// What a server does with requests. Implemented by each shard kind.
pub trait Service: 'static {
    /// Handles one request. `None` sends no reply (oneway requests, or when the request
    /// itself asked for none).
    fn handle(
        self: Rc<Self>,
        connection: Rc<Connection>,
        request: Command,
    ) -> impl Future<Output = Option<Command>> + 'static;

    /// Called once when a connection closes, after its last read.
    fn closed(&self, _connection: &Connection) {}
}

enum Outbound {
    /// A frame as its encoded head and its body (a pull reply's records): neither is copied
    /// again, the writer sends them from their own buffers in one vectored write.
    Frame {
        head: Bytes,
        body: Bytes,
    },
    Close,
}

impl Outbound {
    fn frame(command: &Command) -> Self {
        let mut head = BytesMut::with_capacity(256);
        frame::encode_head(command, &mut head);
        Outbound::Frame { head: head.freeze(), body: command.body.clone() }
    }
}

/// The shared face of a connection: who is on the other end, and a way to send it frames
/// (replies, or broker-initiated requests such as NOTIFY_CONSUMER_IDS_CHANGED).
pub struct Connection {
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    outbound: ChannelSender<Outbound>,
    closed: Cell<bool>,
}

impl Connection {
    /// Queues a command for writing. Returns false when the connection is closed.
    pub async fn send(&self, command: &Command) -> bool {
        if self.closed.get() {
            return false;
        }
        self.outbound.send(Outbound::frame(command)).await.is_ok()
    }

    /// Queues a command without waiting; false when closed or when the write queue is full.
    pub fn try_send(&self, command: &Command) -> bool {
        if self.closed.get() {
            return false;
        }
        self.outbound.try_send(Outbound::frame(command)).is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }
}

static NEXT_CONNECTION_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Accepts connections forever, each served by `service`. `idle_timeout` closes connections
/// that send nothing for that long (Java's `serverChannelMaxIdleTimeSeconds`).
pub async fn serve<S: Service>(listener: TcpListener, service: Rc<S>, connections_max: usize, idle_timeout: Duration) {
    let open = Rc::new(Semaphore::new(connections_max as u64));
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                warn!("accept failed: {error}");
                runtime::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_static_permit(1) else {
            warn!("refusing a connection: {connections_max} connections are open");
            continue;
        };
        // Process-wide unique, so a shard with several listeners never sees two connections
        // with one id.
        let id = NEXT_CONNECTION_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let service = service.clone();
        runtime::spawn(async move {
            run(stream, id, service, idle_timeout).await;
            drop(permit);
        })
        .detach();
    }
}

async fn run<S: Service>(stream: TcpStream, id: u64, service: Rc<S>, idle_timeout: Duration) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    // Requests are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    let (reader, writer) = runtime::split_stream(stream);
    let (sender, receiver) = runtime::channel_bounded(CONNECTION_WRITE_QUEUE_FRAMES_MAX);
    let connection = Rc::new(Connection { id, peer, local, outbound: sender, closed: Cell::new(false) });
    debug!(peer = %peer, "connection opened");
    let writer_task = runtime::spawn(write_loop(writer, receiver, peer));
    let reason = read_loop(reader, &connection, &service, idle_timeout).await;
    match &reason {
        ReadEnd::Eof => debug!(peer = %peer, "connection closed by peer"),
        ReadEnd::Idle => info!(peer = %peer, "closing idle connection"),
        ReadEnd::Io(error) => debug!(peer = %peer, "connection read failed: {error}"),
        ReadEnd::Malformed(error) => warn!(peer = %peer, "closing connection: {error}"),
    }
    connection.closed.set(true);
    service.closed(&connection);
    let _ = connection.outbound.send(Outbound::Close).await;
    writer_task.await;
}

enum ReadEnd {
    Eof,
    Idle,
    Io(std::io::Error),
    Malformed(frame::FrameError),
}

const READ_CHUNK_BYTES: usize = 64 * 1024;

async fn read_loop<S: Service>(
    mut reader: impl futures_lite::AsyncRead + Unpin,
    connection: &Rc<Connection>,
    service: &Rc<S>,
    idle_timeout: Duration,
) -> ReadEnd {
    let in_flight = Rc::new(Semaphore::new(CONNECTION_REQUESTS_IN_FLIGHT_MAX as u64));
    let mut buffer = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    // One long-lived idle timer per connection, re-armed only when it fires: a timer armed and
    // cancelled around every read cost two io_uring operations per request.
    let last_read_at = Cell::new(Instant::now());
    let mut idle = std::pin::pin!(idle_watch(&last_read_at, idle_timeout));
    loop {
        loop {
            match frame::decode(&mut buffer) {
                Ok(Some(command)) => dispatch(command, connection, service, &in_flight).await,
                Ok(None) => break,
                Err(error) => return ReadEnd::Malformed(error),
            }
        }
        assert!(buffer.len() <= CONNECTION_READ_BUFFER_BYTES_MAX);
        let read = futures_lite::future::or(async { Some(reader.read(&mut chunk).await) }, async {
            (&mut idle).await;
            None
        })
        .await;
        match read {
            None => return ReadEnd::Idle,
            Some(Ok(0)) => return ReadEnd::Eof,
            Some(Ok(count)) => {
                last_read_at.set(Instant::now());
                buffer.extend_from_slice(&chunk[..count]);
            }
            Some(Err(error)) => return ReadEnd::Io(error),
        }
    }
}

/// Returns once nothing has been read for `idle_timeout`.
async fn idle_watch(last_read_at: &Cell<Instant>, idle_timeout: Duration) {
    loop {
        let idle_for = last_read_at.get().elapsed();
        if idle_for >= idle_timeout {
            return;
        }
        runtime::sleep(idle_timeout - idle_for).await;
    }
}

async fn dispatch<S: Service>(
    command: Command,
    connection: &Rc<Connection>,
    service: &Rc<S>,
    in_flight: &Rc<Semaphore>,
) {
    if command.is_response() {
        // Replies to broker-initiated requests (all of which ringmq sends oneway) need no
        // matching; anything else is a confused peer, not an error worth closing for.
        debug!(peer = %connection.peer, opaque = command.opaque, "ignoring a response frame");
        return;
    }
    // At the bound this waits, and the connection stops reading: backpressure, not growth.
    let Ok(permit) = in_flight.clone().acquire_static_permit(1).await else {
        return;
    };
    let connection = connection.clone();
    let service = service.clone();
    runtime::spawn(async move {
        let oneway = command.is_oneway();
        if let Some(reply) = service.handle(connection.clone(), command).await {
            if !oneway {
                connection.send(&reply).await;
            }
        }
        drop(permit);
    })
    .detach();
}

/// Largest batch of replies coalesced into one write.
const WRITE_BATCH_BYTES_MAX: usize = 256 * 1024;

/// Largest number of buffers (frame heads and bodies) in one write: within one sendmsg's
/// `UIO_MAXIOV` (1024).
const WRITE_BATCH_PARTS_MAX: usize = 512;

async fn write_loop(
    mut writer: impl futures_lite::AsyncWrite + Unpin,
    receiver: ChannelReceiver<Outbound>,
    peer: SocketAddr,
) {
    let mut parts: Vec<Bytes> = Vec::with_capacity(64);
    while let Some(Outbound::Frame { head, body }) = receiver.recv().await {
        let mut batch_bytes = push_frame(&mut parts, head, body);
        let mut closing = false;
        while batch_bytes < WRITE_BATCH_BYTES_MAX && parts.len() + 2 <= WRITE_BATCH_PARTS_MAX {
            match futures_lite::future::poll_once(receiver.recv()).await {
                Some(Some(Outbound::Frame { head, body })) => batch_bytes += push_frame(&mut parts, head, body),
                Some(Some(Outbound::Close)) | Some(None) => {
                    closing = true;
                    break;
                }
                None => break,
            }
        }
        if let Err(error) = write_parts(&mut writer, &mut parts).await {
            debug!(peer = %peer, "connection write failed: {error}");
            return;
        }
        if closing {
            break;
        }
    }
    let _ = writer.flush().await;
    let _ = writer.close().await;
}

/// Adds a frame to the batch as its head and its body, without copying either: the batch goes
/// out in one vectored write (a pull reply's 32 KiB of records is not copied into a write
/// buffer first). Returns the frame's size.
fn push_frame(parts: &mut Vec<Bytes>, head: Bytes, body: Bytes) -> usize {
    let size = head.len() + body.len();
    parts.push(head);
    if !body.is_empty() {
        parts.push(body);
    }
    size
}

/// Writes every part in order and empties `parts`: one `sendmsg` for all of them when the
/// socket has room, more when it takes only some.
async fn write_parts(
    writer: &mut (impl futures_lite::AsyncWrite + Unpin),
    parts: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    use bytes::Buf;
    let mut first = 0;
    while first < parts.len() {
        let mut written = {
            let slices: Vec<std::io::IoSlice<'_>> =
                parts[first..].iter().map(|part| std::io::IoSlice::new(part)).collect();
            writer.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let part = &mut parts[first];
            if written >= part.len() {
                written -= part.len();
                first += 1;
            } else {
                part.advance(written);
                written = 0;
            }
        }
    }
    parts.clear();
    Ok(())
}
