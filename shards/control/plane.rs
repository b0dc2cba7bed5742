//! Shard 0's control plane (DESIGN §2): the authority for topics, subscription groups, the
//! client registry and orderly-consumption locks; it registers the broker with every
//! nameserver. Other shards send it their control requests through the mesh and receive
//! read-only copies of the topic and subscription tables whenever they change, so sends and
//! pulls never wait for shard 0.

use crate::shards::control::PersistedTable;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_lite::Future;

use super::{
    BrokerIdentity, ClientRegistry, HeartbeatData, LockBatchRequestBody, LockBatchResponseBody, QueueLocks,
    SubscriptionGroupTable, TopicTable, UnlockBatchRequestBody,
};
use crate::client::{register_request, BrokerRegistration, RemoteClient};
use crate::config::BrokerSettings;
use crate::protocol::bodies::{self, TopicConfig};
use crate::protocol::headers::{
    BrokerIdentityRequestHeader, ConsumerGroupRequestHeader, CreateTopicRequestHeader, UnregisterClientRequestHeader,
};
use crate::protocol::{request, response, Command, Header};
use crate::runtime::{self, ChannelReceiver, ChannelSender, MeshEnd};
use crate::shards::data::{BrokerContext, ControlPlane, DataShard};
use crate::shards::messages::{Origin, ShardMessage, SubscriptionCopy, SubscriptionEntry, TopicTableCopy};
use crate::shards::RequestError;

/// Client channels silent this long are dropped (Java: 120 s, checked every 10 s).
const CLIENT_EXPIRY_MS: i64 = 120_000;
const CLIENT_EXPIRY_SCAN: Duration = Duration::from_secs(10);

/// Shard 0's control-plane state.
pub struct ControlShard {
    context: Rc<BrokerContext>,
    pub(super) identity: BrokerIdentity,
    namesrvs: Vec<String>,
    register_period: Duration,
    register_timeout: Duration,
    auto_create_group: bool,
    notify_enabled: bool,
    pub(super) topics: RefCell<TopicTable>,
    pub(super) groups: RefCell<SubscriptionGroupTable>,
    clients: RefCell<ClientRegistry>,
    locks: RefCell<QueueLocks>,
    /// Which shard holds each client connection (for broker-initiated requests).
    connection_shards: RefCell<HashMap<u64, usize>>,
    mesh: Rc<MeshEnd<ShardMessage>>,
    pub(super) local: RefCell<Weak<DataShard>>,
    topics_version: Cell<u64>,
    subscriptions_version: Cell<u64>,
    /// Wakes the registration task at once (a topic changed); capacity 1, a full channel means
    /// a registration is already due.
    register_wake: ChannelSender<()>,
    register_wake_receiver: RefCell<Option<ChannelReceiver<()>>>,
    /// Told when the next registration has been sent to every nameserver.
    register_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    registered_once: Cell<bool>,
    /// The effective configuration (GET/UPDATE_BROKER_CONFIG, `admin.rs`).
    pub(super) config: RefCell<super::admin::BrokerConfigState>,
    /// `brokerPermission`, changed live by UPDATE_BROKER_CONFIG.
    pub(super) broker_permission: Cell<i32>,
    /// `brokerIP2:haListenPort`: where slaves of this broker connect.
    ha_server_addr: String,
    /// Slave: the master's addresses from the last REGISTER_BROKER reply that carried them.
    pub(super) master_from_namesrv: RefCell<Option<crate::shards::messages::MasterAddress>>,
    /// Topic and group file writes, one at a time in the order they were taken
    /// (`persist_change`).
    persist_turn: runtime::Semaphore,
}

fn config_error(what: &str) -> impl Fn(super::ConfigFileError) -> String + '_ {
    move |error| format!("{what}: {error}")
}

