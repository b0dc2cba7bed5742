//! The nameserver shard: owns the route tables and the KV config, serves the nameserver request
//! codes, expires silent brokers. It runs on its own executor for `ringmq namesrv`, or as a
//! low-share task queue on cpu 0 inside `ringmq broker` when no `namesrvAddr` is configured.
//!
//! One handler file per request-code family: `register.rs` (103, 104, 322), `route.rs` (105,
//! 106, 206, 224, 304, 311–313), `topic.rs` (205, 216, 327), `kv.rs` (100–102, 219) and
//! `config.rs` (318, 319). Unknown codes get REQUEST_CODE_NOT_SUPPORTED (Java's nameserver stays
//! silent and lets the client time out).

mod config;
mod kv;
mod register;
mod route;
mod tables;
mod topic;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use tracing::info;

use crate::limits::NAMESRV_CONNECTIONS_MAX;
use crate::net::{self, Connection, Service};
use crate::protocol::{request, response, Command};
use crate::runtime::{self, BackgroundQueue};

pub use kv::KvConfig;
pub use tables::{RouteTables, BROKER_EXPIRY_MS};

use super::RequestError;

/// How often silent brokers are looked for (Java: every 10 s, first after 5 s).
const EXPIRY_SCAN_INTERVAL: Duration = Duration::from_secs(10);
const EXPIRY_SCAN_FIRST: Duration = Duration::from_secs(5);

/// What the nameserver shard needs from the configuration.
#[derive(Clone, Debug)]
pub struct NamesrvOptions {
    pub listen: SocketAddr,
    pub kv_config_path: Option<PathBuf>,
    pub order_message_enable: bool,
    pub idle_timeout: Duration,
    /// Every effective key, for GET_NAMESRV_CONFIG.
    pub effective: Vec<(String, String)>,
    /// Keys UPDATE_NAMESRV_CONFIG refuses.
    pub config_black_list: Vec<String>,
}

/// The nameserver shard's state. Lives on one executor; every request runs on it.
pub struct NamesrvShard {
    tables: RefCell<RouteTables>,
    kv: RefCell<KvConfig>,
    options: RefCell<NamesrvOptions>,
}

impl NamesrvShard {
    pub fn new(options: NamesrvOptions) -> Self {
        Self {
            tables: RefCell::new(RouteTables::default()),
            kv: RefCell::new(KvConfig::load(options.kv_config_path.clone())),
            options: RefCell::new(options),
        }
    }

    fn dispatch(&self, connection: &Connection, request: &Command) -> Result<Option<Command>, RequestError> {
        match request.code {
            request::REGISTER_BROKER | request::UNREGISTER_BROKER | request::QUERY_DATA_VERSION => {
                register::handle(self, connection, request)
            }
            request::GET_ROUTEINFO_BY_TOPIC
            | request::GET_BROKER_CLUSTER_INFO
            | request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER
            | request::GET_TOPICS_BY_CLUSTER
            | request::GET_SYSTEM_TOPIC_LIST_FROM_NS
            | request::GET_UNIT_TOPIC_LIST
            | request::GET_HAS_UNIT_SUB_TOPIC_LIST
            | request::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => route::handle(self, request).map(Some),
            request::DELETE_TOPIC_IN_NAMESRV
            | request::WIPE_WRITE_PERM_OF_BROKER
            | request::ADD_WRITE_PERM_OF_BROKER => topic::handle(self, request).map(Some),
            request::PUT_KV_CONFIG
            | request::GET_KV_CONFIG
            | request::DELETE_KV_CONFIG
            | request::GET_KVLIST_BY_NAMESPACE => kv::handle(self, request).map(Some),
            request::GET_NAMESRV_CONFIG | request::UPDATE_NAMESRV_CONFIG => config::handle(self, request).map(Some),
            code => Err(RequestError::NotSupported(code)),
        }
    }
}

impl Service for NamesrvShard {
    fn handle(
        self: Rc<Self>,
        connection: Rc<Connection>,
        request: Command,
    ) -> impl std::future::Future<Output = Option<Command>> + 'static {
        let reply = match self.dispatch(&connection, &request) {
            Ok(reply) => reply,
            Err(error) => Some(error.reply_to(&request)),
        };
        std::future::ready(reply)
    }

    fn closed(&self, connection: &Connection) {
        self.tables.borrow_mut().connection_closed(connection.id);
    }
}

/// Binds the nameserver port and starts serving and expiring, on the current executor (in
/// `queue` when given). Returns once the listener is bound, so a bind error reaches the caller.
pub fn start(options: NamesrvOptions, queue: Option<BackgroundQueue>) -> std::io::Result<NamesrvHandle> {
    let listener = runtime::tcp_listen(options.listen, true)?;
    let idle_timeout = options.idle_timeout;
    let shard = Rc::new(NamesrvShard::new(options));
    let serving = net::serve(listener, shard.clone(), NAMESRV_CONNECTIONS_MAX, idle_timeout);
    let expiring = expire_loop(shard.clone());
    let tasks = match queue {
        Some(queue) => vec![runtime::spawn_background(queue, serving), runtime::spawn_background(queue, expiring)],
        None => vec![runtime::spawn(serving), runtime::spawn(expiring)],
    };
    info!("The Name Server boot success. serializeType=JSON");
    // The boot line operators grep for, on stdout as Java prints it; a closed stdout is not fatal.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), b"The Name Server boot success. serializeType=JSON\n");
    Ok(NamesrvHandle { shard, _tasks: tasks })
}

/// A running nameserver shard. Dropping it stops accepting (the listener closes), which a
/// clean stop needs so the port is free for the next start.
pub struct NamesrvHandle {
    pub shard: Rc<NamesrvShard>,
    _tasks: Vec<runtime::Task<()>>,
}

async fn expire_loop(shard: Rc<NamesrvShard>) {
    runtime::sleep(EXPIRY_SCAN_FIRST).await;
    loop {
        shard.tables.borrow_mut().expire(crate::protocol::now_ms());
        runtime::sleep(EXPIRY_SCAN_INTERVAL).await;
    }
}

/// Answers SUCCESS with an optional body.
fn success(request: &Command) -> Command {
    Command::response_to(request, response::SUCCESS)
}
