// soak.js - issue 13 part 4: a bounded soak. 200 raw MQTT devices (clean session off, like the SDKs)
// answer direct methods, send reported patches and telemetry, get desired patches and reconnect, at a
// steady rate, while a service side invokes methods, writes desired properties and runs paged queries.
// Every SOAK_WINDOW_S it prints p50/p99 per operation; at the start (after warm-up) and at the end it
// samples RSS and open file descriptors of the mockhub process and of its broker. Exits 1 on any
// error (a failed or unanswered operation), never on timings: the figures are a report. Run by
// tests/soak/run.sh (`make soak`, `make soak-short`), which provides the network namespace.
'use strict';

const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { startHub, cleanupAll, rawMqtt, sleep, serviceToken, runDir } = require('../integration/lib/hub');

const SECONDS = Number(process.env.SOAK_SECONDS || 300);
const WINDOW_S = Number(process.env.SOAK_WINDOW_S || (SECONDS >= 120 ? 30 : 10));
const DEVICES = Number(process.env.SOAK_DEVICES || 200);
const WARMUP_S = Math.min(10, Math.max(3, Math.floor(SECONDS / 10)));
// steady rates (per second, whole hub)
const RATE = {
  method: Number(process.env.SOAK_METHODS_PER_S || 40),
  desired: Number(process.env.SOAK_DESIRED_PER_S || 20),
  reported: Number(process.env.SOAK_REPORTED_PER_S || 40),
  telemetry: Number(process.env.SOAK_TELEMETRY_PER_S || 100),
  reconnect: Number(process.env.SOAK_RECONNECTS_PER_S || 2),
  query: Number(process.env.SOAK_QUERIES_PER_S || 2),
};

const agent = new https.Agent({ keepAlive: true, maxSockets: 16 });
let hub;
let ca;

function request(method, p, body, extraHeaders = {}) {
  const headers = { Authorization: serviceToken(hub), ...extraHeaders };
  let text;
  if (body !== undefined) {
    text = JSON.stringify(body);
    headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['Content-Length'] = Buffer.byteLength(text);
  }
  const sep = p.includes('?') ? '&' : '?';
  return new Promise((resolve, reject) => {
    const req = https.request({ host: hub.host, port: 443, method, path: `${p}${sep}api-version=2021-04-12`, headers, ca, agent },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          const t = Buffer.concat(chunks).toString('utf8');
          let json = null;
          try { json = t ? JSON.parse(t) : null; } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, body: t, json });
        });
      });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${p}: no answer in 30 s`)));
    req.on('error', reject);
    if (text !== undefined) req.write(text);
    req.end();
  });
}

// ---- measurements ----
const errors = [];
function fail(what) {
  if (errors.length < 50) console.error(`soak error: ${what}`);
  errors.push(what);
}
let window = {};
const windows = [];
const totals = {};
function record(op, ms) {
  (window[op] = window[op] || []).push(ms);
  totals[op] = (totals[op] || 0) + 1;
}
function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function closeWindow(t) {
  const row = { t };
  for (const [op, v] of Object.entries(window)) {
    v.sort((a, b) => a - b);
    row[op] = { n: v.length, p50: +pct(v, 50).toFixed(1), p99: +pct(v, 99).toFixed(1) };
  }
  try { row.resources = resources(); } catch { /* sampled at the end anyway */ }
  windows.push(row);
  window = {};
  const cols = Object.keys(RATE).concat('reportedAck').filter((op) => row[op])
    .map((op) => (op === 'reported' || op === 'telemetry' ? `${op} ${row[op].n}` // sent, not timed
      : `${op} ${row[op].n} p50 ${row[op].p50} p99 ${row[op].p99}`));
  const res = row.resources ? ` | hub ${row.resources.mockhub.rssKiB} KiB ${row.resources.mockhub.fds} fds` : '';
  console.log(`[${String(t).padStart(4)} s] ${cols.join(' | ')}${res}${errors.length ? ` | ERRORS ${errors.length}` : ''}`);
}

function childPids(pid) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m && Number(m[2]) === pid) out.push({ pid: Number(name), comm: m[1] });
    } catch { /* gone */ }
  }
  return out;
}
function sample(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  return { rssKiB: rss, fds: fs.readdirSync(`/proc/${pid}/fd`).length, threads: Number(/Threads:\s+(\d+)/.exec(status)[1]) };
}
function resources() {
  const broker = childPids(hub.proc.pid).find((c) => c.comm === 'mosquitto');
  return { mockhub: sample(hub.proc.pid), broker: broker ? sample(broker.pid) : null };
}

// ---- devices ----
const devices = [];
async function connect(d) {
  const { client } = await rawMqtt(hub, d.id, d.key, { timeout: 10000 });
  client.on('error', () => {});
  client.on('message', (topic, payload) => {
    if (topic.startsWith('$iothub/methods/POST/')) {
      const rid = /\$rid=([^&]+)/.exec(topic)[1];
      client.publish(`$iothub/methods/res/200/?$rid=${rid}`, JSON.stringify({ me: d.id, echo: payload.length }));
    } else if (topic.startsWith('$iothub/twin/res/')) {
      const rid = /\$rid=([^&]+)/.exec(topic)[1];
      const p = d.pending.get(rid);
      if (p) {
        d.pending.delete(rid);
        const status = Number(topic.split('/')[3]);
        if (status !== 204 && status !== 200) fail(`${d.id}: twin reply ${topic}`);
        record('reportedAck', Number(process.hrtime.bigint() - p) / 1e6);
      }
    } else if (topic.startsWith('$iothub/twin/PATCH/properties/desired/')) {
      d.desiredSeen += 1;
    }
  });
  client.on('close', () => { if (d.client === client && !d.reconnecting && !stopping) fail(`${d.id}: connection lost`); });
  return client;
}

async function setupDevices() {
  const tag = `soak-${process.pid.toString(36)}`;
  const ids = Array.from({ length: DEVICES }, (_, i) => `${tag}-${i}`);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < ids.length) {
      const id = ids[next++];
      const r = await request('PUT', `/devices/${encodeURIComponent(id)}`, { deviceId: id });
      if (r.status !== 200) throw new Error(`create ${id}: ${r.status} ${r.body}`);
      devices.push({ id, key: r.json.authentication.symmetricKey.primaryKey, pending: new Map(), desiredSeen: 0, rid: 0, reconnecting: false });
    }
  }));
  next = 0;
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (next < devices.length) {
      const d = devices[next++];
      d.client = await connect(d);
      for (const f of ['$iothub/methods/POST/#', '$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#']) {
        await new Promise((res, rej) => d.client.subscribe(f, { qos: 0 }, (e) => (e ? rej(e) : res())));
      }
    }
  }));
  // one reported patch each: the query's population, and a barrier for the subscriptions above
  for (const d of devices) reported(d, true);
  const end = Date.now() + 30000;
  while (devices.some((d) => d.pending.size) && Date.now() < end) await sleep(50);
}

function reported(d, quiet = false) {
  if (d.reconnecting) return;
  d.rid += 1;
  const rid = `r${d.rid}`;
  d.pending.set(rid, process.hrtime.bigint());
  d.client.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid}`, JSON.stringify({ soak: true, n: d.rid }));
  if (quiet) return;
  setTimeout(() => { if (d.pending.delete(rid) && !d.reconnecting) fail(`${d.id}: no reply to reported patch ${rid} in 15 s`); }, 15000);
}

