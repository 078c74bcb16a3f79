// isolation.test.js - devices connected at the same time never see each other's traffic: method
// calls, twin replies and desired pushes reach only their device, and a raw MQTT client cannot
// subscribe its way into another device's topics or the hub's internal ones.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, rawMqtt, sleep,
} = require('./lib/hub');

const ctx = useHub();

function promisifyGet(twin) {
  return new Promise((res, rej) => twin.get((e, t) => (e ? rej(e) : res(t))));
}
function promisifyUpdate(twin, patch) {
  return new Promise((res, rej) => twin.properties.reported.update(patch, (e) => (e ? rej(e) : res())));
}

/** Opens a device that answers method `ping` with its own id and records every call. */
async function pingDevice(hub) {
  const d = await createDevice(hub, uid('iso'));
  const client = await openDevice(hub, d.connectionString);
  const calls = [];
  client.onDeviceMethod('ping', (req, res) => {
    calls.push(req.payload);
    res.send(200, { me: d.deviceId, got: req.payload });
  });
  const desired = [];
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  twin.on('properties.desired', (delta) => desired.push(JSON.parse(JSON.stringify(delta))));
  await withTimeout(promisifyGet(twin), 10000, 'barrier GET');
  return { ...d, client, calls, twin, desired };
}

test('two devices: method calls reach only their target, concurrently and in turn', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const a = await pingDevice(hub);
  const b = await pingDevice(hub);
  const svc = serviceClient(hub);
  const invoke = (dev, i) => withTimeout(svc.invokeDeviceMethod(dev.deviceId, {
    methodName: 'ping', payload: { to: dev.deviceId, i }, responseTimeoutInSeconds: 10,
  }), 15000, `invoke ${dev.deviceId} #${i}`);

  // in turn
  for (let i = 0; i < 5; i += 1) {
    for (const dev of [a, b]) {
      const { result } = await invoke(dev, i);
      assert.equal(result.status, 200);
      assert.equal(result.payload.me, dev.deviceId, 'the answer comes from the target device');
      assert.deepEqual(result.payload.got, { to: dev.deviceId, i });
    }
  }
  // concurrently
  const all = [];
  for (let i = 5; i < 25; i += 1) all.push(invoke(i % 2 ? a : b, i).then(({ result }) => ({ i, result })));
  for (const { i, result } of await Promise.all(all)) {
    const dev = i % 2 ? a : b;
    assert.equal(result.payload.me, dev.deviceId, `call #${i} answered by the wrong device`);
    assert.equal(result.payload.got.i, i);
  }
  assert.ok(a.calls.every((p) => p.to === a.deviceId), `device A saw: ${JSON.stringify(a.calls)}`);
  assert.ok(b.calls.every((p) => p.to === b.deviceId), `device B saw: ${JSON.stringify(b.calls)}`);
  assert.equal(a.calls.length, 15);
  assert.equal(b.calls.length, 15);
});

test('two devices: twin replies and desired pushes reach only their device', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const a = await pingDevice(hub);
  const b = await pingDevice(hub);
  await withTimeout(promisifyUpdate(a.twin, { owner: a.deviceId }), 10000, 'A reported');
  await withTimeout(promisifyUpdate(b.twin, { owner: b.deviceId }), 10000, 'B reported');

  // many concurrent GETs from both devices: each reply is the device's own twin
  const gets = [];
  for (let i = 0; i < 20; i += 1) {
    for (const dev of [a, b]) {
      gets.push(withTimeout(dev.client.getTwin(), 10000, `getTwin ${dev.deviceId}`).then(() => null));
      gets.push(withTimeout(promisifyGet(dev.twin), 10000, `twin.get ${dev.deviceId}`)
        .then((t) => ({ dev, owner: t.properties.reported.owner })));
    }
  }
  for (const r of (await Promise.all(gets)).filter(Boolean)) {
    assert.equal(r.owner, r.dev.deviceId, 'a twin GET answered with another device\'s twin');
  }
  // reported patches stay on their own twin
  const ta = (await reg.getTwin(a.deviceId)).responseBody;
  const tb = (await reg.getTwin(b.deviceId)).responseBody;
  assert.equal(ta.properties.reported.owner, a.deviceId);
  assert.equal(tb.properties.reported.owner, b.deviceId);

  // a desired change for A is pushed to A only
  await reg.updateTwin(a.deviceId, { properties: { desired: { onlyFor: a.deviceId } } }, '*');
  const deadline = Date.now() + 10000;
  while (!a.desired.some((d) => d.onlyFor === a.deviceId) && Date.now() < deadline) await sleep(50);
  assert.ok(a.desired.some((d) => d.onlyFor === a.deviceId), 'A got its desired patch');
  await sleep(500);
  assert.ok(!b.desired.some((d) => d.onlyFor !== undefined), `B saw A's desired patch: ${JSON.stringify(b.desired)}`);
});

