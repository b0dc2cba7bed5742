#!/usr/bin/env python3
"""Producer for the Python bindings of rocketmq-client-cpp (pip `rocketmq==0.4.4` = cpp 1.0.1,
`rocketmq-python-cvs==2.1.0.3` = cpp 2.1.0). Sends COUNT messages (default 3) to TOPIC
(default TestTopic), tag TagA, key k<i>, body "Hello RocketMQ <i>".

Env: NAMESRV (default 127.0.0.1:9876), TOPIC, COUNT, MODE=sync|oneway|batch|orderly (default sync),
DELAY_LEVEL (a delay level for every message; default none), SHARDING_KEYS (orderly: message i
goes with sharding key i % SHARDING_KEYS, default 1, so keys interleave).
Prints one line per send: SEND_RESULT <i> <status> <msg id> <offset>, or SEND_ERROR <i> ...
"""
import os
import time

from rocketmq.client import Message, Producer

nsrv = os.environ.get("NAMESRV", "127.0.0.1:9876")
topic = os.environ.get("TOPIC", "TestTopic")
mode = os.environ.get("MODE", "sync")

producer = Producer(os.environ.get("GROUP", "TestProducerGroup"))
# The two binding generations name the setter differently.
(getattr(producer, "set_name_server_address", None) or producer.set_namesrv_addr)(nsrv)
producer.set_timeout(3000)
producer.start()
delay_level = int(os.environ.get("DELAY_LEVEL", "0"))


def make_message(i):
    message = Message(topic)
    message.set_tags("TagA")
    message.set_keys(f"k{i}")
    message.set_body(f"Hello RocketMQ {i}")
    if delay_level:
        message.set_delay_time_level(delay_level)
    return message


count = int(os.environ.get("COUNT", "3"))
if mode == "batch":
    result = producer.send_batch([make_message(i) for i in range(count)])
    print("BATCH_RESULT", result.status, result.msg_id, flush=True)
    producer.shutdown()
    raise SystemExit(0)
for i in range(count):
    message = make_message(i)
    try:
        if mode == "orderly":
            # One queue per sharding key (the key picks it), so each key's order is fixed.
            key = i % int(os.environ.get("SHARDING_KEYS", "1"))
            if hasattr(producer, "send_orderly"):
                result = producer.send_orderly(message, key)  # queue = key % queue count
            else:
                result = producer.send_orderly_with_sharding_key(message, f"order-{key}")
            print("SEND_RESULT", i, result.status, result.msg_id, result.offset, time.time(), flush=True)
        elif mode == "oneway":
            producer.send_oneway(message)
            print("ONEWAY", i, flush=True)
        else:
            result = producer.send_sync(message)
            print("SEND_RESULT", i, result.status, result.msg_id, result.offset, time.time(), flush=True)
    except Exception as error:  # report and go on: the test counts every send's outcome
        print("SEND_ERROR", i, type(error).__name__, error, flush=True)
producer.shutdown()
