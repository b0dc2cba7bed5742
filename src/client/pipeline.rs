//! A pipelined remoting connection for load: many requests in flight on one connection, one
//! writer task and one reader task, replies matched to their callers by `opaque`.
//!
//! Everything the client itself does lands in every latency the benchmark reports, so the hot
//! path avoids per-request work where it can: the caller encodes straight into the shared
//! outbox (no channel, no per-request buffer), the writer hands the whole outbox to one write
//! (requests that queued while it wrote leave together), the reader peeks the code and opaque
//! of a binary-header reply without decoding it, and a request's slot in a fixed table is both
//! its opaque and the place its waker waits (no map, no timer per request).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::limits::{CLIENT_OUTBOX_BYTES_MAX, CLIENT_READ_CHUNK_BYTES, CLIENT_REQUESTS_IN_FLIGHT_MAX};
use crate::protocol::command::FLAG_RESPONSE;
use crate::protocol::{frame, Command, SerializeType};
use crate::runtime;

/// Why a pipelined call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipelineError {
    /// The connection could not be made or broke; every call on it fails with this.
    Broken(String),
    /// More requests than [`CLIENT_REQUESTS_IN_FLIGHT_MAX`] were outstanding: the caller must
    /// bound its own in-flight count.
    Full,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broken(reason) => write!(f, "connection broken: {reason}"),
            Self::Full => write!(f, "more than {CLIENT_REQUESTS_IN_FLIGHT_MAX} requests in flight on one connection"),
        }
    }
}

impl std::error::Error for PipelineError {}

/// A reply frame, length prefix included; decoded only when the caller needs more than its code.
#[derive(Clone, Debug)]
pub struct Reply {
    frame: Bytes,
}

/// Offsets in a ROCKETMQ (binary) header frame: length, type word, then code (i16),
/// language (u8), version (i16), opaque (i32), flag (i32).
const BINARY_CODE_AT: usize = 8;
const BINARY_OPAQUE_AT: usize = 13;
const BINARY_FLAG_AT: usize = 17;
const BINARY_FIXED_BYTES: usize = 21;

impl Reply {
    /// The response code, read in place for a binary header.
    pub fn code(&self) -> i32 {
        match peek(&self.frame) {
            Some((code, _, _)) => code,
            None => self.clone().decode().map(|command| command.code).unwrap_or(-1),
        }
    }

    /// The whole command (header fields and body; the body is a slice of the frame).
    pub fn decode(self) -> Result<Command, frame::FrameError> {
        frame::decode_frame_body(self.frame.slice(4..))
    }
}

/// (code, opaque, flag) of a binary-header frame; `None` for JSON headers.
fn peek(frame: &[u8]) -> Option<(i32, i32, i32)> {
    if frame.len() < BINARY_FIXED_BYTES || frame[4] != SerializeType::Rocketmq as u8 {
        return None;
    }
    let code = i16::from_be_bytes([frame[BINARY_CODE_AT], frame[BINARY_CODE_AT + 1]]) as i32;
    let opaque = i32::from_be_bytes(frame[BINARY_OPAQUE_AT..BINARY_OPAQUE_AT + 4].try_into().expect("4 bytes"));
    let flag = i32::from_be_bytes(frame[BINARY_FLAG_AT..BINARY_FLAG_AT + 4].try_into().expect("4 bytes"));
    Some((code, opaque, flag))
}

/// Writes `opaque` into an encoded binary-header frame (see [`Pipeline::call`]).
pub fn patch_opaque(frame: &mut [u8], opaque: i32) {
    debug_assert_eq!(frame[4], SerializeType::Rocketmq as u8, "only binary headers have a fixed opaque offset");
    frame[BINARY_OPAQUE_AT..BINARY_OPAQUE_AT + 4].copy_from_slice(&opaque.to_be_bytes());
}

enum Slot {
    Free,
    Waiting(Option<Waker>),
    /// The caller stopped waiting (its future was dropped); the reply is discarded.
    Abandoned,
    Done(Reply),
}

struct Shared {
    address: String,
    /// Encoded frames waiting for the writer.
    outbox: RefCell<Vec<u8>>,
    writer_waker: RefCell<Option<Waker>>,
    /// Oneway callers waiting for the outbox to drain below its bound.
    drain_wakers: RefCell<Vec<Waker>>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    broken: RefCell<Option<String>>,
    closed: Cell<bool>,
}

