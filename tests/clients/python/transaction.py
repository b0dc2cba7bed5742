#!/usr/bin/env python3
"""Transactional producer for pip `rocketmq-client-python==2.0.0` (the binding of
rocketmq-client-cpp 2.x; it loads librocketmq.so from LD_LIBRARY_PATH). Sends COUNT messages
(default 6) to TOPIC in transactions; the local transaction of message i answers COMMIT when
i % 3 == 0, ROLLBACK when i % 3 == 1 and UNKNOWN when i % 3 == 2. Key k<i>, tag TagA, body
"Tx <i>". Prints `TX_RESULT <i> <status> <msg id> <offset>` per send.
"""
import os
import time

from rocketmq.client import Message, TransactionMQProducer, TransactionStatus

DECISIONS = [TransactionStatus.COMMIT, TransactionStatus.ROLLBACK, TransactionStatus.UNKNOWN]


def decide(message):
    index = int(message.body.decode().split(" ")[1])
    return DECISIONS[index % 3]


def check(message):
    # A check-back asks again; the answer is the same as the first one.
    return decide(message)


def execute(message, _user_args):
    return decide(message)


producer = TransactionMQProducer(os.environ.get("GROUP", "TxProducerGroup"), check)
producer.set_name_server_address(os.environ.get("NAMESRV", "127.0.0.1:9876"))
producer.start()
topic = os.environ.get("TOPIC", "TxTopic")
for i in range(int(os.environ.get("COUNT", "6"))):
    message = Message(topic)
    message.set_tags("TagA")
    message.set_keys(f"k{i}")
    message.set_body(f"Tx {i}")
    result = producer.send_message_in_transaction(message, execute, None)
    print("TX_RESULT", i, result.status, result.msg_id, result.offset, flush=True)
time.sleep(1)  # END_TRANSACTION is oneway: let it leave before shutdown
producer.shutdown()
