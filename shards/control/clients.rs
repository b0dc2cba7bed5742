//! The client registry (`ConsumerManager` + `ProducerManager`, protocol §4.6 and §7.5): which
//! connections belong to which consumer and producer groups, with each consumer group's
//! consume type, message model, consume-from-where and subscriptions.
//!
//! Fed by HEART_BEAT (34), UNREGISTER_CLIENT (35), connection close and a 10-second expiry scan;
//! read by GET_CONSUMER_LIST_BY_GROUP (38), GET_CONSUMER_CONNECTION_LIST (203),
//! GET_PRODUCER_CONNECTION_LIST (204), QUERY_TOPIC_CONSUME_BY_WHO (300) and the pull path's
//! subscription check. Every mutation returns the consumer groups whose membership or
//! subscriptions changed: the caller sends NOTIFY_CONSUMER_IDS_CHANGED (40) oneway to every
//! connection of each, if the group's `notifyConsumerIdsChangedEnable` allows.
//!
//! The HEART_BEAT body itself is parsed in `heartbeat.rs` ([`HeartbeatData::decode`]).
//!
//! Owned by shard 0. Channels are keyed by the broker's connection id, as Java keys them by
//! Netty channel.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use super::heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, MessageModel, SubscriptionData,
};

/// A channel that has not heartbeated for this long is dropped (`CHANNEL_EXPIRED_TIMEOUT`).
pub const CHANNEL_EXPIRED_TIMEOUT_MS: i64 = 120_000;

/// Consumer groups with connected clients. Java has no bound; any client can name new groups
/// in every heartbeat, so the registry caps them. A group's record without its channels is a
/// few hundred bytes.
pub const CONSUMER_GROUPS_MAX: usize = 65_536;
/// Producer groups with connected clients, for the same reason.
pub const PRODUCER_GROUPS_MAX: usize = 65_536;
/// Connections one group may hold. Every membership change sends NOTIFY_CONSUMER_IDS_CHANGED to
/// all of a group's connections and every consumer rebalances over the full id list, so cost
/// grows with the square of this; real groups stay in the hundreds.
pub const GROUP_CHANNELS_MAX: usize = 16_384;
/// Topics one consumer group may subscribe to (each costs a record per group, and is sent
/// back whole in GET_CONSUMER_CONNECTION_LIST).
pub const GROUP_SUBSCRIPTIONS_MAX: usize = 4_096;

/// One client connection in a group (`ClientChannelInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientChannel {
    pub connection_id: u64,
    pub client_id: String,
    /// The request header's language name (`JAVA`, `CPP`, …).
    pub language: String,
    /// The request header's version ordinal.
    pub version: i32,
    /// `ip:port` of the peer.
    pub client_addr: String,
    pub last_update_ms: i64,
}

impl ClientChannel {
    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            client_addr: self.client_addr.clone(),
            client_id: self.client_id.clone(),
            language: self.language.clone(),
            version: self.version,
        }
    }
}

/// `Connection` in GET_CONSUMER/PRODUCER_CONNECTION_LIST bodies (protocol §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub client_addr: String,
    pub client_id: String,
    pub language: String,
    pub version: i32,
}

/// `ConsumerConnection`, the GET_CONSUMER_CONNECTION_LIST body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConnection {
    pub connection_set: Vec<ConnectionInfo>,
    pub consume_from_where: ConsumeFromWhere,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

/// `ProducerConnection`, the GET_PRODUCER_CONNECTION_LIST body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerConnection {
    pub connection_set: Vec<ConnectionInfo>,
}

/// A consumer group's registration (`ConsumerGroupInfo`). Never without channels: a group
/// whose last channel leaves is removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    /// topic → subscription.
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    /// connection id → channel.
    pub channels: BTreeMap<u64, ClientChannel>,
    pub last_update_ms: i64,
}

/// What one consumer registration did.
struct Registration {
    changed: bool,
    refused: bool,
}

impl ConsumerGroup {
    fn new(data: &ConsumerData, now_ms: i64) -> Self {
        Self {
            consume_type: data.consume_type,
            message_model: data.message_model,
            consume_from_where: data.consume_from_where,
            subscriptions: BTreeMap::new(),
            channels: BTreeMap::new(),
            last_update_ms: now_ms,
        }
    }

