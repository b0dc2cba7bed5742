//! A blocking remoting client: one request at a time per connection, connections kept per
//! address.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;

use crate::protocol::{frame, response, Command};

/// Why a call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The address did not resolve or the connection failed.
    Connect { address: String, reason: String },
    /// The connection broke or timed out during the call.
    Io { address: String, reason: String },
    /// The peer sent something that is not a remoting frame.
    Frame { address: String, reason: String },
    /// The peer answered with a code the caller did not expect.
    Response { code: i32, remark: Option<String> },
    /// The body of a successful answer does not decode.
    Body(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { address, reason } => write!(f, "connect to <{address}> failed: {reason}"),
            Self::Io { address, reason } => write!(f, "call to <{address}> failed: {reason}"),
            Self::Frame { address, reason } => write!(f, "bad frame from <{address}>: {reason}"),
            Self::Response { code, remark } => {
                write!(f, "CODE: {code} ({})  DESC: {}", response::name(*code), remark.as_deref().unwrap_or(""))
            }
            Self::Body(reason) => write!(f, "bad response body: {reason}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A client with one connection per address, reused across calls.
pub struct BlockingClient {
    timeout: Duration,
    connections: HashMap<String, TcpStream>,
    next_opaque: i32,
}

impl BlockingClient {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, connections: HashMap::new(), next_opaque: 0 }
    }

    /// Sends `request` to `address` and waits for the reply with the same opaque.
    pub fn invoke(&mut self, address: &str, mut request: Command) -> Result<Command, ClientError> {
        request.opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let result = self.invoke_on_connection(address, &request);
        if result.is_err() {
            // A broken or confused connection is not reused.
            self.connections.remove(address);
        }
        result
    }

    /// Sends a oneway request (no reply is read).
    pub fn invoke_oneway(&mut self, address: &str, mut request: Command) -> Result<(), ClientError> {
        request.flag |= crate::protocol::command::FLAG_ONEWAY;
        request.opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let stream = self.connection(address)?;
        let io_error =
            |error: std::io::Error| ClientError::Io { address: address.to_string(), reason: error.to_string() };
        stream.write_all(&frame::encode_to_bytes(&request)).map_err(io_error)
    }

    /// Closes the connection to `address`, if any (the peer sees EOF).
    pub fn disconnect(&mut self, address: &str) {
        self.connections.remove(address);
    }

    fn connection(&mut self, address: &str) -> Result<&mut TcpStream, ClientError> {
        if !self.connections.contains_key(address) {
            let stream = connect(address, self.timeout)?;
            self.connections.insert(address.to_string(), stream);
        }
        Ok(self.connections.get_mut(address).expect("inserted above"))
    }

    fn invoke_on_connection(&mut self, address: &str, request: &Command) -> Result<Command, ClientError> {
        let stream = self.connection(address)?;
        let io_error =
            |error: std::io::Error| ClientError::Io { address: address.to_string(), reason: error.to_string() };
        stream.write_all(&frame::encode_to_bytes(request)).map_err(io_error)?;
        let mut buffer = BytesMut::with_capacity(4096);
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match frame::decode(&mut buffer) {
                Ok(Some(reply)) if reply.is_response() && reply.opaque == request.opaque => return Ok(reply),
                Ok(Some(_)) => continue, // a server-initiated request or a stale reply
                Ok(None) => {}
                Err(error) => {
                    return Err(ClientError::Frame { address: address.to_string(), reason: error.to_string() })
                }
            }
            let count = stream.read(&mut chunk).map_err(io_error)?;
            if count == 0 {
                return Err(ClientError::Io { address: address.to_string(), reason: "connection closed".into() });
            }
            buffer.extend_from_slice(&chunk[..count]);
        }
    }
}

fn connect(address: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    let failure = |reason: String| ClientError::Connect { address: address.to_string(), reason };
    let target: SocketAddr = address
        .to_socket_addrs()
        .map_err(|error| failure(error.to_string()))?
        .next()
        .ok_or_else(|| failure("address does not resolve".into()))?;
    let stream = TcpStream::connect_timeout(&target, timeout).map_err(|error| failure(error.to_string()))?;
    stream.set_read_timeout(Some(timeout)).map_err(|error| failure(error.to_string()))?;
    stream.set_write_timeout(Some(timeout)).map_err(|error| failure(error.to_string()))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Fails with [`ClientError::Response`] unless `reply` has `code`.
pub fn expect_code(reply: Command, code: i32) -> Result<Command, ClientError> {
    if reply.code == code {
        Ok(reply)
    } else {
        Err(ClientError::Response { code: reply.code, remark: reply.remark })
    }
}
