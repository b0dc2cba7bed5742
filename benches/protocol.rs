//! Protocol benchmark (`cargo bench --bench protocol [-- --quick]`): the CPU a shard spends on
//! a send's frame and header before any storage work, on a real frame (Java client 4.9.7,
//! SEND_MESSAGE_V2, JSON header, `tests/data/cluster/`) and on the frame `ringmq bench`
//! sends (SEND_MESSAGE_V2, binary header, 1 KiB body).
//!
//! Per request: decode the frame (header text, ext fields), decode the V2 header and turn it
//! into the long-named one, and encode a reply with the three fields a send reply carries.
//! Reports nanoseconds per request, the median of several rounds (a 2-core VM is noisy: the
//! median of rounds, not one long run). Under `cargo test` (no `--bench` argument) it runs one
//! short round as a smoke test.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use ringmq::client::{send_request, SendTarget};
use ringmq::protocol::frame;
use ringmq::protocol::headers::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use ringmq::protocol::{request, Command, Header};

const FRAME_FILE: &str = "tests/data/cluster/java-4.9.7-producer-broker-1-02-c310.bin";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|arg| arg == "--bench");
    let quick = args.iter().any(|arg| arg == "--quick");
    let (rounds, round_time) = match (benching, quick) {
        (false, _) => (1, Duration::from_millis(20)),
        (true, true) => (5, Duration::from_millis(200)),
        (true, false) => (11, Duration::from_millis(500)),
    };
    let java = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(FRAME_FILE)).expect("captured frame");
    let target = SendTarget { producer_group: "BenchProducer", topic: "BenchTopic", queue_id: 3 };
    let properties = "WAIT\u{1}true\u{2}UNIQ_KEY\u{1}7F00000100002A9F0000000000000001\u{2}";
    let ours = frame::encode_to_bytes(&send_request(&target, properties, &[b'x'; 1024]));
    for (name, wire) in [("Java 4.9.7, JSON header", &java[..]), ("ringmq bench, binary header", &ours[..])] {
        let first = decode_send(wire);
        assert_eq!(first.0, request::SEND_MESSAGE_V2);
        assert!(!first.1.topic.is_empty(), "the frame carries a topic");
        let mut per_request_ns: Vec<f64> = (0..rounds).map(|_| round(wire, round_time)).collect();
        per_request_ns.sort_by(f64::total_cmp);
        println!(
            "send frame + header decode + reply encode ({name}, {} bytes): {:.0} ns per request \
             (median of {rounds} rounds; min {:.0}, max {:.0})",
            wire.len(),
            per_request_ns[per_request_ns.len() / 2],
            per_request_ns[0],
            per_request_ns[per_request_ns.len() - 1],
        );
    }
}

/// Requests decoded in `round_time`; nanoseconds per request.
fn round(wire: &[u8], round_time: Duration) -> f64 {
    let started = Instant::now();
    let mut requests = 0u64;
    while started.elapsed() < round_time {
        for _ in 0..256 {
            black_box(decode_send(black_box(wire)));
        }
        requests += 256;
    }
    started.elapsed().as_nanos() as f64 / requests as f64
}

/// What a shard does with a send's bytes before storing it.
fn decode_send(wire: &[u8]) -> (i32, SendMessageRequestHeader, BytesMut) {
    let mut buffer = BytesMut::from(wire);
    let command = frame::decode(&mut buffer).expect("a valid frame").expect("a whole frame");
    let header: SendMessageRequestHeader =
        SendMessageRequestHeaderV2::decode(&command.ext_fields).expect("a V2 send header").into();
    let mut reply = Command::response_to(&command, 0);
    reply.ext_fields.insert("msgId", "7F00000100002A9F0000000000000000");
    reply.ext_fields.insert("queueId", header.queue_id.to_string());
    reply.ext_fields.insert("queueOffset", "12345");
    let mut encoded = BytesMut::with_capacity(256);
    frame::encode_head(&reply, &mut encoded);
    (command.code, header, encoded)
}
