// suback.test.js - issue 9's "SUBACK window": on the real hub a subscription is in effect once the
// device holds its SUBACK. Many devices each cycle UNSUBSCRIBE, SUBSCRIBE and then, the moment the
// SUBACK arrives, the service changes desired properties or calls a method: nothing may be lost,
// and no call may answer DeviceNotOnline. Raw MQTT.js clients (the SDK's own MQTT library) so the
// test controls the exact moment of SUBACK.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const fs = require('node:fs');
const { useHub, createDevice, rawMqtt, rest, withTimeout, uid, serviceToken, waitFor } = require('./lib/hub');

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

/** A REST call on a kept-alive connection: after the first call it is one write, so it reaches the
 * hub as soon after the SUBACK as a real back end's would. */
function fastRest(hub, agent, method, path, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: hub.host, port: 443, method, path: `${path}?api-version=2021-04-12`, agent, ca: agent.options.ca,
      headers: {
        Authorization: serviceToken(hub), 'Content-Length': Buffer.byteLength(data),
        ...(data ? { 'Content-Type': 'application/json' } : {}), ...headers,
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { json = null; }
        resolve({ status: res.statusCode, body: text, json });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function devices(hub, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const d = await createDevice(hub, uid('sub'));
    const { client } = await rawMqtt(hub, d.deviceId, d.key, { clean: true });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: fs.readFileSync(hub.ca) });
    out.push({ ...d, client, agent });
  }
  return out;
}

/** Keeps the hub's link thread busy, as a real hub under load is: devices sending reported
 * properties (each one a store write on the thread that also reads the plugin's subscribe events).
 * Each device keeps at most 4 patches unanswered, as the SDKs wait for theirs: a loaded hub, not an
 * overloaded one, on any build (an open-loop flood outran a TSan daemon and only measured the
 * broker's queue). Returns stop(). */
async function background(hub, n) {
  const devs = await devices(hub, n);
  const INFLIGHT = 4;
  let running = true;
  const loops = devs.map(async (d) => {
    let rid = 0;
    let inflight = 0;
    d.client.on('message', (topic) => { if (topic.startsWith('$iothub/twin/res/')) inflight -= 1; });
    await sub(d.client, '$iothub/twin/res/#');
    while (running) {
      if (inflight < INFLIGHT) {
        rid += 1;
        inflight += 1;
        d.client.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid}`, JSON.stringify({ load: rid, pad: 'x'.repeat(500) }));
      }
      // at most about 500 patches/s per device (the real hub throttles long before)
      await new Promise((r) => setTimeout(r, 2));
    }
  });
  return async () => { running = false; await Promise.all(loops); };
}

test('desired changes sent right after SUBACK all reach the device (40 devices x 25 cycles)', { timeout: 180000 }, async () => {
  const hub = await ctx.ready;
  const devs = await devices(hub, 40);
  const stop = await background(hub, 8);
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
    await fastRest(hub, d.agent, 'GET', `/twins/${d.deviceId}`); // opens the kept-alive connection
    for (let i = 0; i < CYCLES; i++) {
      await unsub(d.client, DESIRED);
      await sub(d.client, DESIRED); // resolves on SUBACK
      const res = await fastRest(hub, d.agent, 'PATCH', `/twins/${d.deviceId}`,
        { properties: { desired: { n: i } } }, { 'If-Match': '*' });
      assert.equal(res.status, 200, res.body);
      const until = Date.now() + 5000;
      while (!seen.has(i) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      if (!seen.has(i)) lost += 1;
    }
  }));
  await stop();
  assert.equal(lost, 0, `${lost} of ${devs.length * CYCLES} desired changes never reached their device`);
});

test('a method call right after SUBACK reaches the device, never DeviceNotOnline (40 devices x 10 cycles)', { timeout: 180000 }, async () => {
  const hub = await ctx.ready;
  const devs = await devices(hub, 40);
  const stop = await background(hub, 8);
  const CYCLES = 10;
  const failures = [];
  await Promise.all(devs.map(async (d) => {
    d.client.on('message', (topic, payload) => {
      const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
      if (m) d.client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, payload);
    });
    await fastRest(hub, d.agent, 'GET', `/twins/${d.deviceId}`);
    for (let i = 0; i < CYCLES; i++) {
      await unsub(d.client, METHODS);
      await sub(d.client, METHODS);
      const res = await fastRest(hub, d.agent, 'POST', `/twins/${d.deviceId}/methods`,
        { methodName: 'echo', payload: { i }, responseTimeoutInSeconds: 10 });
      if (res.status !== 200 || !res.json || res.json.payload.i !== i) failures.push(`${d.deviceId}#${i}: ${res.status} ${res.body}`);
    }
  }));
  await stop();
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
  assert.ok(Date.now() - started < 3000, `DeviceNotOnline took ${Date.now() - started} ms`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(pushes, 0);
});

