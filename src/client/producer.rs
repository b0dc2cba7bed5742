//! A load-capable producer on a [`Pipeline`]: sync (await one send), async (many sends in
//! flight on one connection, each awaited by its own task), oneway and batch (SEND_BATCH_MESSAGE
//! with the `MessageBatch` body of protocol §5.4).
//!
//! A message that is sent many times is encoded once into a [`SendTemplate`]: the header is the
//! one a Java 4.x producer sends (SEND_MESSAGE_V2's one-letter keys; for a batch the same keys
//! with `m=true`), in the ROCKETMQ binary header encoding that Java clients select with
//! `rocketmq.serialize.type=ROCKETMQ`, because there the opaque sits at a fixed offset and a
//! send is one copy plus one patch. The first 8 bytes of every body can carry a timestamp
//! (see [`SendTemplate::write`]) for end-to-end latency.

use bytes::{Bytes, BytesMut};

use super::pipeline::{patch_opaque, Pipeline, PipelineError, Reply};
use crate::protocol::batch::{self, BatchEntry};
use crate::protocol::command::FLAG_ONEWAY;
use crate::protocol::headers::SendMessageRequestHeaderV2;
use crate::protocol::{request, Command, Header, SerializeType};

/// Properties a Java producer sets on a plain send: `WAIT=true` (wait for the store).
const PROPERTIES_WAIT: &str = "WAIT\u{1}true\u{2}";

/// A send request encoded once, sent many times.
#[derive(Clone, Debug)]
pub struct SendTemplate {
    frame: Vec<u8>,
    messages: u32,
    /// Where each message body starts in `frame`; stamped bodies get their first 8 bytes there.
    body_offsets: Vec<usize>,
    body_bytes: usize,
}

/// What a template carries: the topic's queue and the producer group.
#[derive(Clone, Debug)]
pub struct SendTarget<'a> {
    pub producer_group: &'a str,
    pub topic: &'a str,
    pub queue_id: i32,
}

