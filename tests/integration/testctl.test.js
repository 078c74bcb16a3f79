// testctl.test.js - issue #12's test control (/mockhub/...), observed through Microsoft's SDKs:
// reset (fast, live connections dropped, pending method calls ended), wait-for (connected, method
// subscription, twin path), faults (a 429 is the SDK's ThrottlingError, ServerBusy is retried,
// latency is added, a dropped device reconnects, refused CONNECTs), owner-only access, and the
// quota mode (MOCKHUB_TIER).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, startHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, rest,
  rejectsWith, serviceToken, sleep, quiet,
} = require('./lib/hub');

const ctx = useHub();

// Clients close at the end of their test: a reset drops every live connection, and an SDK client
// still open would then retry (refused, its device gone) for up to 240 s.
const opened = [];
async function open(hub, cs, options) {
  const client = await openDevice(hub, cs, options);
  opened.push(client);
  return client;
}
test.afterEach(async () => {
  while (opened.length) await opened.pop().close().catch(() => {});
});

const MARK = 'x-mockhub';

async function ctl(hub, method, path, body, opts = {}) {
  const res = await rest(hub, method, path, { body, apiVersion: null, ...opts });
  if (res.status < 400 || res.status === 408) assert.equal(res.headers[MARK], 'test-control', `${method} ${path} is marked`);
  return res;
}

async function clearFaults(hub) {
  const res = await ctl(hub, 'DELETE', '/mockhub/faults');
  assert.equal(res.status, 200);
}

test('test control needs the owner policy', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  for (const [method, path] of [['POST', '/mockhub/reset'], ['GET', '/mockhub/faults'], ['POST', '/mockhub/faults'],
    ['GET', '/mockhub/wait?deviceId=x'], ['POST', '/mockhub/devices/x/drop']]) {
    const none = await rest(hub, method, path, { token: null, apiVersion: null, body: method === 'POST' ? {} : undefined });
    assert.equal(none.status, 401, `${path} without a token`);
    assert.equal(none.headers[MARK], 'test-control', 'even a refusal is marked as mockhub\'s');
    assert.equal(none.headers['iothub-errorcode'], 'IotHubUnauthorizedAccess');
  }
  const res = await rest(hub, 'POST', '/mockhub/reset', {
    apiVersion: null, body: {}, token: serviceToken(hub, { policy: 'service', key: 'AAAAAAAAAAAAAAAAAAAAAA==' }),
  });
  assert.equal(res.status, 401, 'another policy (wrong key here) is refused');
});

test('a fault with error 429 shows as the SDK ThrottlingError, for its device and operation only', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const a = await createDevice(hub, uid('thr'));
  const b = await createDevice(hub, uid('thr'));
  const add = await ctl(hub, 'POST', '/mockhub/faults', { deviceId: a.deviceId, operations: ['twin.read'], error: 429, count: 2 });
  assert.equal(add.status, 201, add.body);
  assert.equal(add.json.error.name, 'ThrottlingException');
  assert.equal(add.json.error.code, 429001);
  assert.equal(add.json.remaining, 2);
  const err = await rejectsWith(reg.getTwin(a.deviceId), 'getTwin under a 429 fault');
  assert.equal(err.name, 'ThrottlingError', quiet(err).message);
  assert.equal(err.response.statusCode, 429);
  assert.equal(err.response.headers['x-mockhub-fault'], String(add.json.id));
  // the other device, and another operation on the same device, are untouched
  await reg.getTwin(b.deviceId);
  await reg.get(a.deviceId);
  const list = await ctl(hub, 'GET', '/mockhub/faults');
  assert.equal(list.json.length, 1);
  assert.equal(list.json[0].hits, 1);
  assert.equal(list.json[0].remaining, 1);
  await rejectsWith(reg.getTwin(a.deviceId), 'second');
  // count 2 used up: the fault is gone
  assert.deepEqual((await ctl(hub, 'GET', '/mockhub/faults')).json, []);
  await reg.getTwin(a.deviceId);
});

