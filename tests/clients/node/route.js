'use strict';
// Asks a nameserver for a topic's route through ali-ons 3.12.0's own MQClientAPI, the code path
// its producer and consumer use. Prints one line:
//   ROUTE <json of the route as ali-ons parsed it>
//   ERROR <response code> <message>
// and the elapsed milliseconds. Env: NAMESRV (default 127.0.0.1:9876). Arg: topic.
const MQClientAPI = require('ali-ons/lib/mq_client_api');

const nameSrv = process.env.NAMESRV || '127.0.0.1:9876';
const topic = process.argv[2] || 'TestTopic';
const api = new MQClientAPI({
  // The constructor asserts an httpclient even when nameSrv is given; it is never used then.
  httpclient: { request() { throw new Error('no http'); } },
  nameSrv,
  responseTimeout: 3000,
});

(async () => {
  await api.ready();
  const started = Date.now();
  try {
    const route = await api.getTopicRouteInfoFromNameServer(topic, 3000);
    console.log('ROUTE ' + JSON.stringify(route));
  } catch (err) {
    console.log('ERROR ' + err.code + ' ' + String(err.message).split('\n')[0]);
  }
  console.log('ELAPSED_MS ' + (Date.now() - started));
  await api.close();
  process.exit(0);
})().catch(err => { console.error('FAILED', err.stack); process.exit(1); });
