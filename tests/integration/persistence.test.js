// persistence.test.js - a restart of the hub on the same data dir keeps devices, keys, statuses and
// twins (tags, desired, reported, versions, etags), and a device that reconnects with its persistent
// session (clean session off, as the SDK does) still gets method calls and desired pushes.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, rest, rawMqtt, sleep,
} = require('./lib/hub');

const ctx = useHub();

function reportedUpdate(twin, patch) {
  return withTimeout(new Promise((res, rej) => twin.properties.reported.update(patch, (e) => (e ? rej(e) : res()))),
    10000, `reported.update(${JSON.stringify(patch)})`);
}

async function rawState(hub, ids) {
  const out = {};
  for (const id of ids) {
    const d = await rest(hub, 'GET', `/devices/${encodeURIComponent(id)}`);
    const t = await rest(hub, 'GET', `/twins/${encodeURIComponent(id)}`);
    assert.equal(d.status, 200, `GET /devices/${id} -> ${d.status} ${d.body}`);
    assert.equal(t.status, 200, `GET /twins/${id} -> ${t.status} ${t.body}`);
    const dev = { ...d.json };
    const twin = { ...t.json };
    for (const k of ['connectionState', 'connectionStateUpdatedTime', 'lastActivityTime']) { delete dev[k]; delete twin[k]; }
    out[id] = { dev, twin };
  }
  return out;
}

test('devices, keys, statuses and twins survive a restart', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const a = await createDevice(hub, uid('pers-a'));
  const b = await createDevice(hub, uid('pers-b'));
  const gone = await createDevice(hub, uid('pers-gone'));
  await reg.updateTwin(a.deviceId, { tags: { site: 'lab', n: 1 }, properties: { desired: { interval: 30, nested: { x: [1, 2, 3] } } } }, '*');
  await reg.updateTwin(a.deviceId, { properties: { desired: { interval: 31 } } }, '*');
  const client = await openDevice(hub, a.connectionString);
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  await reportedUpdate(twin, { fw: '2.0', unicode: 'ünï ✓' });
  await reportedUpdate(twin, { fw: '2.1' });
  await client.close();
  const { responseBody: bdev } = await reg.get(b.deviceId);
  bdev.status = 'disabled';
  await reg.update(bdev);
  await reg.delete(gone.deviceId);
  const before = await rawState(hub, [a.deviceId, b.deviceId]);
  assert.equal(before[a.deviceId].twin.properties.reported.$version, 3);

  await hub.restart();

  const after = await rawState(hub, [a.deviceId, b.deviceId]);
  assert.deepEqual(after, before, 'state after restart');
  const err = await reg.get(gone.deviceId).then(() => null, (e) => e);
  assert.ok(err && err.name === 'DeviceNotFoundError', 'a deleted device stays deleted');
  // keys still work, and the etag/version counters continue where they were
  const c2 = await openDevice(hub, a.connectionString);
  const t2 = await withTimeout(c2.getTwin(), 10000, 'getTwin after restart');
  assert.equal(t2.properties.reported.fw, '2.1');
  assert.equal(t2.properties.desired.interval, 31);
  await reportedUpdate(t2, { fw: '2.2' });
  const u = (await reg.updateTwin(a.deviceId, { tags: { n: 2 } }, before[a.deviceId].twin.etag)).responseBody;
  assert.equal(u.properties.reported.$version, 4);
  assert.notEqual(u.etag, before[a.deviceId].twin.etag);
  // the disabled device is still refused
  const c3 = await rawMqtt(hub, b.deviceId, b.key).then(() => null, (e) => e);
  assert.ok(c3, 'disabled device connected after restart');
});

