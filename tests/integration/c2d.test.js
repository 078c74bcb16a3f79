// c2d.test.js - issue 10: cloud-to-device messages from azure-iothub's Client over AMQP (TLS 5671)
// to Node devices over MQTT: properties round trip, queued while offline, the 50-message queue,
// the 64 KB limit, feedback per iothub-ack mode, purge and cloudToDeviceMessageCount, and bad input
// on the AMQP port.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, rest, sleep,
  rejectsWith } = require('./lib/hub');

const ctx = useHub();

function message(data, props = {}, extra = {}) {
  const { Message } = require('azure-iot-common');
  const m = new Message(data);
  for (const [k, v] of Object.entries(props)) m.properties.add(k, v);
  Object.assign(m, extra);
  return m;
}

async function amqpClient(hub) {
  const client = serviceClient(hub);
  await withTimeout(client.open(), 15000, 'service Client.open over AMQP');
  return client;
}

function receive(device) {
  const got = [];
  device.on('message', (msg) => got.push(msg));
  return got;
}

test('Client.send reaches an MQTT device with its properties', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('c2d'));
  const device = await openDevice(hub, connectionString);
  const got = receive(device);
  await sleep(300); // the SDK subscribes on the first 'message' listener
  const client = await amqpClient(hub);
  try {
    await withTimeout(client.send(deviceId, message('hello device', { color: 'blue', 'with/slash': 'a/b' },
      { messageId: 'mid-1', correlationId: 'cid-1', contentType: 'text/plain', contentEncoding: 'utf-8' })), 15000, 'send');
    const msg = await waitFor(() => got[0], { timeout: 10000, what: 'the C2D message' });
    assert.equal(msg.data.toString(), 'hello device');
    assert.equal(msg.messageId, 'mid-1');
    assert.equal(msg.correlationId, 'cid-1');
    assert.equal(msg.contentType, 'text/plain');
    assert.equal(msg.contentEncoding, 'utf-8');
    assert.equal(msg.properties.getValue('color'), 'blue');
    assert.equal(msg.properties.getValue('with/slash'), 'a/b');
  } finally {
    await client.close();
  }
});

test('a message to an offline device is queued, counted and delivered when it subscribes', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('c2d'));
  const client = await amqpClient(hub);
  try {
    await withTimeout(client.send(deviceId, message('queued-1')), 15000, 'send 1');
    await withTimeout(client.send(deviceId, message('queued-2')), 15000, 'send 2');
    const { responseBody } = await registry(hub).get(deviceId);
    assert.equal(responseBody.cloudToDeviceMessageCount, 2);
    const device = await openDevice(hub, connectionString);
    const got = receive(device);
    await waitFor(() => got.length === 2, { timeout: 10000, what: 'two queued messages' });
    assert.deepEqual(got.map((m) => m.data.toString()), ['queued-1', 'queued-2']);
    // completed once handed to the device's connection (the real hub: on its PUBACK), so shortly
    // after the device has it
    await waitFor(async () => (await registry(hub).get(deviceId)).responseBody.cloudToDeviceMessageCount === 0,
      { timeout: 10000, what: 'cloudToDeviceMessageCount 0' });
  } finally {
    await client.close();
  }
});

test('the 51st pending message is refused, unknown devices and 64 KB bodies too; purge empties the queue', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('c2d'));
  const client = await amqpClient(hub);
  try {
    for (let i = 0; i < 50; i++) await withTimeout(client.send(deviceId, message(`m${i}`)), 15000, `send ${i}`);
    const full = await rejectsWith(client.send(deviceId, message('one too many')), '51st send');
    assert.equal(full.name, 'DeviceMaximumQueueDepthExceededError');
    const missing = await rejectsWith(client.send(uid('nobody'), message('x')), 'send to unknown');
    assert.equal(missing.name, 'DeviceNotFoundError');
    const big = await rejectsWith(client.send(deviceId, message(Buffer.alloc(65 * 1024, 1))), 'send 65 KB');
    assert.equal(big.name, 'MessageTooLargeError');
    const res = await rest(hub, 'DELETE', `/devices/${deviceId}/commands`);
    assert.equal(res.status, 200);
    assert.equal(res.json.totalMessagesPurged, 50);
    assert.equal(res.json.deviceId, deviceId);
    const { responseBody } = await registry(hub).get(deviceId);
    assert.equal(responseBody.cloudToDeviceMessageCount, 0);
    await withTimeout(client.send(deviceId, message('room again')), 15000, 'send after purge');
    const nf = await rest(hub, 'DELETE', `/devices/${uid('nobody')}/commands`);
    assert.equal(nf.status, 404);
  } finally {
    await client.close();
  }
});

