// eventhub.test.js - issue 10: the Event Hubs-compatible endpoint read by @azure/event-hubs'
// EventHubConsumerClient (plain AMQP with UseDevelopmentEmulator=true, and TLS 5671): D2C sent by
// the Node device SDK, with properties, from the start and from the end, after a hub restart.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { useHub, uid, createDevice, openDevice, withTimeout, waitFor, sleep } = require('./lib/hub');

const ctx = useHub();
const MOCKHUB = path.join(process.env.MOCKHUB_BUILD_DIR || path.resolve(__dirname, '..', '..', 'build'), 'mockhub');

function ehConnectionString(hub) {
  const r = spawnSync(MOCKHUB, ['connection-string', '--eventhub'], { env: { ...process.env, MOCKHUB_DATA_DIR: hub.dataDir, MOCKHUB_HOSTNAME: 'localhost' } });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString().trim();
}

function consumer(cs, emulator) {
  const { EventHubConsumerClient } = require('@azure/event-hubs');
  return new EventHubConsumerClient('$default', emulator ? `${cs};UseDevelopmentEmulator=true` : cs);
}

async function send(device, body, props = {}, extra = {}) {
  const { Message } = require('azure-iot-common');
  const m = new Message(body);
  for (const [k, v] of Object.entries(props)) m.properties.add(k, v);
  Object.assign(m, extra);
  await withTimeout(device.sendEvent(m), 10000, 'sendEvent');
}

function collect(client, startPosition, sink) {
  return client.subscribe({
    processEvents: async (events) => { for (const e of events) sink.push(e); },
    processError: async () => {},
  }, { startPosition, maxWaitTimeInSeconds: 1 });
}

test('the connection string names the hub and the partitions are listed', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const cs = ehConnectionString(hub);
  assert.match(cs, /^Endpoint=sb:\/\/localhost\/;SharedAccessKeyName=iothubowner;SharedAccessKey=[^;]+;EntityPath=localhost$/);
  const client = consumer(cs, true);
  try {
    assert.deepEqual(await withTimeout(client.getPartitionIds(), 15000, 'getPartitionIds'), ['0', '1', '2', '3']);
    const props = await withTimeout(client.getEventHubProperties(), 15000, 'getEventHubProperties');
    assert.equal(props.name, 'localhost');
  } finally {
    await client.close();
  }
});

test('events from the start carry body, properties and annotations; from the end only new ones', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('eh'));
  const device = await openDevice(hub, connectionString);
  await send(device, JSON.stringify({ temp: 21.5 }), { room: 'kitchen' },
    { messageId: 'eh-1', contentType: 'application/json', contentEncoding: 'utf-8' });
  const client = consumer(ehConnectionString(hub), true);
  const client2 = consumer(ehConnectionString(hub), true);
  const early = [], late = [];
  const { earliestEventPosition, latestEventPosition } = require('@azure/event-hubs');
  const s1 = collect(client, earliestEventPosition, early);
  const s2 = collect(client2, latestEventPosition, late);
  try {
    const ev = await waitFor(() => early.find((e) => e.systemProperties['iothub-connection-device-id'] === deviceId),
      { timeout: 20000, what: 'the event from the start' });
    assert.deepEqual(ev.body, { temp: 21.5 });
    assert.equal(ev.properties.room, 'kitchen');
    assert.equal(ev.messageId, 'eh-1');
    assert.equal(ev.contentType, 'application/json');
    assert.equal(ev.systemProperties['iothub-message-source'], 'Telemetry');
    assert.ok(ev.enqueuedTimeUtc instanceof Date);
    assert.equal(typeof ev.sequenceNumber, 'number');
    await sleep(2500); // the late subscription has attached from the end
    assert.equal(late.filter((e) => e.systemProperties['iothub-connection-device-id'] === deviceId).length, 0);
    await send(device, 'second', {}, { messageId: 'eh-2' });
    await waitFor(() => late.find((e) => e.messageId === 'eh-2'), { timeout: 20000, what: 'the new event from the end' });
  } finally {
    await s1.close();
    await s2.close();
    await client.close();
    await client2.close();
  }
});

test('over TLS on 5671, and after a hub restart the log is still there', {
  timeout: 90000,
}, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('eh'));
  const device = await openDevice(hub, connectionString);
  await send(device, 'before restart', {}, { messageId: 'eh-r' });
  await device.close();
  await hub.restart();
  const client = consumer(ehConnectionString(hub), false);
  const got = [];
  const { earliestEventPosition } = require('@azure/event-hubs');
  const sub = collect(client, earliestEventPosition, got);
  try {
    const ev = await waitFor(() => got.find((e) => e.systemProperties['iothub-connection-device-id'] === deviceId),
      { timeout: 20000, what: 'the event after restart' });
    assert.equal(ev.body.toString(), 'before restart');
  } finally {
    await sub.close();
    await client.close();
  }
});
