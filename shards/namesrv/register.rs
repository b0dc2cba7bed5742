//! REGISTER_BROKER (103), UNREGISTER_BROKER (104), QUERY_DATA_VERSION (322): protocol §6.2–§6.3.

use crate::net::Connection;
use crate::protocol::bodies::{self, DataVersion, KvTable, RegisterBrokerBody};
use crate::protocol::headers::{
    BrokerIdentityRequestHeader, QueryDataVersionResponseHeader, RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
};
use crate::protocol::message::crc32;
use crate::protocol::{json, now_ms, request, Command, Header};

use super::{success, NamesrvShard, RequestError};

/// The KV namespace whose table a registration reply carries (order topics).
const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

pub(super) fn handle(
    shard: &NamesrvShard,
    connection: &Connection,
    request: &Command,
) -> Result<Option<Command>, RequestError> {
    match request.code {
        request::REGISTER_BROKER => register(shard, connection, request).map(Some),
        request::UNREGISTER_BROKER => {
            let header = BrokerIdentityRequestHeader::decode(&request.ext_fields)?;
            shard.tables.borrow_mut().unregister(
                &header.cluster_name,
                &header.broker_addr,
                &header.broker_name,
                header.broker_id,
            );
            Ok(Some(success(request)))
        }
        _ => query_data_version(shard, request).map(Some),
    }
}

fn register(shard: &NamesrvShard, connection: &Connection, request: &Command) -> Result<Command, RequestError> {
    let header = RegisterBrokerRequestHeader::decode(&request.ext_fields)?;
    let crc_expected = header.body_crc32.unwrap_or(0);
    if crc_expected != 0 && crc32(&request.body) != crc_expected {
        return Err(RequestError::System("crc32 not match".into()));
    }
    let body = RegisterBrokerBody::decode(&request.body, header.compressed.unwrap_or(false))
        .map_err(|error| RequestError::Body(error.to_string()))?;
    let outcome = shard
        .tables
        .borrow_mut()
        .register(&header, &body, connection.id, now_ms())
        .map_err(|error| RequestError::System(error.to_string()))?;
    let mut reply = success(request);
    RegisterBrokerResponseHeader { ha_server_addr: outcome.ha_server_addr, master_addr: outcome.master_addr }
        .encode(&mut reply.ext_fields);
    if let Some(table) = shard.kv.borrow().namespace(ORDER_TOPIC_CONFIG) {
        reply.body = bodies::to_json(&KvTable { table: table.clone() }).into();
    }
    Ok(reply)
}

fn query_data_version(shard: &NamesrvShard, request: &Command) -> Result<Command, RequestError> {
    let header = BrokerIdentityRequestHeader::decode(&request.ext_fields)?;
    let version: DataVersion =
        json::from_fastjson(&request.body).map_err(|error| RequestError::Body(format!("data version: {error}")))?;
    let (changed, known) = shard.tables.borrow_mut().query_data_version(&header.broker_addr, &version, now_ms());
    let mut reply = success(request).with_body(bodies::to_json(&known));
    QueryDataVersionResponseHeader { changed }.encode(&mut reply.ext_fields);
    Ok(reply)
}