test('a connected SDK device reconnects after a hub restart and still gets method calls and desired pushes', { timeout: 120000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const d = await createDevice(hub, uid('pers-conn'));
  const client = await openDevice(hub, d.connectionString);
  let calls = 0;
  client.onDeviceMethod('rebootDevice', (req, res) => { calls += 1; res.send(200, { calls }); });
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  const desired = [];
  twin.on('properties.desired', (p) => desired.push(JSON.parse(JSON.stringify(p))));
  await withTimeout(new Promise((res, rej) => twin.get((e) => (e ? rej(e) : res()))), 10000, 'barrier');
  const svc = serviceClient(hub);
  const r1 = await withTimeout(svc.invokeDeviceMethod(d.deviceId, { methodName: 'rebootDevice', payload: {} }), 15000, 'invoke before');
  assert.deepEqual(r1.result, { status: 200, payload: { calls: 1 } });

  await hub.restart();
  // The SDK (Mqtt transport) reconnects on its own after a retryable disconnect (no 'disconnect'
  // event is emitted then); the test only waits for calls to get through again.
  const r2 = await waitFor(async () => {
    const { result } = await svc.invokeDeviceMethod(d.deviceId, { methodName: 'rebootDevice', payload: {}, connectTimeoutInSeconds: 5 });
    return result;
  }, { timeout: 90000, interval: 1000, what: 'a method call to succeed after the restart' });
  assert.equal(r2.status, 200);
  // the persistent session kept the twin subscriptions: GET, reported and desired still work
  await withTimeout(new Promise((res, rej) => twin.get((e) => (e ? rej(e) : res()))), 10000, 'twin.get after restart');
  await reportedUpdate(twin, { afterRestart: true });
  await reg.updateTwin(d.deviceId, { properties: { desired: { afterRestart: 1 } } }, '*');
  await waitFor(() => desired.some((p) => p.afterRestart === 1), { timeout: 10000, what: 'desired push after restart' });
  const t = (await reg.getTwin(d.deviceId)).responseBody;
  assert.equal(t.properties.reported.afterRestart, true);
  assert.equal(t.connectionState, 'Connected');
});

test('a raw clean-session-off device keeps its subscriptions across a restart without resubscribing', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('pers-raw'));
  const first = await rawMqtt(hub, d.deviceId, d.key);
  for (const f of ['$iothub/methods/POST/#', '$iothub/twin/res/#']) {
    const g = await new Promise((res, rej) => first.client.subscribe(f, { qos: 0 }, (e, gr) => (e ? rej(e) : res(gr))));
    assert.equal(g[0].qos, 0, `SUBSCRIBE ${f} granted`);
  }
  first.client.end(true);
  await sleep(200);
  await hub.restart();
  // reconnect with clean=false and do NOT subscribe again
  const second = await rawMqtt(hub, d.deviceId, d.key);
  assert.equal(second.connack.sessionPresent, true, 'the broker kept the session');
  second.client.on('message', (topic, payload) => {
    const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (m) second.client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, JSON.stringify({ echo: JSON.parse(payload.toString() || 'null') }));
  });
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(d.deviceId, {
    methodName: 'ping', payload: { n: 7 }, connectTimeoutInSeconds: 5,
  }), 20000, 'invoke on the resumed session');
  assert.deepEqual(result, { status: 200, payload: { echo: { n: 7 } } });
});

test('a raw clean-session-off device that reconnects (no restart) without resubscribing still gets method calls', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('pers-resume'));
  const first = await rawMqtt(hub, d.deviceId, d.key);
  const g = await new Promise((res, rej) => first.client.subscribe('$iothub/methods/POST/#', { qos: 0 }, (e, gr) => (e ? rej(e) : res(gr))));
  assert.equal(g[0].qos, 0);
  first.client.end(true);
  await sleep(300);
  const second = await rawMqtt(hub, d.deviceId, d.key);
  assert.equal(second.connack.sessionPresent, true, 'the broker kept the session');
  second.client.on('message', (topic) => {
    const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (m) second.client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, '{"resumed":true}');
  });
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(d.deviceId, {
    methodName: 'ping', payload: null, connectTimeoutInSeconds: 5,
  }), 20000, 'invoke on the resumed session');
  assert.deepEqual(result, { status: 200, payload: { resumed: true } });
});
