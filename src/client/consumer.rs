//! A pull consumer on a [`Pipeline`]: PULL_MESSAGE per queue (many queues in flight on one
//! connection), GET_MAX_OFFSET, and a walk over the stored records of a pull body.

use std::time::Duration;

use bytes::Bytes;

use super::pipeline::{Pipeline, PipelineError};
use crate::protocol::headers::{
    OffsetResponseHeader, PullMessageRequestHeader, PullMessageResponseHeader, QueueRequestHeader,
};
use crate::protocol::message::pull_flag;
use crate::protocol::{record, request, response, Command, Header, SerializeType};

/// The outcome of one pull.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub code: i32,
    /// Where the next pull of this queue starts (unchanged on errors).
    pub next_begin_offset: i64,
    pub max_offset: i64,
    /// Stored records, back to back (SUCCESS only).
    pub body: Bytes,
}

/// Pulls on one pipelined connection.
#[derive(Clone)]
pub struct PullConsumer {
    pipeline: Pipeline,
    group: String,
}

impl PullConsumer {
    pub fn new(pipeline: Pipeline, group: &str) -> Self {
        Self { pipeline, group: group.to_string() }
    }

    /// Pulls up to `count_max` messages of every tag from `offset`. With `hold`, an empty
    /// queue parks the pull at the broker (long polling) until a message arrives or `hold` ends.
    pub async fn pull(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        count_max: i32,
        hold: Option<Duration>,
    ) -> Result<Pulled, PipelineError> {
        let mut command = pull_request(&self.group, topic, queue_id, offset, count_max, hold);
        command.serialize_type = SerializeType::Rocketmq;
        let reply = self.pipeline.invoke(&command).await?;
        let mut pulled = Pulled { code: reply.code, next_begin_offset: offset, max_offset: -1, body: Bytes::new() };
        if let Ok(header) = PullMessageResponseHeader::decode(&reply.ext_fields) {
            pulled.next_begin_offset = header.next_begin_offset;
            pulled.max_offset = header.max_offset;
        }
        if reply.code == response::SUCCESS {
            pulled.body = reply.body;
        }
        Ok(pulled)
    }

    /// GET_MAX_OFFSET: the queue offset the next stored message of the queue will get.
    pub async fn max_offset(&self, topic: &str, queue_id: i32) -> Result<i64, PipelineError> {
        let mut command = Command::request(request::GET_MAX_OFFSET, 0);
        command.serialize_type = SerializeType::Rocketmq;
        QueueRequestHeader { topic: topic.into(), queue_id }.encode(&mut command.ext_fields);
        let reply = self.pipeline.invoke(&command).await?;
        if reply.code != response::SUCCESS {
            return Err(PipelineError::Broken(format!(
                "GET_MAX_OFFSET answered {}: {}",
                response::name(reply.code),
                reply.remark.unwrap_or_default()
            )));
        }
        OffsetResponseHeader::decode(&reply.ext_fields)
            .map(|header| header.offset)
            .map_err(|error| PipelineError::Broken(format!("bad GET_MAX_OFFSET reply: {error}")))
    }
}

/// PULL_MESSAGE of up to `count_max` messages of every tag from `offset`, committing nothing.
/// With `hold`, an empty queue parks the pull at the broker (long polling) until a message
/// arrives or `hold` ends.
pub fn pull_request(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    count_max: i32,
    hold: Option<Duration>,
) -> Command {
    let mut command = Command::request(request::PULL_MESSAGE, 0);
    let suspend = if hold.is_some() { pull_flag::SUSPEND } else { 0 };
    PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: count_max,
        sys_flag: pull_flag::SUBSCRIPTION | suspend,
        commit_offset: 0,
        suspend_timeout_millis: hold.map_or(0, |hold| hold.as_millis() as i64),
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    }
    .encode(&mut command.ext_fields);
    command
}

/// The stored records of a pull body, each as its bytes; stops at the first malformed one.
pub fn records(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let (size, _) = record::peek_size_and_magic(rest)?;
        let size = usize::try_from(size).ok().filter(|size| *size >= 8 && *size <= rest.len())?;
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}

/// The first 8 bytes of a stored record's body (the producer's stamp), without decoding the
/// record's other fields.
pub fn body_stamp(stored: &[u8]) -> Option<i64> {
    let decoded = record::decode(stored).ok()?;
    let stamp: [u8; 8] = decoded.body.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(stamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn records_of_a_pull_body_are_walked_and_stamps_read() {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let mut body = Vec::new();
        for stamp in [5i64, 6] {
            let payload = [stamp.to_be_bytes().as_slice(), b"rest"].concat();
            let stored = record::Record {
                body_crc: 0,
                queue_id: 0,
                flag: 0,
                queue_offset: 0,
                physical_offset: 0,
                sys_flag: 0,
                born_timestamp: 0,
                born_host: host,
                store_timestamp: 0,
                store_host: host,
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: &payload,
                topic: "T",
                properties: "",
            };
            record::encode(&stored, &mut body);
        }
        let stamps: Vec<_> = records(&body).map(|stored| body_stamp(stored).unwrap()).collect();
        assert_eq!(stamps, vec![5, 6]);
        assert_eq!(records(&body[..body.len() - 1]).count(), 1, "a truncated record is not returned");
    }
}
