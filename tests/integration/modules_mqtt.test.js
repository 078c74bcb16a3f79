// modules_mqtt.test.js - issue 11: module identities on MQTT and MQTT over WebSockets. Microsoft's
// Node ModuleClient (azure-iot-device + Mqtt / MqttWs, unchanged) with a module connection string
// gets its module twin (reported visible in Registry.getModuleTwin, desired pushed after
// Registry.updateModuleTwin), answers invokeDeviceMethod(d, m, ...), and its D2C carries its module
// id in GET /mockhub/events and on the Event Hubs endpoint. A module and its device connected at
// once each get only their own traffic; a raw MQTT client as a module cannot publish or subscribe
// into its device's or a sibling's topics; wrong keys get CONNACK 5; deleting the module or its
// device drops the module's connection.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const {
  useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, sleep, rest,
  rawMqtt, deviceToken, onCleanup,
} = require('./lib/hub');

const ctx = useHub();
const MOCKHUB = path.join(process.env.MOCKHUB_BUILD_DIR || path.resolve(__dirname, '..', '..', 'build'), 'mockhub');

/** Registers module moduleId on deviceId (Registry.addModule); resolves { deviceId, moduleId, key, connectionString }. */
async function createModule(hub, deviceId, moduleId = uid('mod')) {
  const reg = registry(hub);
  await withTimeout(reg.addModule({ deviceId, moduleId }), 10000, `addModule(${deviceId}/${moduleId})`);
  const { responseBody: mod } = await withTimeout(reg.getModule(deviceId, moduleId), 10000, 'getModule');
  const key = mod.authentication.symmetricKey.primaryKey;
  assert.ok(key, 'the module has a generated key');
  return {
    deviceId, moduleId, key, identity: `${deviceId}/${moduleId}`,
    connectionString: `HostName=${hub.host};DeviceId=${deviceId};ModuleId=${moduleId};SharedAccessKey=${key}`,
  };
}

/** An opened ModuleClient over transport ('Mqtt' or 'MqttWs') trusting the hub's CA; closed at the end. */
async function openModule(hub, connectionString, transport = 'Mqtt') {
  const { ModuleClient } = require('azure-iot-device');
  const Transport = require('azure-iot-device-mqtt')[transport];
  const client = ModuleClient.fromConnectionString(connectionString, Transport);
  client.on('error', () => { /* surfaced through the calls */ });
  await withTimeout(client.setOptions({ ca: fs.readFileSync(hub.ca, 'utf8') }), 5000, 'module setOptions');
  onCleanup(() => client.close().catch(() => {}));
  await withTimeout(client.open(), 15000, `ModuleClient(${transport}).open()`);
  return client;
}

