// telemetry.test.js - device-to-cloud messages sent with the Node device SDK are kept by the hub and
// readable through the mockhub-only GET /mockhub/events (decoded properties, JSON / text / binary
// payloads, deviceId filter, `after` paging, 400 on bad arguments), through `mockhub monitor-events`,
// and after a restart.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { Message } = require('azure-iot-device');
const { useHub, uid, createDevice, openDevice, withTimeout, waitFor, rest, iotHubError } = require('./lib/hub');

const ctx = useHub();
const MOCKHUB_BIN = path.join(process.env.MOCKHUB_BUILD_DIR || path.join(__dirname, '..', '..', 'build'), 'mockhub');

async function events(hub, query = '') {
  const r = await rest(hub, 'GET', `/mockhub/events${query}`);
  assert.equal(r.status, 200, `GET /mockhub/events${query} -> ${r.status} ${r.body}`);
  return r.json;
}

async function send(client, msg) {
  await withTimeout(client.sendEvent(msg), 10000, 'sendEvent');
}

function jsonMessage(body, mid) {
  const m = new Message(JSON.stringify(body));
  m.messageId = mid;
  m.correlationId = `corr-${mid}`;
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('a b&c=d', 'x y&z=1/%');
  m.properties.add('plain', 'v');
  return m;
}

function monitor(hub, args) {
  return new Promise((resolve, reject) => {
    execFile(MOCKHUB_BIN, ['monitor-events', ...args],
      { env: { ...process.env, ...hub.env, MOCKHUB_DATA_DIR: hub.dataDir }, timeout: 20000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

test('telemetry is stored with decoded properties and payloads, filtered, paged, monitored and kept across a restart',
  { timeout: 120000 }, async () => {
    const hub = ctx.hub;
    const a = await createDevice(hub, uid('tel-a'));
    const b = await createDevice(hub, uid('tel-b'));
    const ca = await openDevice(hub, a.connectionString);
    const cb = await openDevice(hub, b.connectionString);

    await send(ca, jsonMessage({ temperature: 21.5, unicode: 'ünï ✓' }, 'm-1'));
    await send(cb, new Message('from b'));
    await send(ca, new Message('not json {'));
    await send(ca, new Message(Buffer.from([0xff, 0x00, 0x01])));

    const all = await waitFor(async () => {
      const list = await events(hub, `?deviceId=${encodeURIComponent(a.deviceId)}`);
      return list.length >= 3 ? list : null;
    }, { timeout: 10000, what: 'three events of device a' });
    assert.equal(all.length, 3);
    const [e1, e2, e3] = all;
    assert.ok(e1.sequenceNumber < e2.sequenceNumber && e2.sequenceNumber < e3.sequenceNumber, 'seq order');
    assert.equal(e1.event.origin, a.deviceId);
    assert.equal(e1.event.module, '');
    assert.equal(e1.event.annotations['iothub-connection-device-id'], a.deviceId);
    assert.match(e1.event.annotations['iothub-enqueuedtime'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.deepEqual(e1.event.properties.system, {
      messageId: 'm-1', correlationId: 'corr-m-1', contentType: 'application/json', contentEncoding: 'utf-8',
    });
    assert.deepEqual(e1.event.properties.application, { 'a b&c=d': 'x y&z=1/%', plain: 'v' });
    assert.deepEqual(e1.event.payload, { temperature: 21.5, unicode: 'ünï ✓' });
    assert.equal(e2.event.payload, 'not json {');
    assert.equal(e2.event.payloadEncoding, undefined);
    assert.equal(e3.event.payload, Buffer.from([0xff, 0x00, 0x01]).toString('base64'));
    assert.equal(e3.event.payloadEncoding, 'base64');

    // every device, in order; paging with after and limit
    const both = await events(hub, `?after=${e1.sequenceNumber - 1}`);
    assert.deepEqual(both.map((e) => e.event.origin), [a.deviceId, b.deviceId, a.deviceId, a.deviceId]);
    assert.equal(both[1].event.payload, 'from b');
    const page1 = await events(hub, `?after=${e1.sequenceNumber - 1}&limit=2`);
    assert.deepEqual(page1.map((e) => e.sequenceNumber), both.slice(0, 2).map((e) => e.sequenceNumber));
    const page2 = await events(hub, `?after=${page1[1].sequenceNumber}&limit=2`);
    assert.deepEqual(page2.map((e) => e.sequenceNumber), both.slice(2, 4).map((e) => e.sequenceNumber));
    assert.deepEqual(await events(hub, `?after=${both[3].sequenceNumber}`), []);
    const onlyB = await events(hub, `?deviceId=${encodeURIComponent(b.deviceId)}`);
    assert.deepEqual(onlyB.map((e) => e.event.payload), ['from b']);

    // bad arguments: 400 with the IoT Hub error body
    for (const q of ['?limit=0', '?limit=1001', '?limit=x', '?after=-1', '?after=1.5', '?deviceId=a%2Fb']) {
      const r = await rest(hub, 'GET', `/mockhub/events${q}`);
      assert.equal(r.status, 400, `${q} -> ${r.status} ${r.body}`);
      assert.equal(iotHubError(r)?.code, 'ArgumentInvalid', `${q}: ${r.body}`);
    }
    const noAuth = await rest(hub, 'GET', '/mockhub/events', { token: null });
    assert.equal(noAuth.status, 401);

    // the command line reads the same table
    const out = await monitor(hub, ['--from-start', '--count', '2', '--device', a.deviceId, '--timeout', '15']);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, [e1, e2]);
    const none = await monitor(hub, ['--timeout', '1']);
    assert.equal(none, '', 'without --from-start only new events are printed');

    await ca.close();
    await cb.close();
    await hub.restart();
    const after = await events(hub, `?after=${e1.sequenceNumber - 1}`);
    assert.deepEqual(after, both, 'events after a restart');
  });
