//! `ringmq admin`: mqadmin's commands, flags and output columns (operations §2). Command names
//! match case-insensitively, as mqadmin's do.

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{AdminApi, BlockingClient, ClientError};
use crate::limits::CLIENT_REQUEST_TIMEOUT_MS;
use crate::protocol::bodies::TopicRouteData;
use crate::protocol::codes::perm;
use crate::protocol::json;

/// The flag every mqadmin command takes.
#[derive(Args, Clone, Debug)]
pub struct NamesrvArgs {
    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'
    /// (default: $NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr")]
    pub namesrv_addr: Option<String>,
}

#[derive(Subcommand, Clone, Debug)]
pub enum AdminCommand {
    #[command(flatten)]
    Query(super::mqadmin_query::QueryCommand),
    /// List cluster infos
    #[command(name = "clusterList")]
    ClusterList {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Print more stats
        #[arg(short = 'm', long = "moreStats")]
        more_stats: bool,
        /// Repeat every N seconds
        #[arg(short = 'i', long = "interval")]
        interval_seconds: Option<u64>,
        /// Only this cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster_name: Option<String>,
    },
    /// Fetch all topic list from name server
    #[command(name = "topicList")]
    TopicList {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Print the cluster of each topic (cluster, topic, consumer groups)
        #[arg(short = 'c', long = "clusterModel")]
        cluster_model: bool,
    },
    /// Update or create topic
    #[command(name = "updateTopic")]
    UpdateTopic {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Create topic to which broker
        #[arg(short = 'b', long = "brokerAddr")]
        broker_addr: Option<String>,
        /// Create topic to which cluster (every master)
        #[arg(short = 'c', long = "clusterName")]
        cluster_name: Option<String>,
        /// Topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Set read queue nums
        #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
        read_queue_nums: i32,
        /// Set write queue nums
        #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
        write_queue_nums: i32,
        /// Set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]
        #[arg(short = 'p', long = "perm", default_value_t = 6)]
        perm: i32,
        /// Set topic's order(true|false)
        #[arg(short = 'o', long = "order", default_value_t = false)]
        order: bool,
    },
    /// Examine topic route info
    #[command(name = "consumerConnection")]
    /// Query consumer's socket connection, client version and subscription
    ConsumerConnection {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Consumer group name
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
        /// Broker address (default: a master of the group's retry topic)
        #[arg(short = 'b', long = "brokerAddr")]
        broker_addr: Option<String>,
    },
    #[command(name = "topicRoute")]
    TopicRoute {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Print as a table
        #[arg(short = 'l', long = "list")]
        list: bool,
    },
    /// Update or create subscription group
    #[command(name = "updateSubGroup")]
    UpdateSubGroup {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        #[command(flatten)]
        target: BrokerTarget,
        /// Consumer group name
        #[arg(short = 'g', long = "groupName")]
        group_name: String,
        /// Consume enable
        #[arg(short = 's', long = "consumeEnable")]
        consume_enable: Option<bool>,
        /// From min offset
        #[arg(short = 'm', long = "consumeFromMinEnable")]
        consume_from_min_enable: Option<bool>,
        /// Broadcast
        #[arg(short = 'd', long = "consumeBroadcastEnable")]
        consume_broadcast_enable: Option<bool>,
        /// Retry queue nums
        #[arg(short = 'q', long = "retryQueueNums")]
        retry_queue_nums: Option<i32>,
        /// Retry max times
        #[arg(short = 'r', long = "retryMaxTimes")]
        retry_max_times: Option<i32>,
        /// Consumer from which broker id
        #[arg(short = 'i', long = "brokerId")]
        broker_id: Option<i64>,
        /// Which broker id when consume slowly
        #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
        which_broker_when_consume_slowly: Option<i64>,
        /// Notify consumerId changed
        #[arg(short = 'a', long = "notifyConsumerIdsChanged")]
        notify_consumer_ids_changed: Option<bool>,
    },
    /// Delete subscription group from broker
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        #[command(flatten)]
        target: BrokerTarget,
        /// Subscription group name
        #[arg(short = 'g', long = "groupName")]
        group_name: String,
        /// Remove offset
        #[arg(short = 'r', long = "removeOffset")]
        remove_offset: Option<bool>,
    },
    /// Get broker config by cluster or special broker
    #[command(name = "getBrokerConfig")]
    GetBrokerConfig {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        #[command(flatten)]
        target: BrokerTarget,
    },
    /// Update broker's config
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        #[command(flatten)]
        target: BrokerTarget,
        /// Config key
        #[arg(short = 'k', long = "key")]
        key: String,
        /// Config value
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Delete topic from broker and NameServer
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Delete topic from which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster_name: String,
    },
}