// The mirror window: once the device holds its UNSUBACK, the subscription is gone on the real hub.
// The hub's deliveries to a device are targeted (they bypass the broker's subscription match), so
// the daemon's view, which learns of the UNSUBSCRIBE asynchronously, must not decide alone.
test('nothing reaches a device after its UNSUBACK; calls answer DeviceNotOnline (40 devices x 10 cycles)', { timeout: 180000 }, async () => {
  const hub = await ctx.ready;
  const devs = await devices(hub, 40);
  const stop = await background(hub, 8);
  const CYCLES = 10;
  const failures = [];
  await Promise.all(devs.map(async (d) => {
    let subscribed = false;
    d.client.on('message', (topic, payload) => {
      if (!subscribed && (topic.startsWith('$iothub/twin/PATCH/properties/desired/') || topic.startsWith('$iothub/methods/POST/'))) {
        failures.push(`${d.deviceId}: got ${topic} after UNSUBACK`);
      }
      const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
      if (m) d.client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, payload);
    });
    await fastRest(hub, d.agent, 'GET', `/twins/${d.deviceId}`);
    for (let i = 0; i < CYCLES; i++) {
      await sub(d.client, METHODS);
      await sub(d.client, DESIRED);
      subscribed = true;
      // both in effect: the daemon has seen them (a call answered proves it)
      const ok = await fastRest(hub, d.agent, 'POST', `/twins/${d.deviceId}/methods`,
        { methodName: 'echo', payload: { i }, responseTimeoutInSeconds: 10 });
      if (ok.status !== 200) failures.push(`${d.deviceId}#${i}: subscribed call ${ok.status} ${ok.body}`);
      await unsub(d.client, [METHODS, DESIRED]); // one UNSUBSCRIBE, one UNSUBACK
      subscribed = false;
      // right after the UNSUBACK, in turn first or second
      const patch = () => fastRest(hub, d.agent, 'PATCH', `/twins/${d.deviceId}`,
        { properties: { desired: { n: i } } }, { 'If-Match': '*' });
      const invoke = () => fastRest(hub, d.agent, 'POST', `/twins/${d.deviceId}/methods`,
        { methodName: 'echo', payload: { i }, responseTimeoutInSeconds: 10 });
      let res;
      let call;
      if (i % 2 === 0) {
        call = await invoke();
        res = await patch();
      } else {
        res = await patch();
        call = await invoke();
      }
      if (res.status !== 200) failures.push(`${d.deviceId}#${i}: PATCH ${res.status} ${res.body}`);
      if (call.status !== 404 || !/404103/.test(call.body)) failures.push(`${d.deviceId}#${i}: call after UNSUBACK ${call.status} ${call.body}`);
    }
    // late deliveries of the last cycle's change would arrive here
    await new Promise((r) => setTimeout(r, 300));
  }));
  await stop();
  assert.deepEqual(failures, []);
});

// The same window for cloud-to-device messages: a message sent right after the UNSUBACK must not
// reach the device; it stays queued (a real hub keeps it until the device takes it) and arrives
// once the device subscribes again. Nothing lost, nothing twice, nothing while unsubscribed.
test('C2D sent right after UNSUBACK stays queued and arrives after the next SUBACK, once (40 devices x 10 cycles)', { timeout: 180000 }, async () => {
  const hub = await ctx.ready;
  const devs = await devices(hub, 40);
  const stop = await background(hub, 8);
  const CYCLES = 10;
  const failures = [];
  const send = (d, data) => fastRest(hub, d.agent, 'POST', `/mockhub/devices/${d.deviceId}/messages`, { data });
  await Promise.all(devs.map(async (d) => {
    const c2d = `devices/${d.deviceId}/messages/devicebound/#`;
    const got = [];
    let subscribed = false;
    d.client.on('message', (topic, payload) => {
      if (!topic.startsWith(`devices/${d.deviceId}/messages/devicebound/`)) return;
      if (!subscribed) failures.push(`${d.deviceId}: got ${payload} after UNSUBACK`);
      got.push(payload.toString());
    });
    const until = (what, fn) => waitFor(fn, { timeout: 15000, interval: 5, what: `${d.deviceId}: ${what}` })
      .catch((e) => { throw new Error(`${e.message}; got ${JSON.stringify(got)}`); });
    const sent = [];
    for (let i = 0; i < CYCLES; i++) {
      await sub(d.client, c2d);
      subscribed = true;
      // in effect: the daemon has seen it (a message arrived); last cycle's queued one comes too
      const s = `s${i}`;
      const r1 = await send(d, s);
      if (r1.status !== 200 && r1.status !== 204) failures.push(`${d.deviceId}#${i}: send ${r1.status} ${r1.body}`);
      sent.push(s);
      await until(`${sent.join(',')}`, () => sent.every((m) => got.includes(m)));
      await unsub(d.client, c2d);
      subscribed = false;
      const u = `u${i}`;
      const r2 = await send(d, u);
      if (r2.status !== 200 && r2.status !== 204) failures.push(`${d.deviceId}#${i}: send after UNSUBACK ${r2.status} ${r2.body}`);
      sent.push(u);
      await new Promise((r) => setTimeout(r, 20));
    }
    await sub(d.client, c2d);
    subscribed = true;
    await until('the last queued message', () => sent.every((m) => got.includes(m)));
    await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive here
    const twice = got.filter((m, k) => got.indexOf(m) !== k);
    if (twice.length) failures.push(`${d.deviceId}: got twice ${twice}`);
    // completed once the hub reads the broker's answer, which queues behind the loading devices'
    // traffic: shortly after the device has the message, not before
    const count = async () => (await fastRest(hub, d.agent, 'GET', `/devices/${d.deviceId}`)).json?.cloudToDeviceMessageCount;
    await waitFor(async () => (await count()) === 0, { timeout: 15000, interval: 50, what: 'count 0' })
      .catch(async () => failures.push(`${d.deviceId}: ${await count()} still queued after 15 s`));
  }));
  await stop();
  assert.deepEqual(failures, []);
});
