#!/usr/bin/env python3
"""Transactional producer for pip `rocketmq-client-python==2.0.0` (the binding of
rocketmq-client-cpp 2.x; it loads librocketmq.so from LD_LIBRARY_PATH). Sends COUNT messages
(default 6) to TOPIC in transactions; the local transaction of message i answers COMMIT when
i % 3 == 0, ROLLBACK when i % 3 == 1 and UNKNOWN when i % 3 == 2. Key k<i>, tag TagA, body
"Tx <i>". Prints `TX_RESULT <i> <status> <msg id> <offset>` per send.

Check-back mode: LOCAL=UNKNOWN makes every local transaction answer UNKNOWN, CHECK=COMMIT,
ROLLBACK or UNKNOWN is what the check listener answers (printing `CHECKED <i>` per call), and
the producer stays up for STAY_SECS (or until CHECKS_EXPECTED calls arrived) so that the
broker's check-back can reach it.

GATE_FILE: the broker counts a check even when no producer of the group is registered yet (as
Java does), so a test that counts checks first makes the producer known: the driver sends one
opening transaction (body "Tx open", rolled back: it fetches the route and triggers the
heartbeat), prints OPENED, and sends the others once GATE_FILE exists (the test creates it when
the broker lists the producer group's connection).
"""
import os
import time

from rocketmq.client import Message, TransactionMQProducer, TransactionStatus

DECISIONS = [TransactionStatus.COMMIT, TransactionStatus.ROLLBACK, TransactionStatus.UNKNOWN]


def decide(message):
    index = int(message.body.decode().split(" ")[1])
    return DECISIONS[index % 3]


STATUS = {"COMMIT": TransactionStatus.COMMIT, "ROLLBACK": TransactionStatus.ROLLBACK,
          "UNKNOWN": TransactionStatus.UNKNOWN}
LOCAL = os.environ.get("LOCAL")
CHECK = os.environ.get("CHECK")
checks = []


def check(message):
    checks.append(message.body)
    print("CHECKED", message.body.decode().split(" ")[1], flush=True)
    if CHECK:
        return STATUS[CHECK]
    # A check-back asks again; the answer is the same as the first one.
    return decide(message)


def execute(message, _user_args):
    if message.body == b"Tx open":
        return TransactionStatus.ROLLBACK
    if LOCAL:
        return STATUS[LOCAL]
    return decide(message)


producer = TransactionMQProducer(os.environ.get("GROUP", "TxProducerGroup"), check)
producer.set_name_server_address(os.environ.get("NAMESRV", "127.0.0.1:9876"))
producer.start()
topic = os.environ.get("TOPIC", "TxTopic")
gate = os.environ.get("GATE_FILE")
if gate:
    opening = Message(topic)
    opening.set_body("Tx open")
    producer.send_message_in_transaction(opening, execute, None)
    print("OPENED", flush=True)
    opened_at = time.time()
    while not os.path.exists(gate) and time.time() < opened_at + 60:
        time.sleep(0.05)
for i in range(int(os.environ.get("COUNT", "6"))):
    message = Message(topic)
    message.set_tags("TagA")
    message.set_keys(f"k{i}")
    message.set_body(f"Tx {i}")
    result = producer.send_message_in_transaction(message, execute, None)
    print("TX_RESULT", i, result.status, result.msg_id, result.offset, flush=True)
deadline = time.time() + float(os.environ.get("STAY_SECS", "0"))
expected = int(os.environ.get("CHECKS_EXPECTED", "0"))
while time.time() < deadline and (expected == 0 or len(checks) < expected):
    time.sleep(0.2)
time.sleep(1)  # END_TRANSACTION is oneway: let it leave before shutdown
producer.shutdown()