/** A module SAS token: sr=urlenc(host/devices/d/modules/m) signed with key. */
function moduleToken(hub, deviceId, moduleId, key, ttl = 3600) {
  const se = Math.ceil(Date.now() / 1000) + ttl;
  const sr = encodeURIComponent(`${hub.host}/devices/${deviceId}/modules/${moduleId}`);
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

/** Raw MQTT.js connection as module m (client id and username "d/m"); password defaults to m's token. */
function rawModule(hub, m, { password } = {}) {
  return rawMqtt(hub, m.deviceId, m.key, {
    clientId: m.identity,
    username: `${hub.host}/${m.identity}/?api-version=2021-04-12`,
    password: password || moduleToken(hub, m.deviceId, m.moduleId, m.key),
  });
}

function twinGet(twin) {
  return new Promise((res, rej) => twin.get((e, t) => (e ? rej(e) : res(t))));
}
function reportedUpdate(twin, patch) {
  return new Promise((res, rej) => twin.properties.reported.update(patch, (e) => (e ? rej(e) : res())));
}

/** SUBSCRIBE on a raw client: the granted QoS (128 = refused) or a string when the connection ended. */
function subscribeGrant(client, filter) {
  return withTimeout(new Promise((res) => {
    client.subscribe(filter, { qos: 0 }, (err, grants) => res(err ? `error ${err.message}` : grants[0].qos));
  }), 5000, `SUBSCRIBE ${filter}`).catch((e) => `no SUBACK (${e.message})`);
}

async function events(hub, query = '') {
  const r = await rest(hub, 'GET', `/mockhub/events${query}`);
  assert.equal(r.status, 200, `GET /mockhub/events${query} -> ${r.status} ${r.body}`);
  return r.json;
}

/** Twin + method exercise shared by the Mqtt and MqttWs tests. */
async function twinAndMethod(hub, transport) {
  const d = await createDevice(hub, uid(`mt-${transport}`));
  const m = await createModule(hub, d.deviceId, 'filter-1');
  const client = await openModule(hub, m.connectionString, transport);
  const reg = registry(hub);

  // twin: GET, reported patch seen by the service, desired pushed to the module
  const twin = await withTimeout(client.getTwin(), 10000, 'module getTwin');
  const desired = [];
  twin.on('properties.desired', (delta) => desired.push(JSON.parse(JSON.stringify(delta))));
  const t0 = await withTimeout(twinGet(twin), 10000, 'module twin.get');
  assert.equal(typeof t0.properties.desired.$version, 'number');
  await withTimeout(reportedUpdate(twin, { stage: transport, n: 1 }), 10000, 'module reported patch');
  const { responseBody: st } = await reg.getModuleTwin(d.deviceId, m.moduleId);
  assert.equal(st.deviceId, d.deviceId);
  assert.equal(st.moduleId, m.moduleId);
  assert.equal(st.properties.reported.stage, transport, 'the reported patch is on the module twin');
  const { responseBody: devTwin } = await reg.getTwin(d.deviceId);
  assert.equal(devTwin.properties.reported.stage, undefined, 'and not on the device twin');
  await reg.updateModuleTwin(d.deviceId, m.moduleId, { properties: { desired: { rate: 7 } } }, '*');
  await waitFor(() => desired.some((x) => x.rate === 7), { timeout: 10000, what: 'the desired push to the module' });

  // method: invokeDeviceMethod(d, m, ...) reaches the module's onMethod
  client.onMethod('ping', (req, res) => res.send(200, { me: m.identity, got: req.payload }));
  await sleep(300); // the method subscription is on the wire before the call (connect timeout 0)
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(d.deviceId, m.moduleId, {
    methodName: 'ping', payload: { x: transport }, responseTimeoutInSeconds: 10,
  }), 15000, 'invoke module method');
  assert.deepEqual(result, { status: 200, payload: { me: m.identity, got: { x: transport } } });
  return { d, m, client };
}

test('Mqtt ModuleClient: module twin get/reported/desired and a module method call', { timeout: 60000 }, async () => {
  await twinAndMethod(ctx.hub, 'Mqtt');
});

test('MqttWs ModuleClient: module twin get/reported/desired and a module method call', { timeout: 60000 }, async () => {
  await twinAndMethod(ctx.hub, 'MqttWs');
});

