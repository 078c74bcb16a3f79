// suback.test.js - issue 9's "SUBACK window": on the real hub a subscription is in effect once the
// device holds its SUBACK. Many devices each cycle UNSUBSCRIBE, SUBSCRIBE and then, the moment the
// SUBACK arrives, the service changes desired properties or calls a method: nothing may be lost,
// and no call may answer DeviceNotOnline. Raw MQTT.js clients (the SDK's own MQTT library) so the
// test controls the exact moment of SUBACK.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { useHub, createDevice, rawMqtt, rest, withTimeout, uid } = require('./lib/hub');

const ctx = useHub();
const DESIRED = '$iothub/twin/PATCH/properties/desired/#';
const METHODS = '$iothub/methods/POST/#';

function sub(client, filter) {
  return new Promise((resolve, reject) => client.subscribe(filter, { qos: 0 }, (e, granted) => {
    if (e) reject(e);
    else if (granted[0].qos === 128) reject(new Error(`SUBACK refused ${filter}`));
    else resolve();
  }));
}
function unsub(client, filter) {
  return new Promise((resolve, reject) => client.unsubscribe(filter, (e) => (e ? reject(e) : resolve())));
}

async function devices(hub, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const d = await createDevice(hub, uid('sub'));
    const { client } = await rawMqtt(hub, d.deviceId, d.key, { clean: true });
    out.push({ ...d, client });
  }
  return out;
}

test('desired changes sent right after SUBACK all reach the device (40 devices x 25 cycles)', { timeout: 180000 }, async () => {
  const hub = await ctx.ready;
  const devs = await devices(hub, 40);
  const CYCLES = 25;
  let lost = 0;
  await Promise.all(devs.map(async (d) => {
    const seen = new Set();
    d.client.on('message', (topic, payload) => {
      if (topic.startsWith('$iothub/twin/PATCH/properties/desired/')) {
        const v = JSON.parse(payload.toString()).n;
        if (v !== undefined) seen.add(v);
      }
    });
    for (let i = 0; i < CYCLES; i++) {
      await unsub(d.client, DESIRED);
      await sub(d.client, DESIRED); // resolves on SUBACK
      const res = await rest(hub, 'PATCH', `/twins/${d.deviceId}`, {
        body: { properties: { desired: { n: i } } }, headers: { 'If-Match': '*' },
      });
      assert.equal(res.status, 200, res.body);
      const until = Date.now() + 5000;
      while (!seen.has(i) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      if (!seen.has(i)) lost += 1;
    }
  }));
  assert.equal(lost, 0, `${lost} of ${devs.length * CYCLES} desired changes never reached their device`);
});

test('a method call right after SUBACK reaches the device, never DeviceNotOnline (40 devices x 10 cycles)', { timeout: 180000 }, async () => {
  const hub = await ctx.ready;
  const devs = await devices(hub, 40);
  const CYCLES = 10;
  const failures = [];
  await Promise.all(devs.map(async (d) => {
    d.client.on('message', (topic, payload) => {
      const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
      if (m) d.client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, payload);
    });
    for (let i = 0; i < CYCLES; i++) {
      await unsub(d.client, METHODS);
      await sub(d.client, METHODS);
      const res = await rest(hub, 'POST', `/twins/${d.deviceId}/methods`, {
        body: { methodName: 'echo', payload: { i }, responseTimeoutInSeconds: 10 },
      });
      if (res.status !== 200 || !res.json || res.json.payload.i !== i) failures.push(`${d.deviceId}#${i}: ${res.status} ${res.body}`);
    }
  }));
  assert.deepEqual(failures, []);
});

test('unsubscribed devices get no desired pushes and calls answer DeviceNotOnline at once', async () => {
  const hub = await ctx.ready;
  const [d] = await devices(hub, 1);
  let pushes = 0;
  d.client.on('message', (topic) => { if (topic.startsWith('$iothub/twin/PATCH')) pushes += 1; });
  await sub(d.client, DESIRED);
  await unsub(d.client, DESIRED);
  const res = await rest(hub, 'PATCH', `/twins/${d.deviceId}`, {
    body: { properties: { desired: { x: 1 } } }, headers: { 'If-Match': '*' },
  });
  assert.equal(res.status, 200);
  const started = Date.now();
  const call = await withTimeout(rest(hub, 'POST', `/twins/${d.deviceId}/methods`, {
    body: { methodName: 'm', responseTimeoutInSeconds: 5 },
  }), 5000, 'method call');
  assert.equal(call.status, 404);
  assert.match(call.body, /404103/);
  assert.ok(Date.now() - started < 1000, `DeviceNotOnline took ${Date.now() - started} ms`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(pushes, 0);
});
