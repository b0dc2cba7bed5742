'use strict';
// ali-ons 3.12.0 push consumer that stops once EXPECT messages arrived (or after RUN_SECS).
// Prints one RECEIVED line per message. Env: NAMESRV, GROUP (default TestConsumerGroup),
// TOPIC (default TestTopic), TAGS (default *), EXPECT (default 3), RUN_SECS (default 60),
// BROADCAST=1 for broadcasting.
const { Consumer } = require('ali-ons');

// Several nameservers: `host:port;host:port`, as Java's namesrvAddr.
const nameSrv = (process.env.NAMESRV || '127.0.0.1:9876').split(';');
const expect = Number(process.env.EXPECT || 3);
const consumer = new Consumer({
  httpclient: { request() { throw new Error('no http'); } },
  nameSrv,
  consumerGroup: process.env.GROUP || 'TestConsumerGroup',
  isBroadcast: !!process.env.BROADCAST,
});
let received = 0;
async function stop(code) { await consumer.close(); process.exit(code); }
consumer.on('error', err => console.error('consumer error', err.message));
consumer.subscribe(process.env.TOPIC || 'TestTopic', process.env.TAGS || '*', async msg => {
  received += 1;
  console.log(`RECEIVED msgId=${msg.msgId} queueId=${msg.queueId} tags=${msg.tags} keys=${msg.keys} body=${msg.body.toString()}`);
  if (received >= expect) setTimeout(() => stop(0), 200);
});
setTimeout(() => stop(0), Number(process.env.RUN_SECS || 60) * 1000);