/// `-b brokerAddr | -c clusterName`: one broker, or the brokers of a cluster (`-b` wins).
#[derive(Args, Clone, Debug)]
pub struct BrokerTarget {
    /// Broker address
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Cluster name
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
}

/// The canonical spelling of a command typed in any case (mqadmin is case-insensitive).
pub fn canonical_name(typed: &str) -> Option<&'static str> {
    [
        "clusterList",
        "topicList",
        "topicRoute",
        "consumerConnection",
        "updateTopic",
        "updateSubGroup",
        "deleteSubGroup",
        "getBrokerConfig",
        "updateBrokerConfig",
        "deleteTopic",
    ]
    .into_iter()
    .chain(super::mqadmin_query::NAMES)
    .find(|name| name.eq_ignore_ascii_case(typed))
}

/// Why an admin command failed, for the CLI's exit message.
#[derive(Debug)]
pub enum AdminError {
    NoNamesrv,
    Client(ClientError),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoNamesrv => {
                f.write_str("no name server address: pass -n 'host:9876[;host:9876]' or set NAMESRV_ADDR")
            }
            Self::Client(error) => write!(f, "{error}"),
        }
    }
}

impl From<ClientError> for AdminError {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

pub(super) fn namesrv_list(args: &NamesrvArgs) -> Result<Vec<String>, AdminError> {
    let text = args.namesrv_addr.clone().or_else(|| std::env::var("NAMESRV_ADDR").ok()).unwrap_or_default();
    let list: Vec<String> =
        text.split(';').map(str::trim).filter(|part| !part.is_empty()).map(str::to_string).collect();
    if list.is_empty() {
        return Err(AdminError::NoNamesrv);
    }
    Ok(list)
}

/// Runs `call` against each nameserver in turn until one answers (Java fails over likewise).
pub(super) fn with_namesrv<T>(
    api: &mut AdminApi,
    namesrvs: &[String],
    mut call: impl FnMut(&mut AdminApi, &str) -> Result<T, ClientError>,
) -> Result<T, AdminError> {
    let mut last = None;
    for namesrv in namesrvs {
        match call(api, namesrv) {
            Ok(value) => return Ok(value),
            Err(error @ (ClientError::Connect { .. } | ClientError::Io { .. })) => last = Some(error),
            Err(error) => return Err(error.into()),
        }
    }
    Err(last.map(AdminError::Client).unwrap_or(AdminError::NoNamesrv))
}

pub fn run(command: &AdminCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    let mut api = AdminApi::new(BlockingClient::new(Duration::from_millis(CLIENT_REQUEST_TIMEOUT_MS)));
    match command {
        AdminCommand::ClusterList { namesrv, more_stats, interval_seconds, cluster_name } => {
            let namesrvs = namesrv_list(namesrv)?;
            loop {
                cluster_list(&mut api, &namesrvs, *more_stats, cluster_name.as_deref(), out)?;
                match interval_seconds {
                    Some(seconds) => std::thread::sleep(Duration::from_secs(*seconds)),
                    None => return Ok(()),
                }
            }
        }
        AdminCommand::TopicList { namesrv, cluster_model } => {
            let namesrvs = namesrv_list(namesrv)?;
            topic_list(&mut api, &namesrvs, *cluster_model, out)
        }
        AdminCommand::UpdateTopic {
            namesrv,
            broker_addr,
            cluster_name,
            topic,
            read_queue_nums,
            write_queue_nums,
            perm,
            order,
        } => {
            let mut config = crate::protocol::bodies::TopicConfig::new(topic.trim(), *read_queue_nums, *perm);
            config.write_queue_nums = *write_queue_nums;
            config.order = *order;
            let targets = match (broker_addr, cluster_name) {
                (Some(address), _) => vec![address.clone()],
                (None, Some(cluster)) => {
                    let namesrvs = namesrv_list(namesrv)?;
                    let info = with_namesrv(&mut api, &namesrvs, |api, address| api.cluster_info(address))?;
                    masters_of(&info, cluster)
                }
                (None, None) => {
                    return Err(ClientError::Body("updateTopic needs -b brokerAddr or -c clusterName".into()).into())
                }
            };
            for address in targets {
                api.create_topic(&address, &config)?;
                let _ = writeln!(out, "create topic to {address} success.");
            }
            let _ = writeln!(
                out,
                "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType={}, topicSysFlag={}, order={}]",
                config.topic_name,
                config.read_queue_nums,
                config.write_queue_nums,
                perm::describe(config.perm),
                config.topic_filter_type,
                config.topic_sys_flag,
                config.order
            );
            Ok(())
        }
        AdminCommand::Query(command) => super::mqadmin_query::run(&mut api, command, out),
        AdminCommand::ConsumerConnection { namesrv, group, broker_addr } => {
            let broker = match broker_addr {
                Some(address) => address.clone(),
                None => {
                    let namesrvs = namesrv_list(namesrv)?;
                    let retry = format!("%RETRY%{group}");
                    let route = with_namesrv(&mut api, &namesrvs, |api, address| api.topic_route(address, &retry))?;
                    let master = route.and_then(|route| {
                        route.broker_datas.iter().find_map(|data| data.broker_addrs.get(&0).cloned())
                    });
                    master.ok_or_else(|| ClientError::Body(format!("no broker serves the group {group}")))?
                }
            };
            let connection = api.consumer_connection(&broker, group)?;
            print_consumer_connection(&connection, out);
            Ok(())
        }
        AdminCommand::TopicRoute { namesrv, topic, list } => {
            let namesrvs = namesrv_list(namesrv)?;
            let route = with_namesrv(&mut api, &namesrvs, |api, address| api.topic_route(address, topic.trim()))?;
            let Some(route) = route else {
                return Err(ClientError::Response {
                    code: crate::protocol::response::TOPIC_NOT_EXIST,
                    remark: Some(format!("No topic route info in name server for the topic: {topic}")),
                }
                .into());
            };
            print_route(&route, *list, out);
            Ok(())
        }
        AdminCommand::UpdateSubGroup { .. }
        | AdminCommand::DeleteSubGroup { .. }
        | AdminCommand::GetBrokerConfig { .. }
        | AdminCommand::UpdateBrokerConfig { .. }
        | AdminCommand::DeleteTopic { .. } => run_groups_and_config(&mut api, command, out),
    }
}

/// updateSubGroup, deleteSubGroup, getBrokerConfig, updateBrokerConfig and deleteTopic.
fn run_groups_and_config(api: &mut AdminApi, command: &AdminCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    match command {
        AdminCommand::UpdateSubGroup {
            namesrv,
            target,
            group_name,
            consume_enable,
            consume_from_min_enable,
            consume_broadcast_enable,
            retry_queue_nums,
            retry_max_times,
            broker_id,
            which_broker_when_consume_slowly,
            notify_consumer_ids_changed,
        } => {
            // Java's defaults for what the command line leaves out.
            let config = SubGroupConfig {
                broker_id: broker_id.unwrap_or(0),
                consume_broadcast_enable: consume_broadcast_enable.unwrap_or(true),
                consume_enable: consume_enable.unwrap_or(true),
                consume_from_min_enable: consume_from_min_enable.unwrap_or(true),
                group_name: group_name.trim().to_string(),
                notify_consumer_ids_changed_enable: notify_consumer_ids_changed.unwrap_or(true),
                retry_max_times: retry_max_times.unwrap_or(16),
                retry_queue_nums: retry_queue_nums.unwrap_or(1),
                which_broker_when_consume_slowly: which_broker_when_consume_slowly.unwrap_or(1),
            };
            for address in masters_targeted(api, namesrv, target, "updateSubGroup")? {
                api.create_subscription_group(&address, &config)?;
                let _ = writeln!(out, "create subscription group to {address} success.");
            }
            let _ = writeln!(out, "{}", describe_group(&config));
            Ok(())
        }
        AdminCommand::DeleteSubGroup { namesrv, target, group_name, remove_offset } => {
            let group = group_name.trim();
            let remove_offset = remove_offset.unwrap_or(false);
            if let Some(address) = &target.broker_addr {
                api.delete_subscription_group(address, group, remove_offset)?;
                let _ = writeln!(out, "delete subscription group [{group}] from broker [{address}] success.");
                return Ok(());
            }
            let Some(cluster) = &target.cluster_name else {
                return Err(ClientError::Body("deleteSubGroup needs -b brokerAddr or -c clusterName".into()).into());
            };
            for address in masters_targeted(api, namesrv, target, "deleteSubGroup")? {
                api.delete_subscription_group(&address, group, remove_offset)?;
            }
            let _ = writeln!(out, "delete subscription group [{group}] from cluster [{cluster}] success.");
            // As mqadmin: with -c the group's retry and dead-letter topics go too.
            let namesrvs = namesrv_list(namesrv)?;
            for topic in [format!("%RETRY%{group}"), format!("%DLQ%{group}")] {
                delete_topic(api, &namesrvs, &topic, cluster, out)?;
            }
            Ok(())
        }
        AdminCommand::GetBrokerConfig { namesrv, target } => {
            if let Some(address) = &target.broker_addr {
                return print_broker_config(api, address, out);
            }
            let Some(cluster) = &target.cluster_name else {
                return Err(ClientError::Body("getBrokerConfig needs -b brokerAddr or -c clusterName".into()).into());
            };
            let namesrvs = namesrv_list(namesrv)?;
            let info = with_namesrv(api, &namesrvs, |api, address| api.cluster_info(address))?;
            let names = info.cluster_addr_table.get(cluster).cloned().unwrap_or_default();
            for name in names {
                let Some(data) = info.broker_addr_table.get(&name) else { continue };
                let master = data.broker_addrs.get(&0).cloned();
                for (id, address) in &data.broker_addrs {
                    if *id == 0 {
                        let _ = writeln!(out, "============Master: {address}============");
                    } else {
                        let master = master.as_deref().unwrap_or("");
                        let _ = writeln!(out, "============My Master: {master}=====Slave: {address}============");
                    }
                    print_broker_config(api, address, out)?;
                }
            }
            Ok(())
        }
        AdminCommand::UpdateBrokerConfig { namesrv, target, key, value } => {
            for address in masters_targeted(api, namesrv, target, "updateBrokerConfig")? {
                api.update_broker_config(&address, key.trim(), value.trim())?;
                let _ = writeln!(out, "update broker config success, {address}");
            }
            Ok(())
        }
        AdminCommand::DeleteTopic { namesrv, topic, cluster_name } => {
            let namesrvs = namesrv_list(namesrv)?;
            delete_topic(api, &namesrvs, topic.trim(), cluster_name.trim(), out)
        }
        _ => unreachable!("run() dispatches only these commands here"),
    }
}

/// The UPDATE_AND_CREATE_SUBSCRIPTIONGROUP body (`SubscriptionGroupConfig`, protocol §4.7),
/// fields in fastjson's alphabetical order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SubGroupConfig {
    broker_id: i64,
    consume_broadcast_enable: bool,
    consume_enable: bool,
    consume_from_min_enable: bool,
    group_name: String,
    notify_consumer_ids_changed_enable: bool,
    retry_max_times: i32,
    retry_queue_nums: i32,
    which_broker_when_consume_slowly: i64,
}

