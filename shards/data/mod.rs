//! The broker's data shard: one per CPU, each owning some queues, its own store and its own
//! connections (DESIGN §2).
//!
//! A request arrives on whichever shard accepted the connection. Queue work (send, pull,
//! offsets) is forwarded to the queue's owner (`shards/routing.rs`) through the mesh, and
//! control-plane work (client registry, topic administration) to shard 0; the reply comes back
//! on a one-shot channel and the connection's shard writes it, in whatever order replies
//! complete (clients match them by `opaque`).
//!
//! A client's send forwarded this way waits at most `waitTimeMillsInSendQueue` for its owner
//! to start it (Java's BrokerFastFailure): longer, and it is answered SYSTEM_BUSY unstored,
//! by the connection's shard while the owner's inbox stays full, or by the owner when it gets
//! to the send too late (`send_to_owner`, `receive`).
//!
//! One handler file per request-code family: `send_message.rs` (10, 310, 320),
//! `pull_message.rs` (11, with long polling), `consumer_offset.rs` (14, 15, 29, 30, 31, 32), `transaction.rs` (37);
//! `transaction_check.rs` sends CHECK_TRANSACTION_STATE (39) for unresolved half messages.

mod admin_query;
pub mod boot;
mod consumer_offset;
mod pull_message;
pub mod replica;
pub mod schedule;
mod send_back;
mod send_message;
mod transaction;
pub mod transaction_check;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;

use super::messages::{Origin, SendQueueWait, ShardMessage, SubscriptionCopy, TopicTableCopy};
use super::{routing, RequestError};
use crate::net::{Connection, Service};
use crate::protocol::bodies::TopicConfig;
use crate::protocol::{request, Command};
use crate::runtime::{DmaStorage, MeshEnd, MeshSendError};
use crate::store::shard_store::ShardStore;

pub use pull_message::ParkedPulls;

/// What every data shard knows about the broker it is part of.
#[derive(Clone, Debug)]
pub struct BrokerContext {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    /// `brokerIP1:listenPort`: written into records, so offsetMsgIds point here.
    pub advertised: SocketAddr,
    pub listen_port: u16,
    pub fast_port: u16,
    pub region_id: String,
    pub trace_on: bool,
    pub sync_flush: bool,
    pub sync_flush_timeout: Duration,
    pub max_message_size_bytes: usize,
    pub long_polling_enable: bool,
    pub short_polling_time: Duration,
    pub auto_create_topic_enable: bool,
    /// `rejectTransactionMessage`: half messages get NO_PERMISSION.
    pub reject_transaction_message: bool,
    pub default_topic_queue_count: u32,
    pub broker_permission: i32,
    pub delay_level_count: usize,
    /// `brokerRole`.
    pub broker_role: crate::config::BrokerRole,
    /// `slaveReadEnable`.
    pub slave_read_enable: bool,
    /// `slaveTimeout`: how long a SYNC_MASTER send waits for the slave.
    pub slave_timeout: Duration,
    /// `haSlaveFallbehindMax`: a slave lagging this much counts as absent.
    pub slave_fallbehind_bytes_max: u64,
    /// `waitTimeMillsInSendQueue`; `None` when `brokerFastFailureEnable=false` (sends wait).
    pub send_queue_wait_time_max: Option<Duration>,
}

impl BrokerContext {
    pub fn is_slave(&self) -> bool {
        !self.broker_role.is_master()
    }
}