impl Shared {
    fn fail(&self, reason: String) {
        if self.broken.borrow().is_some() {
            return;
        }
        *self.broken.borrow_mut() = Some(reason);
        let mut slots = self.slots.borrow_mut();
        for slot in slots.iter_mut() {
            if let Slot::Waiting(waker) = slot {
                if let Some(waker) = waker.take() {
                    waker.wake();
                }
            }
        }
        drop(slots);
        self.wake_writer();
        for waker in self.drain_wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    fn broken_error(&self) -> Option<PipelineError> {
        self.broken.borrow().as_ref().map(|reason| PipelineError::Broken(reason.clone()))
    }

    fn wake_writer(&self) {
        if let Some(waker) = self.writer_waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn deliver(&self, frame: Bytes) {
        let (opaque, flag) = match peek(&frame) {
            Some((_, opaque, flag)) => (opaque, flag),
            None => match frame::decode_frame_body(frame.slice(4..)) {
                Ok(command) => (command.opaque, command.flag),
                Err(error) => return self.fail(format!("bad reply frame: {error}")),
            },
        };
        if flag & FLAG_RESPONSE == 0 {
            return; // a broker-initiated request (e.g. NOTIFY_CONSUMER_IDS_CHANGED): not ours to answer
        }
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = usize::try_from(opaque).ok().and_then(|index| slots.get_mut(index)) else {
            return; // a reply to a oneway request we never registered
        };
        match std::mem::replace(slot, Slot::Free) {
            Slot::Waiting(waker) => {
                *slot = Slot::Done(Reply { frame });
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            Slot::Abandoned => self.free.borrow_mut().push(opaque as u32),
            other => *slot = other, // stale or duplicate: ignore
        }
    }
}

/// One pipelined connection. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct Pipeline {
    shared: Rc<Shared>,
}

impl Pipeline {
    /// Connects and starts the reader and writer tasks on the current executor.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self, PipelineError> {
        let target = resolve(address)?;
        let stream = runtime::tcp_connect(target, timeout)
            .await
            .map_err(|error| PipelineError::Broken(format!("connect to <{address}> failed: {error}")))?;
        // Requests are small and latency is what we measure.
        let _ = stream.set_nodelay(true);
        let (reader, writer) = futures_lite::io::split(stream);
        let shared = Rc::new(Shared {
            address: address.to_string(),
            outbox: RefCell::new(Vec::with_capacity(64 * 1024)),
            writer_waker: RefCell::new(None),
            drain_wakers: RefCell::new(Vec::new()),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            broken: RefCell::new(None),
            closed: Cell::new(false),
        });
        runtime::spawn(read_loop(shared.clone(), reader)).detach();
        runtime::spawn(write_loop(shared.clone(), writer)).detach();
        Ok(Self { shared })
    }

    pub fn address(&self) -> &str {
        &self.shared.address
    }

    /// Sends one request and waits for its reply. `encode` appends exactly one frame to the
    /// outbox with the given opaque: either `frame::encode` of a command, or a pre-encoded
    /// binary-header frame patched with [`patch_opaque`].
    pub async fn call(&self, encode: impl FnOnce(&mut Vec<u8>, i32)) -> Result<Reply, PipelineError> {
        if let Some(error) = self.shared.broken_error() {
            return Err(error);
        }
        let slot = self.take_slot()?;
        encode(&mut self.shared.outbox.borrow_mut(), slot as i32);
        self.shared.wake_writer();
        ReplyFuture { shared: &self.shared, slot, finished: false }.await
    }

    /// Sends a command (its opaque is assigned here) and waits for the reply.
    pub async fn invoke(&self, command: &Command) -> Result<Command, PipelineError> {
        let reply = self
            .call(|outbox, opaque| {
                let mut command = command.clone();
                command.opaque = opaque;
                let mut encoded = BytesMut::new();
                frame::encode(&command, &mut encoded);
                outbox.extend_from_slice(&encoded);
            })
            .await?;
        reply.decode().map_err(|error| PipelineError::Broken(format!("bad reply: {error}")))
    }

    /// Queues a oneway request (no reply). Waits only while the outbox holds more than
    /// [`CLIENT_OUTBOX_BYTES_MAX`], so a fast sender cannot grow it without bound.
    pub async fn oneway(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), PipelineError> {
        DrainFuture { shared: &self.shared }.await?;
        encode(&mut self.shared.outbox.borrow_mut());
        self.shared.wake_writer();
        Ok(())
    }

    fn take_slot(&self) -> Result<u32, PipelineError> {
        if let Some(slot) = self.shared.free.borrow_mut().pop() {
            self.shared.slots.borrow_mut()[slot as usize] = Slot::Waiting(None);
            return Ok(slot);
        }
        let mut slots = self.shared.slots.borrow_mut();
        if slots.len() >= CLIENT_REQUESTS_IN_FLIGHT_MAX {
            return Err(PipelineError::Full);
        }
        slots.push(Slot::Waiting(None));
        Ok((slots.len() - 1) as u32)
    }

    /// Stops the writer; the broker sees the connection close once the reader ends too.
    pub fn close(&self) {
        self.shared.closed.set(true);
        self.shared.wake_writer();
    }
}

struct ReplyFuture<'a> {
    shared: &'a Shared,
    slot: u32,
    finished: bool,
}