test('feedback: positive and full give Success, negative gives nothing on delivery, expiry gives Expired, purge Purged', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('c2d'));
  const device = await openDevice(hub, connectionString);
  const got = receive(device);
  await sleep(300);
  const client = await amqpClient(hub);
  const records = [];
  try {
    const { result: receiver } = await withTimeout(client.getFeedbackReceiver(), 15000, 'getFeedbackReceiver');
    receiver.on('message', (msg) => {
      for (const r of JSON.parse(msg.data.toString())) records.push(r);
    });
    for (const ack of ['none', 'positive', 'negative', 'full']) {
      await withTimeout(client.send(deviceId, message(`ack-${ack}`, {}, { messageId: `fb-${ack}`, ack })), 15000, `send ${ack}`);
    }
    await waitFor(() => got.length === 4, { timeout: 10000, what: 'four deliveries' });
    await waitFor(() => records.length >= 2, { timeout: 10000, what: 'two feedback records' });
    await sleep(500);
    const byId = Object.fromEntries(records.map((r) => [r.originalMessageId, r]));
    assert.deepEqual(Object.keys(byId).sort(), ['fb-full', 'fb-positive']);
    assert.equal(byId['fb-full'].statusCode, 'Success');
    assert.equal(byId['fb-full'].deviceId, deviceId);
    assert.ok(byId['fb-full'].deviceGenerationId.length > 0);
    assert.ok(!Number.isNaN(Date.parse(byId['fb-full'].enqueuedTimeUtc)));
    // an offline device: expiry and purge
    const other = await createDevice(hub, uid('c2d'));
    await withTimeout(client.send(other.deviceId, message('short', {}, { messageId: 'fb-exp', ack: 'negative',
      expiryTimeUtc: Date.now() + 1500 })), 15000, 'send expiring');
    await withTimeout(client.send(other.deviceId, message('purged', {}, { messageId: 'fb-purge', ack: 'full' })), 15000, 'send purged');
    await waitFor(() => records.some((r) => r.originalMessageId === 'fb-exp'), { timeout: 10000, what: 'Expired record' });
    assert.equal(records.find((r) => r.originalMessageId === 'fb-exp').statusCode, 'Expired');
    await rest(hub, 'DELETE', `/devices/${other.deviceId}/commands`);
    await waitFor(() => records.some((r) => r.originalMessageId === 'fb-purge'), { timeout: 10000, what: 'Purged record' });
    assert.equal(records.find((r) => r.originalMessageId === 'fb-purge').statusCode, 'Purged');
  } finally {
    await client.close();
  }
});

test('queued messages survive a hub restart', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('c2d'));
  let client = await amqpClient(hub);
  await withTimeout(client.send(deviceId, message('kept')), 15000, 'send');
  await client.close();
  await hub.restart();
  const device = await openDevice(hub, connectionString);
  const got = receive(device);
  await waitFor(() => got.length === 1, { timeout: 10000, what: 'the kept message' });
  assert.equal(got[0].data.toString(), 'kept');
});

test('bad input on the AMQP port: garbage, wrong key, unknown address; the hub keeps serving', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  // garbage on the plain port: the hub answers with its AMQP header or closes, and keeps running
  await new Promise((resolve) => {
    const s = net.connect(5672, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\n\r\n'));
    s.on('data', () => {});
    s.on('close', resolve);
    s.on('error', resolve);
    setTimeout(() => { s.destroy(); resolve(); }, 5000);
  });
  // a wrong key: CBS answers 401, the SDK reports UnauthorizedError
  const badCs = hub.serviceConnectionString.replace(/SharedAccessKey=[^;]+/, 'SharedAccessKey=' + Buffer.from('wrong-key-wrong-key-wrong').toString('base64'));
  const bad = serviceClient(hub, badCs);
  bad.setRetryPolicy && bad.setRetryPolicy(new (require('azure-iot-common').NoRetry)());
  const err = await rejectsWith(bad.open(), 'open with a wrong key');
  // azure-iothub wraps the CBS failure: its amqpError is the UnauthorizedError with our description
  assert.equal(err.amqpError && err.amqpError.name, 'UnauthorizedError', `${err.name}: ${err.message}`);
  assert.match(err.amqpError.message, /signature does not match policy 'iothubowner'/);
  await bad.close().catch(() => {});
  // the hub still serves AMQP
  const { deviceId } = await createDevice(hub, uid('c2d'));
  const client = await amqpClient(hub);
  await withTimeout(client.send(deviceId, message('still here')), 15000, 'send after bad input');
  await client.close();
});

/** A raw AMQP 1.0 client on the plain port: writes frames, parses the hub's (channel, performative). */
function rawAmqp() {
  const s = net.connect(5672, '127.0.0.1');
  let buf = Buffer.alloc(0);
  const frames = [];
  let all = Buffer.alloc(0);
  s.on('data', (c) => {
    all = Buffer.concat([all, c]);
    buf = Buffer.concat([buf, c]);
    for (;;) {
      if (buf.length >= 8 && buf.subarray(0, 4).toString() === 'AMQP') { buf = buf.subarray(8); continue; }
      if (buf.length < 8) break;
      const size = buf.readUInt32BE(0);
      if (buf.length < size) break;
      const body = buf.subarray(buf[4] * 4, size);
      frames.push({ channel: buf.readUInt16BE(6), type: buf[5], code: body.length >= 3 ? body[2] : null, body });
      buf = buf.subarray(size);
    }
  });
  s.on('error', () => {});
  const closed = new Promise((resolve) => s.on('close', resolve));
  const frame = (channel, type, body) => {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(8 + body.length, 0);
    h[4] = 2; h[5] = type; h.writeUInt16BE(channel, 6);
    return Buffer.concat([h, body]);
  };
  return { s, frames, closed, frame, text: () => all.toString('latin1') };
}