impl ControlShard {
    pub fn open(
        settings: &BrokerSettings,
        config_directory: &Path,
        context: Rc<BrokerContext>,
        mesh: Rc<MeshEnd<ShardMessage>>,
    ) -> Result<Rc<Self>, String> {
        let broker = &settings.broker;
        let identity = BrokerIdentity::from_config(broker);
        let mut topics = TopicTable::load(&config_directory.join("topics.json")).map_err(config_error("topics"))?;
        topics.set_auto_create_topic_enable(broker.auto_create_topic_enable);
        topics.create_system_topics(&identity);
        let _ = topics.persist_if_dirty();
        let mut groups = SubscriptionGroupTable::load(&config_directory.join("subscriptionGroup.json"))
            .map_err(config_error("groups"))?;
        groups.create_system_groups();
        let _ = groups.persist_if_dirty();
        let namesrvs = if broker.namesrv_addrs.is_empty() {
            vec![format!("127.0.0.1:{}", broker.namesrv_listen_port)]
        } else {
            broker.namesrv_addrs.clone()
        };
        let (register_wake, register_wake_receiver) = runtime::channel_bounded(1);
        Ok(Rc::new(Self {
            context,
            identity,
            namesrvs,
            register_period: Duration::from_millis(broker.register_name_server_period_ms.clamp(10_000, 60_000)),
            register_timeout: Duration::from_millis(broker.register_broker_timeout_ms.max(1)),
            auto_create_group: broker.auto_create_subscription_group,
            notify_enabled: broker.notify_consumer_ids_changed_enable,
            topics: RefCell::new(topics),
            groups: RefCell::new(groups),
            clients: RefCell::new(ClientRegistry::new()),
            locks: RefCell::new(QueueLocks::default()),
            connection_shards: RefCell::new(HashMap::new()),
            mesh,
            local: RefCell::new(Weak::new()),
            topics_version: Cell::new(0),
            subscriptions_version: Cell::new(0),
            register_wake,
            register_wake_receiver: RefCell::new(Some(register_wake_receiver)),
            register_waiters: RefCell::new(Vec::new()),
            registered_once: Cell::new(false),
            config: RefCell::new(super::admin::BrokerConfigState::new(settings)),
            broker_permission: Cell::new(broker.broker_permission as i32),
            ha_server_addr: format!("{}:{}", broker.broker_ip2, settings.net.ha_port()),
            master_from_namesrv: RefCell::new(None),
            persist_turn: runtime::Semaphore::new(1),
        }))
    }

    /// Connects the control plane to shard 0's data shard (for its local copies and pushes).
    pub fn attach(&self, data: Weak<DataShard>) {
        *self.local.borrow_mut() = data;
    }

    /// Sends the topic table to every shard.
    pub async fn publish_topics(&self) {
        let version = self.topics_version.get() + 1;
        self.topics_version.set(version);
        let topics = self.topics.borrow().iter().map(|config| (config.topic_name.clone(), config.clone())).collect();
        let broker_permission = Some(self.broker_permission.get());
        let copy = Arc::new(TopicTableCopy { version, topics, broker_permission });
        self.broadcast(|| ShardMessage::Topics(copy.clone())).await;
        if let Some(local) = self.local.borrow().upgrade() {
            *local.topics.borrow_mut() = copy.clone();
        }
    }

    /// Sends the registered subscriptions to every shard.
    async fn publish_subscriptions(&self) {
        let version = self.subscriptions_version.get() + 1;
        self.subscriptions_version.set(version);
        let mut subscriptions = HashMap::new();
        for (group, consumers) in self.clients.borrow().consumer_groups() {
            for (topic, data) in &consumers.subscriptions {
                let entry = SubscriptionEntry {
                    expression: data.sub_string.clone(),
                    expression_type: data.expression_type.clone(),
                    sub_version: data.sub_version,
                };
                subscriptions.insert((group.to_string(), topic.clone()), entry);
            }
        }
        let copy = Arc::new(SubscriptionCopy { version, subscriptions });
        self.broadcast(|| ShardMessage::Subscriptions(copy.clone())).await;
        if let Some(local) = self.local.borrow().upgrade() {
            *local.subscriptions.borrow_mut() = copy.clone();
        }
    }

    pub(super) async fn broadcast(&self, message: impl Fn() -> ShardMessage) {
        for shard in (0..self.mesh.shard_count()).filter(|shard| *shard != self.mesh.shard()) {
            if let Err(error) = self.mesh.send_to(shard, message()).await {
                tracing::error!("{error}");
            }
        }
    }

    /// After a topic change: persist, publish, register with the nameservers at once and wait
    /// for it (bounded), so that the reply to the request that made the topic (a heartbeat's
    /// `%RETRY%` topic, updateTopic) comes after the nameservers route it, as Java's
    /// synchronous `registerBrokerAll` does.
    pub(super) async fn topics_changed(&self) {
        self.persist_topics().await;
        self.publish_topics().await;
        let (registered, registered_receiver) = oneshot::channel();
        self.register_waiters.borrow_mut().push(registered);
        let _ = self.register_wake.try_send(()); // full: a registration is already due
        let wait_max = self.register_timeout.min(crate::limits::REGISTER_AFTER_TOPIC_CHANGE_WAIT_MAX);
        futures_lite::future::or(
            async {
                let _ = registered_receiver.await;
            },
            runtime::sleep(wait_max),
        )
        .await;
    }

