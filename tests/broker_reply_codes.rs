//! The reply codes a Java client acts on (protocol §11.1), from a running broker, through our
//! own client: MESSAGE_ILLEGAL above maxMessageSize, TOPIC_NOT_EXIST when a topic cannot be
//! auto-created, NO_PERMISSION for system topics and for a broker without write permission,
//! SUCCESS with every required send-reply field, and REQUEST_CODE_NOT_SUPPORTED for unknown
//! codes. Each send carries MSG_REGION and TRACE_ON, which the Java client reads.

mod common;

use std::time::Duration;

use common::*;
use ringmq::client::BlockingClient;
use ringmq::protocol::headers::SendMessageRequestHeaderV2;
use ringmq::protocol::{request, response, Command, Header};

fn send(client: &mut BlockingClient, broker: &Broker, topic: &str, body: Vec<u8>) -> Command {
    send_with_sys_flag(client, broker, topic, body, 0)
}

fn send_with_sys_flag(
    client: &mut BlockingClient,
    broker: &Broker,
    topic: &str,
    body: Vec<u8>,
    sys_flag: i32,
) -> Command {
    let mut command = Command::request(request::SEND_MESSAGE_V2, 0);
    SendMessageRequestHeaderV2 {
        a: "CodesProducer".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: -1,
        f: sys_flag,
        g: 0,
        h: 0,
        i: Some("TAGS\u{1}T".into()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
    }
    .encode(&mut command.ext_fields);
    command.body = body.into();
    client.invoke(&broker.address, command).unwrap()
}

#[test]
fn sends_get_the_codes_java_clients_act_on() {
    let scratch = Scratch::new("reply-codes");
    let broker = start_broker(&scratch, "broker-c", "shardCount=2\nmaxMessageSize=1024\nautoCreateTopicEnable=false");
    let created =
        run_ringmq(&["admin", "updateTopic", "-b", &broker.address, "-t", "Known", "-r", "4", "-w", "4"], &scratch.0);
    assert!(created.status.success());
    let mut client = BlockingClient::new(Duration::from_secs(5));

    let ok = send(&mut client, &broker, "Known", vec![b'x'; 1024]);
    assert_eq!(ok.code, response::SUCCESS, "{:?}", ok.remark);
    for key in ["msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"] {
        assert!(ok.ext_fields.get(key).is_some(), "{key} missing from {:?}", ok.ext_fields);
    }

    let too_large = send(&mut client, &broker, "Known", vec![b'x'; 1025]);
    assert_eq!(too_large.code, response::MESSAGE_ILLEGAL, "{:?}", too_large.remark);
    assert!(too_large.ext_fields.get("MSG_REGION").is_some());

    let unknown = send(&mut client, &broker, "NeverCreated", vec![b'x'; 10]);
    assert_eq!(unknown.code, response::TOPIC_NOT_EXIST, "autoCreateTopicEnable=false: {:?}", unknown.remark);

    let system = send(&mut client, &broker, "SCHEDULE_TOPIC_XXXX", vec![b'x'; 10]);
    assert_eq!(system.code, response::NO_PERMISSION, "{:?}", system.remark);

    let bad_name = send(&mut client, &broker, "bad topic!", vec![b'x'; 10]);
    assert_eq!(bad_name.code, response::SYSTEM_ERROR, "{:?}", bad_name.remark);

    let not_supported = client.invoke(&broker.address, Command::request(9999, 0)).unwrap();
    assert_eq!(not_supported.code, response::REQUEST_CODE_NOT_SUPPORTED);

    // A broker whose write permission is taken away refuses sends.
    let updated = run_ringmq(
        &["admin", "updateBrokerConfig", "-b", &broker.address, "-k", "brokerPermission", "-v", "4"],
        &scratch.0,
    );
    assert!(updated.status.success(), "{}", String::from_utf8_lossy(&updated.stderr));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let refused = send(&mut client, &broker, "Known", vec![b'x'; 10]);
        if refused.code == response::NO_PERMISSION {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sends still accepted: {:?}", refused.code);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Transactions a broker cannot take: rejectTransactionMessage answers a half message with
/// NO_PERMISSION; END_TRANSACTION naming an ordinary message, or with the wrong producer group,
/// gets SYSTEM_ERROR and changes nothing.
#[test]
fn transactions_the_broker_refuses_get_their_codes() {
    let scratch = Scratch::new("reply-codes-tx");
    let broker = start_broker(&scratch, "broker-t", "shardCount=1\nrejectTransactionMessage=true");
    let mut client = BlockingClient::new(Duration::from_secs(5));
    let prepared = send_with_sys_flag(&mut client, &broker, "TxRefused", b"half".to_vec(), 0x4);
    assert_eq!(prepared.code, response::NO_PERMISSION, "{:?}", prepared.remark);
    assert!(prepared.remark.unwrap_or_default().contains("transaction"));

    let plain = send(&mut client, &broker, "TxRefused", b"plain".to_vec());
    assert_eq!(plain.code, response::SUCCESS, "{:?}", plain.remark);
    let offset = ringmq::protocol::message_id::decode(plain.ext_fields.get("msgId").unwrap()).unwrap().1;
    let mut end = Command::request(request::END_TRANSACTION, 0);
    ringmq::protocol::headers::EndTransactionRequestHeader {
        producer_group: "CodesProducer".into(),
        tran_state_table_offset: 0,
        commit_log_offset: offset,
        commit_or_rollback: 8,
        from_transaction_check: Some(false),
        msg_id: None,
        transaction_id: None,
    }
    .encode(&mut end.ext_fields);
    let reply = client.invoke(&broker.address, end).unwrap();
    assert_eq!(reply.code, response::SYSTEM_ERROR, "{:?}", reply.remark);
    assert!(reply.remark.unwrap_or_default().contains("not a prepared transaction message"));
}
