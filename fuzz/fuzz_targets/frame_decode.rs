//! Fuzzes the remoting frame decoder and every codec a broker runs on a decoded request.
//!
//! The input is treated as the byte stream of one connection: frames are decoded from a
//! `BytesMut` until the decoder asks for more bytes or fails, exactly as the connection loop
//! does. For every frame that decodes, the target then
//!
//! * re-encodes it with `frame::encode_to_bytes` and decodes that again: this must succeed, consume
//!   the whole buffer and give back an equal command (the encoder is the decoder's inverse on
//!   everything the decoder accepts);
//! * runs the typed send header (`SendMessageRequestHeader::decode_for`) for the frame's own code
//!   and for both send header shapes (10 and 310);
//! * parses the properties string (`properties` or `i` ext field) with `Properties::parse`;
//! * runs the body through the batch decoder, the stored-record decoder, both fastjson scanners
//!   (on the body as lossy UTF-8) and both forms of the REGISTER_BROKER body.
//!
//! Nothing may panic; errors are fine.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use ringmq::protocol::bodies::RegisterBrokerBody;
use ringmq::protocol::headers::SendMessageRequestHeader;
use ringmq::protocol::message::Properties;
use ringmq::protocol::{batch, codes::request, frame, json, record, Command};

fuzz_target!(|data: &[u8]| {
    let mut buffer = BytesMut::from(data);
    while let Ok(Some(command)) = frame::decode(&mut buffer) {
        check_round_trip(&command);
        exercise_codecs(&command);
    }
});

/// decode → encode → decode must be a fixed point.
fn check_round_trip(command: &Command) {
    let encoded = frame::encode_to_bytes(command);
    let mut again = BytesMut::from(&encoded[..]);
    let decoded = match frame::decode(&mut again) {
        Ok(Some(decoded)) => decoded,
        other => panic!("re-encoded frame does not decode: {other:?}\ncommand: {command:?}"),
    };
    assert!(
        again.is_empty(),
        "re-encoded frame left {} bytes over",
        again.len()
    );
    assert_eq!(&decoded, command, "decode(encode(command)) != command");
}

fn exercise_codecs(command: &Command) {
    for code in [
        command.code,
        request::SEND_MESSAGE,
        request::SEND_MESSAGE_V2,
    ] {
        let _ = SendMessageRequestHeader::decode_for(code, &command.ext_fields);
    }
    for key in ["properties", "i"] {
        if let Some(text) = command.ext_fields.get(key) {
            let properties = Properties::parse(text);
            let _ = Properties::parse(&properties.encode());
            let _ = properties.keys().count();
        }
    }
    let body: &Bytes = &command.body;
    if let Ok(entries) = batch::decode(body, 1024) {
        for entry in &entries {
            let _ = Properties::parse(&entry.properties);
        }
    }
    if let Ok(decoded) = record::decode(body) {
        let _ = record::verify_crc(&decoded);
    }
    let text = String::from_utf8_lossy(body);
    let _ = json::quote_bare_keys(&text);
    let _ = json::unquote_integer_keys(&text);
    let _ = RegisterBrokerBody::decode(body, true);
    let _ = RegisterBrokerBody::decode(body, false);
}