test('raw MQTT: wildcard, foreign and internal subscriptions are refused or receive nothing', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const victim = await pingDevice(hub);
  const spy = await createDevice(hub, uid('spy'));
  const { client } = await rawMqtt(hub, spy.deviceId, spy.key);
  const received = [];
  client.on('message', (topic, payload) => received.push(`${topic} ${payload.toString().slice(0, 80)}`));
  let closed = false;
  client.on('close', () => { closed = true; });

  const filters = ['#', '$iothub/#', '$SYS/#', '$mockhub/#', `devices/${victim.deviceId}/#`,
    `devices/${victim.deviceId}/messages/devicebound/#`, '+/+/+', '$iothub/+/+/#'];
  const granted = {};
  for (const f of filters) {
    if (closed) break;
    const g = await withTimeout(new Promise((res) => {
      client.subscribe(f, { qos: 0 }, (err, grants) => res(err ? `error ${err.message}` : grants[0].qos));
    }), 5000, `SUBSCRIBE ${f}`).catch((e) => `no SUBACK (${e.message})`);
    granted[f] = g;
  }
  // every one of these must be refused (SUBACK 0x80) or end the connection; none may be granted
  for (const [f, g] of Object.entries(granted)) {
    assert.ok(g === 128 || typeof g === 'string', `SUBSCRIBE ${f} was granted QoS ${g}`);
  }

  // traffic for the victim: method call, twin GET/PATCH, desired push
  const svc = serviceClient(hub);
  const { result } = await withTimeout(svc.invokeDeviceMethod(victim.deviceId, {
    methodName: 'ping', payload: { secret: 1 }, responseTimeoutInSeconds: 10,
  }), 15000, 'invoke victim');
  assert.equal(result.payload.me, victim.deviceId);
  await withTimeout(promisifyUpdate(victim.twin, { secret: 2 }), 10000, 'victim reported');
  await withTimeout(promisifyGet(victim.twin), 10000, 'victim GET');
  await registry(hub).updateTwin(victim.deviceId, { properties: { desired: { secret: 3 } } }, '*');
  await sleep(1000);
  assert.deepEqual(received, [], 'the spy received someone else\'s traffic');
});

test('raw MQTT: a device cannot publish as another device or answer its method calls', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const victim = await pingDevice(hub);
  const spy = await createDevice(hub, uid('spy2'));
  const { client } = await rawMqtt(hub, spy.deviceId, spy.key);
  const reg = registry(hub);
  // publishing into the victim's namespace and faking method answers (small rids) must have no effect
  await new Promise((res) => client.publish(`devices/${victim.deviceId}/messages/events/`, 'x', { qos: 0 }, res));
  for (let rid = 0; rid < 5; rid += 1) {
    await new Promise((res) => client.publish(`$iothub/methods/res/500/?$rid=${rid}`, '{"fake":true}', { qos: 0 }, res));
  }
  await new Promise((res) => client.publish('$mockhub/to/' + victim.deviceId + '/$iothub/twin/res/200/?$rid=1', '{}', { qos: 0 }, res));
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(victim.deviceId, {
    methodName: 'ping', payload: { real: true }, responseTimeoutInSeconds: 10,
  }), 15000, 'invoke victim');
  assert.deepEqual(result, { status: 200, payload: { me: victim.deviceId, got: { real: true } } });
  const tv = (await reg.getTwin(victim.deviceId)).responseBody;
  assert.equal(tv.properties.reported.$version, 1, 'the victim twin is untouched');
});

test('a second connection with the same device id takes over; the hub keeps serving the new one', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('takeover'));
  const first = await rawMqtt(hub, d.deviceId, d.key);
  let firstClosed = false;
  first.client.on('close', () => { firstClosed = true; });
  const second = await openDevice(hub, d.connectionString);
  second.onDeviceMethod('ping', (req, res) => res.send(200, { second: true }));
  await withTimeout(second.getTwin(), 10000, 'getTwin');
  const deadline = Date.now() + 5000;
  while (!firstClosed && Date.now() < deadline) await sleep(50);
  assert.ok(firstClosed, 'the older connection was dropped by the takeover');
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(d.deviceId, {
    methodName: 'ping', payload: null, responseTimeoutInSeconds: 10,
  }), 15000, 'invoke after takeover');
  assert.deepEqual(result, { status: 200, payload: { second: true } });
  const t = (await registry(hub).getTwin(d.deviceId)).responseBody;
  assert.equal(t.connectionState, 'Connected', 'the old connection\'s disconnect does not mark the device offline');
});
