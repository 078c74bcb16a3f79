// mh_amqp.js - bench step "amqp" (Node-driven: no C AMQP client here): C2D send-to-delivery latency and
// throughput (azure-iothub Client.send over AMQP/TLS 5671 to devices on raw MQTT/TLS 8883 that PUBACK at
// once), and Event Hubs read throughput (@azure/event-hubs EventHubConsumerClient over AMQP/TLS reading
// telemetry the devices sent). Emits result lines like mb_stats.c's mb_result_emit into $MB_RESULTS.
//
// usage: node bench/mh_amqp.js --data=DIR [--seq=N] [--msgs=N] [--devices=N] [--events=N]
// (NODE_EXTRA_CA_CERTS must name the hub's CA; run.sh sets it and NODE_PATH)
'use strict';

const fs = require('node:fs');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const SEQ = Number(args.seq || 200);
const MSGS = Number(args.msgs || 2000);
const DEVICES = Number(args.devices || 8);
const EVENTS = Number(args.events || 5000);
const HOST = 'localhost';

const { Registry, Client } = require('azure-iothub');
const { Message, SharedAccessSignature } = require('azure-iot-common');
const mqtt = require('mqtt');

function die(msg) { console.error(`mh_amqp: ${msg}`); process.exit(1); }

function ownerKey() {
  // the well-known development key unless the data dir says otherwise (mockhub connection-string)
  const cs = process.env.MB_SERVICE_CS;
  if (!cs) die('MB_SERVICE_CS not set');
  return cs;
}

function emit(r) {
  const line = { key: r.key, label: r.label, n: r.n, errors: r.errors || 0, client_cpu: r.client_cpu || 0 };
  if (r.median_us !== undefined) { line.median_us = r.median_us; line.p99_us = r.p99_us; }
  if (r.throughput) { line.throughput = r.throughput; line.unit = r.unit; }
  if (r.note) line.note = r.note;
  let text = `  ${r.key.padEnd(16)} ${r.label.padEnd(44)}`;
  if (r.median_us !== undefined) text += ` median ${r.median_us.toFixed(1).padStart(8)} us  p99 ${r.p99_us.toFixed(1).padStart(8)} us`;
  if (r.throughput) text += `  ${r.throughput.toFixed(0).padStart(10)} ${r.unit}`;
  console.log(`${text}  n=${r.n} errors=${line.errors}`);
  if (process.env.MB_RESULTS) fs.appendFileSync(process.env.MB_RESULTS, `${JSON.stringify(line)}\n`);
}

function summarize(ns) {
  const s = [...ns].sort((a, b) => a - b);
  return { median_us: s[Math.floor(s.length / 2)] / 1000, p99_us: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] / 1000 };
}

function cpuSince(c0, t0) {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / Number((process.hrtime.bigint() - t0) / 1000000n);
}

async function device(reg, id) {
  const { responseBody } = await reg.create({ deviceId: id });
  const key = responseBody.authentication.symmetricKey.primaryKey;
  const resource = `${HOST}/devices/${id}`;
  const sas = SharedAccessSignature.create(resource, undefined, key, Math.ceil(Date.now() / 1000) + 3600).toString();
  const c = mqtt.connect(`mqtts://${HOST}:8883`, {
    clientId: id, username: `${HOST}/${id}/?api-version=2021-04-12`, password: sas, clean: false,
    protocolVersion: 4, reconnectPeriod: 0, ca: fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS),
  });
  await new Promise((res, rej) => { c.once('connect', res); c.once('error', rej); });
  await new Promise((res, rej) => c.subscribe(`devices/${id}/messages/devicebound/#`, { qos: 1 }, (e) => (e ? rej(e) : res())));
  return { id, c };
}