test('ServerBusy on direct methods: the service SDK retries and then succeeds', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('busy'));
  const client = await open(hub, connectionString);
  client.onDeviceMethod('ping', (req, res) => res.send(200, { pong: true }));
  const ready = await ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&condition=methods&timeout=10`);
  assert.equal(ready.status, 200, ready.body);
  const add = await ctl(hub, 'POST', '/mockhub/faults', { deviceId, operations: 'method', error: 'ServerBusy', count: 2 });
  assert.equal(add.status, 201, add.body);
  assert.equal(add.json.error.code, 503005);
  const direct = await rest(hub, 'POST', `/twins/${deviceId}/methods`, { body: { methodName: 'ping' } });
  assert.equal(direct.status, 503);
  assert.equal(direct.headers['iothub-errorcode'], 'ServerBusy');
  const t0 = Date.now();
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, { methodName: 'ping' }), 30000, 'invoke');
  assert.equal(result.status, 200);
  assert.deepEqual(result.payload, { pong: true });
  assert.ok(Date.now() - t0 >= 50, 'one retry after a backoff');
  assert.deepEqual((await ctl(hub, 'GET', '/mockhub/faults')).json, [], 'both injected errors used');
});

test('latency is added to the operation and to nothing else', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('slow'));
  let t0 = Date.now();
  await reg.getTwin(deviceId);
  const base = Date.now() - t0;
  const add = await ctl(hub, 'POST', '/mockhub/faults', { deviceId, operations: 'twin', latencyMs: 400 });
  assert.equal(add.status, 201, add.body);
  t0 = Date.now();
  const { responseBody } = await reg.getTwin(deviceId);
  const slow = Date.now() - t0;
  assert.equal(responseBody.deviceId, deviceId, 'the real answer, late');
  assert.ok(slow >= 400, `getTwin took ${slow} ms`);
  t0 = Date.now();
  await reg.updateTwin(deviceId, { properties: { desired: { x: 1 } } }, '*');
  assert.ok(Date.now() - t0 >= 400, 'twin writes too');
  t0 = Date.now();
  await reg.get(deviceId);
  assert.ok(Date.now() - t0 < 400 + base, 'registry reads are not delayed');
  // latency and an error: the error comes late
  await clearFaults(hub);
  await ctl(hub, 'POST', '/mockhub/faults', { deviceId, operations: 'twin.read', latencyMs: 300, error: 'ThrottlingException', count: 1 });
  t0 = Date.now();
  const err = await rejectsWith(reg.getTwin(deviceId), 'late 429');
  assert.equal(err.name, 'ThrottlingError');
  assert.ok(Date.now() - t0 >= 300);
  await clearFaults(hub);
});

test('device.twin faults: the device SDK sees a throttled twin request, and a late reply', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('dtwin'));
  const client = await open(hub, connectionString);
  const add = await ctl(hub, 'POST', '/mockhub/faults', { deviceId, operations: 'device.twin', error: 'ThrottlingException', count: 1 });
  assert.equal(add.status, 201, add.body);
  assert.deepEqual(add.json.operations, ['device.twin']);
  const err = await withTimeout(client.getTwin().then(() => null, (e) => e), 10000, 'getTwin under a fault');
  assert.ok(err, 'the twin request failed');
  assert.match(err.message, /^ThrottlingException: injected by mockhub test control/, `${err.name}: ${err.message}`);
  // used up: the next request works; then a latency fault delays the reply, not the update
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin after the fault');
  await ctl(hub, 'POST', '/mockhub/faults', { deviceId, operations: ['device.twin'], latencyMs: 400, count: 1 });
  const t0 = Date.now();
  await withTimeout(new Promise((resolve, reject) => twin.properties.reported.update({ late: 1 }, (e) => (e ? reject(e) : resolve()))), 10000, 'late report');
  assert.ok(Date.now() - t0 >= 400, `the reply came after ${Date.now() - t0} ms`);
  const { responseBody } = await registry(hub).getTwin(deviceId);
  assert.equal(responseBody.properties.reported.late, 1);
  // "*" means the service operations only: a device-wide fault leaves the device's own requests alone
  await ctl(hub, 'POST', '/mockhub/faults', { deviceId, error: 429 });
  await withTimeout(client.getTwin(), 10000, 'device twin under a service-side fault');
  await clearFaults(hub);
});

test('wait-for: connected, methods, a twin path with a value, and a timeout (408)', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('wait'));
  const timedOut = await ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&timeout=1`);
  assert.equal(timedOut.status, 408);
  assert.equal(timedOut.json.satisfied, false);
  assert.ok(timedOut.json.waitedMs >= 1000);
  const waiting = ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&condition=connected&timeout=20`, undefined, { timeout: 25000 });
  const reported = ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&path=properties.reported.fw&value=${encodeURIComponent('"2.0"')}&timeout=20`,
    undefined, { timeout: 25000 });
  await sleep(200);
  const t0 = Date.now();
  const client = await open(hub, connectionString);
  const conn = await waiting;
  assert.equal(conn.status, 200, conn.body);
  assert.equal(conn.json.satisfied, true);
  assert.equal(conn.json.condition, 'connected');
  assert.ok(Date.now() - t0 < 5000);
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  await withTimeout(new Promise((resolve, reject) => twin.properties.reported.update({ fw: '1.0' }, (e) => (e ? reject(e) : resolve()))), 10000, 'report 1.0');
  await sleep(100);
  await withTimeout(new Promise((resolve, reject) => twin.properties.reported.update({ fw: '2.0' }, (e) => (e ? reject(e) : resolve()))), 10000, 'report 2.0');
  const rep = await reported;
  assert.equal(rep.status, 200, rep.body);
  assert.equal(rep.json.value, '2.0');
  // bad requests
  assert.equal((await rest(hub, 'GET', '/mockhub/wait?deviceId=x&condition=nope', { apiVersion: null })).status, 400);
  assert.equal((await rest(hub, 'GET', '/mockhub/wait?deviceId=x&condition=twin', { apiVersion: null })).status, 400);
  assert.equal((await rest(hub, 'GET', '/mockhub/wait?deviceId=x&path=a&value=notjson', { apiVersion: null })).status, 400);
  assert.equal((await rest(hub, 'GET', '/mockhub/wait?deviceId=x&timeout=301', { apiVersion: null })).status, 400);
});