    /// `updateChannel`: the group takes the latest heartbeat's types; true when the channel
    /// is new to the group (a client id change on a known connection is not a change).
    fn update_channel(&mut self, channel: &ClientChannel, data: &ConsumerData) -> bool {
        self.consume_type = data.consume_type;
        self.message_model = data.message_model;
        self.consume_from_where = data.consume_from_where;
        self.last_update_ms = channel.last_update_ms;
        self.channels.insert(channel.connection_id, channel.clone()).is_none()
    }

    /// `updateSubscription`: topics not listed are dropped, new topics added (both are
    /// changes); a known topic is replaced only by a newer `subVersion`, which is not a change
    /// (Java does not notify for it either).
    fn update_subscriptions(&mut self, subscriptions: &[SubscriptionData]) -> Registration {
        let listed: BTreeSet<&str> = subscriptions.iter().map(|data| data.topic.as_str()).collect();
        let before = self.subscriptions.len();
        self.subscriptions.retain(|topic, _| listed.contains(topic.as_str()));
        let mut registration = Registration { changed: self.subscriptions.len() != before, refused: false };
        for data in subscriptions {
            let count = self.subscriptions.len();
            match self.subscriptions.get_mut(&data.topic) {
                Some(known) if data.sub_version > known.sub_version => *known = data.clone(),
                Some(_) => {}
                None if count >= GROUP_SUBSCRIPTIONS_MAX => registration.refused = true,
                None => {
                    self.subscriptions.insert(data.topic.clone(), data.clone());
                    registration.changed = true;
                }
            }
        }
        registration
    }

    /// Sorted, without duplicates (one client may hold several connections).
    pub fn client_ids(&self) -> Vec<String> {
        let ids: BTreeSet<&str> = self.channels.values().map(|channel| channel.client_id.as_str()).collect();
        ids.into_iter().map(str::to_string).collect()
    }
}

/// What a HEART_BEAT changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// Consumer groups with a new connection or a subscribed topic added or removed: notify
    /// each of their connections. Sorted.
    pub groups_changed: Vec<String>,
    /// Groups (consumer or producer) or subscriptions not registered because a bound was
    /// reached. The heartbeat still succeeds, as nothing else in it is wrong; log these.
    pub groups_refused: Vec<String>,
}

/// What an expiry scan removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpireOutcome {
    /// Consumer groups that lost a connection: notify the connections they still have.
    pub groups_changed: Vec<String>,
    /// Connections that expired and belong to no group any more: close them (Java closes
    /// the channel of every expired registration).
    pub connections_expired: Vec<u64>,
}

/// The groups one connection is registered in, so a close touches only those.
#[derive(Clone, Debug, Default)]
struct Membership {
    consumer_groups: BTreeSet<String>,
    producer_groups: BTreeSet<String>,
}

impl Membership {
    fn is_empty(&self) -> bool {
        self.consumer_groups.is_empty() && self.producer_groups.is_empty()
    }
}

/// Consumer and producer groups of the connected clients. See the module doc.
#[derive(Clone, Debug, Default)]
pub struct ClientRegistry {
    consumers: BTreeMap<String, ConsumerGroup>,
    producers: BTreeMap<String, BTreeMap<u64, ClientChannel>>,
    /// connection id → its groups: the reverse index of the two maps above.
    memberships: BTreeMap<u64, Membership>,
}