    /// The last writes at shutdown, after any still in flight.
    pub async fn persist(&self) {
        let _turn = self.persist_turn.acquire_permit(1).await.expect("the persist turn is never closed");
        let _ = self.topics.borrow_mut().persist_if_dirty();
        let _ = self.groups.borrow_mut().persist_if_dirty();
    }

    /// Writes the topic file after a change, off the run loop.
    pub(super) async fn persist_topics(&self) {
        if let Err(error) = super::persist_change(|| self.topics.borrow_mut(), &self.persist_turn).await {
            tracing::error!("persisting topics: {error}");
        }
    }

    /// Rewrites the broker's properties file (UPDATE_BROKER_CONFIG), off the run loop.
    pub(super) async fn persist_config_file(&self, path: &Path, updates: &[(String, String)]) -> std::io::Result<()> {
        let _turn = self.persist_turn.acquire_permit(1).await.expect("the persist turn is never closed");
        let (path, updates) = (path.to_path_buf(), updates.to_vec());
        runtime::spawn_blocking(move || super::admin::persist_config_file(&path, &updates)).await
    }

    /// Writes the subscription group file after a change, off the run loop.
    pub(super) async fn persist_groups(&self) {
        if let Err(error) = super::persist_change(|| self.groups.borrow_mut(), &self.persist_turn).await {
            tracing::error!("persisting subscription groups: {error}");
        }
    }

    fn registration(&self) -> BrokerRegistration {
        let topics = self.topics.borrow();
        let mut configs: Vec<TopicConfig> = topics.iter().cloned().collect();
        let permission = self.broker_permission.get();
        for config in &mut configs {
            // The broker-wide permission caps every topic's (Java's registerBrokerAll).
            if permission & crate::protocol::codes::perm::WRITE == 0 {
                config.perm &= permission;
            }
        }
        BrokerRegistration {
            cluster_name: self.context.cluster_name.clone(),
            broker_name: self.context.broker_name.clone(),
            broker_addr: self.context.advertised.to_string(),
            ha_server_addr: self.ha_server_addr.clone(),
            broker_id: self.context.broker_id,
            data_version: topics.data_version(),
            topics: configs,
            compressed: false,
        }
    }

    /// Registers with every nameserver now and then every period, and on topic changes.
    pub fn start_registration(self: &Rc<Self>) {
        let plane = self.clone();
        let wake = plane.register_wake_receiver.borrow_mut().take().expect("registration started once");
        runtime::spawn(async move {
            let mut client = RemoteClient::new(plane.register_timeout);
            loop {
                // Taken before sending: the registration carries every change its waiters made.
                let waiters = plane.register_waiters.take();
                plane.register_all(&mut client).await;
                for waiter in waiters {
                    let _ = waiter.send(());
                }
                let woken = async {
                    let _ = wake.recv().await;
                };
                futures_lite::future::or(woken, runtime::sleep(plane.register_period)).await;
            }
        })
        .detach();
        let plane = self.clone();
        runtime::spawn(async move {
            loop {
                runtime::sleep(CLIENT_EXPIRY_SCAN).await;
                let outcome = plane.clients.borrow_mut().expire(crate::protocol::now_ms(), CLIENT_EXPIRY_MS);
                plane.groups_changed(outcome.groups_changed).await;
            }
        })
        .detach();
    }

    async fn register_all(&self, client: &mut RemoteClient) {
        let registration = self.registration();
        for namesrv in &self.namesrvs {
            match client.invoke(namesrv, register_request(&registration)).await {
                Ok(Some(reply)) if reply.code == response::SUCCESS => {
                    tracing::debug!("register broker[{}]to name server {namesrv} OK", self.context.broker_id);
                    self.registered_once.set(true);
                    self.note_master(&reply);
                }
                Ok(reply) => tracing::warn!("register to name server {namesrv} refused: {:?}", reply.map(|r| r.remark)),
                Err(error) => tracing::warn!("register to name server {namesrv} failed: {error}"),
            }
        }
    }