test('module D2C carries the module id in /mockhub/events and on the Event Hubs endpoint', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { Message } = require('azure-iot-common');
  const d = await createDevice(hub, uid('md2c'));
  const m = await createModule(hub, d.deviceId, 'sensor');
  const client = await openModule(hub, m.connectionString);
  const device = await openDevice(hub, d.connectionString);

  const msg = new Message(JSON.stringify({ t: 1 }));
  msg.messageId = 'mod-1';
  msg.properties.add('k', 'v');
  await withTimeout(client.sendEvent(msg), 10000, 'module sendEvent');
  const out = new Message('out');
  out.messageId = 'mod-2';
  await withTimeout(client.sendOutputEvent('out1', out), 10000, 'module sendOutputEvent');
  const dm = new Message('dev');
  dm.messageId = 'dev-1';
  await withTimeout(device.sendEvent(dm), 10000, 'device sendEvent');

  let evs = [];
  await waitFor(async () => {
    evs = (await events(hub, `?deviceId=${encodeURIComponent(d.deviceId)}`)).map((e) => e.event);
    return evs.length >= 3;
  }, { timeout: 10000, what: 'three events of the device and its module' });
  const byMid = Object.fromEntries(evs.map((e) => [e.properties.system.messageId, e]));
  assert.equal(byMid['mod-1'].origin, d.deviceId);
  assert.equal(byMid['mod-1'].module, m.moduleId);
  assert.equal(byMid['mod-1'].annotations['iothub-connection-device-id'], d.deviceId);
  assert.equal(byMid['mod-1'].annotations['iothub-connection-module-id'], m.moduleId);
  assert.deepEqual(byMid['mod-1'].payload, { t: 1 });
  assert.equal(byMid['mod-1'].properties.application.k, 'v');
  assert.equal(byMid['mod-2'].module, m.moduleId);
  assert.equal(byMid['mod-2'].properties.system['$.on'], 'out1', 'the output name is kept');
  assert.equal(byMid['dev-1'].module, '');
  assert.equal(byMid['dev-1'].annotations['iothub-connection-module-id'], undefined);

  // Event Hubs: the annotation iothub-connection-module-id, only on the module's events
  const r = spawnSync(MOCKHUB, ['connection-string', '--eventhub'],
    { env: { ...process.env, MOCKHUB_DATA_DIR: hub.dataDir, MOCKHUB_HOSTNAME: 'localhost' } });
  assert.equal(r.status, 0, r.stderr.toString());
  const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
  const eh = new EventHubConsumerClient('$default', `${r.stdout.toString().trim()};UseDevelopmentEmulator=true`);
  const got = [];
  const sub = eh.subscribe({
    processEvents: async (batch) => { for (const e of batch) got.push(e); },
    processError: async () => {},
  }, { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 });
  try {
    await waitFor(() => ['mod-1', 'mod-2', 'dev-1'].every((id) => got.some((e) => e.messageId === id)),
      { timeout: 20000, what: 'the three events on the Event Hubs endpoint' });
    const eh1 = got.find((e) => e.messageId === 'mod-1');
    assert.equal(eh1.systemProperties['iothub-connection-device-id'], d.deviceId);
    assert.equal(eh1.systemProperties['iothub-connection-module-id'], m.moduleId);
    assert.match(eh1.systemProperties['iothub-connection-auth-method'], /"scope":"module"/);
    const ehDev = got.find((e) => e.messageId === 'dev-1');
    assert.equal(ehDev.systemProperties['iothub-connection-module-id'], undefined);
  } finally {
    await sub.close();
    await eh.close();
  }
});

test('a module and its device connected at once get only their own method calls and desired pushes', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const svc = serviceClient(hub);
  const d = await createDevice(hub, uid('pair'));
  const m = await createModule(hub, d.deviceId, 'm1');
  const m2 = await createModule(hub, d.deviceId, 'm2');
  const device = await openDevice(hub, d.connectionString);
  const mod = await openModule(hub, m.connectionString);
  const sib = await openModule(hub, m2.connectionString);
  const calls = { device: [], mod: [], sib: [] };
  device.onDeviceMethod('who', (req, res) => { calls.device.push(req.payload); res.send(200, 'device'); });
  mod.onMethod('who', (req, res) => { calls.mod.push(req.payload); res.send(200, 'm1'); });
  sib.onMethod('who', (req, res) => { calls.sib.push(req.payload); res.send(200, 'm2'); });
  const desired = { device: [], mod: [], sib: [] };
  for (const [name, c] of [['device', device], ['mod', mod], ['sib', sib]]) {
    const twin = await withTimeout(c.getTwin(), 10000, `${name} getTwin`);
    twin.on('properties.desired', (delta) => desired[name].push(JSON.parse(JSON.stringify(delta))));
  }
  await sleep(300);
  const all = [];
  for (let i = 0; i < 6; i += 1) {
    all.push(svc.invokeDeviceMethod(d.deviceId, { methodName: 'who', payload: { to: 'device', i }, responseTimeoutInSeconds: 10 })
      .then(({ result }) => assert.equal(result.payload, 'device')));
    all.push(svc.invokeDeviceMethod(d.deviceId, 'm1', { methodName: 'who', payload: { to: 'mod', i }, responseTimeoutInSeconds: 10 })
      .then(({ result }) => assert.equal(result.payload, 'm1')));
    all.push(svc.invokeDeviceMethod(d.deviceId, 'm2', { methodName: 'who', payload: { to: 'sib', i }, responseTimeoutInSeconds: 10 })
      .then(({ result }) => assert.equal(result.payload, 'm2')));
  }
  await withTimeout(Promise.all(all), 20000, 'concurrent method calls');
  for (const name of ['device', 'mod', 'sib']) {
    assert.equal(calls[name].length, 6, `${name} got ${JSON.stringify(calls[name])}`);
    assert.ok(calls[name].every((p) => p.to === name), `${name} got ${JSON.stringify(calls[name])}`);
  }

  await reg.updateModuleTwin(d.deviceId, 'm1', { properties: { desired: { only: 'm1' } } }, '*');
  await reg.updateTwin(d.deviceId, { properties: { desired: { only: 'device' } } }, '*');
  await waitFor(() => desired.mod.some((x) => x.only === 'm1') && desired.device.some((x) => x.only === 'device'),
    { timeout: 10000, what: 'both desired pushes' });
  await sleep(500);
  assert.ok(desired.mod.every((x) => x.only === undefined || x.only === 'm1'), JSON.stringify(desired.mod));
  assert.ok(desired.device.every((x) => x.only === undefined || x.only === 'device'), JSON.stringify(desired.device));
  assert.ok(desired.sib.every((x) => x.only === undefined), `the sibling saw: ${JSON.stringify(desired.sib)}`);
});

