//! Golden-vector tests of the remoting codecs against frames captured from real RocketMQ clients.
//!
//! **Goal.** Prove that `ringmq::protocol` reads every request that real third-party clients put
//! on the wire (the official Java client 4.9.7 in both header encodings, ali-ons, the C++ clients
//! 1.0.1 and 2.1.0 through their Python bindings, rocketmq-client-rust) exactly as the reference
//! decoder (`shared/clients/decode.py`) read them, that it refuses a foreign protocol (an HTTP/2
//! preface) from the length prefix alone, and that encoding is the inverse of decoding.
//!
//! **Method.** The captures live in `tests/data/first-frames/` (the raw byte stream of one TCP
//! connection to a listener that never answers) and `tests/data/cluster/` (one request per file,
//! plus a `<run>.frames.jsonl` with the reference decode of every frame of a run). Each test reads
//! them from disk, decodes them with the same entry points the connection loop uses
//! (`frame::decode` over a `BytesMut`), and checks
//!
//! * the facts that `shared/reference/clients.md` §3 states per client (language, version,
//!   opaque numbering, serialize type, header quirks),
//! * agreement with the reference decode field by field (ext values compared as strings, since
//!   some clients send JSON numbers and booleans and the broker coerces them as fastjson does),
//! * byte-identical re-encoding where the client's format is the one our encoder writes (the
//!   ROCKETMQ binary header, and the Java client's fastjson header), and a decode → encode →
//!   decode fixed point for everything else,
//! * the typed headers, properties strings, batch bodies and heartbeat bodies the broker's
//!   handlers decode next.
//!
//! Every assertion names the file it failed on, so a failure points at one capture.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use ringmq::protocol::codes::{request, Language};
use ringmq::protocol::frame::{self, FrameError};
use ringmq::protocol::header::Header;
use ringmq::protocol::headers::{
    ConsumerGroupRequestHeader, EndTransactionRequestHeader, GetRouteInfoRequestHeader, PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader, QueueRequestHeader, SendMessageRequestHeader, UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use ringmq::protocol::message::Properties;
use ringmq::protocol::{batch, json, Command, SerializeType};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Loading the vectors

fn data_dir(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(folder)
}

/// `(file name, bytes)` of every `.bin` in `folder`, sorted by name.
fn bin_files(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = data_dir(folder);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "bin"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = fs::read(&path).unwrap_or_else(|error| panic!("cannot read {name}: {error}"));
            (name, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .bin files in {}", dir.display());
    files
}

/// The captured first-frame streams, without the negative gRPC vector.
fn first_frame_files() -> Vec<(String, Vec<u8>)> {
    bin_files("first-frames").into_iter().filter(|(name, _)| name != GRPC_FILE).collect()
}

const GRPC_FILE: &str = "nodejs-grpc5-1.bin";

/// One decoded frame and the exact bytes it came from (length prefix included).
struct Frame {
    raw: Bytes,
    command: Command,
}

/// Decodes a byte stream completely: frame after frame until the buffer is empty. Anything left
/// over, an incomplete frame or an error fails the test.
fn decode_stream(name: &str, bytes: &[u8]) -> Vec<Frame> {
    let mut buffer = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while !buffer.is_empty() {
        let size = frame::frame_size(&buffer)
            .unwrap_or_else(|error| panic!("{name}: frame {} refused: {error}", frames.len()))
            .unwrap_or_else(|| panic!("{name}: {} bytes left over, less than a prefix", buffer.len()));
        let raw = Bytes::copy_from_slice(&buffer[..size.min(buffer.len())]);
        let command = frame::decode(&mut buffer)
            .unwrap_or_else(|error| panic!("{name}: frame {} does not decode: {error}", frames.len()))
            .unwrap_or_else(|| panic!("{name}: frame {} is incomplete", frames.len()));
        frames.push(Frame { raw, command });
    }
    frames
}

/// The single frame of a `cluster/*.bin` file.
fn decode_single(name: &str, bytes: &[u8]) -> Frame {
    let mut frames = decode_stream(name, bytes);
    assert_eq!(frames.len(), 1, "{name}: expected exactly one frame");
    frames.pop().unwrap()
}

/// Every cluster frame, decoded, with its file name.
fn cluster_frames() -> Vec<(String, Frame)> {
    bin_files("cluster")
        .into_iter()
        .map(|(name, bytes)| {
            let frame = decode_single(&name, &bytes);
            (name, frame)
        })
        .collect()
}

/// The request code in a cluster file name: `...-c<code>.bin`.
fn code_in_name(name: &str) -> i32 {
    let stem = name.strip_suffix(".bin").expect(".bin file");
    let (_, code) = stem.rsplit_once("-c").unwrap_or_else(|| panic!("{name}: no -c<code> suffix"));
    code.parse().unwrap_or_else(|_| panic!("{name}: bad code {code:?}"))
}

/// All reference decodes (`cluster/*.frames.jsonl`), by `.bin` file name.
fn reference_decodes() -> BTreeMap<String, Value> {
    let dir = data_dir("cluster");
    let mut records = BTreeMap::new();
    let mut runs = 0;
    for entry in fs::read_dir(&dir).expect("cluster directory") {
        let path = entry.expect("directory entry").path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if !name.ends_with(".frames.jsonl") {
            continue;
        }
        runs += 1;
        let text = fs::read_to_string(&path).expect("readable jsonl");
        for (line_number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{name}:{}: {error}", line_number + 1));
            let file = record["file"].as_str().expect("file field").to_string();
            assert!(records.insert(file.clone(), record).is_none(), "{file} decoded twice");
        }
    }
    assert_eq!(runs, 34, "README: 34 runs");
    records
}

/// A JSON scalar as the string fastjson would store in `HashMap<String, String>`.
fn scalar_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("ext value {other} is not a scalar"),
    }
}