impl Future for ReplyFuture<'_> {
    type Output = Result<Reply, PipelineError>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.slot as usize;
        let mut slots = self.shared.slots.borrow_mut();
        match &mut slots[index] {
            Slot::Done(_) => {
                let Slot::Done(reply) = std::mem::replace(&mut slots[index], Slot::Free) else { unreachable!() };
                drop(slots);
                self.shared.free.borrow_mut().push(self.slot);
                self.finished = true;
                Poll::Ready(Ok(reply))
            }
            Slot::Waiting(waker) => {
                if let Some(error) = self.shared.broken_error() {
                    slots[index] = Slot::Free;
                    drop(slots);
                    self.shared.free.borrow_mut().push(self.slot);
                    self.finished = true;
                    return Poll::Ready(Err(error));
                }
                match waker {
                    Some(waker) if waker.will_wake(context.waker()) => {}
                    _ => *waker = Some(context.waker().clone()),
                }
                Poll::Pending
            }
            Slot::Free | Slot::Abandoned => unreachable!("a slot is owned by its future until it finishes"),
        }
    }
}

impl Drop for ReplyFuture<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut slots = self.shared.slots.borrow_mut();
            if matches!(slots[self.slot as usize], Slot::Done(_)) {
                slots[self.slot as usize] = Slot::Free;
                drop(slots);
                self.shared.free.borrow_mut().push(self.slot);
            } else {
                slots[self.slot as usize] = Slot::Abandoned;
            }
        }
    }
}

struct DrainFuture<'a> {
    shared: &'a Shared,
}

impl Future for DrainFuture<'_> {
    type Output = Result<(), PipelineError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(error) = self.shared.broken_error() {
            return Poll::Ready(Err(error));
        }
        if self.shared.outbox.borrow().len() <= CLIENT_OUTBOX_BYTES_MAX {
            return Poll::Ready(Ok(()));
        }
        self.shared.drain_wakers.borrow_mut().push(context.waker().clone());
        Poll::Pending
    }
}

/// Resolves when the outbox has bytes (or the connection is closed or broken).
struct OutboxReady<'a> {
    shared: &'a Shared,
}

impl Future for OutboxReady<'_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<bool> {
        if self.shared.closed.get() || self.shared.broken.borrow().is_some() {
            return Poll::Ready(false);
        }
        if !self.shared.outbox.borrow().is_empty() {
            return Poll::Ready(true);
        }
        *self.shared.writer_waker.borrow_mut() = Some(context.waker().clone());
        Poll::Pending
    }
}

async fn write_loop(shared: Rc<Shared>, mut writer: impl futures_lite::AsyncWrite + Unpin) {
    // Two buffers swap roles: callers append to one while the other is on the wire.
    let mut sending = Vec::with_capacity(64 * 1024);
    while (OutboxReady { shared: &shared }).await {
        std::mem::swap(&mut *shared.outbox.borrow_mut(), &mut sending);
        for waker in shared.drain_wakers.borrow_mut().drain(..) {
            waker.wake();
        }
        if let Err(error) = writer.write_all(&sending).await {
            return shared.fail(format!("write to <{}> failed: {error}", shared.address));
        }
        sending.clear();
    }
    let _ = writer.close().await;
}