test('raw MQTT as a module: no publishing or subscribing into the device\'s or a sibling\'s topics', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('iso'));
  const m = await createModule(hub, d.deviceId, 'spy');
  const sib = await createModule(hub, d.deviceId, 'victim');
  const { client } = await rawModule(hub, m);
  const received = [];
  client.on('message', (topic, payload) => received.push(`${topic} ${payload.toString().slice(0, 60)}`));
  let closed = false;
  client.on('close', () => { closed = true; });

  // its own module set is granted
  for (const f of ['$iothub/methods/POST/#', '$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#',
    `devices/${d.deviceId}/modules/spy/inputs/#`]) {
    assert.equal(await subscribeGrant(client, f), 0, `SUBSCRIBE ${f}`);
  }
  // C2D (no module feature), the device's and the sibling's topics are refused
  const refused = [`devices/${d.deviceId}/modules/spy/messages/devicebound/#`, 'devices/+/messages/devicebound/#',
    `devices/${d.deviceId}/messages/devicebound/#`, `devices/${d.deviceId}/modules/victim/inputs/#`,
    `devices/${d.deviceId}/modules/+/inputs/#`, `devices/${d.deviceId}/#`, '#', '$mockhub/#'];
  for (const f of refused) {
    if (closed) break;
    const g = await subscribeGrant(client, f);
    assert.ok(g === 128 || typeof g === 'string', `SUBSCRIBE ${f} was granted QoS ${g}`);
  }
  assert.ok(!closed, 'refused subscriptions do not end the connection');

  // publishes as the device or the sibling are dropped; its own telemetry is stored
  const pub = (topic, body) => new Promise((res) => client.publish(topic, body, { qos: 1 }, res));
  await pub(`devices/${d.deviceId}/messages/events/%24.mid=as-device`, 'x');
  await pub(`devices/${d.deviceId}/modules/victim/messages/events/%24.mid=as-sibling`, 'x');
  await pub(`devices/${d.deviceId}/modules/spy/messages/events/%24.mid=own`, 'x');
  await waitFor(async () => (await events(hub, `?deviceId=${encodeURIComponent(d.deviceId)}`)).length >= 1,
    { timeout: 10000, what: 'the module\'s own event' });
  await sleep(500);
  const evs = (await events(hub, `?deviceId=${encodeURIComponent(d.deviceId)}`)).map((e) => e.event);
  assert.deepEqual(evs.map((e) => [e.properties.system.messageId, e.module]), [['own', 'spy']]);

  // traffic for the sibling and the device never reaches the spy
  const victim = await openModule(hub, sib.connectionString);
  victim.onMethod('ping', (req, res) => res.send(200, 'victim'));
  const device = await openDevice(hub, d.connectionString);
  device.onDeviceMethod('ping', (req, res) => res.send(200, 'device'));
  await sleep(300);
  const svc = serviceClient(hub);
  assert.equal((await svc.invokeDeviceMethod(d.deviceId, 'victim', { methodName: 'ping', payload: null, responseTimeoutInSeconds: 10 })).result.payload, 'victim');
  assert.equal((await svc.invokeDeviceMethod(d.deviceId, { methodName: 'ping', payload: null, responseTimeoutInSeconds: 10 })).result.payload, 'device');
  await registry(hub).updateModuleTwin(d.deviceId, 'victim', { properties: { desired: { secret: 1 } } }, '*');
  await registry(hub).updateTwin(d.deviceId, { properties: { desired: { secret: 2 } } }, '*');
  await sleep(1000);
  assert.deepEqual(received, [], 'the spy module received someone else\'s traffic');
});

