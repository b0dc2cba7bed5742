//! DELETE_TOPIC_IN_NAMESRV (216), WIPE_WRITE_PERM_OF_BROKER (205), ADD_WRITE_PERM_OF_BROKER
//! (327): the operator's levers on routes.

use tracing::info;

use crate::protocol::headers::{
    AddWritePermResponseHeader, BrokerNameRequestHeader, DeleteTopicInNamesrvRequestHeader, WipeWritePermResponseHeader,
};
use crate::protocol::{request, Command, Header};

use super::{success, NamesrvShard, RequestError};

pub(super) fn handle(shard: &NamesrvShard, request: &Command) -> Result<Command, RequestError> {
    let mut tables = shard.tables.borrow_mut();
    let mut reply = success(request);
    match request.code {
        request::DELETE_TOPIC_IN_NAMESRV => {
            let header = DeleteTopicInNamesrvRequestHeader::decode(&request.ext_fields)?;
            tables.delete_topic(&header.topic, header.cluster_name.as_deref().filter(|c| !c.is_empty()));
            info!("deleteTopicInNamesrv, topic {}", header.topic);
        }
        request::WIPE_WRITE_PERM_OF_BROKER => {
            let header = BrokerNameRequestHeader::decode(&request.ext_fields)?;
            let wipe_topic_count = tables.wipe_write_perm(&header.broker_name);
            info!("wipe write perm of broker[{}], client: {wipe_topic_count}", header.broker_name);
            WipeWritePermResponseHeader { wipe_topic_count }.encode(&mut reply.ext_fields);
        }
        _ => {
            let header = BrokerNameRequestHeader::decode(&request.ext_fields)?;
            let add_topic_count = tables.add_write_perm(&header.broker_name);
            info!("add write perm of broker[{}], count: {add_topic_count}", header.broker_name);
            AddWritePermResponseHeader { add_topic_count }.encode(&mut reply.ext_fields);
        }
    }
    Ok(reply)
}