    /// A slave learns its master from the registration reply (`masterAddr`, `haServerAddr`),
    /// as Java's does; a reply without them (the master is gone) keeps the last known one.
    fn note_master(&self, reply: &Command) {
        if !self.context.is_slave() {
            return;
        }
        let header = crate::protocol::headers::RegisterBrokerResponseHeader::decode(&reply.ext_fields);
        let Ok(header) = header else { return };
        if let (Some(broker), Some(ha)) = (header.master_addr, header.ha_server_addr) {
            if !broker.is_empty() && !ha.is_empty() {
                *self.master_from_namesrv.borrow_mut() = Some(crate::shards::messages::MasterAddress { broker, ha });
            }
        }
    }

    /// Waits (a few seconds at most) until one registration succeeded.
    pub async fn wait_first_registration(&self) {
        for _ in 0..100 {
            if self.registered_once.get() {
                return;
            }
            runtime::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A clean stop: UNREGISTER_BROKER with every nameserver.
    pub async fn unregister_all(&self) {
        let mut client = RemoteClient::new(self.register_timeout);
        for namesrv in &self.namesrvs {
            let mut request = Command::request(request::UNREGISTER_BROKER, 0);
            BrokerIdentityRequestHeader {
                broker_name: self.context.broker_name.clone(),
                broker_addr: self.context.advertised.to_string(),
                cluster_name: self.context.cluster_name.clone(),
                broker_id: self.context.broker_id,
            }
            .encode(&mut request.ext_fields);
            if let Err(error) = client.invoke(namesrv, request).await {
                tracing::warn!("unregister from name server {namesrv} failed: {error}");
            }
        }
    }

    /// Tells every member of each changed group to rebalance now (NOTIFY_CONSUMER_IDS_CHANGED,
    /// oneway), and republishes subscriptions.
    async fn groups_changed(&self, groups: Vec<String>) {
        if groups.is_empty() {
            return;
        }
        self.publish_subscriptions().await;
        if !self.notify_enabled {
            return;
        }
        for group in groups {
            let notify_group =
                self.groups.borrow().get(&group).is_none_or(|config| config.notify_consumer_ids_changed_enable);
            if !notify_group {
                continue;
            }
            let connections = self.clients.borrow().connections_of_group(&group);
            for connection_id in connections {
                let mut notify = Command::request(request::NOTIFY_CONSUMER_IDS_CHANGED, 0);
                notify.flag |= crate::protocol::command::FLAG_ONEWAY;
                ConsumerGroupRequestHeader { consumer_group: group.clone() }.encode(&mut notify.ext_fields);
                self.push(connection_id, notify).await;
            }
        }
    }

    async fn push(&self, connection_id: u64, request: Command) {
        let Some(shard) = self.connection_shards.borrow().get(&connection_id).copied() else { return };
        if shard == self.mesh.shard() {
            if let Some(local) = self.local.borrow().upgrade() {
                local.push(connection_id, &request);
            }
            return;
        }
        let _ = self.mesh.send_to(shard, ShardMessage::Push { connection_id, request }).await;
    }

    async fn dispatch(&self, request: &Command, origin: Origin) -> Result<Command, RequestError> {
        match request.code {
            request::HEART_BEAT => self.heart_beat(request, origin).await,
            request::UNREGISTER_CLIENT => {
                let header = UnregisterClientRequestHeader::decode(&request.ext_fields)?;
                let changed = self.clients.borrow_mut().unregister(
                    &header.client_id,
                    header.producer_group.as_deref().filter(|group| !group.is_empty()),
                    header.consumer_group.as_deref().filter(|group| !group.is_empty()),
                );
                self.groups_changed(changed).await;
                Ok(Command::response_to(request, response::SUCCESS))
            }
            request::GET_CONSUMER_LIST_BY_GROUP => {
                let header = ConsumerGroupRequestHeader::decode(&request.ext_fields)?;
                let ids = self.clients.borrow().consumer_ids(&header.consumer_group);
                if ids.is_empty() {
                    return Err(RequestError::System(format!("no consumer for this group, {}", header.consumer_group)));
                }
                let body = serde_json::json!({ "consumerIdList": ids });
                Ok(Command::response_to(request, response::SUCCESS).with_body(serde_json::to_vec(&body).expect("json")))
            }
            request::CHECK_CLIENT_CONFIG => Ok(Command::response_to(request, response::SUCCESS)),
            request::GET_CONSUMER_CONNECTION_LIST => {
                let header = ConsumerGroupRequestHeader::decode(&request.ext_fields)?;
                let Some(info) = self.clients.borrow().group_info(&header.consumer_group) else {
                    return Ok(Command::response_to(request, response::CONSUMER_NOT_ONLINE)
                        .with_remark(format!("the consumer group[{}] not online", header.consumer_group)));
                };
                Ok(Command::response_to(request, response::SUCCESS).with_body(serde_json::to_vec(&info).expect("json")))
            }
            request::GET_PRODUCER_CONNECTION_LIST => {
                let header =
                    crate::protocol::headers::GetProducerConnectionListRequestHeader::decode(&request.ext_fields)?;
                let Some(info) = self.clients.borrow().producer_connections(&header.producer_group) else {
                    return Err(RequestError::System(format!(
                        "the producer group[{}] not exist",
                        header.producer_group
                    )));
                };
                Ok(Command::response_to(request, response::SUCCESS).with_body(serde_json::to_vec(&info).expect("json")))
            }
            request::UPDATE_AND_CREATE_TOPIC => self.update_topic(request).await,
            request::GET_ALL_TOPIC_CONFIG => {
                let body = bodies::to_json(&self.topics.borrow().to_wrapper());
                Ok(Command::response_to(request, response::SUCCESS).with_body(body))
            }
            request::DELETE_TOPIC_IN_BROKER => super::admin::delete_topic(self, request, origin).await,
            request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => super::admin::update_group(self, request).await,
            request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => super::admin::all_groups(self, request),
            request::DELETE_SUBSCRIPTIONGROUP => super::admin::delete_group(self, request, origin).await,
            request::GET_BROKER_CONFIG => super::admin::get_config(self, request),
            request::UPDATE_BROKER_CONFIG => super::admin::update_config(self, request).await,
            request::LOCK_BATCH_MQ => {
                let body: LockBatchRequestBody =
                    crate::protocol::json::from_fastjson(&request.body).map_err(RequestError::Body)?;
                let locked = self.locks.borrow_mut().lock(
                    &body.consumer_group,
                    &body.client_id,
                    &body.mq_set,
                    crate::protocol::now_ms(),
                );
                let reply = LockBatchResponseBody { lock_ok_mq_set: locked };
                Ok(Command::response_to(request, response::SUCCESS)
                    .with_body(serde_json::to_vec(&reply).expect("json")))
            }
            request::UNLOCK_BATCH_MQ => {
                let body: UnlockBatchRequestBody =
                    crate::protocol::json::from_fastjson(&request.body).map_err(RequestError::Body)?;
                self.locks.borrow_mut().unlock(&body.consumer_group, &body.client_id, &body.mq_set);
                Ok(Command::response_to(request, response::SUCCESS))
            }
            code => Err(RequestError::NotSupported(code)),
        }
    }

    async fn heart_beat(&self, request: &Command, origin: Origin) -> Result<Command, RequestError> {
        let data = HeartbeatData::decode(&request.body).map_err(|error| RequestError::Body(error.to_string()))?;
        self.connection_shards.borrow_mut().insert(origin.connection_id, origin.shard);
        let mut topics_created = false;
        for consumer in &data.consumers {
            let Some(group) =
                self.groups.borrow_mut().get_or_auto_create(&consumer.group_name, self.auto_create_group).cloned()
            else {
                continue;
            };
            let created = self.topics.borrow_mut().create_retry_topic(&group.group_name, group.retry_queue_nums);
            topics_created |= created.is_some_and(|ensured| ensured.created);
        }
        self.persist_groups().await;
        let outcome = self.clients.borrow_mut().heartbeat(
            origin.connection_id,
            &origin.peer.to_string(),
            request.language.name(),
            request.version,
            &data,
            crate::protocol::now_ms(),
        );
        for refused in &outcome.groups_refused {
            tracing::warn!("heartbeat of {}: group {refused} not registered (registry bound reached)", data.client_id);
        }
        if topics_created {
            self.topics_changed().await;
        }
        self.groups_changed(outcome.groups_changed).await;
        Ok(Command::response_to(request, response::SUCCESS))
    }

    async fn update_topic(&self, request: &Command) -> Result<Command, RequestError> {
        if let Some(queue_nums) = request.ext_fields.get("ringmqEnsureQueueNums") {
            // Another shard needs a retry or dead-letter topic.
            let topic = request.ext_fields.get("topic").unwrap_or_default().to_string();
            let queue_nums: i32 = queue_nums.parse().unwrap_or(1);
            let perm = crate::protocol::codes::perm::READ | crate::protocol::codes::perm::WRITE;
            let ensured = self.topics.borrow_mut().create_if_absent(&topic, queue_nums, perm, 0);
            let Some(ensured) = ensured else {
                return Err(RequestError::System(format!("the topic table is full; cannot create {topic}")));
            };
            if ensured.created {
                self.topics_changed().await;
            }
            return Ok(Command::response_to(request, response::SUCCESS).with_body(bodies::to_json(&ensured.config)));
        }
        if let Some(queue_nums) = request.ext_fields.get("ringmqAutoCreateQueueNums") {
            // Another shard asks to auto-create a topic for a send.
            let topic = request.ext_fields.get("topic").unwrap_or_default().to_string();
            let default_topic = request.ext_fields.get("defaultTopic").unwrap_or_default().to_string();
            let queue_nums: i32 = queue_nums.parse().unwrap_or(4);
            return match self.create_for_send(&topic, &default_topic, queue_nums).await {
                Some(config) => {
                    Ok(Command::response_to(request, response::SUCCESS).with_body(bodies::to_json(&config)))
                }
                None => Err(RequestError::TopicNotExist(format!("topic[{topic}] not exist, apply first please!"))),
            };
        }
        let header = CreateTopicRequestHeader::decode(&request.ext_fields)?;
        super::topics::check_admin_topic(&header.topic, &self.identity)
            .map_err(|error| RequestError::System(error.to_string()))?;
        let config = TopicConfig {
            order: header.order,
            perm: header.perm,
            read_queue_nums: header.read_queue_nums,
            topic_filter_type: header.topic_filter_type,
            topic_name: header.topic,
            topic_sys_flag: header.topic_sys_flag.unwrap_or(0),
            write_queue_nums: header.write_queue_nums,
        };
        self.topics.borrow_mut().create_or_update(config).map_err(|error| RequestError::System(error.to_string()))?;
        self.topics_changed().await;
        Ok(Command::response_to(request, response::SUCCESS))
    }

    async fn create_for_send(&self, topic: &str, default_topic: &str, queue_nums: i32) -> Option<TopicConfig> {
        let ensured = self.topics.borrow_mut().auto_create_on_send(topic, default_topic, queue_nums, false)?;
        if ensured.created {
            tracing::info!("Create new topic by default topic:[{default_topic}] config:[{:?}]", ensured.config);
            self.topics_changed().await;
        }
        Some(ensured.config)
    }
}

impl ControlPlane for ControlShard {
    fn handle(self: Rc<Self>, request: Command, origin: Origin) -> Pin<Box<dyn Future<Output = Option<Command>>>> {
        Box::pin(async move {
            let reply = match self.dispatch(&request, origin).await {
                Ok(reply) => reply,
                Err(error) => error.reply_to(&request),
            };
            (!request.is_oneway()).then_some(reply)
        })
    }

    fn create_topic_for_send(
        self: Rc<Self>,
        topic: String,
        default_topic: String,
        queue_nums: i32,
    ) -> Pin<Box<dyn Future<Output = Option<TopicConfig>>>> {
        Box::pin(async move { self.create_for_send(&topic, &default_topic, queue_nums).await })
    }

    fn push_to_producer(self: Rc<Self>, producer_group: String, request: Command) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let connections = self.clients.borrow().producer_connection_ids(&producer_group);
            if connections.is_empty() {
                // Java logs the same and still counts the check: a producer whose first
                // heartbeat has not arrived misses it.
                tracing::warn!("check transaction failed: no live producer of group {producer_group}");
                return;
            }
            // Spread checks over the group's producers, as Java picks a random channel.
            let pick = connections[request_spread(&request) % connections.len()];
            self.push(pick, request).await;
        })
    }

    fn connection_closed(self: Rc<Self>, origin: Origin) {
        self.connection_shards.borrow_mut().remove(&origin.connection_id);
        let changed = self.clients.borrow_mut().connection_closed(origin.connection_id);
        if !changed.is_empty() {
            runtime::spawn(async move { self.groups_changed(changed).await }).detach();
        }
    }
}

/// A number that differs between requests (their commit-log offset), to pick among channels.
fn request_spread(request: &Command) -> usize {
    request.ext_fields.get("commitLogOffset").and_then(|text| text.parse::<u64>().ok()).unwrap_or(0) as usize
}
