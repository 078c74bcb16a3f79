// websocket.test.js - MQTT over WebSockets: Microsoft's Node device SDK with the MqttWs transport
// (wss://localhost:443/$iothub/websocket, port hard-coded by the SDK) works unchanged against the
// hub, on the same port as the REST API, with the same auth and per-device isolation as MQTT/TLS.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const {
  useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, rest, rejectsWith,
  onCleanup, deviceConnectionString,
} = require('./lib/hub');

const ctx = useHub();

/** A device Client over MqttWs trusting the hub's CA; not yet opened. Closed at the end. */
async function wsClient(hub, connectionString) {
  const { Client } = require('azure-iot-device');
  const { MqttWs } = require('azure-iot-device-mqtt');
  const client = Client.fromConnectionString(connectionString, MqttWs);
  client.on('error', () => { /* surfaced through the calls */ });
  await withTimeout(client.setOptions({ ca: fs.readFileSync(hub.ca, 'utf8') }), 5000, 'ws setOptions');
  onCleanup(() => client.close().catch(() => {}));
  return client;
}

async function openWs(hub, connectionString) {
  const client = await wsClient(hub, connectionString);
  await withTimeout(client.open(), 15000, 'MqttWs open()');
  return client;
}

function twinGet(twin) {
  return new Promise((res, rej) => twin.get((e, t) => (e ? rej(e) : res(t))));
}
function reportedUpdate(twin, patch) {
  return new Promise((res, rej) => twin.properties.reported.update(patch, (e) => (e ? rej(e) : res())));
}

/** Opens a ws device that answers method `ping` with its own id, with its twin and desired log. */
async function wsPingDevice(hub) {
  const d = await createDevice(hub, uid('ws'));
  const client = await openWs(hub, d.connectionString);
  const calls = [];
  client.onDeviceMethod('ping', (req, res) => {
    calls.push(req.payload);
    res.send(200, { me: d.deviceId, got: req.payload });
  });
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin over ws');
  const desired = [];
  twin.on('properties.desired', (delta) => desired.push(JSON.parse(JSON.stringify(delta))));
  await withTimeout(twinGet(twin), 10000, 'barrier GET over ws'); // subscriptions are in place
  return { ...d, client, calls, twin, desired };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Raw upgrade request to :443; resolves { status, headers } of the answer (101 or not). */
function rawUpgrade(hub, urlPath, headers) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = https.request({
      host: hub.host, port: 443, path: urlPath, ca: fs.readFileSync(hub.ca), agent: false, headers,
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, headers: res.headers }); });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  }), 10000, `upgrade ${urlPath}`);
}

test('MqttWs device: open, method answered, twin get, reported seen by service, desired received', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const dev = await wsPingDevice(hub);
  const svc = serviceClient(hub);

  const { result } = await withTimeout(svc.invokeDeviceMethod(dev.deviceId, {
    methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 10,
  }), 15000, 'invoke over ws');
  assert.equal(result.status, 200);
  assert.deepEqual(result.payload, { me: dev.deviceId, got: { n: 1 } });

  const twin = await withTimeout(twinGet(dev.twin), 10000, 'twin get');
  assert.equal(typeof twin.properties.desired.$version, 'number');
  assert.equal(typeof twin.properties.reported.$version, 'number');

  await withTimeout(reportedUpdate(dev.twin, { rebootTime: '2024-01-01T00:00:00Z', via: 'ws' }), 10000, 'reported');
  const reg = registry(hub);
  const { responseBody: seen } = await withTimeout(reg.getTwin(dev.deviceId), 10000, 'Registry.getTwin');
  assert.equal(seen.properties.reported.rebootTime, '2024-01-01T00:00:00Z');
  assert.equal(seen.properties.reported.via, 'ws');

  const { responseBody: t0 } = await reg.getTwin(dev.deviceId);
  await withTimeout(reg.updateTwin(dev.deviceId, { properties: { desired: { interval: 42 } } }, t0.etag), 10000,
    'updateTwin');
  await waitFor(() => dev.desired.some((d) => d.interval === 42), { timeout: 10000, what: 'desired push over ws' });

  const { responseBody: device } = await reg.get(dev.deviceId);
  assert.equal(device.connectionState, 'Connected');
});

