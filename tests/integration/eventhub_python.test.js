// eventhub_python.test.js - issue 10: Debian's Python azure-eventhub 5.11 (python3-azure, its pure-Python
// AMQP stack, which cannot decode Proton's shortened frames: the reason the daemon pads them) reads D2C
// telemetry sent by the Node device SDK through the Event Hubs-compatible endpoint (TLS 5671, the hub's
// CA via connection_verify): body, application properties, system properties and annotations.
// azure-iot-hub (IoTHubRegistryManager.send_c2d_message) is not packaged by Debian 12: not tested here.
// The uamqp transport (py/eh_read.py ... uamqp) fails its first $management READ: see FAILURES.md.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { useHub, uid, createDevice, openDevice, withTimeout, spawnApp } = require('./lib/hub');

const ctx = useHub();
const PY = '/usr/bin/python3'; // Debian's interpreter: the one python3-azure installs into
const READER = path.join(__dirname, 'py', 'eh_read.py');
const MOCKHUB = path.join(process.env.MOCKHUB_BUILD_DIR || path.resolve(__dirname, '..', '..', 'build'), 'mockhub');

test.before(() => {
  const r = spawnSync(PY, ['-c', 'import azure.eventhub; print(azure.eventhub.__version__)']);
  assert.equal(r.status, 0, `python3-azure missing (scripts/deps.sh test): ${r.stderr}`);
});

function ehConnectionString(hub) {
  const r = spawnSync(MOCKHUB, ['connection-string', '--eventhub'], { env: { ...process.env, MOCKHUB_DATA_DIR: hub.dataDir, MOCKHUB_HOSTNAME: 'localhost' } });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString().trim();
}

async function send(device, body, props = {}, extra = {}) {
  const { Message } = require('azure-iot-common');
  const m = new Message(body);
  for (const [k, v] of Object.entries(props)) m.properties.add(k, v);
  Object.assign(m, extra);
  await withTimeout(device.sendEvent(m), 10000, 'sendEvent');
}

/** Runs the Python reader to completion; returns its events (JSON lines with a body). */
async function pyRead(hub, deviceId, count, timeoutS = 25, transport = 'pyamqp') {
  const app = spawnApp(PY, [READER, ehConnectionString(hub), hub.ca, deviceId, String(count), String(timeoutS), '-1', transport]);
  const info = await withTimeout(app.exited, (timeoutS + 15) * 1000, 'the Python reader');
  const lines = app.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.equal(info.code, 0, `Python reader exit ${JSON.stringify(info)}; output:\n${app.output().slice(-3000)}`);
  assert.equal(lines[0].version, '5.11.0');
  return lines.filter((l) => 'body' in l);
}

test('Python azure-eventhub reads Node D2C over TLS 5671: body, properties, annotations', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  assert.ok(fs.existsSync(hub.ca));
  const { deviceId, connectionString } = await createDevice(hub, uid('pyeh'));
  const device = await openDevice(hub, connectionString);
  await send(device, JSON.stringify({ temp: 21.5 }), { room: 'kitchen', floor: '2' },
    { messageId: 'py-1', correlationId: 'corr-1', contentType: 'application/json', contentEncoding: 'utf-8' });
  await send(device, 'plain text', { n: '2' }, { messageId: 'py-2' });
  const events = await pyRead(hub, deviceId, 2);
  assert.equal(events.length, 2);
  const [a, b] = events;
  assert.deepEqual(JSON.parse(a.body), { temp: 21.5 });
  assert.equal(a.properties.room, 'kitchen');
  assert.equal(a.properties.floor, '2');
  assert.equal(a.message_id, 'py-1');
  assert.equal(a.content_type, 'application/json');
  assert.equal(a.system['iothub-connection-device-id'], deviceId);
  assert.equal(a.system['iothub-message-source'], 'Telemetry');
  assert.ok(a.system['iothub-enqueuedtime'], 'iothub-enqueuedtime');
  assert.equal(typeof a.sequence_number, 'number');
  assert.ok(!Number.isNaN(Date.parse(a.enqueued_time)), `enqueued_time ${a.enqueued_time}`);
  assert.equal(b.body, 'plain text');
  assert.equal(b.properties.n, '2');
  assert.equal(b.message_id, 'py-2');
  assert.equal(a.partition, b.partition, 'a device always lands in the same partition');
  assert.equal(b.sequence_number, a.sequence_number + 1);
});