test('drop: the SDK device reconnects by itself and answers methods again', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('drop'));
  const client = await open(hub, connectionString);
  client.onDeviceMethod('ping', (req, res) => res.send(200, 'pong'));
  await ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&condition=methods&timeout=10`);
  let disconnects = 0;
  client.on('disconnect', () => { disconnects++; });
  const drop = await ctl(hub, 'POST', `/mockhub/devices/${deviceId}/drop`);
  assert.equal(drop.status, 200, drop.body);
  assert.equal(drop.json.wasConnected, true);
  await waitFor(async () => (await registry(hub).get(deviceId)).responseBody.connectionState === 'Disconnected'
    || hub.log().includes(`dropping ${deviceId}`), { timeout: 5000, what: 'dropped' });
  const back = await ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&condition=methods&timeout=30`, undefined, { timeout: 35000 });
  assert.equal(back.status, 200, 'the device came back and its session kept the method subscription');
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, { methodName: 'ping', responseTimeoutInSeconds: 10 }), 15000, 'invoke after reconnect');
  assert.equal(result.payload, 'pong');
  assert.equal(disconnects, 0, 'the SDK hid the drop behind its retry (no disconnect event)');
  const unknown = await ctl(hub, 'POST', '/mockhub/devices/nobody-here/drop');
  assert.equal(unknown.status, 404);
});