test('two MqttWs devices are isolated: method calls and twin replies reach only their device', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const a = await wsPingDevice(hub);
  const b = await wsPingDevice(hub);
  const svc = serviceClient(hub);
  const calls = [];
  for (let i = 0; i < 10; i += 1) {
    const dev = i % 2 ? a : b;
    calls.push(withTimeout(svc.invokeDeviceMethod(dev.deviceId, {
      methodName: 'ping', payload: { to: dev.deviceId, i }, responseTimeoutInSeconds: 10,
    }), 15000, `invoke #${i}`).then(({ result }) => ({ dev, i, result })));
  }
  for (const { dev, i, result } of await Promise.all(calls)) {
    assert.equal(result.payload.me, dev.deviceId, `call #${i} answered by the wrong device`);
  }
  assert.ok(a.calls.every((p) => p.to === a.deviceId), `A saw ${JSON.stringify(a.calls)}`);
  assert.ok(b.calls.every((p) => p.to === b.deviceId), `B saw ${JSON.stringify(b.calls)}`);
  assert.equal(a.calls.length + b.calls.length, 10);

  await reportedUpdate(a.twin, { owner: a.deviceId });
  await reportedUpdate(b.twin, { owner: b.deviceId });
  const gets = [];
  for (let i = 0; i < 5; i += 1) for (const dev of [a, b]) gets.push(twinGet(dev.twin).then((t) => ({ dev, t })));
  for (const { dev, t } of await withTimeout(Promise.all(gets), 15000, 'concurrent twin GETs')) {
    assert.equal(t.properties.reported.owner, dev.deviceId);
  }
  const reg = registry(hub);
  const { responseBody: ta } = await reg.getTwin(a.deviceId);
  await reg.updateTwin(a.deviceId, { properties: { desired: { onlyFor: a.deviceId } } }, ta.etag);
  await waitFor(() => a.desired.some((d) => d.onlyFor === a.deviceId), { timeout: 10000, what: 'desired to A' });
  assert.ok(!b.desired.some((d) => 'onlyFor' in d), `B received A's desired: ${JSON.stringify(b.desired)}`);
});

test('MqttWs with a wrong key fails with UnauthorizedError', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('wsbad'));
  const wrongKey = Buffer.from('not-the-device-key-not-the-device-key').toString('base64');
  const client = await wsClient(hub, deviceConnectionString(hub, d.deviceId, wrongKey));
  const err = await rejectsWith(withTimeout(client.open(), 15000, 'open with a wrong key'), 'open');
  assert.equal(err.name, 'UnauthorizedError', `${err.name}: ${err.message}`);
  assert.match(err.message, /Not authorized/);
});

test('REST and MqttWs share :443 in the same run; MqttWs and MQTT/TLS devices side by side', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const ws = await wsPingDevice(hub);
  const d2 = await createDevice(hub, uid('tls'));
  const tls = await openDevice(hub, d2.connectionString);
  tls.onDeviceMethod('ping', (req, res) => res.send(200, { me: d2.deviceId }));
  const svc = serviceClient(hub);
  const reg = registry(hub);

  const health = await rest(hub, 'GET', '/health', { apiVersion: null, token: null });
  assert.equal(health.status, 200);
  const { responseBody: listed } = await withTimeout(reg.list(), 10000, 'Registry.list');
  assert.ok(listed.some((x) => x.deviceId === ws.deviceId));

  const times = { ws: [], tls: [] };
  for (let i = 0; i < 10; i += 1) {
    for (const [kind, id] of [['ws', ws.deviceId], ['tls', d2.deviceId]]) {
      const t0 = process.hrtime.bigint();
      const { result } = await withTimeout(svc.invokeDeviceMethod(id, {
        methodName: 'ping', payload: i, responseTimeoutInSeconds: 10,
      }), 15000, `invoke ${kind}`);
      times[kind].push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.equal(result.payload.me, id);
    }
  }
  console.log(`# method round trip (service REST -> device -> REST), median of 10: ` +
    `MqttWs ${median(times.ws).toFixed(1)} ms, Mqtt/TLS ${median(times.tls).toFixed(1)} ms`);
  // Without the relay's broker waker (and TCP_NODELAY after the upgrade) every hub -> ws device message
  // waited for Mosquitto's 100 ms loop tick: ~150 ms per call. Typical now: ~5 ms.
  assert.ok(median(times.ws) < 60, `MqttWs method round trip median ${median(times.ws)} ms`);
});

test('the upgrade path answers only WebSocket upgrades; other requests keep their REST answers', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  // a plain GET on the path is an ordinary (unknown) REST route
  const plain = await rest(hub, 'GET', '/$iothub/websocket');
  assert.equal(plain.status, 404);
  // the handshake the SDK sends, answered with the broker's 101
  const key = 'PHMLmInCJo/xQnvZ2a3iyA==';
  const ok = await rawUpgrade(hub, '/$iothub/websocket?iothub-no-client-cert=true', {
    Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Protocol': 'mqtt',
  });
  assert.equal(ok.status, 101);
  assert.equal(ok.headers['sec-websocket-protocol'], 'mqtt');
  assert.equal(ok.headers['sec-websocket-accept'], 'MtJC+qOgoZnHEinnJDAdBr8eG1k=' /* RFC 6455 accept value for this key */);
  assert.match(ok.headers.connection, /upgrade/i);
  // handshakes the broker refuses (no key; a subprotocol other than mqtt) get 400, not 101
  for (const headers of [
    { 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Protocol': 'mqtt' },
    { 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Protocol': 'chat' },
  ]) {
    const bad = await rawUpgrade(hub, '/$iothub/websocket', { Connection: 'Upgrade', Upgrade: 'websocket', ...headers });
    assert.equal(bad.status, 400, JSON.stringify(headers));
    assert.match(JSON.parse(bad.body).Message, /^ErrorCode:ArgumentInvalid;.*WebSocket handshake/);
  }
  // REST still works after all that
  const again = await rest(hub, 'GET', '/health', { apiVersion: null, token: null });
  assert.equal(again.status, 200);
});