function pick() {
  for (let i = 0; i < 20; i++) {
    const d = devices[Math.floor(Math.random() * devices.length)];
    if (!d.reconnecting) return d;
  }
  return null;
}

// ---- operations ----
const ops = {
  async method() {
    const d = pick();
    if (!d) return;
    const t = process.hrtime.bigint();
    const r = await request('POST', `/twins/${encodeURIComponent(d.id)}/methods`, { methodName: 'soak', payload: { x: 1 }, responseTimeoutInSeconds: 10 });
    if (d.reconnecting && r.status === 404) return; // it left between pick and call
    if (r.status !== 200 || !r.json || r.json.status !== 200) return fail(`method ${d.id}: ${r.status} ${r.body.slice(0, 200)}`);
    record('method', Number(process.hrtime.bigint() - t) / 1e6);
  },
  async desired() {
    const d = pick();
    if (!d) return;
    const t = process.hrtime.bigint();
    const r = await request('PATCH', `/twins/${encodeURIComponent(d.id)}`, { properties: { desired: { v: Date.now() } } }, { 'If-Match': '*' });
    if (r.status !== 200) return fail(`desired ${d.id}: ${r.status} ${r.body.slice(0, 200)}`);
    record('desired', Number(process.hrtime.bigint() - t) / 1e6);
  },
  async reported() {
    const d = pick();
    if (d) { reported(d); record('reported', 0); }
  },
  async telemetry() {
    const d = pick();
    if (!d) return;
    d.client.publish(`devices/${d.id}/messages/events/k=v`, JSON.stringify({ t: Date.now(), pad: 'x'.repeat(200) }), { qos: 1 });
    record('telemetry', 0);
  },
  async reconnect() {
    const d = pick();
    if (!d) return;
    const t = process.hrtime.bigint();
    d.reconnecting = true;
    await new Promise((r) => d.client.end(false, {}, r));
    for (const rid of d.pending.keys()) d.pending.delete(rid);
    try {
      d.client = await connect(d); // clean=false: the session keeps its subscriptions
    } catch (e) {
      d.reconnecting = false;
      return fail(`reconnect ${d.id}: ${e.message}`);
    }
    // a twin GET round trip: the hub has seen the connection when it answers
    await new Promise((resolve) => {
      const rid = `g${t}`;
      const timer = setTimeout(() => { fail(`${d.id}: no twin GET reply after reconnect`); resolve(); }, 15000);
      const on = (topic) => { if (topic.includes(`$rid=${rid}`)) { clearTimeout(timer); d.client.removeListener('message', on); resolve(); } };
      d.client.on('message', on);
      d.client.publish(`$iothub/twin/GET/?$rid=${rid}`, '');
    });
    d.reconnecting = false;
    record('reconnect', Number(process.hrtime.bigint() - t) / 1e6);
  },
  async query() {
    const t = process.hrtime.bigint();
    let count = 0;
    let cont;
    for (let page = 0; page < 50; page++) {
      const r = await request('POST', '/devices/query', { query: 'SELECT deviceId FROM devices WHERE properties.reported.soak = true' },
        { 'x-ms-max-item-count': '100', ...(cont ? { 'x-ms-continuation': cont } : {}) });
      if (r.status !== 200) return fail(`query: ${r.status} ${r.body.slice(0, 200)}`);
      count += r.json.length;
      cont = r.headers['x-ms-continuation'];
      if (!cont) break;
    }
    if (count < DEVICES) return fail(`query found ${count} of ${DEVICES} devices`);
    record('query', Number(process.hrtime.bigint() - t) / 1e6);
  },
};

