//! The RocketMQ 4.x remoting protocol: frames, both header encodings, code tables, typed
//! headers, JSON bodies (with fastjson's dialect), and the message codecs (properties string,
//! stored record v1, batch body, offsetMsgId, tag hash).
//!
//! Everything here is pure: no I/O, no runtime. That keeps it fuzzable and testable against the
//! captured vectors.

pub mod batch;
pub mod bodies;
pub mod codes;
pub mod command;
pub mod frame;
pub mod header;
pub mod headers;
pub mod json;
pub mod message;
pub mod message_id;
pub mod mq_table;
pub mod record;

pub use codes::{request, response, Language};
pub use command::{Command, ExtFields, SerializeType};
pub use header::{Header, HeaderError};

/// Milliseconds since the Unix epoch, as Java's `System.currentTimeMillis`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}
