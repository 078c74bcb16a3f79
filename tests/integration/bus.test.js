// bus.test.js - the internal bus between the broker plugin and the daemon, seen from a second client
// with the daemon's credentials (read from the generated mosquitto.conf): the sync barrier answers
// $mockhub/sync with ev/synced after every event emitted before it, and drops the hub's message.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  useHub, uid, createDevice, withTimeout, waitFor, sleep, rawMqtt,
} = require('./lib/hub');

const ctx = useHub();

/** A client logged in as the daemon (username $mockhub, the per-start secret), subscribed to the
 * plugin's events and to $mockhub/sync itself (to see that the plugin drops it). */
async function busObserver(hub) {
  const conf = fs.readFileSync(path.join(hub.dataDir, 'mosquitto.conf'), 'utf8');
  const secret = /^plugin_opt_hub_secret (\S+)$/m.exec(conf)[1];
  const { client } = await rawMqtt(hub, null, null, {
    clientId: `$mockhub-bustest-${process.pid}`, username: '$mockhub', password: secret, clean: true,
  });
  const seen = [];
  client.on('message', (topic, payload) => seen.push({ topic, body: payload.toString() }));
  await withTimeout(new Promise((res, rej) => {
    client.subscribe(['$mockhub/ev/#', '$mockhub/sync'], { qos: 1 }, (e, g) => (e ? rej(e) : res(g)));
  }), 5000, 'observer SUBSCRIBE');
  return { client, seen };
}

test('sync barrier: ev/synced comes after the events emitted before it; bad tokens get no answer', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const bus = await busObserver(hub);
  const d = await createDevice(hub, uid('bus'));
  const { client: dev } = await rawMqtt(hub, d.deviceId, d.key);
  const suback = await withTimeout(new Promise((res, rej) => {
    dev.subscribe('$iothub/methods/POST/#', { qos: 0 }, (e, g) => (e ? rej(e) : res(g)));
  }), 5000, 'device SUBSCRIBE');
  assert.equal(suback[0].qos, 0);

  const publish = (body) => new Promise((res) => bus.client.publish('$mockhub/sync', body, { qos: 1 }, res));
  await publish('abc'); // malformed: dropped, no answer
  await publish('7');
  await waitFor(() => bus.seen.some((m) => m.topic === '$mockhub/ev/synced'), { timeout: 5000, what: 'ev/synced' });
  const topics = bus.seen.map((m) => m.topic);
  const subscribed = topics.indexOf(`$mockhub/ev/subscribed/${d.deviceId}`);
  const synced = topics.indexOf('$mockhub/ev/synced');
  assert.ok(topics.includes(`$mockhub/ev/connected/${d.deviceId}`), JSON.stringify(topics));
  assert.ok(subscribed >= 0 && subscribed < synced, `subscribed before synced: ${JSON.stringify(topics)}`);
  assert.deepEqual(JSON.parse(bus.seen[subscribed].body).filter, '$iothub/methods/POST/#');
  assert.equal(bus.seen[synced].body, '{"token":7}');

  await publish('8');
  await waitFor(() => bus.seen.filter((m) => m.topic === '$mockhub/ev/synced').length >= 2, { timeout: 5000, what: 'second ev/synced' });
  await sleep(200);
  const tokens = bus.seen.filter((m) => m.topic === '$mockhub/ev/synced').map((m) => JSON.parse(m.body).token);
  assert.deepEqual(tokens, [7, 8], 'one answer per well-formed sync, in order');
  assert.ok(!topics.includes('$mockhub/sync') && !bus.seen.some((m) => m.topic === '$mockhub/sync'),
    'the plugin drops the hub\'s sync message');
});
