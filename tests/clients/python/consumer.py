#!/usr/bin/env python3
"""Push consumer for the Python bindings of rocketmq-client-cpp. Group GROUP (default
TestConsumerGroup) subscribes TOPIC / TAGS (default TestTopic / TagA) and stops once EXPECT
messages arrived or after RUN_SECS. Each message is printed on its own line, in the order the
callbacks ran, as `RECEIVED|<topic>|<tags>|<keys>|<body>|<time>|<queue id>|<queue offset>`
(one write per line, so lines from the client's threads do not interleave).

Env ORDERLY=1 makes it an orderly consumer. The cpp 2.1.0 push consumer may crash (SIGSEGV) inside shutdown(); the test's verdict comes
from the RECEIVED lines, which are flushed before shutdown begins.
"""
import os
import sys
import threading
import time

from rocketmq.client import PushConsumer

try:
    from rocketmq.client import ConsumeStatus
    CONSUME_OK = ConsumeStatus.CONSUME_SUCCESS
except ImportError:  # rocketmq 0.4.4 and rocketmq-python-cvs: success = the callback returns
    CONSUME_OK = None

nsrv = os.environ.get("NAMESRV", "127.0.0.1:9876")
expect = int(os.environ.get("EXPECT", "3"))
lock = threading.Lock()
received = []
done = threading.Event()

# ORDERLY=1: an orderly consumer, which locks each queue on the broker (LOCK_BATCH_MQ) before
# it consumes it.
consumer = PushConsumer(os.environ.get("GROUP", "TestConsumerGroup"), orderly=os.environ.get("ORDERLY") == "1")
(getattr(consumer, "set_name_server_address", None) or consumer.set_namesrv_addr)(nsrv)


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def on_message(message):
    line = (f"RECEIVED|{text(message.topic)}|{text(message.tags)}|{text(message.keys)}|{text(message.body)}"
            f"|{time.time()}|{message.queue_id}|{message.queue_offset}\n")
    with lock:
        os.write(sys.stdout.fileno(), line.encode())
        received.append(line)
        if len(received) >= expect:
            done.set()
    return CONSUME_OK


consumer.subscribe(os.environ.get("TOPIC", "TestTopic"), on_message, os.environ.get("TAGS", "TagA"))
consumer.start()
done.wait(float(os.environ.get("RUN_SECS", "60")))
time.sleep(0.5)  # let the client commit offsets
os.write(sys.stdout.fileno(), b"SHUTDOWN_BEGIN\n")
consumer.shutdown()
os.write(sys.stdout.fileno(), b"SHUTDOWN_DONE\n")
