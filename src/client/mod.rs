//! Our Rust client: admin tools, the benchmark harness and tests use it; the broker uses it to
//! register with nameservers. It speaks the same remoting protocol as the Java client and is
//! never the only proof of compatibility (real third-party clients are, in `tests/`).
//!
//! [`BlockingClient`] runs on plain threads with std sockets, so `ringmq admin` needs neither
//! io_uring nor locked memory. [`Pipeline`], [`Producer`] and [`PullConsumer`] run on the
//! runtime's executors (one per client thread) with many requests in flight per connection:
//! the load side of `ringmq bench`.

mod admin_api;
pub mod bench;
mod blocking;
mod consumer;
pub mod mqadmin;
mod mqadmin_query;
mod pipeline;
mod producer;
mod remote;
pub use remote::RemoteClient;

pub use admin_api::{register_request, AdminApi, BrokerRegistration};
pub use blocking::{expect_code, BlockingClient, ClientError};
pub use consumer::{body_stamp, pull_request, records, PullConsumer, Pulled};
pub use pipeline::{patch_opaque, Pipeline, PipelineError, Reply};
pub use producer::{send_request, Producer, SendTarget, SendTemplate};