/// A data shard's state. Lives on its executor only.
pub struct DataShard {
    pub shard: usize,
    pub shard_count: usize,
    pub context: Rc<BrokerContext>,
    pub store: Rc<ShardStore<DmaStorage>>,
    pub mesh: Rc<MeshEnd<ShardMessage>>,
    /// The copy of shard 0's topic table.
    pub topics: RefCell<Arc<TopicTableCopy>>,
    /// The copy of shard 0's registered subscriptions.
    pub subscriptions: RefCell<Arc<SubscriptionCopy>>,
    pub parked: RefCell<ParkedPulls>,
    pub offsets: RefCell<consumer_offset::OwnedOffsets>,
    /// This shard's open connections, for broker-initiated requests.
    pub connections: RefCell<HashMap<u64, Rc<Connection>>>,
    /// Shard 0's control plane (None on other shards).
    pub control: Option<Rc<dyn ControlPlane>>,
    /// Master: this shard's slaves, which SYNC_MASTER sends wait for.
    pub replicas: Rc<crate::replication::pump::ReplicaSet>,
    /// Slave: the master's addresses once shard 0 learned and checked them.
    pub master: RefCell<Option<super::messages::MasterAddress>>,
    pub pump_options: crate::replication::pump::PumpOptions,
    /// How far each delay level this shard owns has delivered.
    pub delay_offsets: Rc<RefCell<crate::shards::control::DelayOffsetTable>>,
    /// Clients' sends waiting on this shard: for room in an owner's inbox, or received from
    /// another shard and not started yet. The "size of queue" of a SendQueueTimeout.
    pub sends_queued: Rc<Cell<usize>>,
}

/// One send counted in `DataShard::sends_queued` while it lives: dropped when the send starts
/// or gives up, and also when its task is cancelled, so the count never leaks.
struct QueuedSend(Rc<Cell<usize>>);

impl QueuedSend {
    fn new(sends_queued: &Rc<Cell<usize>>) -> Self {
        sends_queued.set(sends_queued.get() + 1);
        Self(sends_queued.clone())
    }

    /// Leaves the queue; returns how many sends are still in it.
    fn leave(self) -> usize {
        let sends_queued = self.0.clone();
        drop(self);
        sends_queued.get()
    }
}

impl Drop for QueuedSend {
    fn drop(&mut self) {
        let count = self.0.get();
        assert!(count > 0, "a queued send leaves a queue that counts none");
        self.0.set(count - 1);
    }
}

/// Shard 0's duties, seen from the data shard that hosts them.
pub trait ControlPlane {
    /// Handles a control-plane request (HEART_BEAT, UNREGISTER_CLIENT, ...).
    fn handle(self: Rc<Self>, request: Command, origin: Origin) -> LocalFuture<Option<Command>>;
    /// Creates `topic` for a send from its template, if the rules allow (protocol §7.1).
    fn create_topic_for_send(
        self: Rc<Self>,
        topic: String,
        default_topic: String,
        queue_nums: i32,
    ) -> LocalFuture<Option<TopicConfig>>;
    /// A connection closed.
    fn connection_closed(self: Rc<Self>, origin: Origin);
    /// Writes a broker-initiated request (CHECK_TRANSACTION_STATE) to one live connection of
    /// a producer group (none when the group has no connection: logged, as Java).
    fn push_to_producer(self: Rc<Self>, producer_group: String, request: Command) -> LocalFuture<()>;
}

/// A boxed future that stays on its shard.
pub type LocalFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

impl DataShard {
    pub fn origin(&self, connection: &Connection) -> Origin {
        Origin { shard: self.shard, connection_id: connection.id, peer: connection.peer, local: connection.local }
    }

    /// The topic's config from the local copy.
    pub fn topic(&self, topic: &str) -> Option<TopicConfig> {
        self.topics.borrow().topics.get(topic).cloned()
    }

    /// Sends queue work to `owner` (or runs it here) and waits for the reply.
    pub async fn to_owner(self: &Rc<Self>, owner: usize, request: Command, origin: Origin) -> Option<Command> {
        if owner == self.shard {
            // Boxed: queue work may route again (a send-back sends a new message).
            return Box::pin(self.queue_work(request, origin)).await;
        }
        let (reply, receiver) = oneshot::channel();
        let message = ShardMessage::QueueWork { request, origin, reply, wait: None };
        if let Err(error) = self.mesh.send_to(owner, message).await {
            tracing::error!("{error}");
            return None;
        }
        receiver.await.ok().flatten()
    }

