//! The nameserver and broker calls that admin tools and tests make.

use std::collections::BTreeSet;

use super::blocking::{expect_code, BlockingClient, ClientError};
use crate::protocol::bodies::{
    ClusterInfo, DataVersion, KvTable, RegisterBrokerBody, TopicConfig, TopicList, TopicRouteData,
};
use crate::protocol::headers::{
    BrokerIdentityRequestHeader, GetRouteInfoRequestHeader, GetTopicsByClusterRequestHeader,
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
};
use crate::protocol::message::crc32;
use crate::protocol::{json, request, response, Command, Header};

/// A broker's identity and topics, as REGISTER_BROKER carries them.
#[derive(Clone, Debug)]
pub struct BrokerRegistration {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub ha_server_addr: String,
    pub broker_id: i64,
    pub data_version: DataVersion,
    pub topics: Vec<TopicConfig>,
    pub compressed: bool,
}

/// Calls against nameservers and brokers.
pub struct AdminApi {
    pub client: BlockingClient,
}

impl AdminApi {
    pub fn new(client: BlockingClient) -> Self {
        Self { client }
    }

    fn call(&mut self, address: &str, request: Command) -> Result<Command, ClientError> {
        let reply = self.client.invoke(address, request)?;
        expect_code(reply, response::SUCCESS)
    }