/// Java's `SubscriptionGroupConfig.toString()`, as mqadmin updateSubGroup prints it.
fn describe_group(config: &SubGroupConfig) -> String {
    format!(
        "SubscriptionGroupConfig [groupName={}, consumeEnable={}, consumeFromMinEnable={}, consumeBroadcastEnable={}, retryQueueNums={}, retryMaxTimes={}, brokerId={}, whichBrokerWhenConsumeSlowly={}, notifyConsumerIdsChangedEnable={}]",
        config.group_name,
        config.consume_enable,
        config.consume_from_min_enable,
        config.consume_broadcast_enable,
        config.retry_queue_nums,
        config.retry_max_times,
        config.broker_id,
        config.which_broker_when_consume_slowly,
        config.notify_consumer_ids_changed_enable
    )
}

/// `-b` (one broker) or `-c` (every master of the cluster).
fn masters_targeted(
    api: &mut AdminApi,
    namesrv: &NamesrvArgs,
    target: &BrokerTarget,
    command: &str,
) -> Result<Vec<String>, AdminError> {
    match (&target.broker_addr, &target.cluster_name) {
        (Some(address), _) => Ok(vec![address.clone()]),
        (None, Some(cluster)) => {
            let namesrvs = namesrv_list(namesrv)?;
            let info = with_namesrv(api, &namesrvs, |api, address| api.cluster_info(address))?;
            Ok(masters_of(&info, cluster))
        }
        (None, None) => Err(ClientError::Body(format!("{command} needs -b brokerAddr or -c clusterName")).into()),
    }
}