fn header(target: &SendTarget<'_>, properties: &str, batch: bool) -> Command {
    let code = if batch { request::SEND_BATCH_MESSAGE } else { request::SEND_MESSAGE_V2 };
    let mut command = Command::request(code, 0);
    command.serialize_type = SerializeType::Rocketmq;
    SendMessageRequestHeaderV2 {
        a: target.producer_group.into(),
        b: target.topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: target.queue_id,
        f: 0,
        g: crate::protocol::now_ms(),
        h: 0,
        i: Some(properties.into()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(batch),
    }
    .encode(&mut command.ext_fields);
    command
}

/// One SEND_MESSAGE_V2 of `body` with `properties` (Java's encoding: `NAME\u{1}value\u{2}…`), as
/// a Java 4.x producer sends it.
pub fn send_request(target: &SendTarget<'_>, properties: &str, body: &[u8]) -> Command {
    header(target, properties, false).with_body(Bytes::copy_from_slice(body))
}

impl SendTemplate {
    /// One message of `body` (SEND_MESSAGE_V2).
    pub fn single(target: &SendTarget<'_>, body: &[u8]) -> Self {
        let command = send_request(target, PROPERTIES_WAIT, body);
        let frame = encode(&command);
        let body_at = frame.len() - body.len();
        Self { frame, messages: 1, body_offsets: vec![body_at], body_bytes: body.len() }
    }

    /// `count` messages of `body` each in one SEND_BATCH_MESSAGE.
    pub fn batch(target: &SendTarget<'_>, body: &[u8], count: usize) -> Self {
        assert!(count >= 1, "a batch holds at least one message");
        let entry = BatchEntry { flag: 0, body: Bytes::copy_from_slice(body), properties: PROPERTIES_WAIT.into() };
        let mut encoded = Vec::new();
        batch::encode(&vec![entry; count], &mut encoded);
        let entry_bytes = encoded.len() / count;
        let command = header(target, PROPERTIES_WAIT, true).with_body(encoded.clone());
        let frame = encode(&command);
        let batch_at = frame.len() - encoded.len();
        // Each entry: TOTALSIZE, MAGIC, BODYCRC, FLAG, BODY length, then the body.
        let body_offsets = (0..count).map(|index| batch_at + index * entry_bytes + 20).collect();
        Self { frame, messages: count as u32, body_offsets, body_bytes: body.len() }
    }

    /// The same request without a reply (oneway flag).
    pub fn oneway(mut self) -> Self {
        let flag_at = 17;
        let flag = i32::from_be_bytes(self.frame[flag_at..flag_at + 4].try_into().expect("4 bytes")) | FLAG_ONEWAY;
        self.frame[flag_at..flag_at + 4].copy_from_slice(&flag.to_be_bytes());
        self
    }

    pub fn messages(&self) -> u32 {
        self.messages
    }

    /// Body bytes of all messages of this request.
    pub fn body_bytes_total(&self) -> usize {
        self.body_bytes * self.messages as usize
    }

    /// Appends the request with `opaque`; with `stamp`, the first 8 bytes of every body
    /// (big-endian) become `stamp` (bodies shorter than 8 bytes are left alone).
    pub fn write(&self, outbox: &mut Vec<u8>, opaque: i32, stamp: Option<i64>) {
        let start = outbox.len();
        outbox.extend_from_slice(&self.frame);
        let frame = &mut outbox[start..];
        patch_opaque(frame, opaque);
        if let (Some(stamp), true) = (stamp, self.body_bytes >= 8) {
            for at in &self.body_offsets {
                frame[*at..*at + 8].copy_from_slice(&stamp.to_be_bytes());
            }
        }
    }
}

fn encode(command: &Command) -> Vec<u8> {
    let mut encoded = BytesMut::new();
    crate::protocol::frame::encode(command, &mut encoded);
    encoded.to_vec()
}

/// Sends templates on one pipelined connection.
#[derive(Clone)]
pub struct Producer {
    pipeline: Pipeline,
}

impl Producer {
    pub fn new(pipeline: Pipeline) -> Self {
        Self { pipeline }
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Sends and waits for the broker's answer. Sync use awaits each call in turn; async use
    /// runs many of these concurrently on the same producer (one task per outstanding send).
    pub async fn send(&self, template: &SendTemplate, stamp: Option<i64>) -> Result<Reply, PipelineError> {
        self.pipeline.call(|outbox, opaque| template.write(outbox, opaque, stamp)).await
    }

    /// Queues a oneway send (build the template with [`SendTemplate::oneway`]).
    pub async fn send_oneway(&self, template: &SendTemplate, stamp: Option<i64>) -> Result<(), PipelineError> {
        self.pipeline.oneway(|outbox| template.write(outbox, 0, stamp)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::headers::SendMessageRequestHeader;

    fn decode(frame: &[u8]) -> Command {
        let mut buffer = BytesMut::from(frame);
        crate::protocol::frame::decode(&mut buffer).unwrap().unwrap()
    }

    #[test]
    fn templates_encode_what_a_java_producer_sends_and_stamp_every_body() {
        let target = SendTarget { producer_group: "G", topic: "T", queue_id: 3 };
        let single = SendTemplate::single(&target, &[b'x'; 16]);
        let mut outbox = Vec::new();
        single.write(&mut outbox, 42, Some(0x0102_0304_0506_0708));
        let command = decode(&outbox);
        assert_eq!((command.code, command.opaque, command.serialize_type), (310, 42, SerializeType::Rocketmq));
        let header = SendMessageRequestHeader::decode_for(command.code, &command.ext_fields).unwrap();
        assert_eq!((header.topic.as_str(), header.queue_id, header.batch), ("T", 3, Some(false)));
        assert_eq!(&command.body[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&command.body[8..], &[b'x'; 8]);

        let batch = SendTemplate::batch(&target, &[b'y'; 12], 3).oneway();
        assert_eq!((batch.messages(), batch.body_bytes_total()), (3, 36));
        let mut outbox = Vec::new();
        batch.write(&mut outbox, 7, Some(-1));
        let command = decode(&outbox);
        assert_eq!(command.code, 320);
        assert!(command.is_oneway());
        let entries = batch::decode(&command.body, 10).unwrap();
        assert_eq!(entries.len(), 3);
        for entry in entries {
            assert_eq!(&entry.body[..8], &[0xff; 8]);
            assert_eq!(&entry.body[8..], &[b'y'; 4]);
        }
    }
}
