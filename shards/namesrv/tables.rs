//! The nameserver's route tables (protocol §6.1), one owner: the nameserver shard. Java keeps
//! them behind a read-write lock; here the shard's run loop is the only writer and reader.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tracing::info;

use crate::limits::{NAMESRV_BROKERS_MAX, NAMESRV_TOPICS_MAX};
use crate::protocol::bodies::{BrokerData, ClusterInfo, DataVersion, QueueData, RegisterBrokerBody, TopicRouteData};
use crate::protocol::codes::perm;
use crate::protocol::headers::RegisterBrokerRequestHeader;

/// How long a broker stays routable without re-registering (`BROKER_CHANNEL_EXPIRED_TIME`).
pub const BROKER_EXPIRY_MS: i64 = 120_000;

/// `TopicSysFlag` bits.
const FLAG_UNIT: i32 = 0x1;
const FLAG_UNIT_SUB: i32 = 0x2;

/// A registered broker address's liveness record.
#[derive(Clone, Debug)]
struct BrokerLive {
    last_update_ms: i64,
    data_version: DataVersion,
    connection_id: u64,
    ha_server_addr: String,
}

/// What REGISTER_BROKER answers a slave with: its master's addresses, when the master is live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TablesError {
    TooManyTopics { topics_max: usize },
    TooManyBrokers { brokers_max: usize },
}

impl std::fmt::Display for TablesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyTopics { topics_max } => {
                write!(f, "registration refused: the route table would exceed {topics_max} topics")
            }
            Self::TooManyBrokers { brokers_max } => {
                write!(f, "registration refused: more than {brokers_max} broker addresses")
            }
        }
    }
}

#[derive(Default)]
pub struct RouteTables {
    /// topic → broker name → queue data.
    topic_queue_table: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// broker name → addresses by broker id.
    broker_addr_table: BTreeMap<String, BrokerData>,
    /// cluster name → broker names.
    cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
    /// broker address → liveness.
    broker_live_table: HashMap<String, BrokerLive>,
    /// broker address → filter server addresses.
    filter_server_table: HashMap<String, Vec<String>>,
}

impl RouteTables {
    /// REGISTER_BROKER (protocol §6.2), after the CRC check and body decode.
    pub fn register(
        &mut self,
        header: &RegisterBrokerRequestHeader,
        body: &RegisterBrokerBody,
        connection_id: u64,
        now_ms: i64,
    ) -> Result<RegisterOutcome, TablesError> {
        let address = &header.broker_addr;
        if !self.broker_live_table.contains_key(address) && self.broker_live_table.len() >= NAMESRV_BROKERS_MAX {
            return Err(TablesError::TooManyBrokers { brokers_max: NAMESRV_BROKERS_MAX });
        }
        let wrapper = &body.topic_config_serialize_wrapper;
        let new_topics =
            wrapper.topic_config_table.keys().filter(|topic| !self.topic_queue_table.contains_key(*topic)).count();
        if header.broker_id == 0 && self.topic_queue_table.len() + new_topics > NAMESRV_TOPICS_MAX {
            return Err(TablesError::TooManyTopics { topics_max: NAMESRV_TOPICS_MAX });
        }
        self.cluster_addr_table.entry(header.cluster_name.clone()).or_default().insert(header.broker_name.clone());
        let broker_data = self.broker_addr_table.entry(header.broker_name.clone()).or_insert_with(|| BrokerData {
            broker_addrs: BTreeMap::new(),
            broker_name: header.broker_name.clone(),
            cluster: header.cluster_name.clone(),
            enable_acting_master: false,
        });
        // The same address under another id is a slave that became master (or the reverse).
        broker_data.broker_addrs.retain(|id, addr| !(addr == address && *id != header.broker_id));
        let previous = broker_data.broker_addrs.insert(header.broker_id, address.clone());
        let first_registration = previous.is_none();
        let version_changed =
            self.broker_live_table.get(address).is_none_or(|live| live.data_version != wrapper.data_version);
        if header.broker_id == 0 && (version_changed || first_registration) {
            for config in wrapper.topic_config_table.values() {
                let queue = QueueData {
                    broker_name: header.broker_name.clone(),
                    perm: config.perm,
                    read_queue_nums: config.read_queue_nums,
                    topic_sys_flag: config.topic_sys_flag,
                    write_queue_nums: config.write_queue_nums,
                };
                let queues = self.topic_queue_table.entry(config.topic_name.clone()).or_default();
                if queues.get(&header.broker_name) != Some(&queue) {
                    info!("topic route of {} updated for broker {}", config.topic_name, header.broker_name);
                }
                queues.insert(header.broker_name.clone(), queue);
            }
        }
        let live = BrokerLive {
            last_update_ms: now_ms,
            data_version: wrapper.data_version,
            connection_id,
            ha_server_addr: header.ha_server_addr.clone(),
        };
        if self.broker_live_table.insert(address.clone(), live).is_none() {
            info!("new broker registered, {} HAServer: {}", address, header.ha_server_addr);
        }
        if body.filter_server_list.is_empty() {
            self.filter_server_table.remove(address);
        } else {
            self.filter_server_table.insert(address.clone(), body.filter_server_list.clone());
        }
        Ok(self.master_of(&header.broker_name, header.broker_id))
    }

