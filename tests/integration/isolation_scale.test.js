// isolation_scale.test.js - issue 13 part 5: isolation at scale. 100 raw MQTT devices each subscribe to
// every filter the protocol allows (and try the ones it refuses), then each publishes 100 messages
// over every topic a device may publish on (twin GET, reported PATCH, method responses, telemetry)
// while the service sends each of them method calls and desired changes: every message a device
// receives is its own (0 cross-device deliveries), and every request gets exactly its reply.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { useHub, uid, rawMqtt, rest, withTimeout, waitFor, sleep, runDir } = require('./lib/hub');

const ctx = useHub();
const DEVICES = Number(process.env.MOCKHUB_ISO_DEVICES || 100);
const MESSAGES = Number(process.env.MOCKHUB_ISO_MESSAGES || 100);

const ALLOWED = ['$iothub/methods/POST/#', '$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#'];

function subscribe(client, filter) {
  return new Promise((res, rej) => client.subscribe(filter, { qos: 1 }, (e, granted) => (e ? rej(e) : res(granted[0].qos))));
}

async function pool(n, items, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next;
      next += 1;
      await fn(items[i], i);
    }
  }));
}

test(`${DEVICES} devices x ${MESSAGES} messages on every device topic: 0 deliveries across devices`, { timeout: 600000 }, async () => {
  const hub = ctx.hub;
  const tag = uid('isx');
  const ids = Array.from({ length: DEVICES }, (_, i) => `${tag}-${i}`);
  // register in bulk (the registry's import is not the point here)
  const keys = {};
  await pool(8, ids, async (id) => {
    const r = await rest(hub, 'PUT', `/devices/${encodeURIComponent(id)}`, { body: { deviceId: id } });
    assert.equal(r.status, 200, r.body);
    keys[id] = r.json.authentication.symmetricKey.primaryKey;
  });
  const devs = [];
  await pool(10, ids, async (id, i) => {
    const { client } = await rawMqtt(hub, id, keys[id]);
    const d = { id, i, client, got: [], foreign: [], replies: new Set(), methods: 0, desired: 0 };
    client.on('message', (topic, payload) => {
      const text = payload.toString();
      d.got.push(topic);
      // every message names its device: rids carry the device index, payloads its id
      const rid = /\$rid=([^&]+)/.exec(topic);
      if (topic.startsWith('$iothub/twin/res/')) {
        if (!rid || !rid[1].startsWith(`d${i}x`)) d.foreign.push(topic);
        else d.replies.add(rid[1]);
      } else if (topic.startsWith('$iothub/methods/POST/')) {
        if (!text.includes(`"${id}"`)) d.foreign.push(`${topic} ${text}`);
        d.methods += 1;
        client.publish(`$iothub/methods/res/200/?$rid=${rid[1]}`, JSON.stringify({ me: id }));
      } else if (topic.startsWith('$iothub/twin/PATCH/properties/desired/')) {
        if (!text.includes(`"${id}"`)) d.foreign.push(`${topic} ${text}`);
        d.desired += 1;
      } else {
        d.foreign.push(`${topic} ${text}`); // nothing else may arrive (no C2D is sent)
      }
    });
    for (const f of [...ALLOWED, `devices/${id}/messages/devicebound/#`, 'devices/+/messages/devicebound/#']) {
      assert.equal(await subscribe(client, f), 1, `granted ${f}`);
    }
    // refused: everything, other devices' topics, the hub's internal bus
    const other = ids[(i + 1) % ids.length];
    for (const f of ['#', '$iothub/#', `devices/${other}/messages/devicebound/#`, `devices/${other}/#`, '$mockhub/#', 'devices/+/messages/events/#']) {
      assert.equal(await subscribe(client, f), 128, `refused ${f}`);
    }
    devs.push(d);
  });
  devs.sort((a, b) => a.i - b.i);

  // every device publishes MESSAGES messages, cycling through the topics it may publish on, plus a
  // publish on another device's telemetry topic (dropped by the ACL) now and then
  const sent = devs.map(() => new Set());
  await pool(20, devs, async (d) => {
    const other = ids[(d.i + 1) % ids.length];
    for (let n = 0; n < MESSAGES; n++) {
      const rid = `d${d.i}x${n}`;
      switch (n % 4) {
        case 0: d.client.publish(`$iothub/twin/GET/?$rid=${rid}`, ''); sent[d.i].add(rid); break;
        case 1: d.client.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid}`, JSON.stringify({ n, me: d.id })); sent[d.i].add(rid); break;
        case 2: d.client.publish(`$iothub/methods/res/200/?$rid=${900000 + n}`, JSON.stringify({ me: d.id })); break;
        default:
          d.client.publish(`devices/${d.id}/messages/events/n=${n}`, JSON.stringify({ me: d.id }), { qos: 1 });
          if (n % 20 === 3) d.client.publish(`devices/${other}/messages/events/`, JSON.stringify({ me: d.id, spoof: true }));
      }
      if (n % 10 === 9) await sleep(1);
    }
  });
  // meanwhile-ish: the service calls a method on and writes the twin of every device
  await pool(8, devs, async (d) => {
    const m = await rest(hub, 'POST', `/twins/${encodeURIComponent(d.id)}/methods`,
      { body: { methodName: 'who', payload: { target: d.id }, responseTimeoutInSeconds: 30 }, timeout: 40000 });
    assert.equal(m.status, 200, m.body);
    assert.deepEqual(m.json.payload, { me: d.id });
    const t = await rest(hub, 'PATCH', `/twins/${encodeURIComponent(d.id)}`,
      { body: { properties: { desired: { target: d.id } } }, headers: { 'If-Match': '*' } });
    assert.equal(t.status, 200, t.body);
  });
  await waitFor(() => devs.every((d) => d.replies.size === sent[d.i].size && d.desired >= 1),
    { timeout: 120000, interval: 200, what: 'every twin reply and desired push' }).catch((e) => {
    const short = devs.filter((d) => d.replies.size !== sent[d.i].size).slice(0, 5).map((d) => `${d.id}: ${d.replies.size}/${sent[d.i].size}`);
    throw new Error(`${e.message}: ${short.join(', ')}`);
  });
  await sleep(500); // anything stray would arrive by now
  const foreign = devs.flatMap((d) => d.foreign.map((f) => `${d.id} <- ${f}`));
  const received = devs.reduce((a, d) => a + d.got.length, 0);
  const figures = { devices: DEVICES, messagesPerDevice: MESSAGES, published: DEVICES * MESSAGES, received, crossDeliveries: foreign.length };
  fs.writeFileSync(path.join(runDir(), 'isolation_scale.json'), `${JSON.stringify(figures)}\n`);
  console.log(`# isolation at scale: ${JSON.stringify(figures)}`);
  assert.deepEqual(foreign.slice(0, 10), [], 'no device receives another device\'s message');
  for (const d of devs) {
    assert.equal(d.methods, 1, `${d.id} got exactly its method call`);
    assert.equal(d.desired, 1, `${d.id} got exactly its desired push`);
  }
  // telemetry: only the devices' own, none spoofed
  const ev = await rest(hub, 'GET', `/mockhub/events?deviceId=${encodeURIComponent(ids[1])}`);
  assert.equal(ev.status, 200, ev.body);
  assert.ok(ev.body.includes(ids[1]), 'the device\'s own telemetry is stored');
  assert.ok(!ev.body.includes('spoof'), 'a telemetry message published on another device\'s topic was stored');
  await Promise.all(devs.map((d) => withTimeout(new Promise((r) => d.client.end(false, {}, r)), 10000, 'end')));
});
