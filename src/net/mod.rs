//! Listener and connection loop, shared by the nameserver and the broker.
//!
//! A connection reads frames, dispatches each request to its [`Service`] as its own task (so
//! requests complete out of order and are matched by `opaque`), and a writer task coalesces
//! the replies that are ready into one socket write. A malformed frame closes **that**
//! connection only, with a log line naming the peer and the reason. In-flight requests per
//! connection are bounded; at the bound the connection stops reading its socket.

mod connection;

pub use connection::{serve, Connection, Service};
