//! A slave's control-plane duties on shard 0: find the master, check that it can be followed,
//! and follow its configuration (Java's `SlaveSynchronize`).
//!
//! * The master's addresses come from `haMasterAddress` when configured, else from the
//!   REGISTER_BROKER replies (`masterAddr`, `haServerAddr`), as with Java.
//! * Before any shard opens a stream, the master's GET_BROKER_CONFIG must show the same
//!   `shardCount` and `mappedFileSizeCommitLog`: the logs are replicated shard by shard and
//!   byte for byte, so anything else cannot work. A mismatch stops the slave with a message
//!   that says what to change.
//! * Every 10 s (Java: 3 s after start, then every 10 s) the slave copies the master's topics,
//!   subscription groups, consumer offsets and delay offsets (GET_ALL_TOPIC_CONFIG,
//!   GET_ALL_SUBSCRIPTIONGROUP_CONFIG, GET_ALL_CONSUMER_OFFSET, GET_ALL_DELAY_OFFSET).

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::plane::ControlShard;
use super::SubscriptionGroupConfig;
use crate::client::RemoteClient;
use crate::config::BrokerSettings;
use crate::protocol::bodies::{TopicConfig, TopicConfigSerializeWrapper};
use crate::protocol::{request, response, Command};
use crate::runtime;
use crate::shards::data::DataShard;
use crate::shards::messages::{MasterAddress, MasterOffsets, ShardMessage};

const SYNC_FIRST: Duration = Duration::from_secs(3);
const SYNC_PERIOD: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(200);
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a master cannot be followed yet.
enum CheckError {
    /// It differs in a way no retry fixes.
    Incompatible(String),
    Unreachable(String),
}

/// Starts the slave's duties on shard 0.
pub fn start(plane: &Rc<ControlShard>, data: &Rc<DataShard>, settings: &BrokerSettings) {
    let configured = settings.store.ha_master_address.clone().and_then(|ha| {
        // The master's client port is its HA port - 1 (both fixed in 4.x).
        let (host, port) = ha.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        Some(MasterAddress { broker: format!("{host}:{}", port.checked_sub(1)?), ha })
    });
    let expected = Expected { shard_count: data.shard_count, segment_size_bytes: settings.store.segment_size_bytes };
    let plane = plane.clone();
    let data = data.clone();
    runtime::spawn(async move {
        let mut client = RemoteClient::new(CALL_TIMEOUT);
        let mut adopted: Option<MasterAddress> = None;
        let mut next_sync = Instant::now() + SYNC_FIRST;
        let mut unreachable_logged = false;
        while !crate::shards::data::boot::stop_requested() {
            let learned = plane.master_from_namesrv.borrow().clone();
            let candidate = match (&configured, learned) {
                (Some(configured), Some(learned)) => {
                    Some(MasterAddress { broker: learned.broker, ha: configured.ha.clone() })
                }
                (Some(configured), None) => Some(configured.clone()),
                (None, learned) => learned,
            };
            if let Some(candidate) = candidate.filter(|candidate| adopted.as_ref() != Some(candidate)) {
                match check_master(&mut client, &candidate.broker, expected).await {
                    Ok(()) => {
                        tracing::info!(
                            "HA: following master {} (HA {}): {} shards, segments of {} bytes on both",
                            candidate.broker,
                            candidate.ha,
                            expected.shard_count,
                            expected.segment_size_bytes
                        );
                        adopted = Some(candidate.clone());
                        announce(&plane, &data, candidate).await;
                    }
                    Err(CheckError::Incompatible(message)) => {
                        crate::shards::data::boot::fail(message);
                        return;
                    }
                    Err(CheckError::Unreachable(reason)) => {
                        if !unreachable_logged {
                            tracing::warn!("HA: cannot check master {}: {reason}; retrying", candidate.broker);
                            unreachable_logged = true;
                        }
                    }
                }
            }
            if let Some(master) = adopted.clone().filter(|_| Instant::now() >= next_sync) {
                next_sync = Instant::now() + SYNC_PERIOD;
                sync_all(&plane, &data, &mut client, &master.broker).await;
            }
            runtime::sleep(POLL).await;
        }
    })
    .detach();
}

#[derive(Clone, Copy)]
struct Expected {
    shard_count: usize,
    segment_size_bytes: u64,
}

async fn check_master(client: &mut RemoteClient, broker: &str, expected: Expected) -> Result<(), CheckError> {
    let reply = client
        .invoke(broker, Command::request(request::GET_BROKER_CONFIG, 0))
        .await
        .map_err(|error| CheckError::Unreachable(error.to_string()))?;
    let Some(reply) = reply.filter(|reply| reply.code == response::SUCCESS) else {
        return Err(CheckError::Unreachable("GET_BROKER_CONFIG refused".into()));
    };
    let text = String::from_utf8_lossy(&reply.body);
    let value = |key: &str| {
        text.lines().find_map(|line| line.split_once('=').filter(|(name, _)| name.trim() == key)).map(|(_, v)| v.trim())
    };
    let shard_count = value("shardCount").and_then(|text| text.parse::<usize>().ok());
    let segment_size = value("mappedFileSizeCommitLog").and_then(|text| text.parse::<u64>().ok());
    match (shard_count, segment_size) {
        (Some(count), _) if count != expected.shard_count => Err(CheckError::Incompatible(format!(
            "this slave has shardCount={} but its master {broker} has shardCount={count}: a slave \
             replicates each shard's log, so both need the same shard count; set shardCount={count} \
             in the slave's properties (and start it with an empty store)",
            expected.shard_count
        ))),
        (_, Some(size)) if size != expected.segment_size_bytes => Err(CheckError::Incompatible(format!(
            "this slave has mappedFileSizeCommitLog={} but its master {broker} has {size}: the \
             logs must be byte-identical, so set mappedFileSizeCommitLog={size} on the slave",
            expected.segment_size_bytes
        ))),
        (Some(_), Some(_)) => Ok(()),
        _ => Err(CheckError::Incompatible(format!(
            "the master {broker} does not report shardCount and mappedFileSizeCommitLog: a ringmq \
             slave can only follow a ringmq master"
        ))),
    }
}