test('module CONNECT: wrong key, the device\'s key, a sibling\'s token get CONNACK 5; a device-scope token signed with the module key is accepted', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('auth'));
  const m = await createModule(hub, d.deviceId, 'm1');
  const sib = await createModule(hub, d.deviceId, 'm2');
  const refusedWith = async (password, what) => {
    const err = await rawModule(hub, m, { password }).then(() => null, (e) => e);
    assert.ok(err, `${what}: the CONNECT was accepted`);
    assert.match(String(err.message), /Not authorized/i, `${what}: ${err.message}`);
    assert.equal(err.code, 5, `${what}: CONNACK ${err.code}`);
  };
  const wrongKey = crypto.randomBytes(32).toString('base64');
  await refusedWith(moduleToken(hub, d.deviceId, 'm1', wrongKey), 'wrong key');
  await refusedWith(moduleToken(hub, d.deviceId, 'm1', d.key), 'the device\'s key');
  await refusedWith(deviceToken(hub, d.deviceId, d.key), 'the device\'s own token');
  await refusedWith(moduleToken(hub, d.deviceId, 'm2', sib.key), 'the sibling\'s token');
  // AZURE: a device-scope sr covers the module; the signature is checked against the module's key
  const { connack } = await rawModule(hub, m, { password: deviceToken(hub, d.deviceId, m.key) });
  assert.equal(connack.returnCode, 0);
  // a device connection with the module's token is refused too
  const err = await rawMqtt(hub, d.deviceId, d.key, { password: moduleToken(hub, d.deviceId, 'm1', m.key) })
    .then(() => null, (e) => e);
  assert.ok(err && err.code === 5, `device with a module token: ${err && err.message}`);
});

test('the module\'s connection is dropped when the module, or its device, is deleted', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const d = await createDevice(hub, uid('del'));
  const m1 = await createModule(hub, d.deviceId, 'm1');
  const m2 = await createModule(hub, d.deviceId, 'm2');
  const a = await rawModule(hub, m1);
  const b = await rawModule(hub, m2);
  let aClosed = false;
  let bClosed = false;
  a.client.on('close', () => { aClosed = true; });
  b.client.on('close', () => { bClosed = true; });

  await reg.removeModule(d.deviceId, 'm1');
  await waitFor(() => aClosed, { timeout: 10000, what: 'm1 dropped after removeModule' });
  await sleep(300);
  assert.ok(!bClosed, 'the sibling stays connected');
  await reg.delete(d.deviceId);
  await waitFor(() => bClosed, { timeout: 10000, what: 'm2 dropped after the device was deleted' });
  // and it cannot come back
  const err = await rawModule(hub, m2).then(() => null, (e) => e);
  assert.ok(err && err.code === 5, `reconnect after delete: ${err && err.message}`);
});

test('a module of a disabled device is dropped and gets CONNACK 3 until the device is enabled again', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const d = await createDevice(hub, uid('off'));
  const m = await createModule(hub, d.deviceId, 'm1');
  const a = await rawModule(hub, m);
  let closed = false;
  a.client.on('close', () => { closed = true; });
  const { responseBody: dev } = await reg.get(d.deviceId);
  await reg.update({ deviceId: d.deviceId, status: 'disabled', etag: dev.etag });
  await waitFor(() => closed, { timeout: 10000, what: 'the module dropped when its device was disabled' });
  const err = await rawModule(hub, m).then(() => null, (e) => e);
  assert.ok(err, 'a module of a disabled device connected');
  assert.equal(err.code, 3, `CONNACK ${err.code}: ${err.message}`);
  const { responseBody: dev2 } = await reg.get(d.deviceId);
  await reg.update({ deviceId: d.deviceId, status: 'enabled', etag: dev2.etag });
  const { connack } = await rawModule(hub, m);
  assert.equal(connack.returnCode, 0);
});
