// eventhub_c.test.js - issue 10: @azure/event-hubs 6.0.4 EventHubConsumerClient reads D2C telemetry sent by
// our C device library (build/iotd_send_events, iotd_client_send_event) through the Event Hubs-compatible
// endpoint: body, message id, content type, application properties and annotations, from the start and
// from the end, and from the start again after a hub restart (plain 5672 emulator form and TLS 5671).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { BUILD, useHub, uid, createDevice, withTimeout, waitFor, sleep, spawnApp } = require('./lib/hub');

const ctx = useHub();
const SENDER = path.join(BUILD, 'iotd_send_events');

test.before(() => {
  assert.ok(fs.existsSync(SENDER), `${SENDER} missing: run \`make\``);
});

function ehConnectionString(hub) {
  const r = spawnSync(path.join(BUILD, 'mockhub'), ['connection-string', '--eventhub'], { env: { ...process.env, MOCKHUB_DATA_DIR: hub.dataDir, MOCKHUB_HOSTNAME: 'localhost' } });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString().trim();
}

function consumer(hub, emulator) {
  const { EventHubConsumerClient } = require('@azure/event-hubs');
  const cs = ehConnectionString(hub);
  return new EventHubConsumerClient('$default', emulator ? `${cs};UseDevelopmentEmulator=true` : cs);
}

async function sendFromC(hub, connectionString, prefix, count) {
  const app = spawnApp(SENDER, [prefix, String(count)], { IOTHUB_DEVICE_CONNECTION_STRING: connectionString, IOTHUB_CA_FILE: hub.ca });
  const info = await withTimeout(app.exited, 30000, 'iotd_send_events');
  assert.equal(info.code, 0, `iotd_send_events exit ${JSON.stringify(info)}:\n${app.output()}`);
  assert.match(app.output(), /^done$/m);
}

function subscribe(client, startPosition, sink) {
  return client.subscribe({
    processEvents: async (events) => { for (const e of events) sink.push(e); },
    processError: async () => {},
  }, { startPosition, maxWaitTimeInSeconds: 1 });
}

const of = (sink, deviceId) => sink.filter((e) => e.systemProperties['iothub-connection-device-id'] === deviceId);

function checkEvent(e, deviceId, prefix, i) {
  assert.deepEqual(e.body, { prefix, i }, 'JSON body decoded by the SDK (content type application/json)');
  assert.equal(e.messageId, `${prefix}-${i}`);
  assert.equal(e.contentType, 'application/json');
  assert.equal(e.properties.source, 'c-device');
  assert.equal(e.properties.seq, String(i));
  assert.equal(e.systemProperties['iothub-connection-device-id'], deviceId);
  assert.equal(e.systemProperties['iothub-message-source'], 'Telemetry');
  assert.ok(e.enqueuedTimeUtc instanceof Date);
  assert.equal(typeof e.sequenceNumber, 'number');
}

test('C device telemetry from the start and from the end (emulator form on 5672)', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('ehc'));
  await sendFromC(hub, connectionString, 'first', 3);
  const { earliestEventPosition, latestEventPosition } = require('@azure/event-hubs');
  const c1 = consumer(hub, true);
  const c2 = consumer(hub, true);
  const early = [], late = [];
  const s1 = subscribe(c1, earliestEventPosition, early);
  const s2 = subscribe(c2, latestEventPosition, late);
  try {
    await waitFor(() => of(early, deviceId).length >= 3, { timeout: 20000, what: '3 events from the start' });
    const got = of(early, deviceId);
    assert.equal(got.length, 3);
    got.forEach((e, k) => checkEvent(e, deviceId, 'first', k + 1));
    assert.deepEqual(got.map((e) => e.sequenceNumber), [got[0].sequenceNumber, got[0].sequenceNumber + 1, got[0].sequenceNumber + 2]);
    await sleep(2500); // the second subscription is attached at the end
    assert.equal(of(late, deviceId).length, 0, 'from the end: nothing sent before');
    await sendFromC(hub, connectionString, 'second', 2);
    await waitFor(() => of(late, deviceId).length >= 2, { timeout: 20000, what: '2 new events from the end' });
    of(late, deviceId).forEach((e, k) => checkEvent(e, deviceId, 'second', k + 1));
    await waitFor(() => of(early, deviceId).length >= 5, { timeout: 20000, what: 'the start reader sees them too' });
  } finally {
    await s1.close();
    await s2.close();
    await c1.close();
    await c2.close();
  }
});

test('after a hub restart the C device events are read from the start over TLS 5671', { timeout: 120000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('ehc-r'));
  await sendFromC(hub, connectionString, 'pre', 2);
  await hub.restart();
  await sendFromC(hub, connectionString, 'post', 1);
  const { earliestEventPosition } = require('@azure/event-hubs');
  const client = consumer(hub, false);
  const got = [];
  const sub = subscribe(client, earliestEventPosition, got);
  try {
    await waitFor(() => of(got, deviceId).length >= 3, { timeout: 20000, what: '3 events after the restart' });
    await sleep(1500); // nothing more, no duplicates
    const mine = of(got, deviceId);
    assert.deepEqual(mine.map((e) => e.messageId), ['pre-1', 'pre-2', 'post-1']);
    checkEvent(mine[0], deviceId, 'pre', 1);
    checkEvent(mine[1], deviceId, 'pre', 2);
    checkEvent(mine[2], deviceId, 'post', 1);
    assert.ok(mine[2].sequenceNumber > mine[1].sequenceNumber, 'sequence numbers keep growing across the restart');
  } finally {
    await sub.close();
    await client.close();
  }
});
