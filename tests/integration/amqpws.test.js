// amqpws.test.js - issue 10: AMQP over WebSockets on the HTTPS port (wss://localhost:443, subprotocol
// AMQPWSB10): azure-iothub's Client over AmqpWs sending C2D to a Node Mqtt device (with feedback),
// @azure/event-hubs with webSocketOptions on /$servicebus/websocket, the handshake itself and a
// client that breaks the WebSocket framing.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const { useHub, uid, createDevice, openDevice, withTimeout, waitFor, sleep } = require('./lib/hub');

const ctx = useHub();
const MOCKHUB = path.join(process.env.MOCKHUB_BUILD_DIR || path.resolve(__dirname, '..', '..', 'build'), 'mockhub');

function message(data, props = {}, extra = {}) {
  const { Message } = require('azure-iot-common');
  const m = new Message(data);
  for (const [k, v] of Object.entries(props)) m.properties.add(k, v);
  Object.assign(m, extra);
  return m;
}

async function amqpWsClient(hub) {
  const { Client, AmqpWs } = require('azure-iothub');
  const client = Client.fromConnectionString(hub.serviceConnectionString, AmqpWs);
  await withTimeout(client.open(), 15000, 'service Client.open over AmqpWs');
  return client;
}

test('Client over AmqpWs: C2D reaches an Mqtt device with its properties, and feedback comes back', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('amqpws'));
  const device = await openDevice(hub, connectionString);
  const got = [];
  device.on('message', (msg) => { got.push(msg); device.complete(msg, () => {}); });
  await sleep(300); // the SDK subscribes on the first 'message' listener
  const client = await amqpWsClient(hub);
  try {
    const { result: fb } = await withTimeout(client.getFeedbackReceiver(), 15000, 'getFeedbackReceiver over AmqpWs');
    const records = [];
    fb.on('message', (m) => { records.push(...JSON.parse(m.data.toString())); });
    const big = 'x'.repeat(40000); // spans several WebSocket frames and AMQP transfers
    await withTimeout(client.send(deviceId, message('over websockets', { color: 'green' },
      { messageId: 'ws-1', correlationId: 'wc-1', contentType: 'text/plain', ack: 'positive' })), 15000, 'send');
    await withTimeout(client.send(deviceId, message(big, {}, { messageId: 'ws-2' })), 15000, 'send big');
    await waitFor(() => got.length === 2, { timeout: 10000, what: 'two C2D messages' });
    assert.equal(got[0].data.toString(), 'over websockets');
    assert.equal(got[0].messageId, 'ws-1');
    assert.equal(got[0].correlationId, 'wc-1');
    assert.equal(got[0].contentType, 'text/plain');
    assert.equal(got[0].properties.getValue('color'), 'green');
    assert.equal(got[1].data.toString(), big);
    const rec = await waitFor(() => records.find((r) => r.originalMessageId === 'ws-1'),
      { timeout: 15000, what: 'the positive feedback record' });
    assert.equal(rec.deviceId, deviceId);
    assert.equal(rec.statusCode, 'Success');
  } finally {
    await client.close();
  }
});

test('@azure/event-hubs with webSocketOptions reads D2C through /$servicebus/websocket', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const r = spawnSync(MOCKHUB, ['connection-string', '--eventhub'],
    { env: { ...process.env, MOCKHUB_DATA_DIR: hub.dataDir, MOCKHUB_HOSTNAME: 'localhost' } });
  assert.equal(r.status, 0, r.stderr.toString());
  const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
  const { deviceId, connectionString } = await createDevice(hub, uid('ehws'));
  const device = await openDevice(hub, connectionString);
  await withTimeout(device.sendEvent(message('via wss', { k: 'v' })), 10000, 'sendEvent');
  const client = new EventHubConsumerClient('$default', r.stdout.toString().trim(),
    { webSocketOptions: { webSocket: require('ws') } });
  const seen = [];
  const sub = client.subscribe({
    processEvents: async (events) => { seen.push(...events); },
    processError: async () => {},
  }, { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 });
  try {
    const ev = await waitFor(() => seen.find((e) => e.systemProperties['iothub-connection-device-id'] === deviceId),
      { timeout: 20000, what: 'the event over WebSockets' });
    assert.equal(Buffer.from(ev.body).toString(), 'via wss');
    assert.equal(ev.properties.k, 'v');
  } finally {
    await sub.close();
    await client.close();
  }
});