test('frames on a session the client already ended are ignored, as rhea sends them; the connection lives on', { timeout: 30000 }, async () => {
  const c = rawAmqp();
  const B = (a) => Buffer.from(a);
  const perf = (code, list) => Buffer.concat([B([0x00, 0x53, code]), list]);
  const anonymous = Buffer.concat([B([0xa3, 9]), B('ANONYMOUS')]);
  const saslInit = perf(0x41, Buffer.concat([B([0xc0, 1 + anonymous.length, 1]), anonymous]));
  const open = perf(0x10, B([0xc0, 4, 1, 0xa1, 1, 0x74])); // container-id "t"
  const begin = perf(0x11, B([0xc0, 13, 4, 0x40, 0x43, 0x70, 0, 0, 8, 0, 0x70, 0xff, 0xff, 0xff, 0xff]));
  const end = perf(0x17, B([0x45]));
  const disposition = perf(0x15, B([0xc0, 0x0a, 5, 0x41, 0x43, 0x52, 0x01, 0x41, 0x00, 0x53, 0x24, 0x45]));
  const flow = perf(0x13, B([0xc0, 0x0d, 4, 0x43, 0x70, 0, 0, 8, 0, 0x43, 0x70, 0, 0, 8, 0]));
  c.s.write(Buffer.concat([B('AMQP'), B([3, 1, 0, 0]), c.frame(0, 1, saslInit)]));
  await waitFor(() => c.frames.some((f) => f.type === 1 && f.code === 0x44), { timeout: 5000, what: 'sasl-outcome' });
  c.s.write(Buffer.concat([B('AMQP'), B([0, 1, 0, 0]), c.frame(0, 0, open), c.frame(0, 0, begin), c.frame(1, 0, begin)]));
  await waitFor(() => c.frames.filter((f) => f.type === 0 && f.code === 0x11).length === 2, { timeout: 5000, what: 'two BEGINs back' });
  // rhea's order when a receiver closes with deliveries unsettled: END, then the DISPOSITION (and a FLOW)
  c.s.write(Buffer.concat([c.frame(1, 0, end), c.frame(1, 0, disposition), c.frame(1, 0, flow)]));
  await waitFor(() => c.frames.some((f) => f.code === 0x17), { timeout: 5000, what: 'the hub\'s END' });
  // the session on channel 0 still works (a FLOW is accepted), and a new session may reuse channel 1
  c.s.write(Buffer.concat([c.frame(0, 0, flow), c.frame(1, 0, begin), c.frame(1, 0, flow)]));
  await waitFor(() => c.frames.filter((f) => f.code === 0x11).length === 3, { timeout: 5000, what: 'a third BEGIN back' });
  // the SDK ends its last session on channel 0, then closes the connection on channel 0
  c.s.write(c.frame(0, 0, end));
  await waitFor(() => c.frames.filter((f) => f.code === 0x17).length === 2, { timeout: 5000, what: 'the second END' });
  c.s.write(c.frame(0, 0, perf(0x18, B([0x45]))));
  await waitFor(() => c.frames.some((f) => f.code === 0x18), { timeout: 5000, what: 'the hub\'s CLOSE' });
  const close = c.frames.find((f) => f.code === 0x18);
  assert.ok(!close.body.includes(B([0x00, 0x53, 0x1d])), `CLOSE without an error, got ${c.text().slice(-200)}`);
  assert.ok(!/no such channel/.test(c.text()));
  c.s.destroy();
});

test('a device over MQTT over WebSockets receives C2D too', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const fs = require('node:fs');
  const { Client } = require('azure-iot-device');
  const { MqttWs } = require('azure-iot-device-mqtt');
  const { deviceId, connectionString } = await createDevice(hub, uid('c2dws'));
  const device = Client.fromConnectionString(connectionString, MqttWs);
  device.on('error', () => {});
  await device.setOptions({ ca: fs.readFileSync(hub.ca, 'utf8') });
  await withTimeout(device.open(), 15000, 'MqttWs open');
  try {
    const got = receive(device);
    await sleep(500);
    const client = await amqpClient(hub);
    try {
      await withTimeout(client.send(deviceId, message('over ws', { k: 'v' })), 15000, 'send');
      const msg = await waitFor(() => got[0], { timeout: 10000, what: 'the C2D message over MqttWs' });
      assert.equal(msg.data.toString(), 'over ws');
      assert.equal(msg.properties.getValue('k'), 'v');
    } finally {
      await client.close();
    }
  } finally {
    await device.close();
  }
});