    /// GET_ROUTEINFO_BY_TOPIC. `Ok(None)` for TOPIC_NOT_EXIST.
    pub fn topic_route(&mut self, namesrv: &str, topic: &str) -> Result<Option<TopicRouteData>, ClientError> {
        let mut request = Command::request(request::GET_ROUTEINFO_BY_TOPIC, 0);
        GetRouteInfoRequestHeader { topic: topic.to_string(), accept_standard_json_only: None }
            .encode(&mut request.ext_fields);
        let reply = self.client.invoke(namesrv, request)?;
        if reply.code == response::TOPIC_NOT_EXIST {
            return Ok(None);
        }
        let reply = expect_code(reply, response::SUCCESS)?;
        json::from_fastjson(&reply.body).map(Some).map_err(ClientError::Body)
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub fn cluster_info(&mut self, namesrv: &str) -> Result<ClusterInfo, ClientError> {
        let reply = self.call(namesrv, Command::request(request::GET_BROKER_CLUSTER_INFO, 0))?;
        json::from_fastjson(&reply.body).map_err(ClientError::Body)
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
    pub fn topic_list(&mut self, namesrv: &str) -> Result<BTreeSet<String>, ClientError> {
        let reply = self.call(namesrv, Command::request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 0))?;
        let list: TopicList = json::from_fastjson(&reply.body).map_err(ClientError::Body)?;
        Ok(list.topic_list)
    }

    /// GET_TOPICS_BY_CLUSTER.
    pub fn topics_of_cluster(&mut self, namesrv: &str, cluster: &str) -> Result<BTreeSet<String>, ClientError> {
        let mut request = Command::request(request::GET_TOPICS_BY_CLUSTER, 0);
        GetTopicsByClusterRequestHeader { cluster: cluster.to_string() }.encode(&mut request.ext_fields);
        let reply = self.call(namesrv, request)?;
        let list: TopicList = json::from_fastjson(&reply.body).map_err(ClientError::Body)?;
        Ok(list.topic_list)
    }

    /// GET_BROKER_RUNTIME_INFO: the broker's KV stats table.
    pub fn broker_runtime_info(&mut self, broker: &str) -> Result<KvTable, ClientError> {
        let reply = self.call(broker, Command::request(request::GET_BROKER_RUNTIME_INFO, 0))?;
        json::from_fastjson(&reply.body).map_err(ClientError::Body)
    }

    /// GET_CONSUMER_CONNECTION_LIST: the group's live clients and subscriptions.
    pub fn consumer_connection(&mut self, broker: &str, group: &str) -> Result<serde_json::Value, ClientError> {
        let mut request = Command::request(request::GET_CONSUMER_CONNECTION_LIST, 0);
        crate::protocol::headers::ConsumerGroupRequestHeader { consumer_group: group.to_string() }
            .encode(&mut request.ext_fields);
        let reply = self.call(broker, request)?;
        serde_json::from_slice(&reply.body).map_err(|error| ClientError::Body(error.to_string()))
    }

    /// UPDATE_AND_CREATE_TOPIC on one broker.
    pub fn create_topic(&mut self, broker: &str, config: &TopicConfig) -> Result<(), ClientError> {
        let mut request = Command::request(request::UPDATE_AND_CREATE_TOPIC, 0);
        crate::protocol::headers::CreateTopicRequestHeader {
            topic: config.topic_name.clone(),
            default_topic: "TBW102".into(),
            read_queue_nums: config.read_queue_nums,
            write_queue_nums: config.write_queue_nums,
            perm: config.perm,
            topic_filter_type: config.topic_filter_type.clone(),
            topic_sys_flag: Some(config.topic_sys_flag),
            order: config.order,
        }
        .encode(&mut request.ext_fields);
        self.call(broker, request).map(|_| ())
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on one broker; `config` serializes to a
    /// SubscriptionGroupConfig (protocol §4.7).
    pub fn create_subscription_group(
        &mut self,
        broker: &str,
        config: &impl serde::Serialize,
    ) -> Result<(), ClientError> {
        let body = serde_json::to_vec(config).expect("a group config serializes");
        let request = Command::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0).with_body(body);
        self.call(broker, request).map(|_| ())
    }

    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG: the raw JSON body.
    pub fn all_subscription_groups(&mut self, broker: &str) -> Result<serde_json::Value, ClientError> {
        let reply = self.call(broker, Command::request(request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 0))?;
        json::from_fastjson(&reply.body).map_err(ClientError::Body)
    }

    /// DELETE_SUBSCRIPTIONGROUP on one broker.
    pub fn delete_subscription_group(
        &mut self,
        broker: &str,
        group: &str,
        remove_offset: bool,
    ) -> Result<(), ClientError> {
        let mut request = Command::request(request::DELETE_SUBSCRIPTIONGROUP, 0);
        crate::protocol::headers::DeleteSubscriptionGroupRequestHeader {
            group_name: group.to_string(),
            remove_offset: Some(remove_offset),
        }
        .encode(&mut request.ext_fields);
        self.call(broker, request).map(|_| ())
    }

    /// GET_BROKER_CONFIG: the broker's effective `key=value` pairs, in the order sent.
    pub fn broker_config(&mut self, broker: &str) -> Result<Vec<(String, String)>, ClientError> {
        let reply = self.call(broker, Command::request(request::GET_BROKER_CONFIG, 0))?;
        let lexed =
            crate::config::lexer::lex_bytes(&reply.body).map_err(|error| ClientError::Body(error.to_string()))?;
        Ok(lexed.entries.into_iter().map(|entry| (entry.key, entry.value)).collect())
    }

    /// UPDATE_BROKER_CONFIG with one `key=value`.
    pub fn update_broker_config(&mut self, broker: &str, key: &str, value: &str) -> Result<(), ClientError> {
        let body = format!("{key}={value}\n");
        let request = Command::request(request::UPDATE_BROKER_CONFIG, 0).with_body(body.into_bytes());
        self.call(broker, request).map(|_| ())
    }

    /// DELETE_TOPIC_IN_BROKER.
    pub fn delete_topic_in_broker(&mut self, broker: &str, topic: &str) -> Result<(), ClientError> {
        let mut request = Command::request(request::DELETE_TOPIC_IN_BROKER, 0);
        crate::protocol::headers::TopicRequestHeader { topic: topic.to_string() }.encode(&mut request.ext_fields);
        self.call(broker, request).map(|_| ())
    }

    /// DELETE_TOPIC_IN_NAMESRV (the whole topic).
    pub fn delete_topic_in_namesrv(&mut self, namesrv: &str, topic: &str) -> Result<(), ClientError> {
        let mut request = Command::request(request::DELETE_TOPIC_IN_NAMESRV, 0);
        crate::protocol::headers::DeleteTopicInNamesrvRequestHeader { topic: topic.to_string(), cluster_name: None }
            .encode(&mut request.ext_fields);
        self.call(namesrv, request).map(|_| ())
    }

    /// REGISTER_BROKER, as a broker sends it (body CRC included).
    pub fn register_broker(
        &mut self,
        namesrv: &str,
        registration: &BrokerRegistration,
    ) -> Result<RegisterBrokerResponseHeader, ClientError> {
        let request = register_request(registration);
        let reply = self.call(namesrv, request)?;
        RegisterBrokerResponseHeader::decode(&reply.ext_fields).map_err(|error| ClientError::Body(error.to_string()))
    }

    /// UNREGISTER_BROKER.
    pub fn unregister_broker(&mut self, namesrv: &str, registration: &BrokerRegistration) -> Result<(), ClientError> {
        let mut request = Command::request(request::UNREGISTER_BROKER, 0);
        BrokerIdentityRequestHeader {
            broker_name: registration.broker_name.clone(),
            broker_addr: registration.broker_addr.clone(),
            cluster_name: registration.cluster_name.clone(),
            broker_id: registration.broker_id,
        }
        .encode(&mut request.ext_fields);
        self.call(namesrv, request).map(|_| ())
    }
}

/// Builds a REGISTER_BROKER request (plain or compressed body, with its CRC).
pub fn register_request(registration: &BrokerRegistration) -> Command {
    let mut body = RegisterBrokerBody::default();
    body.topic_config_serialize_wrapper.data_version = registration.data_version;
    for topic in &registration.topics {
        body.topic_config_serialize_wrapper.topic_config_table.insert(topic.topic_name.clone(), topic.clone());
    }
    let encoded =
        if registration.compressed { body.encode_compressed() } else { crate::protocol::bodies::to_json(&body) };
    let mut request = Command::request(request::REGISTER_BROKER, 0);
    RegisterBrokerRequestHeader {
        broker_name: registration.broker_name.clone(),
        broker_addr: registration.broker_addr.clone(),
        cluster_name: registration.cluster_name.clone(),
        ha_server_addr: registration.ha_server_addr.clone(),
        broker_id: registration.broker_id,
        compressed: Some(registration.compressed),
        body_crc32: Some(crc32(&encoded)),
    }
    .encode(&mut request.ext_fields);
    request.with_body(encoded)
}
