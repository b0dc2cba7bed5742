//! `ringmq admin` commands that read broker state: brokerStatus, topicStatus,
//! consumerProgress, queryMsgById, queryMsgByKey (operations §2.3 output formats).

use std::collections::BTreeMap;
use std::io::Write;

use clap::Subcommand;

use super::blocking::expect_code;
use super::mqadmin::{AdminError, NamesrvArgs};
use super::{AdminApi, ClientError};
use crate::protocol::headers::{
    GetConsumeStatsRequestHeader, QueryMessageRequestHeader, TopicRequestHeader, ViewMessageRequestHeader,
};
use crate::protocol::message::Properties;
use crate::protocol::mq_table::{self, MessageQueue};
use crate::protocol::{message_id, record, request, response, Command, Header};

#[derive(Subcommand, Clone, Debug)]
pub enum QueryCommand {
    /// Fetch broker runtime status data
    #[command(name = "brokerStatus")]
    BrokerStatus {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Broker address
        #[arg(short = 'b', long = "brokerAddr")]
        broker_addr: Option<String>,
        /// Every broker of this cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster_name: Option<String>,
    },
    /// Examine topic Status info
    #[command(name = "topicStatus")]
    TopicStatus {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Query consumers's progress, speed
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Consumer group name
        #[arg(short = 'g', long = "groupName")]
        group: String,
    },
    /// Query Message by Id
    #[command(name = "queryMsgById")]
    QueryMsgById {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Message Id (offsetMsgId)
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
    },
    /// Query Message by Key
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey {
        #[command(flatten)]
        namesrv: NamesrvArgs,
        /// Topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Message Key
        #[arg(short = 'k', long = "msgKey")]
        key: String,
        /// Begin timestamp (ms)
        #[arg(short = 'b', long = "beginTimestamp")]
        begin_timestamp: Option<i64>,
        /// End timestamp (ms)
        #[arg(short = 'e', long = "endTimestamp")]
        end_timestamp: Option<i64>,
        /// Max number of messages
        #[arg(short = 'c', long = "maxNum", default_value_t = 64)]
        max_num: i32,
    },
}

/// The command names this file serves, for `canonical_name`.
pub const NAMES: [&str; 5] = ["brokerStatus", "topicStatus", "consumerProgress", "queryMsgById", "queryMsgByKey"];

fn call(api: &mut AdminApi, address: &str, request: Command) -> Result<Command, ClientError> {
    let reply = api.client.invoke(address, request)?;
    expect_code(reply, response::SUCCESS)
}

/// `yyyy-MM-dd HH:mm:ss,SSS` in local time (as Java's UtilAll.formatDate with that pattern).
fn local_time(ms: i64, millis: bool) -> String {
    let seconds = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&seconds, &mut tm) }.is_null() {
        return ms.to_string();
    }
    let mut text = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    if millis {
        text.push_str(&format!(",{:03}", ms.rem_euclid(1000)));
    }
    text
}

/// Broker name → master address of every broker that serves `topic`, from the route.
fn brokers_of_topic(
    api: &mut AdminApi,
    namesrvs: &[String],
    topic: &str,
) -> Result<BTreeMap<String, String>, AdminError> {
    let route = super::mqadmin::with_namesrv(api, namesrvs, |api, address| api.topic_route(address, topic))?;
    let Some(route) = route else {
        return Err(ClientError::Response {
            code: response::TOPIC_NOT_EXIST,
            remark: Some(format!("No topic route info in name server for the topic: {topic}")),
        }
        .into());
    };
    Ok(route
        .broker_datas
        .iter()
        .filter_map(|data| data.broker_addrs.get(&0).map(|address| (data.broker_name.clone(), address.clone())))
        .collect())
}

/// Broker name → master address of every broker the nameservers know.
fn all_masters(api: &mut AdminApi, namesrvs: &[String]) -> Result<BTreeMap<String, String>, AdminError> {
    let info = super::mqadmin::with_namesrv(api, namesrvs, |api, address| api.cluster_info(address))?;
    Ok(info
        .broker_addr_table
        .iter()
        .filter_map(|(name, data)| data.broker_addrs.get(&0).map(|address| (name.clone(), address.clone())))
        .collect())
}

pub fn run(api: &mut AdminApi, command: &QueryCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    match command {
        command @ QueryCommand::BrokerStatus { .. } => broker_status(api, command, out),
        command @ QueryCommand::TopicStatus { .. } => topic_status(api, command, out),
        command @ QueryCommand::ConsumerProgress { .. } => consumer_progress(api, command, out),
        command @ QueryCommand::QueryMsgById { .. } => query_msg_by_id(api, command, out),
        command @ QueryCommand::QueryMsgByKey { .. } => query_msg_by_key(api, command, out),
    }
}

