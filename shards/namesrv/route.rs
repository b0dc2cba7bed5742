//! GET_ROUTEINFO_BY_TOPIC (105), GET_BROKER_CLUSTER_INFO (106), and the topic lists: 206, 224,
//! 304, 311, 312, 313 (protocol §6.4–§6.5).

use crate::protocol::bodies::{self, TopicList};
use crate::protocol::codes::version;
use crate::protocol::headers::{GetRouteInfoRequestHeader, GetTopicsByClusterRequestHeader};
use crate::protocol::{request, response, Command, Header};

use super::{success, NamesrvShard, RequestError};

/// The KV namespace holding `brokerName:queueNum;…` for order topics.
const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

pub(super) fn handle(shard: &NamesrvShard, request: &Command) -> Result<Command, RequestError> {
    let tables = shard.tables.borrow();
    let topics = match request.code {
        request::GET_ROUTEINFO_BY_TOPIC => return route(shard, request),
        request::GET_BROKER_CLUSTER_INFO => {
            // Java writes ClusterInfo with plain fastjson (unquoted broker ids) to everyone.
            let body = bodies::to_fastjson(&tables.cluster_info());
            return Ok(success(request).with_body(body));
        }
        request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => TopicList { broker_addr: None, topic_list: tables.topics() },
        request::GET_TOPICS_BY_CLUSTER => {
            let header = GetTopicsByClusterRequestHeader::decode(&request.ext_fields)?;
            TopicList { broker_addr: None, topic_list: tables.topics_of_cluster(&header.cluster) }
        }
        request::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
            let (topic_list, broker_addr) = tables.system_topics();
            TopicList { broker_addr, topic_list }
        }
        code => TopicList { broker_addr: None, topic_list: tables.topics_by_flag(code) },
    };
    Ok(success(request).with_body(bodies::to_json(&topics)))
}

fn route(shard: &NamesrvShard, request: &Command) -> Result<Command, RequestError> {
    let header = GetRouteInfoRequestHeader::decode(&request.ext_fields)?;
    let Some(mut route) = shard.tables.borrow().route(&header.topic) else {
        let remark = format!(
            "No topic route info in name server for the topic: {}\nSee http://rocketmq.apache.org/docs/faq/ for further details.",
            header.topic
        );
        return Ok(Command::response_to(request, response::TOPIC_NOT_EXIST).with_remark(remark));
    };
    if shard.options.borrow().order_message_enable {
        route.order_topic_conf = shard.kv.borrow().get(ORDER_TOPIC_CONFIG, &header.topic).map(str::to_string);
    }
    // As the 4.9.4 nameserver: standard JSON for clients at 4.9.4 or later (or that ask for it),
    // fastjson's unquoted integer keys for older ones, which is what they were built against.
    let standard = request.version >= version::V4_9_4 || header.accept_standard_json_only == Some(true);
    let body = if standard { bodies::to_json(&route) } else { bodies::to_fastjson(&route) };
    Ok(success(request).with_body(body))
}