/// mqadmin getBrokerConfig's block for one broker.
fn print_broker_config(api: &mut AdminApi, address: &str, out: &mut dyn Write) -> Result<(), AdminError> {
    let config = api.broker_config(address)?;
    if config.is_empty() {
        let _ = writeln!(out, "Broker[{address}] has no config property!");
        return Ok(());
    }
    for (key, value) in &config {
        let _ = writeln!(out, "{key:<50}=  {value}");
    }
    let _ = writeln!(out);
    Ok(())
}

/// mqadmin deleteTopic: DELETE_TOPIC_IN_BROKER on every master of the cluster, then
/// DELETE_TOPIC_IN_NAMESRV on every nameserver.
fn delete_topic(
    api: &mut AdminApi,
    namesrvs: &[String],
    topic: &str,
    cluster: &str,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let info = with_namesrv(api, namesrvs, |api, address| api.cluster_info(address))?;
    for address in masters_of(&info, cluster) {
        api.delete_topic_in_broker(&address, topic)?;
    }
    let _ = writeln!(out, "delete topic [{topic}] from cluster [{cluster}] success.");
    for namesrv in namesrvs {
        api.delete_topic_in_namesrv(namesrv, topic)?;
    }
    let _ = writeln!(out, "delete topic [{topic}] from NameServer success.");
    Ok(())
}