fn broker_status(api: &mut AdminApi, command: &QueryCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    let QueryCommand::BrokerStatus { namesrv, broker_addr, cluster_name } = command else { unreachable!() };
    let (addresses, prefixed) = match (broker_addr, cluster_name) {
        (Some(address), _) => (vec![address.clone()], false),
        (None, Some(cluster)) => {
            let namesrvs = super::mqadmin::namesrv_list(namesrv)?;
            let info = super::mqadmin::with_namesrv(api, &namesrvs, |api, address| api.cluster_info(address))?;
            let names = info.cluster_addr_table.get(cluster).cloned().unwrap_or_default();
            let addresses = names
                .iter()
                .filter_map(|name| info.broker_addr_table.get(name))
                .flat_map(|data| data.broker_addrs.values().cloned())
                .collect();
            (addresses, true)
        }
        (None, None) => {
            return Err(ClientError::Body("brokerStatus needs -b brokerAddr or -c clusterName".into()).into())
        }
    };
    for address in addresses {
        let table = api.broker_runtime_info(&address)?.table;
        for (key, value) in &table {
            if prefixed {
                let _ = writeln!(out, "{address:<24} {key:<32}: {value}");
            } else {
                let _ = writeln!(out, "{key:<32}: {value}");
            }
        }
    }
    Ok(())
}

