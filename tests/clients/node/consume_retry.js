'use strict';
// ali-ons 3.12.0 push consumer that fails the first delivery of every message (the handler
// throws, so ali-ons sends the message back: CONSUMER_SEND_MSG_BACK) and accepts the redelivery.
// Prints `RECEIVED reconsumeTimes=<n> topic=<t> body=<b>` per delivery and stops once every one
// of EXPECT messages was redelivered (or after RUN_SECS). Env: NAMESRV, GROUP, TOPIC, EXPECT.
const { Consumer } = require('ali-ons');

const expect = Number(process.env.EXPECT || 3);
const consumer = new Consumer({
  httpclient: { request() { throw new Error('no http'); } },
  nameSrv: process.env.NAMESRV || '127.0.0.1:9876',
  consumerGroup: process.env.GROUP || 'RetryGroup',
});
const seen = new Set();
const redelivered = new Set();
async function stop(code) { await consumer.close(); process.exit(code); }
consumer.on('error', err => console.error('consumer error', err.message));
consumer.subscribe(process.env.TOPIC || 'TestTopic', '*', async msg => {
  const body = msg.body.toString();
  console.log(`RECEIVED reconsumeTimes=${msg.reconsumeTimes} topic=${msg.topic} body=${body}`);
  if (!seen.has(body)) {
    seen.add(body);
    throw new Error('fail the first delivery on purpose');
  }
  redelivered.add(body);
  if (redelivered.size >= expect) setTimeout(() => stop(0), 500);
});
setTimeout(() => stop(0), Number(process.env.RUN_SECS || 60) * 1000);
