//! Our Rust client: admin tools, the benchmark harness and tests use it; the broker uses it to
//! register with nameservers. It speaks the same remoting protocol as the Java client and is
//! never the only proof of compatibility (real third-party clients are, in `tests/`).
//!
//! [`BlockingClient`] runs on plain threads with std sockets, so `ringmq admin` needs neither
//! io_uring nor locked memory.

mod admin_api;
mod blocking;
pub mod mqadmin;
mod mqadmin_query;
mod remote;
pub use remote::RemoteClient;

pub use admin_api::{register_request, AdminApi, BrokerRegistration};
pub use blocking::{expect_code, BlockingClient, ClientError};