fn topic_status(api: &mut AdminApi, command: &QueryCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    let QueryCommand::TopicStatus { namesrv, topic } = command else { unreachable!() };
    let namesrvs = super::mqadmin::namesrv_list(namesrv)?;
    let topic = topic.trim();
    let brokers = brokers_of_topic(api, &namesrvs, topic)?;
    let mut rows = Vec::new();
    for address in brokers.values() {
        let mut request = Command::request(request::GET_TOPIC_STATS_INFO, 0);
        TopicRequestHeader { topic: topic.to_string() }.encode(&mut request.ext_fields);
        let reply = call(api, address, request)?;
        let text = String::from_utf8_lossy(&reply.body);
        rows.extend(mq_table::parse_offset_table(&text).map_err(ClientError::Body)?);
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let _ = writeln!(
        out,
        "{:<32}  {:<4}  {:<20}  {:<20}    #Last Updated",
        "#Broker Name", "#QID", "#Min Offset", "#Max Offset"
    );
    for (queue, offset) in rows {
        let last = offset["lastUpdateTimestamp"].as_i64().unwrap_or(0);
        let last = if last == 0 { String::new() } else { local_time(last, true) };
        let name: String = queue.broker_name.chars().take(32).collect();
        let _ = writeln!(
            out,
            "{:<32}  {:<4}  {:<20}  {:<20}    {}",
            name,
            queue.queue_id,
            offset["minOffset"].as_i64().unwrap_or(0),
            offset["maxOffset"].as_i64().unwrap_or(0),
            last
        );
    }
    Ok(())
}

fn consumer_progress(api: &mut AdminApi, command: &QueryCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    let QueryCommand::ConsumerProgress { namesrv, group } = command else { unreachable!() };
    let namesrvs = super::mqadmin::namesrv_list(namesrv)?;
    let group = group.trim();
    let retry_topic = format!("%RETRY%{group}");
    let brokers = match brokers_of_topic(api, &namesrvs, &retry_topic) {
        Ok(brokers) if !brokers.is_empty() => brokers,
        _ => all_masters(api, &namesrvs)?,
    };
    let mut rows: Vec<(MessageQueue, serde_json::Value)> = Vec::new();
    let mut tps = 0.0;
    for address in brokers.values() {
        let mut request = Command::request(request::GET_CONSUME_STATS, 0);
        GetConsumeStatsRequestHeader { consumer_group: group.to_string(), topic: None }.encode(&mut request.ext_fields);
        let reply = call(api, address, request)?;
        let text = String::from_utf8_lossy(&reply.body);
        tps += mq_table::top_level_number(&text, "consumeTps").unwrap_or(0.0);
        rows.extend(mq_table::parse_offset_table(&text).map_err(ClientError::Body)?);
    }
    if rows.is_empty() {
        return Err(ClientError::Body(
                    "Not found the consumer group consume stats, because return offset table is empty, maybe the consumer not consume any message".into(),
                )
                .into());
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let format_row = |out: &mut dyn Write, cells: [&str; 7]| {
        let _ = writeln!(
            out,
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  {}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        );
    };
    format_row(out, ["#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime"]);
    let mut diff_total = 0i64;
    for (queue, offset) in &rows {
        let broker_offset = offset["brokerOffset"].as_i64().unwrap_or(0);
        let consumer_offset = offset["consumerOffset"].as_i64().unwrap_or(0);
        let diff = broker_offset - consumer_offset;
        diff_total += diff;
        let last = offset["lastTimestamp"].as_i64().unwrap_or(0);
        let last = if last == 0 { "N/A".to_string() } else { local_time(last, false) };
        let name: String = queue.broker_name.chars().take(32).collect();
        format_row(
            out,
            [
                &queue.topic,
                &name,
                &queue.queue_id.to_string(),
                &broker_offset.to_string(),
                &consumer_offset.to_string(),
                &diff.to_string(),
                &last,
            ],
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Consume TPS: {tps:.2}");
    let _ = writeln!(out, "Diff Total: {diff_total}");
    Ok(())
}

fn query_msg_by_id(api: &mut AdminApi, command: &QueryCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    let QueryCommand::QueryMsgById { msg_id, .. } = command else { unreachable!() };
    let msg_id = msg_id.trim();
    let (address, offset) =
        message_id::decode(msg_id).ok_or_else(|| ClientError::Body(format!("{msg_id} is not an offsetMsgId")))?;
    let mut request = Command::request(request::VIEW_MESSAGE_BY_ID, 0);
    ViewMessageRequestHeader { offset }.encode(&mut request.ext_fields);
    let reply = call(api, &address.to_string(), request)?;
    print_message(msg_id, &reply.body, out)
}

fn query_msg_by_key(api: &mut AdminApi, command: &QueryCommand, out: &mut dyn Write) -> Result<(), AdminError> {
    let QueryCommand::QueryMsgByKey { namesrv, topic, key, begin_timestamp, end_timestamp, max_num } = command else {
        unreachable!()
    };
    let namesrvs = super::mqadmin::namesrv_list(namesrv)?;
    let topic = topic.trim();
    let brokers = brokers_of_topic(api, &namesrvs, topic)?;
    let _ = writeln!(out, "{:<50} {:>4} {:>40}", "#Message ID", "#QID", "#Offset");
    for address in brokers.values() {
        let mut request = Command::request(request::QUERY_MESSAGE, 0);
        QueryMessageRequestHeader {
            topic: topic.to_string(),
            key: key.clone(),
            max_num: *max_num,
            begin_timestamp: begin_timestamp.unwrap_or(0),
            end_timestamp: end_timestamp.unwrap_or(i64::MAX),
            unique_key_query: Some(false),
        }
        .encode(&mut request.ext_fields);
        let reply = api.client.invoke(address, request)?;
        if reply.code == response::QUERY_NOT_FOUND {
            continue;
        }
        let reply = expect_code(reply, response::SUCCESS)?;
        let mut rest: &[u8] = &reply.body;
        while let Some((size, _)) = record::peek_size_and_magic(rest) {
            let size = size.max(0) as usize;
            if size == 0 || size > rest.len() {
                break;
            }
            if let Ok(decoded) = record::decode(&rest[..size]) {
                let properties = Properties::parse(decoded.properties);
                let id = properties
                    .get(crate::protocol::message::property::UNIQ_KEY)
                    .map(str::to_string)
                    .unwrap_or_else(|| message_id::encode(decoded.store_host, decoded.physical_offset));
                let _ = writeln!(out, "{:<50} {:>4} {:>40}", id, decoded.queue_id, decoded.queue_offset);
            }
            rest = &rest[size..];
        }
    }
    Ok(())
}

/// The label lines of `mqadmin queryMsgById`; the body goes to
/// `/tmp/rocketmq/msgbodys/<UNIQ_KEY or offsetMsgId>`.
fn print_message(msg_id: &str, bytes: &[u8], out: &mut dyn Write) -> Result<(), AdminError> {
    let decoded = record::decode(bytes).map_err(|error| ClientError::Body(error.to_string()))?;
    let properties = Properties::parse(decoded.properties);
    let unique = properties.get(crate::protocol::message::property::UNIQ_KEY).unwrap_or(msg_id).to_string();
    let directory = std::path::Path::new("/tmp/rocketmq/msgbodys");
    let body_path = directory.join(&unique);
    let written = std::fs::create_dir_all(directory).and_then(|()| std::fs::write(&body_path, decoded.body));
    let line = |out: &mut dyn Write, label: &str, value: &str| {
        let _ = writeln!(out, "{label:<20} {value}");
    };
    line(out, "OffsetID:", msg_id);
    line(out, "Topic:", decoded.topic);
    line(out, "Tags:", &format!("[{}]", properties.get("TAGS").unwrap_or("")));
    line(out, "Keys:", &format!("[{}]", properties.get("KEYS").unwrap_or("")));
    line(out, "Queue ID:", &decoded.queue_id.to_string());
    line(out, "Queue Offset:", &decoded.queue_offset.to_string());
    line(out, "CommitLog Offset:", &decoded.physical_offset.to_string());
    line(out, "Reconsume Times:", &decoded.reconsume_times.to_string());
    line(out, "Born Timestamp:", &local_time(decoded.born_timestamp, true));
    line(out, "Store Timestamp:", &local_time(decoded.store_timestamp, true));
    line(out, "Born Host:", &decoded.born_host.to_string());
    line(out, "Store Host:", &decoded.store_host.to_string());
    line(out, "System Flag:", &decoded.sys_flag.to_string());
    let mut pairs: Vec<String> = decoded
        .properties
        .split('\u{2}')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.replacen('\u{1}', "=", 1))
        .collect();
    pairs.sort();
    line(out, "Properties:", &format!("{{{}}}", pairs.join(", ")));
    match written {
        Ok(()) => line(out, "Message Body Path:", &body_path.display().to_string()),
        Err(error) => line(out, "Message Body Path:", &format!("(not written: {error})")),
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "No consumer group consumed this message (message tracks are not computed).");
    Ok(())
}