/// The master (id 0) address of every broker of `cluster`.
fn masters_of(info: &crate::protocol::bodies::ClusterInfo, cluster: &str) -> Vec<String> {
    let Some(names) = info.cluster_addr_table.get(cluster) else { return Vec::new() };
    names
        .iter()
        .filter_map(|name| info.broker_addr_table.get(name))
        .filter_map(|data| data.broker_addrs.get(&0).cloned())
        .collect()
}

fn cluster_list(
    api: &mut AdminApi,
    namesrvs: &[String],
    more_stats: bool,
    only_cluster: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let info = with_namesrv(api, namesrvs, |api, address| api.cluster_info(address))?;
    if more_stats {
        let _ = writeln!(
            out,
            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
            "#Cluster Name", "#Broker Name", "#InTotalYest", "#OutTotalYest", "#InTotalToday", "#OutTotalToday"
        );
    } else {
        let _ = writeln!(
            out,
            "{:<16}  {:<22}  {:<4}  {:<22} {:<16} {:>19} {:>19} {:>10} {:>5} {:>6}",
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS(LOAD)",
            "#OutTPS(LOAD)",
            "#PCWait(ms)",
            "#Hour",
            "#SPACE"
        );
    }
    for (cluster, broker_names) in &info.cluster_addr_table {
        if only_cluster.is_some_and(|only| only != cluster) {
            continue;
        }
        for broker_name in broker_names {
            let Some(data) = info.broker_addr_table.get(broker_name) else {
                continue;
            };
            for (id, address) in &data.broker_addrs {
                let stats = api.broker_runtime_info(address).map(|kv| kv.table).unwrap_or_else(|error| {
                    eprintln!("GET_BROKER_RUNTIME_INFO from {address} failed: {error}");
                    Default::default()
                });
                let row = BrokerRow { cluster, broker_name, id: *id, address, stats: &stats };
                if more_stats {
                    row.print_more(out);
                } else {
                    row.print(out);
                }
            }
        }
    }
    Ok(())
}