    fn master_of(&self, broker_name: &str, broker_id: i64) -> RegisterOutcome {
        if broker_id == 0 {
            return RegisterOutcome::default();
        }
        let Some(master) = self.broker_addr_table.get(broker_name).and_then(|d| d.broker_addrs.get(&0)) else {
            return RegisterOutcome::default();
        };
        match self.broker_live_table.get(master) {
            Some(live) => {
                RegisterOutcome { master_addr: Some(master.clone()), ha_server_addr: Some(live.ha_server_addr.clone()) }
            }
            None => RegisterOutcome::default(),
        }
    }

    /// QUERY_DATA_VERSION: whether the broker's version differs; an unchanged version also
    /// refreshes the broker's liveness.
    pub fn query_data_version(&mut self, address: &str, version: &DataVersion, now_ms: i64) -> (bool, DataVersion) {
        match self.broker_live_table.get_mut(address) {
            Some(live) if live.data_version == *version => {
                live.last_update_ms = now_ms;
                (false, live.data_version)
            }
            Some(live) => (true, live.data_version),
            None => (true, DataVersion::default()),
        }
    }

    /// UNREGISTER_BROKER (a clean broker shutdown).
    pub fn unregister(&mut self, cluster: &str, address: &str, broker_name: &str, broker_id: i64) {
        self.broker_live_table.remove(address);
        self.filter_server_table.remove(address);
        info!("unregisterBroker, remove addr from brokerLiveTable {address}");
        self.remove_address(broker_name, Some(cluster), |id, addr| id == broker_id && addr == address);
    }

    /// A broker's connection closed: everything it registered goes (`onChannelDestroy`).
    pub fn connection_closed(&mut self, connection_id: u64) {
        let addresses: Vec<String> = self
            .broker_live_table
            .iter()
            .filter(|(_, live)| live.connection_id == connection_id)
            .map(|(address, _)| address.clone())
            .collect();
        for address in addresses {
            info!("the broker's channel destroyed, {address}, clean it's data structure at once");
            self.remove_address_everywhere(&address);
        }
    }