/* The REST client's idle keep-alive sockets closed, so that fd counts compare like with like. */
async function idle() {
  agent.destroy();
  await sleep(300);
}

let stopping = false;
async function drive(op, perSecond, until) {
  if (perSecond <= 0) return;
  const inflight = new Set();
  const interval = 1000 / perSecond;
  let next = Date.now();
  while (Date.now() < until) {
    next += interval;
    if (inflight.size < 64) {
      const p = ops[op]().catch((e) => fail(`${op}: ${e.message}`)).finally(() => inflight.delete(p));
      inflight.add(p);
    } else {
      fail(`${op}: 64 operations in flight (the hub stopped answering)`);
    }
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(inflight);
}

async function main() {
  hub = await startHub({ dataDir: path.join(runDir(), 'data') });
  ca = fs.readFileSync(hub.ca);
  console.log(`soak: ${DEVICES} devices, ${SECONDS} s, rates/s ${JSON.stringify(RATE)}, windows of ${WINDOW_S} s, run dir ${runDir()}`);
  await setupDevices();
  const t0 = Date.now();
  // warm-up at full rate, then the baseline sample
  const warm = Date.now() + WARMUP_S * 1000;
  await Promise.all(Object.entries(RATE).map(([op, r]) => drive(op, r, warm)));
  window = {};
  await idle();
  const start = { at: Math.round((Date.now() - t0) / 1000), ...resources() };
  const until = Date.now() + SECONDS * 1000;
  const ticker = setInterval(() => closeWindow(Math.round((Date.now() - t0) / 1000)), WINDOW_S * 1000);
  await Promise.all(Object.entries(RATE).map(([op, r]) => drive(op, r, until)));
  clearInterval(ticker);
  if (Object.keys(window).length) closeWindow(Math.round((Date.now() - t0) / 1000));
  await sleep(2000); // replies still on their way
  await idle();
  const end = { at: Math.round((Date.now() - t0) / 1000), ...resources() };
  // the hub's caches (SQLite's page cache, the telemetry window) fill during the first minutes: growth
  // from the middle of the run to its end is the one a leak would show
  const mid = windows[Math.floor(windows.length / 2)] && windows[Math.floor(windows.length / 2)].resources;
  const growth = (a, b) => (a ? +(((b - a) / a) * 100).toFixed(1) : null);
  const report = {
    seconds: SECONDS, devices: DEVICES, rates: RATE, totals, errors: errors.length, firstErrors: errors.slice(0, 20),
    windows, resources: { start, end,
      growthPercent: {
        mockhubRss: growth(start.mockhub.rssKiB, end.mockhub.rssKiB), mockhubFds: growth(start.mockhub.fds, end.mockhub.fds),
        brokerRss: start.broker && end.broker ? growth(start.broker.rssKiB, end.broker.rssKiB) : null,
        brokerFds: start.broker && end.broker ? growth(start.broker.fds, end.broker.fds) : null,
      },
      growthPercentFromMiddle: mid ? {
        mockhubRss: growth(mid.mockhub.rssKiB, end.mockhub.rssKiB),
        brokerRss: mid.broker && end.broker ? growth(mid.broker.rssKiB, end.broker.rssKiB) : null,
      } : null },
  };
  stopping = true;
  fs.writeFileSync(path.join(runDir(), 'soak-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`resources at ${start.at} s: ${JSON.stringify({ mockhub: start.mockhub, broker: start.broker })}`);
  console.log(`resources at ${end.at} s: ${JSON.stringify({ mockhub: end.mockhub, broker: end.broker })}`);
  console.log(`growth (%): ${JSON.stringify(report.resources.growthPercent)} (target: under 10); ` +
    `RSS growth from the middle of the run: ${JSON.stringify(report.resources.growthPercentFromMiddle)}`);
  console.log(`operations: ${JSON.stringify(totals)}; errors: ${errors.length}`);
  console.log(`report: ${path.join(runDir(), 'soak-report.json')}`);
  await Promise.all(devices.map((d) => new Promise((r) => d.client.end(true, {}, r))));
  agent.destroy();
  await cleanupAll();
  return errors.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), async (e) => {
  console.error(`soak: ${e.stack || e}`);
  stopping = true;
  await cleanupAll().catch(() => {});
  process.exit(2);
});