    /// A client's send (or send-back) to its owner, refused with SendQueueTimeout when it
    /// waited `wait_time_max` before the owner started it: here, when the owner's inbox from
    /// us stays full that long (the message is then dropped unsent, see
    /// `MeshEnd::send_to_within`); on the owner, when it dequeues the send too late
    /// (`receive`). Either way the send is not stored, so the client may retry it safely.
    /// `None` (the broker's own sends, or `brokerFastFailureEnable=false`) waits as `to_owner`.
    pub async fn send_to_owner(
        self: &Rc<Self>,
        owner: usize,
        request: Command,
        origin: Origin,
        wait_time_max: Option<Duration>,
    ) -> Result<Option<Command>, RequestError> {
        let Some(wait_time_max) = wait_time_max.filter(|_| owner != self.shard) else {
            return Ok(self.to_owner(owner, request, origin).await);
        };
        let wait = SendQueueWait::new(wait_time_max);
        let (reply, receiver) = oneshot::channel();
        let message = ShardMessage::QueueWork { request, origin, reply, wait: Some(wait) };
        let queued = QueuedSend::new(&self.sends_queued);
        let sent = self.mesh.send_to_within(owner, message, wait_time_max).await;
        let sends_queued = queued.leave();
        match sent {
            Ok(()) => Ok(receiver.await.ok().flatten()),
            Err(MeshSendError::Full) => {
                Err(RequestError::SendQueueTimeout { waited_ms: wait.waited().as_millis() as u64, sends_queued })
            }
            Err(MeshSendError::Gone(reason)) => {
                tracing::error!("{reason}");
                Ok(None)
            }
        }
    }

    /// Sends control-plane work to shard 0 (or runs it here) and waits for the reply.
    pub async fn to_control_plane(self: &Rc<Self>, request: Command, origin: Origin) -> Option<Command> {
        if let Some(control) = &self.control {
            return control.clone().handle(request, origin).await;
        }
        let (reply, receiver) = oneshot::channel();
        if let Err(error) = self.mesh.send_to(0, ShardMessage::Control { request, origin, reply }).await {
            tracing::error!("{error}");
            return None;
        }
        receiver.await.ok().flatten()
    }