struct BrokerRow<'a> {
    cluster: &'a str,
    broker_name: &'a str,
    id: i64,
    address: &'a str,
    stats: &'a std::collections::BTreeMap<String, String>,
}

impl BrokerRow<'_> {
    fn text(&self, key: &str) -> &str {
        self.stats.get(key).map(String::as_str).unwrap_or("")
    }

    /// The first space-separated token of a stats value, as a number.
    fn first_number(&self, key: &str) -> f64 {
        self.text(key).split(' ').next().and_then(|token| token.parse().ok()).unwrap_or(0.0)
    }

    fn long(&self, key: &str) -> i64 {
        self.text(key).trim().parse().unwrap_or(0)
    }

    fn print(&self, out: &mut dyn Write) {
        let in_tps = format!(
            "{:9.2}({},{}ms)",
            self.first_number("putTps"),
            self.long("sendThreadPoolQueueSize"),
            self.long("sendThreadPoolQueueHeadWaitTimeMills")
        );
        let out_tps = format!(
            "{:9.2}({},{}ms)",
            self.first_number("getTransferedTps"),
            self.long("pullThreadPoolQueueSize"),
            self.long("pullThreadPoolQueueHeadWaitTimeMills")
        );
        let earliest_ms = self.long("earliestMessageTimeStamp");
        let hours = (crate::protocol::now_ms() - earliest_ms) as f64 / 3_600_000.0;
        let space = self.text("commitLogDiskRatio").trim().parse::<f64>().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{:<16}  {:<22}  {:<4}  {:<22} {:<16} {:>19} {:>19} {:>10} {:>5} {:>6}",
            self.cluster,
            self.broker_name,
            self.id,
            self.address,
            self.text("brokerVersionDesc"),
            in_tps,
            out_tps,
            self.long("pageCacheLockTimeMills"),
            format!("{hours:.2}"),
            format!("{space:.4}")
        );
    }

    fn print_more(&self, out: &mut dyn Write) {
        let in_yesterday = self.long("msgPutTotalTodayMorning") - self.long("msgPutTotalYesterdayMorning");
        let out_yesterday = self.long("msgGetTotalTodayMorning") - self.long("msgGetTotalYesterdayMorning");
        let in_today = self.long("msgPutTotalTodayNow") - self.long("msgPutTotalTodayMorning");
        let out_today = self.long("msgGetTotalTodayNow") - self.long("msgGetTotalTodayMorning");
        let _ = writeln!(
            out,
            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
            self.cluster, self.broker_name, in_yesterday, out_yesterday, in_today, out_today
        );
    }
}