impl ClientRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// HEART_BEAT: registers (or refreshes) the connection in every consumer and producer
    /// group of `data`. The caller first auto-creates each consumer group's subscription
    /// group and `%RETRY%` topic (protocol §7.5).
    pub fn heartbeat(
        &mut self,
        connection_id: u64,
        client_addr: &str,
        language: &str,
        version: i32,
        data: &HeartbeatData,
        now_ms: i64,
    ) -> HeartbeatOutcome {
        let channel = ClientChannel {
            connection_id,
            client_id: data.client_id.clone(),
            language: language.to_string(),
            version,
            client_addr: client_addr.to_string(),
            last_update_ms: now_ms,
        };
        let mut outcome = HeartbeatOutcome::default();
        for consumer in &data.consumers {
            let registration = self.register_consumer(&channel, consumer);
            if registration.changed {
                outcome.groups_changed.push(consumer.group_name.clone());
            }
            if registration.refused {
                outcome.groups_refused.push(consumer.group_name.clone());
            }
        }
        for group in &data.producer_groups {
            if !self.register_producer(&channel, group) {
                outcome.groups_refused.push(group.clone());
            }
        }
        for groups in [&mut outcome.groups_changed, &mut outcome.groups_refused] {
            groups.sort();
            groups.dedup();
        }
        outcome
    }

    fn register_consumer(&mut self, channel: &ClientChannel, data: &ConsumerData) -> Registration {
        let refused = Registration { changed: false, refused: true };
        let name = &data.group_name;
        if !self.consumers.contains_key(name) && self.consumers.len() >= CONSUMER_GROUPS_MAX {
            return refused;
        }
        let group =
            self.consumers.entry(name.clone()).or_insert_with(|| ConsumerGroup::new(data, channel.last_update_ms));
        if !group.channels.contains_key(&channel.connection_id) && group.channels.len() >= GROUP_CHANNELS_MAX {
            return refused;
        }
        let channel_added = group.update_channel(channel, data);
        let mut registration = group.update_subscriptions(&data.subscriptions);
        registration.changed |= channel_added;
        self.memberships.entry(channel.connection_id).or_default().consumer_groups.insert(name.clone());
        registration
    }

    fn register_producer(&mut self, channel: &ClientChannel, group: &str) -> bool {
        if !self.producers.contains_key(group) && self.producers.len() >= PRODUCER_GROUPS_MAX {
            return false;
        }
        let channels = self.producers.entry(group.to_string()).or_default();
        if !channels.contains_key(&channel.connection_id) && channels.len() >= GROUP_CHANNELS_MAX {
            return false;
        }
        channels.insert(channel.connection_id, channel.clone());
        self.memberships.entry(channel.connection_id).or_default().producer_groups.insert(group.to_string());
        true
    }

    fn forget_membership(&mut self, connection_id: u64, consumer_group: Option<&str>, producer_group: Option<&str>) {
        let Some(membership) = self.memberships.get_mut(&connection_id) else {
            return;
        };
        if let Some(group) = consumer_group {
            membership.consumer_groups.remove(group);
        }
        if let Some(group) = producer_group {
            membership.producer_groups.remove(group);
        }
        if membership.is_empty() {
            self.memberships.remove(&connection_id);
        }
    }

    /// Removes one connection from a consumer group (the group too, once empty).
    fn remove_consumer_channel(&mut self, group: &str, connection_id: u64) -> bool {
        let Some(consumer_group) = self.consumers.get_mut(group) else {
            return false;
        };
        let removed = consumer_group.channels.remove(&connection_id).is_some();
        if consumer_group.channels.is_empty() {
            self.consumers.remove(group);
        }
        self.forget_membership(connection_id, Some(group), None);
        removed
    }

    /// Removes one connection from a producer group (the group too, once empty).
    fn remove_producer_channel(&mut self, group: &str, connection_id: u64) -> bool {
        let Some(channels) = self.producers.get_mut(group) else {
            return false;
        };
        let removed = channels.remove(&connection_id).is_some();
        if channels.is_empty() {
            self.producers.remove(group);
        }
        self.forget_membership(connection_id, None, Some(group));
        removed
    }

    /// UNREGISTER_CLIENT: removes `client_id`'s connections from the named groups. Returns
    /// the consumer group if it lost a connection (sorted; empty otherwise).
    pub fn unregister(
        &mut self,
        client_id: &str,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Vec<String> {
        let of_client = |channels: &BTreeMap<u64, ClientChannel>| -> Vec<u64> {
            channels.values().filter(|channel| channel.client_id == client_id).map(|c| c.connection_id).collect()
        };
        if let Some(group) = producer_group {
            let connections = self.producers.get(group).map(of_client).unwrap_or_default();
            for connection_id in connections {
                self.remove_producer_channel(group, connection_id);
            }
        }
        let mut changed = Vec::new();
        if let Some(group) = consumer_group {
            let connections = self.consumers.get(group).map(|g| of_client(&g.channels)).unwrap_or_default();
            let mut removed = false;
            for connection_id in connections {
                removed |= self.remove_consumer_channel(group, connection_id);
            }
            if removed {
                changed.push(group.to_string());
            }
        }
        changed
    }

    /// A closed connection leaves every group at once. Returns the consumer groups it left.
    pub fn connection_closed(&mut self, connection_id: u64) -> Vec<String> {
        let Some(membership) = self.memberships.remove(&connection_id) else {
            return Vec::new();
        };
        for group in &membership.producer_groups {
            self.remove_producer_channel(group, connection_id);
        }
        let mut changed = Vec::new();
        for group in membership.consumer_groups {
            if self.remove_consumer_channel(&group, connection_id) {
                changed.push(group);
            }
        }
        changed
    }

    /// The housekeeping scan (every 10 s in Java): drops registrations whose last heartbeat is
    /// more than `timeout_ms` old (normally [`CHANNEL_EXPIRED_TIMEOUT_MS`]).
    pub fn expire(&mut self, now_ms: i64, timeout_ms: i64) -> ExpireOutcome {
        let stale = |channel: &ClientChannel| now_ms - channel.last_update_ms > timeout_ms;
        let mut stale_consumers = Vec::new();
        for (group, consumer_group) in &self.consumers {
            for channel in consumer_group.channels.values().filter(|channel| stale(channel)) {
                stale_consumers.push((group.clone(), channel.connection_id));
            }
        }
        let mut stale_producers = Vec::new();
        for (group, channels) in &self.producers {
            for channel in channels.values().filter(|channel| stale(channel)) {
                stale_producers.push((group.clone(), channel.connection_id));
            }
        }
        let mut touched = BTreeSet::new();
        let mut groups_changed = BTreeSet::new();
        for (group, connection_id) in stale_consumers {
            self.remove_consumer_channel(&group, connection_id);
            groups_changed.insert(group);
            touched.insert(connection_id);
        }
        for (group, connection_id) in stale_producers {
            self.remove_producer_channel(&group, connection_id);
            touched.insert(connection_id);
        }
        ExpireOutcome {
            groups_changed: groups_changed.into_iter().collect(),
            connections_expired: touched.into_iter().filter(|id| !self.memberships.contains_key(id)).collect(),
        }
    }

    pub fn consumer_group(&self, group: &str) -> Option<&ConsumerGroup> {
        self.consumers.get(group)
    }

    /// Online consumer groups in name order.
    pub fn consumer_groups(&self) -> impl Iterator<Item = (&str, &ConsumerGroup)> {
        self.consumers.iter().map(|(name, group)| (name.as_str(), group))
    }

    /// GET_CONSUMER_LIST_BY_GROUP: the group's client ids, sorted and unique (empty: the
    /// caller answers SYSTEM_ERROR "no consumer for this group, X").
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers.get(group).map(ConsumerGroup::client_ids).unwrap_or_default()
    }

    /// The connections to send NOTIFY_CONSUMER_IDS_CHANGED to.
    pub fn connections_of_group(&self, group: &str) -> Vec<u64> {
        self.consumers.get(group).map(|group| group.channels.keys().copied().collect()).unwrap_or_default()
    }

    /// The subscription the pull path checks (SUBSCRIPTION_NOT_EXIST when absent).
    pub fn subscription(&self, group: &str, topic: &str) -> Option<&SubscriptionData> {
        self.consumers.get(group)?.subscriptions.get(topic)
    }

    /// Every `(group, topic, subscription)`, for the copies pushed to the data shards.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, &str, &SubscriptionData)> {
        self.consumers.iter().flat_map(|(group, consumer_group)| {
            consumer_group.subscriptions.iter().map(move |(topic, data)| (group.as_str(), topic.as_str(), data))
        })
    }

    /// A consumer's channel by client id (for requests relayed to one client).
    pub fn find_consumer_channel(&self, group: &str, client_id: &str) -> Option<&ClientChannel> {
        self.consumers.get(group)?.channels.values().find(|channel| channel.client_id == client_id)
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO (online part): groups subscribed to `topic`.
    pub fn consumer_groups_of_topic(&self, topic: &str) -> BTreeSet<String> {
        self.consumers
            .iter()
            .filter(|(_, group)| group.subscriptions.contains_key(topic))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// GET_CONSUMER_CONNECTION_LIST body; `None`: CONSUMER_NOT_ONLINE.
    pub fn group_info(&self, group: &str) -> Option<ConsumerConnection> {
        let consumer_group = self.consumers.get(group)?;
        Some(ConsumerConnection {
            connection_set: consumer_group.channels.values().map(ClientChannel::connection_info).collect(),
            consume_from_where: consumer_group.consume_from_where,
            consume_type: consumer_group.consume_type,
            message_model: consumer_group.message_model,
            subscription_table: consumer_group.subscriptions.clone(),
        })
    }

    /// Producer groups in name order, with their channels.
    pub fn producer_groups(&self) -> impl Iterator<Item = (&str, &BTreeMap<u64, ClientChannel>)> {
        self.producers.iter().map(|(name, channels)| (name.as_str(), channels))
    }

    /// GET_PRODUCER_CONNECTION_LIST body; `None`: the group has no connection.
    pub fn producer_connections(&self, group: &str) -> Option<ProducerConnection> {
        let channels = self.producers.get(group)?;
        Some(ProducerConnection { connection_set: channels.values().map(ClientChannel::connection_info).collect() })
    }

    /// The connections of a producer group (transaction check-back picks one).
    pub fn producer_connection_ids(&self, group: &str) -> Vec<u64> {
        self.producers.get(group).map(|channels| channels.keys().copied().collect()).unwrap_or_default()
    }

    /// The reverse index matches the groups, and no group is empty.
    #[cfg(test)]
    fn assert_invariants(&self) {
        let mut expected: BTreeMap<u64, Membership> = BTreeMap::new();
        for (name, group) in &self.consumers {
            assert!(!group.channels.is_empty(), "empty consumer group {name}");
            for id in group.channels.keys() {
                expected.entry(*id).or_default().consumer_groups.insert(name.clone());
            }
        }
        for (name, channels) in &self.producers {
            assert!(!channels.is_empty(), "empty producer group {name}");
            for id in channels.keys() {
                expected.entry(*id).or_default().producer_groups.insert(name.clone());
            }
        }
        let summary = |map: &BTreeMap<u64, Membership>| -> Vec<(u64, BTreeSet<String>, BTreeSet<String>)> {
            map.iter().map(|(id, m)| (*id, m.consumer_groups.clone(), m.producer_groups.clone())).collect()
        };
        assert_eq!(summary(&self.memberships), summary(&expected));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::shards::control::PersistedTable;

    fn consumer(group: &str, subscriptions: &[(&str, &str, i64)]) -> ConsumerData {
        ConsumerData {
            group_name: group.to_string(),
            consume_type: ConsumeType::ConsumePassively,
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::LastOffset,
            subscriptions: subscriptions
                .iter()
                .map(|(topic, expression, version)| SubscriptionData::from_tags(topic, expression, *version))
                .collect(),
            unit_mode: false,
        }
    }

    fn beat(client_id: &str, consumers: Vec<ConsumerData>, producers: &[&str]) -> HeartbeatData {
        HeartbeatData {
            client_id: client_id.to_string(),
            consumers,
            producer_groups: producers.iter().map(|group| group.to_string()).collect(),
        }
    }

    #[test]
    fn a_subscription_is_replaced_only_by_a_newer_sub_version() {
        let mut registry = ClientRegistry::new();
        let first = beat("c1", vec![consumer("cg", &[("T", "TagA", 10)])], &[]);
        assert_eq!(registry.heartbeat(1, "a:1", "JAVA", 401, &first, 0).groups_changed, vec!["cg".to_string()]);
        let older = beat("c1", vec![consumer("cg", &[("T", "TagB", 5)])], &[]);
        assert!(registry.heartbeat(1, "a:1", "JAVA", 401, &older, 1).groups_changed.is_empty());
        assert_eq!(registry.subscription("cg", "T").unwrap().sub_string, "TagA");
        let newer = beat("c1", vec![consumer("cg", &[("T", "TagB", 11)])], &[]);
        assert!(registry.heartbeat(1, "a:1", "JAVA", 401, &newer, 2).groups_changed.is_empty());
        assert_eq!(registry.subscription("cg", "T").unwrap().sub_string, "TagB");
        // Adding or dropping a topic is a change.
        let added = beat("c1", vec![consumer("cg", &[("T", "TagB", 11), ("U", "*", 12)])], &[]);
        assert_eq!(registry.heartbeat(1, "a:1", "JAVA", 401, &added, 3).groups_changed, vec!["cg".to_string()]);
        assert_eq!(registry.heartbeat(1, "a:1", "JAVA", 401, &newer, 4).groups_changed, vec!["cg".to_string()]);
        assert!(registry.subscription("cg", "U").is_none());
        assert_eq!(registry.consumer_groups_of_topic("T"), BTreeSet::from(["cg".to_string()]));
        registry.assert_invariants();
    }

    #[test]
    fn consumer_ids_are_sorted_and_unique() {
        let mut registry = ClientRegistry::new();
        for (connection_id, client_id) in [(5, "c-b"), (3, "c-a"), (9, "c-b"), (1, "c-c")] {
            let data = beat(client_id, vec![consumer("cg", &[("T", "*", 1)])], &[]);
            registry.heartbeat(connection_id, "a:1", "JAVA", 401, &data, 0);
        }
        assert_eq!(registry.consumer_ids("cg"), vec!["c-a", "c-b", "c-c"]);
        assert_eq!(registry.connections_of_group("cg"), vec![1, 3, 5, 9]);
        assert!(registry.consumer_ids("absent").is_empty());
        registry.assert_invariants();
    }

    #[test]
    fn unregister_close_and_expiry_report_the_groups_that_changed() {
        let mut registry = ClientRegistry::new();
        let both = |client| beat(client, vec![consumer("cg", &[("T", "*", 1)]), consumer("other", &[])], &["pg"]);
        registry.heartbeat(1, "a:1", "JAVA", 401, &both("c1"), 0);
        registry.heartbeat(2, "a:2", "CPP", 333, &both("c2"), 0);
        registry.heartbeat(3, "a:3", "JAVA", 401, &both("c3"), 0);
        assert_eq!(registry.unregister("c1", Some("pg"), Some("cg")), vec!["cg".to_string()]);
        assert_eq!(registry.unregister("c1", Some("pg"), Some("cg")), Vec::<String>::new());
        assert_eq!(registry.consumer_ids("cg"), vec!["c2", "c3"]);
        assert_eq!(registry.consumer_ids("other"), vec!["c1", "c2", "c3"]);
        assert_eq!(registry.producer_connection_ids("pg"), vec![2, 3]);
        registry.assert_invariants();
        assert_eq!(registry.connection_closed(2), vec!["cg".to_string(), "other".to_string()]);
        assert!(registry.connection_closed(2).is_empty());
        registry.assert_invariants();
        // Connection 3 heartbeats again; 1 (still in "other") goes silent.
        registry.heartbeat(3, "a:3", "JAVA", 401, &both("c3"), 100_000);
        let outcome = registry.expire(130_000, CHANNEL_EXPIRED_TIMEOUT_MS);
        assert_eq!(outcome, ExpireOutcome { groups_changed: vec!["other".to_string()], connections_expired: vec![1] });
        assert_eq!(registry.consumer_ids("other"), vec!["c3"]);
        let outcome = registry.expire(300_000, CHANNEL_EXPIRED_TIMEOUT_MS);
        assert_eq!(outcome.connections_expired, vec![3]);
        assert!(registry.consumer_group("cg").is_none() && registry.producer_connections("pg").is_none());
        registry.assert_invariants();
    }

    #[test]
    fn group_info_is_the_consumer_connection_body() {
        let mut registry = ClientRegistry::new();
        let data = beat("c1", vec![consumer("cg", &[("T", "TagA", 5)])], &["pg"]);
        registry.heartbeat(7, "10.0.0.5:4321", "JAVA", 401, &data, 0);
        let body = serde_json::to_value(registry.group_info("cg").unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "connectionSet": [{"clientAddr": "10.0.0.5:4321", "clientId": "c1", "language": "JAVA", "version": 401}],
                "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                "consumeType": "CONSUME_PASSIVELY",
                "messageModel": "CLUSTERING",
                "subscriptionTable": {"T": {"classFilterMode": false, "codeSet": [2_598_919], "expressionType": "TAG",
                    "subString": "TagA", "subVersion": 5, "tagsSet": ["TagA"], "topic": "T"}}
            })
        );
        let parsed: ConsumerConnection = serde_json::from_value(body).unwrap();
        assert_eq!(parsed, registry.group_info("cg").unwrap());
        let producers = serde_json::to_string(&registry.producer_connections("pg").unwrap()).unwrap();
        assert!(producers.starts_with(r#"{"connectionSet":[{"clientAddr":"10.0.0.5:4321""#), "{producers}");
        assert!(registry.group_info("absent").is_none());
    }

    #[test]
    fn a_full_group_refuses_new_connections_but_keeps_known_ones() {
        let mut registry = ClientRegistry::new();
        let data = beat("c", vec![consumer("cg", &[])], &[]);
        for connection_id in 0..GROUP_CHANNELS_MAX as u64 {
            registry.heartbeat(connection_id, "a:1", "JAVA", 401, &data, 0);
        }
        let outcome = registry.heartbeat(u64::MAX, "a:1", "JAVA", 401, &data, 0);
        assert_eq!(outcome.groups_refused, vec!["cg".to_string()]);
        assert!(registry.heartbeat(0, "a:1", "JAVA", 401, &data, 1).groups_refused.is_empty());
        assert_eq!(registry.connections_of_group("cg").len(), GROUP_CHANNELS_MAX);
        registry.assert_invariants();
    }
}