/// Tells every shard where the master is; their followers connect.
async fn announce(plane: &ControlShard, data: &DataShard, master: MasterAddress) {
    *data.master.borrow_mut() = Some(master.clone());
    plane.broadcast(|| ShardMessage::Master(Some(master.clone()))).await;
}

/// Copies the master's topics and subscription groups.
async fn sync_all(plane: &ControlShard, data: &Rc<DataShard>, client: &mut RemoteClient, broker: &str) {
    match fetch(client, broker, request::GET_ALL_TOPIC_CONFIG).await {
        Ok(body) => match crate::protocol::json::from_fastjson::<TopicConfigSerializeWrapper>(&body) {
            Ok(wrapper) => sync_topics(plane, wrapper.topic_config_table).await,
            Err(error) => tracing::warn!("slave sync: the master's topics do not decode: {error}"),
        },
        Err(reason) => tracing::warn!("slave sync: topics from {broker}: {reason}"),
    }
    match fetch(client, broker, request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await {
        Ok(body) => sync_groups(plane, &body).await,
        Err(reason) => tracing::warn!("slave sync: subscription groups from {broker}: {reason}"),
    }
    let consumer = fetch(client, broker, request::GET_ALL_CONSUMER_OFFSET).await;
    let delay = fetch(client, broker, request::GET_ALL_DELAY_OFFSET).await;
    match (consumer, delay) {
        (Ok(consumer), Ok(delay)) => sync_offsets(plane, data, &consumer, &delay).await,
        (Err(reason), _) | (_, Err(reason)) => tracing::warn!("slave sync: offsets from {broker}: {reason}"),
    }
}

/// Hands the master's consumer and delay offsets to every shard; each keeps what it owns.
async fn sync_offsets(plane: &ControlShard, data: &Rc<DataShard>, consumer: &[u8], delay: &[u8]) {
    let table = |body: &[u8]| -> Option<serde_json::Map<String, serde_json::Value>> {
        let value: serde_json::Value = crate::protocol::json::from_fastjson(body).ok()?;
        value.get("offsetTable")?.as_object().cloned()
    };
    let (Some(consumer), Some(delay)) = (table(consumer), table(delay)) else {
        return tracing::warn!("slave sync: the master's offsets do not decode");
    };
    let mut offsets = MasterOffsets::default();
    for (key, queues) in &consumer {
        let Some((topic, group)) = key.split_once('@') else { continue };
        for (queue, offset) in queues.as_object().into_iter().flatten() {
            if let (Ok(queue), Some(offset)) = (queue.parse::<i32>(), offset.as_i64()) {
                offsets.consumer.push((topic.to_string(), group.to_string(), queue, offset));
            }
        }
    }
    for (level, offset) in &delay {
        if let (Ok(level), Some(offset)) = (level.parse::<i32>(), offset.as_i64()) {
            offsets.delay.push((level, offset));
        }
    }
    let offsets = std::sync::Arc::new(offsets);
    data.receive(ShardMessage::OffsetsFromMaster(offsets.clone())).await;
    plane.broadcast(|| ShardMessage::OffsetsFromMaster(offsets.clone())).await;
}

async fn fetch(client: &mut RemoteClient, broker: &str, code: i32) -> Result<bytes::Bytes, String> {
    match client.invoke(broker, Command::request(code, 0)).await {
        Ok(Some(reply)) if reply.code == response::SUCCESS => Ok(reply.body),
        Ok(Some(reply)) => Err(format!("code {} {:?}", reply.code, reply.remark)),
        Ok(None) => Err("no reply".into()),
        Err(error) => Err(error.to_string()),
    }
}

/// Makes the topic table equal to the master's (Java clears and refills it).
async fn sync_topics(plane: &ControlShard, master: BTreeMap<String, TopicConfig>) {
    let changed = {
        let mut topics = plane.topics.borrow_mut();
        let stale: Vec<String> =
            topics.iter().map(|config| config.topic_name.clone()).filter(|name| !master.contains_key(name)).collect();
        let mut changed = !stale.is_empty();
        for name in stale {
            topics.delete(&name);
        }
        for (name, config) in master {
            if topics.get(&name) != Some(&config) {
                changed = true;
                if let Err(error) = topics.create_or_update(config) {
                    tracing::warn!("slave sync: topic {name}: {error}");
                }
            }
        }
        changed
    };
    if changed {
        plane.topics_changed().await;
    }
}

async fn sync_groups(plane: &ControlShard, body: &[u8]) {
    let parsed: Result<serde_json::Value, _> = crate::protocol::json::from_fastjson(body);
    let Some(table) = parsed.ok().and_then(|value| value.get("subscriptionGroupTable").cloned()) else {
        return tracing::warn!("slave sync: the master's subscription groups do not decode");
    };
    let Some(table) = table.as_object() else { return };
    for (name, config) in table {
        let Ok(config) = serde_json::from_value::<SubscriptionGroupConfig>(config.clone()) else {
            tracing::warn!("slave sync: subscription group {name} does not decode");
            continue;
        };
        let mut groups = plane.groups.borrow_mut();
        if groups.get(name) != Some(&config) {
            if let Err(error) = groups.create_or_update(config) {
                tracing::warn!("slave sync: subscription group {name}: {error}");
            }
        }
    }
    plane.persist_groups().await;
}