    /// Queue work on the owner.
    ///
    /// Rare requests run as boxed futures of their own: this future is spawned for every send
    /// and pull that crosses shards, and an async fn is as large as its largest arm
    /// (END_TRANSACTION's 3.6 KB made every send's task 4 KB to allocate and copy).
    async fn queue_work(self: &Rc<Self>, request: Command, origin: Origin) -> Option<Command> {
        let result = match request.code {
            request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
                send_message::store_on_owner(self, &request, origin).await
            }
            // Boxed too: a pull future (2 KB) is larger than a send's.
            request::PULL_MESSAGE => Box::pin(pull_message::pull_on_owner(self, &request)).await,
            request::CONSUMER_SEND_MSG_BACK => Box::pin(send_back::handle_on_owner(self, &request, origin)).await,
            request::END_TRANSACTION => Box::pin(transaction::handle_on_owner(self, &request, origin)).await,
            request::VIEW_MESSAGE_BY_ID
            | request::QUERY_MESSAGE
            | request::GET_TOPIC_STATS_INFO
            | request::GET_CONSUME_STATS
            | request::GET_BROKER_RUNTIME_INFO => Box::pin(admin_query::on_owner(self, &request)).await,
            _ => consumer_offset::handle_on_owner(self, &request).await,
        };
        admin_query::count(self.shard, &request, &result);
        match result {
            Ok(reply) => reply,
            Err(error) => Some(error.reply_to(&request)),
        }
    }

    /// Requests that arrive on this shard's connections. Rare ones are boxed, as in
    /// `queue_work`: this future is every request's task.
    async fn dispatch(self: &Rc<Self>, connection: &Connection, request: Command) -> Option<Command> {
        let origin = self.origin(connection);
        let response = Command::response_to(&request, 0);
        let result = match request.code {
            // Java's send thread pool serves these four, so they share its wait limit.
            request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
                send_message::route(self, request, origin, self.context.send_queue_wait_time_max).await
            }
            request::CONSUMER_SEND_MSG_BACK => {
                let wait_time_max = self.context.send_queue_wait_time_max;
                Box::pin(self.route_by_offset(request, origin, "offset", wait_time_max)).await
            }
            request::VIEW_MESSAGE_BY_ID => Box::pin(self.route_by_offset(request, origin, "offset", None)).await,
            request::END_TRANSACTION if self.context.is_slave() => Err(RequestError::SlaveNotAvailable(
                "Message store is slave mode, so end transaction is forbidden.".to_string(),
            )),
            request::END_TRANSACTION => Box::pin(self.route_by_offset(request, origin, "commitLogOffset", None)).await,
            request::QUERY_MESSAGE
            | request::GET_TOPIC_STATS_INFO
            | request::GET_CONSUME_STATS
            | request::GET_BROKER_RUNTIME_INFO => Box::pin(admin_query::route(self, request, origin)).await,
            request::PULL_MESSAGE if origin.local.port() == self.context.fast_port => {
                // As Java: the fast port serves everything but PULL_MESSAGE.
                Err(RequestError::NotSupported(request.code))
            }
            request::PULL_MESSAGE
            | request::QUERY_CONSUMER_OFFSET
            | request::UPDATE_CONSUMER_OFFSET
            | request::GET_MAX_OFFSET
            | request::GET_MIN_OFFSET
            | request::GET_EARLIEST_MSG_STORETIME
            | request::SEARCH_OFFSET_BY_TIMESTAMP => consumer_offset::route(self, request, origin).await,
            request::GET_ALL_CONSUMER_OFFSET | request::GET_ALL_DELAY_OFFSET => {
                Box::pin(consumer_offset::gather(self, &request, origin)).await
            }
            request::HEART_BEAT
            | request::UNREGISTER_CLIENT
            | request::GET_CONSUMER_LIST_BY_GROUP
            | request::CHECK_CLIENT_CONFIG
            | request::GET_CONSUMER_CONNECTION_LIST
            | request::GET_PRODUCER_CONNECTION_LIST
            | request::UPDATE_AND_CREATE_TOPIC
            | request::GET_ALL_TOPIC_CONFIG
            | request::DELETE_TOPIC_IN_BROKER
            | request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
            | request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG
            | request::DELETE_SUBSCRIPTIONGROUP
            | request::GET_BROKER_CONFIG
            | request::UPDATE_BROKER_CONFIG
            | request::LOCK_BATCH_MQ
            | request::UNLOCK_BATCH_MQ => Ok(Box::pin(self.to_control_plane(request, origin)).await),
            code => Err(RequestError::NotSupported(code)),
        };
        match result {
            Ok(reply) => reply,
            Err(error) => Some(error.reply_as(response)),
        }
    }

    /// Handles one message from another shard.
    pub async fn receive(self: &Rc<Self>, message: ShardMessage) {
        match message {
            ShardMessage::QueueWork { request, origin, reply, wait } => {
                let shard = self.clone();
                let queued = wait.map(|wait| (wait, QueuedSend::new(&self.sends_queued)));
                crate::runtime::spawn(async move {
                    // The inbox and this task queue were the send queue the send waited in: if
                    // it starts too late, it is refused before anything is stored.
                    let late = queued.and_then(|(wait, queued)| {
                        let sends_queued = queued.leave();
                        let waited_ms = wait.waited().as_millis() as u64;
                        wait.expired().then_some(RequestError::SendQueueTimeout { waited_ms, sends_queued })
                    });
                    let answer = match late {
                        Some(error) => Some(error.reply_to(&request)),
                        None => shard.queue_work(request, origin).await,
                    };
                    let _ = reply.send(answer);
                })
                .detach();
            }
            ShardMessage::Control { request, origin, reply } => {
                let shard = self.clone();
                crate::runtime::spawn(async move {
                    let _ = reply.send(shard.to_control_plane(request, origin).await);
                })
                .detach();
            }
            ShardMessage::ConnectionClosed { origin } => {
                if let Some(control) = &self.control {
                    control.clone().connection_closed(origin);
                }
            }
            ShardMessage::Push { connection_id, request } => self.push(connection_id, &request),
            ShardMessage::PushToProducer { producer_group, request } => {
                if let Some(control) = &self.control {
                    crate::runtime::spawn(control.clone().push_to_producer(producer_group, request)).detach();
                }
            }
            ShardMessage::Topics(copy) => *self.topics.borrow_mut() = copy,
            ShardMessage::Subscriptions(copy) => *self.subscriptions.borrow_mut() = copy,
            ShardMessage::ReplicaStream { socket, peer, first } => replica::adopt(self, socket, peer, first),
            ShardMessage::Master(address) => *self.master.borrow_mut() = address,
            ShardMessage::OffsetsFromMaster(offsets) => consumer_offset::adopt_from_master(self, &offsets),
        }
    }

    /// Writes a broker-initiated request to one of this shard's connections (oneway: a full
    /// write queue drops it, as Java's 10 ms oneway timeout would).
    pub fn push(&self, connection_id: u64, request: &Command) {
        if let Some(connection) = self.connections.borrow().get(&connection_id) {
            connection.try_send(request);
        }
    }

    /// Drains the inbox from `peer` forever.
    pub async fn inbox_loop(self: Rc<Self>, peer: usize) {
        while let Some(message) = self.mesh.recv_from(peer).await {
            self.receive(message).await;
        }
    }

    /// Requests about one message go to the shard whose log holds the commit-log offset in the
    /// header field `key`; `wait_time_max` as in `send_to_owner` (a send-back is a send).
    async fn route_by_offset(
        self: &Rc<Self>,
        request: Command,
        origin: Origin,
        key: &'static str,
        wait_time_max: Option<Duration>,
    ) -> Result<Option<Command>, RequestError> {
        let offset: i64 = request
            .ext_fields
            .get(key)
            .and_then(|text| text.parse().ok())
            .ok_or(RequestError::Header(crate::protocol::HeaderError::Missing { key }))?;
        let owner = routing::shard_of_offset(offset);
        if owner >= self.shard_count {
            return Err(RequestError::System(format!("the offset {offset} belongs to no shard of this broker")));
        }
        self.send_to_owner(owner, request, origin, wait_time_max).await
    }

    /// The owner shard of a queue.
    pub fn owner(&self, topic: &str, queue_id: i32) -> usize {
        routing::shard_for(topic, queue_id, self.shard_count)
    }
}

impl Service for DataShard {
    fn handle(
        self: Rc<Self>,
        connection: Rc<Connection>,
        request: Command,
    ) -> impl std::future::Future<Output = Option<Command>> + 'static {
        self.connections.borrow_mut().entry(connection.id).or_insert_with(|| connection.clone());
        async move { self.dispatch(&connection, request).await }
    }

    fn closed(&self, connection: &Connection) {
        self.connections.borrow_mut().remove(&connection.id);
        let origin = self.origin(connection);
        match &self.control {
            Some(control) => control.clone().connection_closed(origin),
            None => {
                let mesh = self.mesh.clone();
                crate::runtime::spawn(async move {
                    let _ = mesh.send_to(0, ShardMessage::ConnectionClosed { origin }).await;
                })
                .detach();
            }
        }
    }
}