fn topic_list(
    api: &mut AdminApi,
    namesrvs: &[String],
    cluster_model: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let topics = with_namesrv(api, namesrvs, |api, address| api.topic_list(address))?;
    if !cluster_model {
        for topic in &topics {
            let _ = writeln!(out, "{topic}");
        }
        return Ok(());
    }
    let info = with_namesrv(api, namesrvs, |api, address| api.cluster_info(address))?;
    let _ = writeln!(out, "{:<20}  {:<48}  {:<48}", "#Cluster Name", "#Topic", "#Consumer Group");
    for cluster in info.cluster_addr_table.keys() {
        let cluster_topics = with_namesrv(api, namesrvs, |api, address| api.topics_of_cluster(address, cluster))?;
        for topic in cluster_topics.iter().filter(|topic| topics.contains(*topic)) {
            // Consumer groups come from the brokers (QUERY_TOPIC_CONSUME_BY_WHO); brokers that
            // do not answer contribute none.
            let _ = writeln!(out, "{:<20}  {:<48}  {:<48}", cluster, topic, "");
        }
    }
    Ok(())
}

fn print_route(route: &TopicRouteData, list: bool, out: &mut dyn Write) {
    if !list {
        // mqadmin prints fastjson's pretty form, unquoted broker ids included.
        let mut text = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut text, FastjsonPretty::default());
        serde::Serialize::serialize(route, &mut serializer).expect("route serializes");
        let text = String::from_utf8(text).expect("serde_json writes UTF-8");
        let _ = writeln!(out, "{}", json::unquote_integer_keys(&text));
        return;
    }
    let _ = writeln!(
        out,
        "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
        "#ClusterName", "#BrokerName", "#BrokerAddrs", "#ReadQueue", "#WriteQueue", "#Perm"
    );
    let (mut read_total, mut write_total) = (0, 0);
    for queue in &route.queue_datas {
        let data = route.broker_datas.iter().find(|data| data.broker_name == queue.broker_name);
        let addresses = data
            .map(|data| data.broker_addrs.iter().map(|(id, addr)| format!("{id}:{addr}")).collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
            data.map(|data| data.cluster.as_str()).unwrap_or(""),
            queue.broker_name,
            addresses,
            queue.read_queue_nums,
            queue.write_queue_nums,
            perm::describe(queue.perm)
        );
        read_total += queue.read_queue_nums;
        write_total += queue.write_queue_nums;
    }
    let _ = writeln!(out, "{:<45} {:<32} {:<50} {:<10} {:<11}", "Total:", "", "", read_total, write_total);
}

/// fastjson's `PrettyFormat`: tab indentation, one value per line, and no space after `:`.
#[derive(Default)]
struct FastjsonPretty {
    depth: usize,
    has_value: bool,
}

impl FastjsonPretty {
    fn newline<W: ?Sized + Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b"\n")?;
        for _ in 0..self.depth {
            writer.write_all(b"\t")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline(writer)?;
        }
        self.has_value = true;
        writer.write_all(bracket)
    }

    fn element<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.newline(writer)
    }
}

impl serde_json::ser::Formatter for FastjsonPretty {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        self.element(writer, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        self.element(writer, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b":")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// mqadmin consumerConnection's output.
fn print_consumer_connection(connection: &serde_json::Value, out: &mut dyn Write) {
    let text = |value: &serde_json::Value| value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
    let _ = writeln!(out, "{:<36} {:<22} {:<10} #Version", "#ClientId", "#ClientAddr", "#Language");
    for channel in connection["connectionSet"].as_array().into_iter().flatten() {
        let version = channel["version"].as_i64().map(|ordinal| crate::protocol::codes::version::name(ordinal as i32));
        let _ = writeln!(
            out,
            "{:<36} {:<22} {:<10} {}",
            text(&channel["clientId"]),
            text(&channel["clientAddr"]),
            text(&channel["language"]),
            version.unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\nBelow is subscription:");
    let _ = writeln!(out, "{:<20} #SubExpression", "#Topic");
    if let Some(table) = connection["subscriptionTable"].as_object() {
        for (topic, subscription) in table {
            let _ = writeln!(out, "{:<20} {}", topic, text(&subscription["subString"]));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "ConsumeType: {}", text(&connection["consumeType"]));
    let _ = writeln!(out, "MessageModel: {}", text(&connection["messageModel"]));
    let _ = writeln!(out, "ConsumeFromWhere: {}", text(&connection["consumeFromWhere"]));
}