/** A raw AMQPWSB10 handshake on :443; resolves { head, socket } after the 101 head. */
function rawAmqpWs(hub, urlPath, key) {
  return withTimeout(new Promise((resolve, reject) => {
    const s = tls.connect({ host: hub.host, port: 443, ca: fs.readFileSync(hub.ca), servername: 'localhost' }, () => {
      s.write(`GET ${urlPath} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: AMQPWSB10\r\n\r\n`);
    });
    let buf = Buffer.alloc(0);
    const onData = (c) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      resolve({ head: buf.subarray(0, end).toString(), rest: buf.subarray(end + 4), socket: s });
    };
    s.on('data', onData);
    s.on('error', reject);
  }), 10000, 'AMQPWSB10 handshake');
}

test('the AMQPWSB10 handshake is answered by the hub; broken framing gets a close frame 1002', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const key = crypto.randomBytes(16).toString('base64');
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  const { head, rest, socket } = await rawAmqpWs(hub, '/$iothub/websocket', key);
  assert.match(head, /^HTTP\/1\.1 101/);
  assert.match(head, new RegExp(`Sec-WebSocket-Accept: ${accept.replace(/[+/]/g, '\\$&')}`, 'i'));
  assert.match(head, /Sec-WebSocket-Protocol: AMQPWSB10/i);
  // an unmasked client frame is a protocol error (RFC 6455 5.1): the hub sends a close frame 1002;
  // the client answers it as every WebSocket client must (RFC 6455 5.5.1), then the hub ends the TCP
  // stream. (libmicrohttpd 0.9.75 may wait for that answer before it closes: see http.c.)
  let data = rest;
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.on('data', (c) => { data = Buffer.concat([data, c]); });
  socket.on('error', () => {}); // a reset after the close is the end we wait for
  socket.write(Buffer.from([0x82, 0x08, 0x41, 0x4d, 0x51, 0x50, 0x03, 0x01, 0x00, 0x00]));
  await waitFor(() => data.length >= 4, { timeout: 10000, what: 'the hub\'s close frame' });
  assert.equal(data[0], 0x88, `a close frame first, got ${data.subarray(0, 16).toString('hex')}`);
  assert.equal(data[1], 0x02);
  assert.equal(data.readUInt16BE(2), 1002);
  const closeMask = crypto.randomBytes(4);
  const code = Buffer.from([0x03, 0xea]);
  socket.write(Buffer.concat([Buffer.from([0x88, 0x82]), closeMask, Buffer.from(code.map((b, i) => b ^ closeMask[i]))]));
  await withTimeout(closed, 10000, 'the hub closing the stream after the close handshake');
  assert.equal(data.length, 4, `nothing after the close frame, got ${data.toString('hex')}`);
  // the hub still serves the next one: a masked AMQP header gets the SASL header back
  const second = await rawAmqpWs(hub, '/$servicebus/websocket', crypto.randomBytes(16).toString('base64'));
  let got = second.rest;
  second.socket.on('data', (c) => { got = Buffer.concat([got, c]); });
  const mask = Buffer.from([1, 2, 3, 4]);
  const hdr = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x03, 0x01, 0x00, 0x00]);
  const masked = Buffer.from(hdr.map((b, i) => b ^ mask[i & 3]));
  second.socket.write(Buffer.concat([Buffer.from([0x82, 0x88]), mask, masked]));
  await waitFor(() => got.length >= 10, { timeout: 5000, what: 'the hub\'s SASL header' });
  assert.equal(got[0], 0x82);
  assert.deepEqual([...got.subarray(2, 10)], [...hdr]);
  second.socket.destroy();
});