async fn read_loop(shared: Rc<Shared>, mut reader: impl futures_lite::AsyncRead + Unpin) {
    let mut buffer = BytesMut::with_capacity(2 * CLIENT_READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; CLIENT_READ_CHUNK_BYTES];
    loop {
        loop {
            match frame::frame_size(&buffer) {
                Ok(Some(size)) if buffer.len() >= size => shared.deliver(buffer.split_to(size).freeze()),
                Ok(_) => break,
                Err(error) => return shared.fail(format!("bad frame from <{}>: {error}", shared.address)),
            }
        }
        if shared.broken.borrow().is_some() {
            return;
        }
        match reader.read(&mut chunk).await {
            Ok(0) => return shared.fail(format!("<{}> closed the connection", shared.address)),
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
            Err(error) => return shared.fail(format!("read from <{}> failed: {error}", shared.address)),
        }
    }
}

fn resolve(address: &str) -> Result<SocketAddr, PipelineError> {
    let failure = |reason: String| PipelineError::Broken(format!("address <{address}>: {reason}"));
    address
        .to_socket_addrs()
        .map_err(|error| failure(error.to_string()))?
        .next()
        .ok_or_else(|| failure("does not resolve".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{request, response};

    /// A server that reads `count` requests, then answers them in reverse order (remark = the
    /// request's `n`), then closes the connection while one more request is outstanding.
    fn reversing_server(count: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buffer = BytesMut::new();
            let mut requests = Vec::new();
            let mut chunk = [0u8; 4096];
            while requests.len() < count + 1 {
                while let Some(command) = frame::decode(&mut buffer).unwrap() {
                    requests.push(command);
                }
                if requests.len() > count {
                    break;
                }
                let read = stream.read(&mut chunk).unwrap();
                buffer.extend_from_slice(&chunk[..read]);
            }
            for command in requests[..count].iter().rev() {
                let n = command.ext_fields.get("n").unwrap().to_string();
                let mut reply = Command::response_to(command, response::SUCCESS).with_remark(n);
                reply.serialize_type = SerializeType::Rocketmq;
                stream.write_all(&frame::encode_to_bytes(&reply)).unwrap();
            }
            // Dropping the stream breaks the last, unanswered request.
        });
        address
    }

    #[test]
    fn replies_in_any_order_reach_their_callers_and_a_broken_connection_fails_the_rest() {
        let address = reversing_server(8);
        let _ = runtime::raise_memlock_limit(64 << 20);
        let executor = runtime::spawn_executor("pipeline-test", None, move || async move {
            let pipeline = Pipeline::connect(&address, Duration::from_secs(3)).await.unwrap();
            let calls: Vec<_> = (0..9)
                .map(|n| {
                    let pipeline = pipeline.clone();
                    runtime::spawn(async move {
                        let mut command = Command::request(request::HEART_BEAT, 0).with_ext("n", n.to_string());
                        command.serialize_type = SerializeType::Rocketmq;
                        pipeline.invoke(&command).await.map(|reply| reply.remark)
                    })
                })
                .collect();
            let mut results = Vec::new();
            for call in calls {
                results.push(call.await);
            }
            results
        })
        .unwrap();
        let results = executor.join().unwrap();
        for (n, result) in results.iter().take(8).enumerate() {
            assert_eq!(result, &Ok(Some(n.to_string())), "call {n} got another call's reply");
        }
        assert!(matches!(&results[8], Err(PipelineError::Broken(_))), "{:?}", results[8]);
    }

    #[test]
    fn binary_header_fields_are_peeked_in_place_and_opaque_is_patched() {
        let mut command = Command::response_to(&Command::request(request::SEND_MESSAGE_V2, 0), response::SYSTEM_BUSY);
        command.serialize_type = SerializeType::Rocketmq;
        command.opaque = 77;
        let mut encoded = BytesMut::new();
        frame::encode(&command.clone().with_remark("busy").with_ext("queueId", "3"), &mut encoded);
        assert_eq!(peek(&encoded), Some((response::SYSTEM_BUSY, 77, FLAG_RESPONSE)));
        patch_opaque(&mut encoded, 123_456);
        let reply = Reply { frame: encoded.freeze() };
        assert_eq!(reply.code(), response::SYSTEM_BUSY);
        let decoded = reply.decode().unwrap();
        assert_eq!(decoded.opaque, 123_456);
        assert_eq!(decoded.ext_fields.get("queueId"), Some("3"));
        let json = frame::encode_to_bytes(&Command::response_to(&Command::request(11, 5), 19));
        assert_eq!(peek(&json), None);
        assert_eq!(Reply { frame: json }.code(), 19);
    }
}