async function main() {
  const cs = ownerKey();
  const reg = Registry.fromConnectionString(cs);
  const run = Date.now().toString(36);
  const devs = [];
  for (let i = 0; i < DEVICES; i++) devs.push(await device(reg, `bench-c2d-${run}-${i}`));
  const svc = Client.fromConnectionString(cs);
  await svc.open();

  // 1. sequential send-to-delivery latency (one device)
  const waiting = new Map();
  for (const d of devs) {
    d.c.on('message', (topic) => {
      const m = /%24\.mid=([^&]+)/.exec(topic);
      const w = m && waiting.get(decodeURIComponent(m[1]));
      if (w) { waiting.delete(decodeURIComponent(m[1])); w(); }
    });
  }
  const delivered = (mid) => new Promise((res) => waiting.set(mid, res));
  let errors = 0;
  const lat = [];
  let c0 = process.cpuUsage(); let t0 = process.hrtime.bigint();
  for (let i = 0; i < SEQ; i++) {
    const m = new Message('x'.repeat(32));
    m.messageId = `seq-${i}`;
    const got = delivered(m.messageId);
    const s = process.hrtime.bigint();
    try { await svc.send(devs[0].id, m); } catch (e) { errors++; waiting.delete(m.messageId); continue; }
    await got;
    lat.push(Number(process.hrtime.bigint() - s));
  }
  emit({ key: 'c2d_seq', label: 'C2D Client.send -> MQTT delivery, sequential', n: lat.length, errors,
    ...summarize(lat), client_cpu: cpuSince(c0, t0), note: 'Node service SDK over AMQP/TLS; Node mqtt device' });

  // 2. throughput: 32 outstanding sends spread over the devices (each queue stays under 50)
  errors = 0;
  let sent = 0; let done = 0;
  c0 = process.cpuUsage(); t0 = process.hrtime.bigint();
  const tlat = [];
  await new Promise((resolve) => {
    const next = () => {
      if (sent >= MSGS) { if (done === MSGS) resolve(); return; }
      const i = sent++;
      const m = new Message('y'.repeat(32));
      m.messageId = `tp-${i}`;
      const s = process.hrtime.bigint();
      const got = delivered(m.messageId);
      svc.send(devs[i % devs.length].id, m).then(() => got, () => { errors++; waiting.delete(m.messageId); })
        .then(() => { tlat.push(Number(process.hrtime.bigint() - s)); done++; if (done === MSGS) resolve(); else next(); });
    };
    for (let k = 0; k < 32; k++) next();
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  emit({ key: 'c2d_w32', label: 'C2D send -> delivery, 32 outstanding', n: MSGS, errors, ...summarize(tlat),
    throughput: MSGS / secs, unit: 'msgs/s', client_cpu: cpuSince(c0, t0), note: `${DEVICES} devices` });
  await svc.close();

  // 3. Event Hubs read throughput: EVENTS telemetry messages, then read them all from the start
  const tag = `eh-${run}`;
  await Promise.all(devs.map((d, k) => (async () => {
    for (let i = k; i < EVENTS; i += devs.length) {
      await new Promise((res, rej) => d.c.publish(`devices/${d.id}/messages/events/run=${tag}`, `{"i":${i}}`, { qos: 1 }, (e) => (e ? rej(e) : res())));
    }
  })()));
  const ehcs = process.env.MB_EVENTHUB_CS;
  const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
  const consumer = new EventHubConsumerClient('$default', ehcs);
  let seen = 0; let first = 0n;
  c0 = process.cpuUsage(); t0 = process.hrtime.bigint();
  let sub;
  await new Promise((resolve) => {
    sub = consumer.subscribe({
      processEvents: async (events) => {
        for (const e of events) {
          if (e.properties && e.properties.run === tag) { if (!first) first = process.hrtime.bigint(); seen++; }
        }
        if (seen >= EVENTS) resolve();
      },
      processError: async () => {},
    }, { startPosition: earliestEventPosition, maxBatchSize: 500, maxWaitTimeInSeconds: 1 });
    setTimeout(resolve, 120000);
  });
  const rsecs = Number(process.hrtime.bigint() - t0) / 1e9;
  emit({ key: 'eh_read', label: 'Event Hubs read from start, 4 partitions', n: seen, errors: EVENTS - seen,
    throughput: seen / rsecs, unit: 'events/s', client_cpu: cpuSince(c0, t0),
    note: 'EventHubConsumerClient over AMQP/TLS, maxBatchSize 500; time from subscribe to the last event' });
  await sub.close();
  await consumer.close();
  for (const d of devs) d.c.end(true);
  process.exit(errors || seen < EVENTS ? 1 : 0);
}

main().catch((e) => die(e.stack || String(e)));