    /// Drops brokers that have not re-registered within [`BROKER_EXPIRY_MS`].
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let expired: Vec<String> = self
            .broker_live_table
            .iter()
            .filter(|(_, live)| live.last_update_ms + BROKER_EXPIRY_MS < now_ms)
            .map(|(address, _)| address.clone())
            .collect();
        for address in &expired {
            info!("The broker channel expired, {address} {BROKER_EXPIRY_MS}ms");
            self.remove_address_everywhere(address);
        }
        expired.len()
    }

    fn remove_address_everywhere(&mut self, address: &str) {
        self.broker_live_table.remove(address);
        self.filter_server_table.remove(address);
        let names: Vec<String> = self
            .broker_addr_table
            .iter()
            .filter(|(_, data)| data.broker_addrs.values().any(|a| a == address))
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            self.remove_address(&name, None, |_, addr| addr == address);
        }
    }

    /// Removes matching addresses of `broker_name`; when none is left, the broker name leaves
    /// its cluster and its queue data leaves every topic (topics left empty are deleted).
    fn remove_address(&mut self, broker_name: &str, cluster: Option<&str>, matches: impl Fn(i64, &str) -> bool) {
        let Some(data) = self.broker_addr_table.get_mut(broker_name) else {
            return;
        };
        data.broker_addrs.retain(|id, addr| !matches(*id, addr));
        if !data.broker_addrs.is_empty() {
            return;
        }
        let cluster_name = cluster.map(str::to_string).unwrap_or_else(|| data.cluster.clone());
        self.broker_addr_table.remove(broker_name);
        if let Some(names) = self.cluster_addr_table.get_mut(&cluster_name) {
            names.remove(broker_name);
            if names.is_empty() {
                self.cluster_addr_table.remove(&cluster_name);
            }
        }
        self.topic_queue_table.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    }

    /// GET_ROUTEINFO_BY_TOPIC: `None` when the topic has no queue data or no live broker data.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topic_queue_table.get(topic)?;
        let broker_datas: Vec<BrokerData> =
            queues.keys().filter_map(|name| self.broker_addr_table.get(name).cloned()).collect();
        if queues.is_empty() || broker_datas.is_empty() {
            return None;
        }
        let mut filter_server_table = BTreeMap::new();
        for data in &broker_datas {
            for address in data.broker_addrs.values() {
                if let Some(filters) = self.filter_server_table.get(address) {
                    filter_server_table.insert(address.clone(), filters.clone());
                }
            }
        }
        Some(TopicRouteData {
            broker_datas,
            filter_server_table,
            order_topic_conf: None,
            queue_datas: queues.values().cloned().collect(),
        })
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.broker_addr_table.clone(),
            cluster_addr_table: self.cluster_addr_table.clone(),
        }
    }

    pub fn topics(&self) -> BTreeSet<String> {
        self.topic_queue_table.keys().cloned().collect()
    }

    /// Topics with queue data on any broker of `cluster`.
    pub fn topics_of_cluster(&self, cluster: &str) -> BTreeSet<String> {
        let Some(names) = self.cluster_addr_table.get(cluster) else {
            return BTreeSet::new();
        };
        self.topic_queue_table
            .iter()
            .filter(|(_, queues)| queues.keys().any(|name| names.contains(name)))
            .map(|(topic, _)| topic.clone())
            .collect()
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster names and broker names, plus one broker address.
    pub fn system_topics(&self) -> (BTreeSet<String>, Option<String>) {
        let mut topics: BTreeSet<String> = self.cluster_addr_table.keys().cloned().collect();
        topics.extend(self.broker_addr_table.keys().cloned());
        let address = self.broker_addr_table.values().find_map(|data| data.broker_addrs.values().next().cloned());
        (topics, address)
    }

    /// Topics whose queue data matches a unit-flag predicate (GET_UNIT_TOPIC_LIST and friends).
    pub fn topics_by_flag(&self, code: i32) -> BTreeSet<String> {
        use crate::protocol::request;
        let keep = |flag: i32| match code {
            request::GET_UNIT_TOPIC_LIST => flag & FLAG_UNIT != 0,
            request::GET_HAS_UNIT_SUB_TOPIC_LIST => flag & FLAG_UNIT_SUB != 0,
            _ => flag & FLAG_UNIT == 0 && flag & FLAG_UNIT_SUB != 0,
        };
        self.topic_queue_table
            .iter()
            .filter(|(_, queues)| queues.values().next().is_some_and(|q| keep(q.topic_sys_flag)))
            .map(|(topic, _)| topic.clone())
            .collect()
    }

    /// DELETE_TOPIC_IN_NAMESRV: the whole topic, or only the queue data of one cluster's brokers.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) {
        match cluster.and_then(|c| self.cluster_addr_table.get(c)) {
            Some(names) => {
                if let Some(queues) = self.topic_queue_table.get_mut(topic) {
                    queues.retain(|name, _| !names.contains(name));
                    if queues.is_empty() {
                        self.topic_queue_table.remove(topic);
                    }
                }
            }
            None if cluster.is_some() => {}
            None => {
                self.topic_queue_table.remove(topic);
            }
        }
    }

    /// WIPE_WRITE_PERM_OF_BROKER: clears the write bit of the broker's queue data; returns how
    /// many topics changed.
    pub fn wipe_write_perm(&mut self, broker_name: &str) -> i32 {
        self.update_perm(broker_name, |perm| perm & !perm::WRITE)
    }

    /// ADD_WRITE_PERM_OF_BROKER: sets the broker's queue data to read + write.
    pub fn add_write_perm(&mut self, broker_name: &str) -> i32 {
        self.update_perm(broker_name, |_| perm::READ | perm::WRITE)
    }

    fn update_perm(&mut self, broker_name: &str, change: impl Fn(i32) -> i32) -> i32 {
        let mut count = 0;
        for queues in self.topic_queue_table.values_mut() {
            if let Some(queue) = queues.get_mut(broker_name) {
                queue.perm = change(queue.perm);
                count += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::bodies::TopicConfig;

    fn header(name: &str, address: &str, id: i64) -> RegisterBrokerRequestHeader {
        RegisterBrokerRequestHeader {
            broker_name: name.into(),
            broker_addr: address.into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: address.replace(":10911", ":10912"),
            broker_id: id,
            compressed: None,
            body_crc32: None,
        }
    }

    fn body(topics: &[&str], counter: i64) -> RegisterBrokerBody {
        let mut body = RegisterBrokerBody::default();
        body.topic_config_serialize_wrapper.data_version = DataVersion { counter, timestamp: 1 };
        for topic in topics {
            body.topic_config_serialize_wrapper
                .topic_config_table
                .insert(topic.to_string(), TopicConfig::new(topic, 4, 6));
        }
        body
    }

    #[test]
    fn a_registered_master_makes_its_topics_routable() {
        let mut tables = RouteTables::default();
        assert!(tables.route("T").is_none());
        tables.register(&header("broker-a", "127.0.0.1:10911", 0), &body(&["T"], 1), 7, 0).unwrap();
        let route = tables.route("T").unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs[&0], "127.0.0.1:10911");
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        assert_eq!(tables.cluster_info().cluster_addr_table["DefaultCluster"].len(), 1);
    }

    #[test]
    fn a_slave_learns_its_master_and_never_changes_queue_data() {
        let mut tables = RouteTables::default();
        tables.register(&header("broker-a", "10.0.0.1:10911", 0), &body(&["T"], 1), 1, 0).unwrap();
        let outcome = tables.register(&header("broker-a", "10.0.0.2:10911", 1), &body(&["S"], 1), 2, 0).unwrap();
        assert_eq!(outcome.master_addr.as_deref(), Some("10.0.0.1:10911"));
        assert_eq!(outcome.ha_server_addr.as_deref(), Some("10.0.0.1:10912"));
        assert!(tables.route("S").is_none());
        assert_eq!(tables.route("T").unwrap().broker_datas[0].broker_addrs.len(), 2);
    }

    #[test]
    fn a_closed_connection_or_an_expiry_removes_the_broker_and_its_topics() {
        let mut tables = RouteTables::default();
        tables.register(&header("broker-a", "127.0.0.1:10911", 0), &body(&["T"], 1), 7, 0).unwrap();
        tables.connection_closed(8);
        assert!(tables.route("T").is_some());
        tables.connection_closed(7);
        assert!(tables.route("T").is_none());
        assert!(tables.cluster_info().cluster_addr_table.is_empty());
        tables.register(&header("broker-a", "127.0.0.1:10911", 0), &body(&["T"], 1), 9, 1_000).unwrap();
        assert_eq!(tables.expire(1_000 + BROKER_EXPIRY_MS), 0);
        assert_eq!(tables.expire(1_001 + BROKER_EXPIRY_MS), 1);
        assert!(tables.topics().is_empty());
    }

    #[test]
    fn write_perm_can_be_wiped_and_restored() {
        let mut tables = RouteTables::default();
        tables.register(&header("broker-a", "127.0.0.1:10911", 0), &body(&["T", "U"], 1), 7, 0).unwrap();
        assert_eq!(tables.wipe_write_perm("broker-a"), 2);
        assert_eq!(tables.route("T").unwrap().queue_datas[0].perm, perm::READ);
        assert_eq!(tables.add_write_perm("broker-a"), 2);
        assert_eq!(tables.route("U").unwrap().queue_datas[0].perm, 6);
    }

    #[test]
    fn unregister_and_delete_topic_clean_up() {
        let mut tables = RouteTables::default();
        tables.register(&header("broker-a", "127.0.0.1:10911", 0), &body(&["T", "U"], 1), 7, 0).unwrap();
        tables.delete_topic("T", None);
        assert!(tables.route("T").is_none());
        tables.delete_topic("U", Some("OtherCluster"));
        assert!(tables.route("U").is_some());
        tables.unregister("DefaultCluster", "127.0.0.1:10911", "broker-a", 0);
        assert!(tables.route("U").is_none());
    }
}
