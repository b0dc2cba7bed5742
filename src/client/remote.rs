//! An asynchronous remoting client on the runtime's sockets, for calls a shard makes itself
//! (registration with nameservers). One connection per address, one call at a time on it,
//! reconnecting after any failure.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::blocking::ClientError;
use crate::protocol::{frame, Command};
use crate::runtime::{self, TcpStream};

/// Calls with a timeout each; connections are kept for reuse.
pub struct RemoteClient {
    timeout: Duration,
    connections: HashMap<String, TcpStream>,
    next_opaque: i32,
}

impl RemoteClient {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, connections: HashMap::new(), next_opaque: 0 }
    }

    /// Sends `request` and waits for its reply (or only sends, for a oneway request).
    pub async fn invoke(&mut self, address: &str, mut request: Command) -> Result<Option<Command>, ClientError> {
        request.opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let timeout = self.timeout;
        let result = futures_lite::future::or(self.invoke_inner(address, &request), async {
            runtime::sleep(timeout).await;
            Err(ClientError::Io { address: address.to_string(), reason: format!("no reply within {timeout:?}") })
        })
        .await;
        if result.is_err() {
            self.connections.remove(address);
        }
        result
    }

    async fn invoke_inner(&mut self, address: &str, request: &Command) -> Result<Option<Command>, ClientError> {
        if !self.connections.contains_key(address) {
            let target = resolve(address)?;
            let stream = runtime::tcp_connect(target, self.timeout)
                .await
                .map_err(|error| ClientError::Connect { address: address.to_string(), reason: error.to_string() })?;
            let _ = stream.set_nodelay(true);
            self.connections.insert(address.to_string(), stream);
        }
        let stream = self.connections.get_mut(address).expect("inserted above");
        let io_error =
            |error: std::io::Error| ClientError::Io { address: address.to_string(), reason: error.to_string() };
        stream.write_all(&frame::encode_to_bytes(request)).await.map_err(io_error)?;
        if request.is_oneway() {
            return Ok(None);
        }
        let mut buffer = BytesMut::with_capacity(4096);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match frame::decode(&mut buffer) {
                Ok(Some(reply)) if reply.is_response() && reply.opaque == request.opaque => return Ok(Some(reply)),
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => {
                    return Err(ClientError::Frame { address: address.to_string(), reason: error.to_string() })
                }
            }
            let count = stream.read(&mut chunk).await.map_err(io_error)?;
            if count == 0 {
                return Err(ClientError::Io { address: address.to_string(), reason: "connection closed".into() });
            }
            buffer.extend_from_slice(&chunk[..count]);
        }
    }
}

fn resolve(address: &str) -> Result<SocketAddr, ClientError> {
    let failure = |reason: String| ClientError::Connect { address: address.to_string(), reason };
    address
        .to_socket_addrs()
        .map_err(|error| failure(error.to_string()))?
        .next()
        .ok_or_else(|| failure("address does not resolve".into()))
}