test('refuseConnects: the next N CONNECTs get CONNACK 3, then the device gets in', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('refuse'));
  const add = await ctl(hub, 'POST', '/mockhub/faults', { deviceId, refuseConnects: 2 });
  assert.equal(add.status, 201, add.body);
  assert.equal(add.json.refuseConnects, 2);
  const client = await open(hub, connectionString).catch((e) => e);
  if (client instanceof Error) {
    // the SDK's open() may give up on the refusal; it retries by itself otherwise
    const again = await open(hub, connectionString);
    void again;
  }
  const up = await ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&condition=connected&timeout=60`, undefined, { timeout: 65000 });
  assert.equal(up.status, 200, up.body);
  const refusals = hub.log().split('\n').filter((l) => l.includes(`CONNACK 3 for ${deviceId}: refused by test control`));
  assert.equal(refusals.length, 2, 'exactly two refusals');
  assert.equal((await ctl(hub, 'POST', '/mockhub/faults', { refuseConnects: 1 })).status, 400, 'needs a deviceId');
  await clearFaults(hub);
});

test('bad fault definitions get 400 with a clear message', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  for (const [body, re] of [
    [{}, /latencyMs, error or refuseConnects/],
    [{ error: 'NoSuchError' }, /IoT Hub error/],
    [{ error: 429, operations: ['twin.nope'] }, /operations/],
    [{ latencyMs: -1 }, /latencyMs/],
    [{ latencyMs: 1, count: 0 }, /count/],
    [{ deviceId: 'a/b', latencyMs: 1 }, /deviceId/],
  ]) {
    const res = await ctl(hub, 'POST', '/mockhub/faults', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.json.Message, re);
  }
  assert.equal((await ctl(hub, 'POST', '/mockhub/faults', '[1]')).status, 400);
  assert.equal((await ctl(hub, 'DELETE', '/mockhub/faults/999')).status, 404);
  assert.equal((await ctl(hub, 'DELETE', '/mockhub/faults/x')).status, 400);
  const add = await ctl(hub, 'POST', '/mockhub/faults', { latencyMs: 5 });
  assert.equal((await ctl(hub, 'DELETE', `/mockhub/faults/${add.json.id}`)).status, 204);
});

test('reset: empty in well under 100 ms, live connections dropped, pending method calls ended', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  for (let i = 0; i < 20; i++) await createDevice(hub, uid('many'));
  const { deviceId, connectionString } = await createDevice(hub, uid('live'));
  const client = await open(hub, connectionString, { noRetry: true });
  client.onDeviceMethod('hang', () => { /* never answers */ });
  await ctl(hub, 'GET', `/mockhub/wait?deviceId=${deviceId}&condition=methods&timeout=10`);
  const pending = rest(hub, 'POST', `/twins/${deviceId}/methods`, { body: { methodName: 'hang', payload: {}, responseTimeoutInSeconds: 60 }, timeout: 30000 });
  await ctl(hub, 'POST', '/mockhub/faults', { latencyMs: 1, operations: 'query' });
  await sleep(200);
  const disconnected = new Promise((resolve) => client.on('disconnect', resolve));
  const t0 = process.hrtime.bigint();
  const res = await ctl(hub, 'POST', '/mockhub/reset', { to: 'empty' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(res.status, 200, res.body);
  assert.equal(res.json.to, 'empty');
  assert.ok(res.json.droppedConnections >= 1, 'the live device');
  assert.ok(res.json.tookMs < 100, `hub side ${res.json.tookMs} ms`);
  assert.ok(ms < 100, `round trip ${ms} ms`);
  const call = await pending;
  assert.equal(call.status, 404, 'the pending call ended: ' + call.body);
  assert.equal(call.headers['iothub-errorcode'], 'DeviceNotOnline');
  await withTimeout(disconnected, 10000, 'the device saw its connection go');
  const { responseBody } = await reg.list();
  assert.deepEqual(responseBody, []);
  assert.deepEqual((await ctl(hub, 'GET', '/mockhub/faults')).json, [], 'faults cleared');
  const events = await rest(hub, 'GET', '/mockhub/events');
  assert.deepEqual(events.json, []);
  assert.equal((await ctl(hub, 'POST', '/mockhub/reset', { to: 'seed' })).status, 400, 'no seed loaded');
  assert.equal((await ctl(hub, 'POST', '/mockhub/reset', { to: 'other' })).status, 400);
  // the hub works as before
  const again = await createDevice(hub, uid('after'));
  const c2 = await open(hub, again.connectionString);
  void c2;
  const w = await ctl(hub, 'GET', `/mockhub/wait?deviceId=${again.deviceId}&timeout=10`);
  assert.equal(w.status, 200);
});

test('quota mode MOCKHUB_TIER=S1 throttles registry operations like the real tier', { timeout: 60000 }, async () => {
  await ctx.hub.stop(); // the ports are the file's hub's
  const h2 = await startHub({ env: { MOCKHUB_TIER: 'S1' } });
  try {
    assert.match(h2.log(), /quota mode: tier S1 with 1 unit/);
    const reg = registry(h2);
    let throttled = null;
    let ok = 0;
    for (let i = 0; i < 5 && !throttled; i++) {
      try { await reg.get('none-' + i); } catch (e) {
        if (e.name === 'ThrottlingError') throttled = e; else ok++;
      }
    }
    assert.ok(throttled, 'S1 allows 100 registry operations a minute: a burst of 5 is throttled');
    assert.equal(throttled.response.headers['x-mockhub-fault'], 'quota');
    assert.ok(ok >= 1, 'the first call passed (with its 404)');
    await sleep(1200);
    await rejectsWith(reg.get('none-later'), 'a 404 again after a second').then((e) => assert.equal(e.name, 'DeviceNotFoundError'));
  } finally {
    await h2.stop();
  }
  const bad = await startHub({ env: { MOCKHUB_TIER: 'S9' } }).then(() => null, (e) => e);
  assert.ok(bad, 'a bad tier refuses to start');
  assert.match(String(bad.message), /MOCKHUB_TIER must be S1, S2 or S3/);
});
