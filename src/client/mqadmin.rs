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
}

/// The canonical spelling of a command typed in any case (mqadmin is case-insensitive).
pub fn canonical_name(typed: &str) -> Option<&'static str> {
    ["clusterList", "topicList", "topicRoute", "updateTopic"].into_iter().find(|name| name.eq_ignore_ascii_case(typed))
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

fn namesrv_list(args: &NamesrvArgs) -> Result<Vec<String>, AdminError> {
    let text = args.namesrv_addr.clone().or_else(|| std::env::var("NAMESRV_ADDR").ok()).unwrap_or_default();
    let list: Vec<String> =
        text.split(';').map(str::trim).filter(|part| !part.is_empty()).map(str::to_string).collect();
    if list.is_empty() {
        return Err(AdminError::NoNamesrv);
    }
    Ok(list)
}

/// Runs `call` against each nameserver in turn until one answers (Java fails over likewise).
fn with_namesrv<T>(
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
    }
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