fn ext_map(command: &Command) -> BTreeMap<String, String> {
    command.ext_fields.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

fn is_send(code: i32) -> bool {
    matches!(code, request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE)
}

/// The properties string of a send request: `properties` (code 10) or `i` (310/320).
fn send_properties(command: &Command) -> Option<&str> {
    command.ext_fields.get("properties").or_else(|| command.ext_fields.get("i"))
}

// ---------------------------------------------------------------------------------------------
// first-frames/

/// What clients.md §3 says about one client's first frames.
struct ClientFacts {
    /// File-name prefix, up to the `-<n>.bin` connection number.
    prefix: &'static str,
    language: Language,
    version: i32,
    /// The opaque of the first request on the client's first connection.
    opaque_start: i32,
    serialize_type: SerializeType,
    /// `total len` (length prefix value) of the first frame of `<prefix>-1.bin`.
    first_total_len: u32,
    /// The JSON header ends with `\n` (jsoncpp).
    trailing_newline: bool,
    /// The decoded `remark`.
    remark: Option<&'static str>,
}

const CLIENTS: &[ClientFacts] = &[
    ClientFacts {
        prefix: "java-4.9.7",
        language: Language::Java,
        version: 407,
        opaque_start: 0,
        serialize_type: SerializeType::Json,
        first_total_len: 132,
        trailing_newline: false,
        remark: None,
    },
    ClientFacts {
        prefix: "java-4.9.7-rocketmqser",
        language: Language::Java,
        version: 407,
        opaque_start: 0,
        serialize_type: SerializeType::Rocketmq,
        first_total_len: 42,
        trailing_newline: false,
        remark: None,
    },
    ClientFacts {
        prefix: "ali-ons",
        language: Language::Java,
        version: 121,
        opaque_start: 1,
        serialize_type: SerializeType::Json,
        first_total_len: 102,
        trailing_newline: false,
        remark: None,
    },
    // The ali-ons push consumer: same client library, same facts.
    ClientFacts {
        prefix: "ali-ons-consumer",
        language: Language::Java,
        version: 121,
        opaque_start: 1,
        serialize_type: SerializeType::Json,
        first_total_len: 102,
        trailing_newline: false,
        remark: None,
    },
    ClientFacts {
        prefix: "py-rocketmq044",
        language: Language::Cpp,
        version: 63,
        opaque_start: 0,
        serialize_type: SerializeType::Json,
        first_total_len: 193,
        trailing_newline: true,
        remark: Some(""),
    },
    ClientFacts {
        prefix: "py-rocketmq-cvs",
        language: Language::Cpp,
        version: 333,
        opaque_start: 0,
        serialize_type: SerializeType::Json,
        first_total_len: 194,
        trailing_newline: true,
        remark: Some(""),
    },
    ClientFacts {
        prefix: "py-rocketmq-client-python",
        language: Language::Cpp,
        version: 333,
        opaque_start: 0,
        serialize_type: SerializeType::Json,
        first_total_len: 194,
        trailing_newline: true,
        remark: Some(""),
    },
    ClientFacts {
        prefix: "rocketmq-client-rust",
        language: Language::Rust,
        version: 474,
        opaque_start: 0,
        serialize_type: SerializeType::Json,
        first_total_len: 149,
        trailing_newline: false,
        // Sent as an explicit `"remark":null`.
        remark: None,
    },
];

/// Splits `<prefix>-<n>.bin` into the client's facts and the connection number `n`.
fn client_of(name: &str) -> (&'static ClientFacts, i32) {
    let stem = name.strip_suffix(".bin").expect(".bin file");
    let (prefix, connection) = stem.rsplit_once('-').expect("<client>-<n>.bin");
    let facts = CLIENTS
        .iter()
        .find(|facts| facts.prefix == prefix)
        .unwrap_or_else(|| panic!("{name}: no client facts for prefix {prefix:?}"));
    (facts, connection.parse().expect("connection number"))
}

#[test]
fn every_first_frame_decodes_completely_as_a_route_request_with_its_clients_facts() {
    let files = first_frame_files();
    assert_eq!(files.len(), 19, "README: 20 .bin files, one of them the gRPC vector");
    let mut prefixes_seen = BTreeSet::new();
    for (name, bytes) in &files {
        let frames = decode_stream(name, bytes);
        assert!(!frames.is_empty(), "{name}: no frame");
        let (facts, connection) = client_of(name);
        prefixes_seen.insert(facts.prefix);
        for (index, Frame { raw, command }) in frames.iter().enumerate() {
            let at = format!("{name} frame {index}");
            assert_eq!(command.code, request::GET_ROUTEINFO_BY_TOPIC, "{at}: code");
            assert_eq!(command.flag, 0, "{at}: flag");
            assert!(command.body.is_empty(), "{at}: a route request has no body");
            let topic = command.ext_fields.get("topic").unwrap_or_else(|| panic!("{at}: no topic"));
            assert!(!topic.is_empty(), "{at}: empty topic");
            assert_eq!(command.language, facts.language, "{at}: language");
            assert_eq!(command.version, facts.version, "{at}: version");
            assert_eq!(command.serialize_type, facts.serialize_type, "{at}: serialize type");
            assert_eq!(command.remark.as_deref(), facts.remark, "{at}: remark");
            // Opaques count requests per client process: connection n starts where the previous
            // connection's single request left off, and each further frame adds one.
            let expected_opaque = facts.opaque_start + connection - 1 + index as i32;
            assert_eq!(command.opaque, expected_opaque, "{at}: opaque");
            let kind = raw[4];
            assert_eq!(kind, facts.serialize_type as u8, "{at}: serialize type byte");
            if facts.serialize_type == SerializeType::Json {
                let header_bytes = (u32::from_be_bytes(raw[4..8].try_into().unwrap()) & 0x00FF_FFFF) as usize;
                let header = &raw[8..8 + header_bytes];
                assert_eq!(header.last() == Some(&b'\n'), facts.trailing_newline, "{at}: trailing \\n");
            }
        }
        if connection == 1 {
            let total_len = u32::from_be_bytes(frames[0].raw[..4].try_into().unwrap());
            assert_eq!(total_len, facts.first_total_len, "{name}: total len of the first frame");
        }
    }
    assert_eq!(prefixes_seen.len(), CLIENTS.len(), "every client of clients.md §3 is covered");

    // Spot checks against the exact bytes quoted in clients.md §3.
    let by_name: BTreeMap<&str, &Vec<u8>> = files.iter().map(|(n, b)| (n.as_str(), b)).collect();
    let java = decode_stream("java-4.9.7-1.bin", by_name["java-4.9.7-1.bin"]);
    assert_eq!(java[0].command.ext_fields.get("topic"), Some("TBW102"), "Java starts with TBW102");
    let binary = decode_stream("java-4.9.7-rocketmqser-1.bin", by_name["java-4.9.7-rocketmqser-1.bin"]);
    assert_eq!(binary[0].command.ext_fields.get("topic"), Some("TBW102"));
    assert_eq!(binary[0].command.ext_fields.len(), 1);
    let cpp = decode_stream("py-rocketmq044-1.bin", by_name["py-rocketmq044-1.bin"]);
    let ext = &cpp[0].command.ext_fields;
    assert_eq!(ext.get("AccessKey"), Some(""));
    assert_eq!(ext.get("OnsChannel"), Some("ALIYUN"));
    assert_eq!(ext.get("Signature"), Some("LmyvztIa+pVsYbawkoR46HseO2o="));
    assert_eq!(ext.get("topic"), Some("TestTopic"));
    // "ali-ons-consumer-2.bin holds four GET_ROUTEINFO_BY_TOPIC requests".
    let consumer = decode_stream("ali-ons-consumer-2.bin", by_name["ali-ons-consumer-2.bin"]);
    let topics: Vec<&str> = consumer.iter().map(|frame| frame.command.ext_fields.get("topic").unwrap()).collect();
    assert_eq!(topics, ["TestTopic", "%RETRY%TestConsumerGroup", "TestTopic", "%RETRY%TestConsumerGroup"]);
}

#[test]
fn the_grpc_preface_is_refused_as_too_large_from_its_first_four_bytes() {
    let bytes = fs::read(data_dir("first-frames").join(GRPC_FILE)).expect("gRPC vector");
    assert_eq!(&bytes[..4], b"PRI ");
    let expected =
        FrameError::TooLarge { length_bytes: 1_347_569_952, length_bytes_max: ringmq::limits::FRAME_SIZE_BYTES_MAX };
    // Only the prefix: if the decoder wanted more bytes it would answer Ok(None) here.
    let mut prefix = BytesMut::from(&bytes[..4]);
    assert_eq!(frame::decode(&mut prefix), Err(expected.clone()));
    assert_eq!(frame::frame_size(&bytes[..4]), Err(expected.clone()));
    // The whole capture fails the same way.
    assert_eq!(frame::decode(&mut BytesMut::from(&bytes[..])), Err(expected));
}

// ---------------------------------------------------------------------------------------------
// cluster/

#[test]
fn every_cluster_frame_is_one_frame_whose_code_is_in_its_name_and_agrees_with_the_reference_decode() {
    let frames = cluster_frames();
    assert_eq!(frames.len(), 434, "README: 434 frames");
    let mut references = reference_decodes();
    for (name, Frame { command, .. }) in &frames {
        assert_eq!(command.code, code_in_name(name), "{name}: code vs file name");
        let reference = references.remove(name).unwrap_or_else(|| panic!("{name}: not in any jsonl"));
        let header = &reference["header"];
        assert_eq!(i64::from(command.code), header["code"].as_i64().unwrap(), "{name}: code");
        assert_eq!(i64::from(command.opaque), header["opaque"].as_i64().unwrap(), "{name}: opaque");
        assert_eq!(i64::from(command.flag), header["flag"].as_i64().unwrap(), "{name}: flag");
        assert_eq!(i64::from(command.version), header["version"].as_i64().unwrap(), "{name}: version");
        assert_eq!(Some(command.language.name()), header["language"].as_str(), "{name}: language");
        let remark = header.get("remark").and_then(Value::as_str);
        assert_eq!(command.remark.as_deref(), remark, "{name}: remark");
        let serialize_type = match command.serialize_type {
            SerializeType::Json => "JSON",
            SerializeType::Rocketmq => "ROCKETMQ",
        };
        assert_eq!(Some(serialize_type), reference["serialize_type"].as_str(), "{name}: type");
        let expected_ext: BTreeMap<String, String> = match header.get("extFields") {
            None => BTreeMap::new(),
            Some(fields) => fields
                .as_object()
                .unwrap_or_else(|| panic!("{name}: extFields is not an object"))
                .iter()
                .map(|(key, value)| (key.clone(), scalar_string(value)))
                .collect(),
        };
        assert_eq!(ext_map(command), expected_ext, "{name}: ext fields");
        let body_len = reference["body_len"].as_u64().unwrap() as usize;
        assert_eq!(command.body.len(), body_len, "{name}: body length");
        let expected_body: Vec<u8> = match (reference.get("body"), reference.get("body_hex")) {
            (Some(Value::String(text)), _) => text.as_bytes().to_vec(),
            (_, Some(Value::String(hex))) => {
                (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex")).collect()
            }
            _ => panic!("{name}: reference has neither body nor body_hex"),
        };
        assert_eq!(&command.body[..], &expected_body[..], "{name}: body bytes");
    }
    assert!(references.is_empty(), "jsonl records without a .bin: {:?}", references.keys());
}

/// The Java client writes its JSON header the way our encoder does (fastjson, fields sorted,
/// `serializeTypeCurrentRPC`, no null remark), and the ROCKETMQ binary header has one encoding.
fn re_encodes_byte_for_byte(name: &str, command: &Command) -> bool {
    command.serialize_type == SerializeType::Rocketmq || name.starts_with("java-4.9.7-")
}

#[test]
fn deterministic_frames_re_encode_byte_for_byte_and_all_others_reach_a_fixed_point() {
    let mut streams: Vec<(String, Vec<Frame>)> = first_frame_files()
        .into_iter()
        .map(|(name, bytes)| {
            let frames = decode_stream(&name, &bytes);
            (name, frames)
        })
        .collect();
    streams.extend(cluster_frames().into_iter().map(|(name, frame)| (name, vec![frame])));
    let (mut identical, mut fixed_point) = (0, 0);
    for (name, frames) in &streams {
        for (index, Frame { raw, command }) in frames.iter().enumerate() {
            let at = format!("{name} frame {index}");
            let encoded = frame::encode_to_bytes(command);
            let decoded = decode_single(&at, &encoded).command;
            assert_eq!(&decoded, command, "{at}: decode(encode(command)) != command");
            if re_encodes_byte_for_byte(name, command) {
                assert_eq!(
                    String::from_utf8_lossy(&encoded),
                    String::from_utf8_lossy(raw),
                    "{at}: re-encoding differs"
                );
                assert_eq!(&encoded[..], &raw[..], "{at}: re-encoding differs");
                identical += 1;
            } else {
                assert_eq!(frame::encode_to_bytes(&decoded), encoded, "{at}: not a fixed point");
                fixed_point += 1;
            }
        }
    }
    // Java 4.9.7: 4 first frames + 123 cluster frames (7 of them binary); the other clients: 18
    // first frames (ali-ons-consumer-2.bin holds four) + 311 cluster frames.
    assert_eq!(identical, 4 + 123, "frames checked byte for byte");
    assert_eq!(fixed_point, 18 + 311, "frames checked for a fixed point");
}

/// Decodes the typed header `H` of `name`, failing the test with the header error.
fn typed<H: Header>(name: &str, command: &Command) -> H {
    H::decode(&command.ext_fields).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn is_known_topic(topic: &str) -> bool {
    topic == "TestTopic" || topic == "TBW102" || topic.starts_with("%RETRY%")
}

fn is_known_consumer_group(group: &str) -> bool {
    group == "TestConsumerGroup" || group == "TestPullConsumerGroup"
}

/// Checks the send header of `name` (codes 10, 310, 320) and says whether it is a batch.
fn check_send_header(name: &str, command: &Command) -> bool {
    let header = SendMessageRequestHeader::decode_for(command.code, &command.ext_fields)
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    assert_eq!(header.topic, "TestTopic", "{name}: topic");
    assert!(header.producer_group.starts_with("Test"), "{name}: producer group");
    // Java: code 320 (and `m:"true"`); cpp 2.1.0: 310 with `m:"1"`; cpp 1.0.1: 10 with
    // `batch:"1"`. Every non-batch send says false or nothing.
    let is_batch = command.code == request::SEND_BATCH_MESSAGE || header.batch == Some(true);
    assert_eq!(is_batch, name.contains("-batch-"), "{name}: batch detection");
    is_batch
}

/// Checks the typed header of every non-send request code that has one.
fn check_other_header(name: &str, command: &Command) {
    match command.code {
        request::PULL_MESSAGE => {
            let header: PullMessageRequestHeader = typed(name, command);
            assert!(is_known_consumer_group(&header.consumer_group), "{name}: group");
            assert!(is_known_topic(&header.topic), "{name}: topic {}", header.topic);
            assert!((0..4).contains(&header.queue_id), "{name}: queue id");
        }
        request::QUERY_CONSUMER_OFFSET => {
            let header: QueryConsumerOffsetRequestHeader = typed(name, command);
            assert!(is_known_consumer_group(&header.consumer_group), "{name}: group");
            assert!(is_known_topic(&header.topic), "{name}: topic {}", header.topic);
        }
        request::UPDATE_CONSUMER_OFFSET => {
            let header: UpdateConsumerOffsetRequestHeader = typed(name, command);
            assert!(is_known_consumer_group(&header.consumer_group), "{name}: group");
            // ali-ons commits -1 when nothing was consumed (clients.md §4).
            assert!(header.commit_offset >= -1, "{name}: commit offset");
        }
        request::GET_MAX_OFFSET | request::GET_MIN_OFFSET => {
            let header: QueueRequestHeader = typed(name, command);
            assert!(is_known_topic(&header.topic), "{name}: topic {}", header.topic);
        }
        request::UNREGISTER_CLIENT => {
            let header: UnregisterClientRequestHeader = typed(name, command);
            assert!(!header.client_id.is_empty(), "{name}: clientID");
            let groups = (header.producer_group, header.consumer_group);
            assert!(groups.0.is_some() || groups.1.is_some(), "{name}: neither group");
        }
        request::END_TRANSACTION => {
            let header: EndTransactionRequestHeader = typed(name, command);
            assert_eq!(header.producer_group, "TestTxProducerGroup", "{name}: group");
            assert_eq!(header.commit_or_rollback, 8, "{name}: commit");
            // Java sends "false", C++ "0".
            assert_eq!(header.from_transaction_check, Some(false), "{name}: fromTransactionCheck");
        }
        request::GET_CONSUMER_LIST_BY_GROUP => {
            let header: ConsumerGroupRequestHeader = typed(name, command);
            assert!(is_known_consumer_group(&header.consumer_group), "{name}: group");
        }
        request::GET_ROUTEINFO_BY_TOPIC => {
            let header: GetRouteInfoRequestHeader = typed(name, command);
            assert!(is_known_topic(&header.topic), "{name}: topic {}", header.topic);
        }
        other => panic!("{name}: unexpected request code {other}"),
    }
}

#[test]
fn every_request_header_decodes_with_its_typed_struct() {
    let mut decoded_per_code: BTreeMap<i32, usize> = BTreeMap::new();
    let mut batches = Vec::new();
    for (name, Frame { command, .. }) in cluster_frames() {
        if command.code == request::HEART_BEAT {
            continue; // no header fields: a JSON body, tested below
        }
        if is_send(command.code) {
            if check_send_header(&name, &command) {
                batches.push(name.clone());
            }
        } else {
            check_other_header(&name, &command);
        }
        *decoded_per_code.entry(command.code).or_default() += 1;
    }
    batches.sort();
    assert_eq!(
        batches,
        [
            "java-4.9.7-producer-batch-broker-1-01-c320.bin",
            "py-rocketmq-cvs-batch-broker-1-01-c310.bin",
            "py-rocketmq044-batch-broker-1-01-c10.bin",
        ]
    );
    // Every listed code occurs in the captures, except GET_MAX_OFFSET / GET_MIN_OFFSET: no
    // client sent one (the README's per-run sequences agree).
    let codes: Vec<i32> = decoded_per_code.keys().copied().collect();
    assert_eq!(codes, [10, 11, 14, 15, 35, 37, 38, 105, 310, 320]);
}

#[test]
fn every_send_carries_tag_a_and_every_batch_body_holds_three_tagged_messages() {
    let mut sends = 0;
    let mut batch_bodies = 0;
    for (name, Frame { command, .. }) in cluster_frames() {
        if !is_send(command.code) {
            continue;
        }
        sends += 1;
        let text = send_properties(&command).unwrap_or_else(|| panic!("{name}: no properties"));
        let properties = Properties::parse(text);
        let header = SendMessageRequestHeader::decode_for(command.code, &command.ext_fields).unwrap();
        let is_batch = command.code == request::SEND_BATCH_MESSAGE || header.batch == Some(true);
        if !is_batch {
            assert_eq!(properties.get("TAGS"), Some("TagA"), "{name}: TAGS");
            assert_eq!(properties.get("KEYS"), Some("k1"), "{name}: KEYS");
            let body = std::str::from_utf8(&command.body).expect("UTF-8 body");
            // Java's transactional producer sends "Hello tx <n>"; everything else
            // "Hello RocketMQ <n>".
            assert!(
                body.strip_prefix("Hello RocketMQ ")
                    .or_else(|| body.strip_prefix("Hello tx "))
                    .is_some_and(|n| ["0", "1", "2"].contains(&n)),
                "{name}: body {body:?}"
            );
            continue;
        }
        // What the captures hold: the batch request's own properties carry no TAGS (Java sends
        // `WAIT\x01true`, both C++ clients `WAIT\x01true\x02`); the tags are inside each entry.
        assert_eq!(properties.get("TAGS"), None, "{name}: batch header TAGS");
        assert_eq!(properties.get("WAIT"), Some("true"), "{name}: batch header WAIT");
        let entries = batch::decode(&command.body, 1024).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(entries.len(), 3, "{name}: entries");
        for (index, entry) in entries.iter().enumerate() {
            assert_eq!(entry.flag, 0, "{name} entry {index}: flag");
            assert_eq!(&entry.body[..], format!("Hello RocketMQ {index}").as_bytes(), "{name} entry {index}");
            let inner = Properties::parse(&entry.properties);
            assert_eq!(inner.get("TAGS"), Some("TagA"), "{name} entry {index}: TAGS");
            assert_eq!(inner.get("KEYS"), Some("k1"), "{name} entry {index}: KEYS");
            assert!(inner.get("UNIQ_KEY").is_some(), "{name} entry {index}: UNIQ_KEY");
        }
        batch_bodies += 1;
    }
    // 66 single sends plus the 3 batch requests (README per-run sequences).
    assert_eq!((sends, batch_bodies), (69, 3));
}

#[test]
fn every_heartbeat_body_parses_as_json_with_a_client_id() {
    let mut heartbeats = 0;
    for (name, Frame { command, .. }) in cluster_frames() {
        if command.code != request::HEART_BEAT {
            continue;
        }
        heartbeats += 1;
        let text = std::str::from_utf8(&command.body).unwrap_or_else(|_| panic!("{name}: not UTF-8"));
        let body: Value =
            serde_json::from_str(&json::quote_bare_keys(text)).unwrap_or_else(|error| panic!("{name}: {error}"));
        let client_id = body["clientID"].as_str().unwrap_or_else(|| panic!("{name}: no clientID"));
        // The C++ clients name themselves 127.0.0.1, the others the capture host 192.0.2.2.
        let host = if command.language == Language::Cpp { "127.0.0.1" } else { "192.0.2.2" };
        assert!(client_id.contains(host), "{name}: clientID {client_id:?}");
        assert!(
            body.get("producerDataSet").is_some() || body.get("consumerDataSet").is_some(),
            "{name}: neither producers nor consumers"
        );
    }
    assert!(heartbeats > 0, "no HEART_BEAT in the captures");
}
