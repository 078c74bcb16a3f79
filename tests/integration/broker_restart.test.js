// broker_restart.test.js - issue 13 part 2: the broker supervised. `kill -9` of the broker under
// direct-method load: calls waiting on a device end at once with 404103 (never by their timeout), every
// device reads Disconnected, the launcher starts the broker again with the same ports, secret and
// persistence, and Node SDK devices (default retry policy) answer methods and get desired pushes again;
// the recovery time is measured and written to <run dir>/broker_restart.json. A broker that keeps
// dying backs off, on stderr and in /health.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  useHub, uid, createDevice, openDevice, serviceClient, registry, withTimeout, waitFor, sleep, rest,
  rawMqtt, iotHubError, runDir, onCleanup,
} = require('./lib/hub');

const ctx = useHub();

/** The pid of the hub's mosquitto child (its own process group, so found through /proc). */
function brokerPid(hub) {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try { stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && m[1] === 'mosquitto' && Number(m[2]) === hub.proc.pid) return Number(name);
  }
  return null;
}

async function health(hub) {
  const r = await rest(hub, 'GET', '/health', { token: null, apiVersion: null, timeout: 5000 });
  return { ...r.json, http: r.status };
}

function invoke(hub, deviceId, body, timeout = 30000) {
  return rest(hub, 'POST', `/twins/${encodeURIComponent(deviceId)}/methods`, { body, timeout });
}

async function killBroker(hub) {
  const pid = brokerPid(hub);
  assert.ok(pid, 'the broker runs as a child of mockhub');
  hub.mark(`kill -9 broker ${pid}`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

test('kill -9 of the broker under method load: calls fail at once, presence resets, devices are back within seconds', { timeout: 180000 }, async () => {
  const hub = ctx.hub;
  const svc = serviceClient(hub);
  const reg = registry(hub);
  // SDK devices with the default retry policy: answer methods, record desired pushes
  const sdk = [];
  for (let i = 0; i < 4; i++) {
    const d = await createDevice(hub, uid('br-sdk'));
    const client = await openDevice(hub, d.connectionString);
    client.onDeviceMethod('ping', (req, res) => res.send(200, { i }));
    // The SDK retries by itself after a clean close, but a kill -9 of the broker with bytes still
    // unread in its socket makes the kernel reset the connection, and azure-iot-device 1.18.4 treats
    // the raw "read ECONNRESET" as not retryable: it emits 'disconnect' and stops (seen in about 1 run
    // of 3). Its own samples reopen the client on 'disconnect'; so does this device app.
    client.on('disconnect', () => {
      const reopen = () => client.open().catch(() => setTimeout(reopen, 200));
      reopen();
    });
    const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
    const desired = [];
    twin.on('properties.desired', (p) => desired.push({ at: Date.now(), p: JSON.parse(JSON.stringify(p)) }));
    sdk.push({ ...d, client, twin, desired });
  }
  // a raw device that takes calls and never answers: its calls are in flight when the broker dies
  const silent = await createDevice(hub, uid('br-silent'));
  const { client: silentConn } = await rawMqtt(hub, silent.deviceId, silent.key);
  silentConn.on('error', () => {});
  await new Promise((res, rej) => silentConn.subscribe('$iothub/methods/POST/#', { qos: 0 }, (e) => (e ? rej(e) : res())));
  await waitFor(async () => (await reg.getTwin(silent.deviceId)).responseBody.connectionState === 'Connected',
    { timeout: 10000, what: 'silent device connected' });
  await sleep(300);

  // background method load on the SDK devices
  let loading = true;
  const outcomes = [];
  onCleanup(() => { loading = false; });
  const load = Promise.all(sdk.map(async (d) => {
    while (loading) {
      const t = Date.now();
      const r = await invoke(hub, d.deviceId, { methodName: 'ping', responseTimeoutInSeconds: 10 }, 20000).catch((e) => ({ status: -1, error: e.message }));
      outcomes.push({ at: t, ms: Date.now() - t, status: r.status, code: (iotHubError(r) || {}).code });
      if (r.status !== 200) await sleep(50);
    }
  }));
  const stuck = Array.from({ length: 5 }, () => {
    const t = Date.now();
    return invoke(hub, silent.deviceId, { methodName: 'never', responseTimeoutInSeconds: 120 }, 150000)
      .then((r) => ({ r, ms: Date.now() - t }));
  });
  await sleep(1000);
  const okBefore = outcomes.filter((o) => o.status === 200).length;
  assert.ok(okBefore > 0, 'method load runs before the kill');

  const t0 = Date.now();
  await killBroker(hub);
  // calls in flight to the silent device end at once with DeviceNotOnline, not after 120 s
  const ended = await withTimeout(Promise.all(stuck), 15000, 'calls in flight to end');
  for (const { r, ms } of ended) {
    assert.equal(r.status, 404, `in-flight call: ${r.status} ${r.body}`);
    assert.equal(iotHubError(r).code, 'DeviceNotOnline');
    assert.ok(Date.now() - t0 < 10000, `ended ${ms} ms after it started`);
  }
  const failFastMs = Date.now() - t0; // upper bound: every in-flight call had ended by now
  // presence: the silent device (no retry) reads Disconnected and is refused at once
  await waitFor(async () => (await reg.getTwin(silent.deviceId)).responseBody.connectionState === 'Disconnected',
    { timeout: 10000, what: 'the silent device to read Disconnected' });
  const offline = await invoke(hub, silent.deviceId, { methodName: 'm' });
  assert.equal(offline.status, 404);
  assert.equal(iotHubError(offline).code, 'DeviceNotOnline');

  // the broker comes back by itself
  await waitFor(async () => { const h = await health(hub); return h.http === 200 && h.brokerRestarts >= 1; },
    { timeout: 20000, interval: 50, what: '/health ok with brokerRestarts >= 1' });
  const healthyMs = Date.now() - t0;
  const h = await health(hub);
  assert.match(h.brokerLastExit, /killed by signal 9/);
  assert.match(hub.log(), /the broker exited unexpectedly \(killed by signal 9/);

  // every SDK device answers a method and gets a desired push again; measure from the kill
  const recovered = await Promise.all(sdk.map(async (d, i) => {
    const r = await waitFor(async () => {
      const { result } = await svc.invokeDeviceMethod(d.deviceId, { methodName: 'ping', payload: {}, responseTimeoutInSeconds: 5 });
      return result.status === 200 ? Date.now() : null;
    }, { timeout: 60000, interval: 100, what: `device ${i} answering methods again` });
    let n = 0;
    const pushed = await waitFor(async () => {
      n += 1;
      await reg.updateTwin(d.deviceId, { properties: { desired: { afterKill: n } } }, '*');
      await sleep(100);
      const got = d.desired.find((x) => x.p.afterKill !== undefined && x.at > t0);
      return got ? got.at : null;
    }, { timeout: 60000, interval: 100, what: `device ${i} getting desired pushes again` });
    return Math.max(r, pushed) - t0;
  }));
  loading = false;
  await load;
  const failedCalls = outcomes.filter((o) => o.at >= t0 - 1000 && o.status !== 200);
  for (const o of failedCalls) {
    // during the outage a call fails with the hub's error at once (never a hang to its timeout)
    assert.ok(o.ms < 10000, `a call during the outage took ${o.ms} ms (status ${o.status})`);
    assert.ok([404, 503].includes(o.status), `outage status ${o.status} ${o.code}`);
  }
  const figures = {
    healthyMs, recoveredMs: recovered, maxRecoveredMs: Math.max(...recovered), failFastMs,
    failedCallsDuringOutage: failedCalls.length, maxFailedCallMs: Math.max(0, ...failedCalls.map((o) => o.ms)),
  };
  fs.writeFileSync(path.join(runDir(), 'broker_restart.json'), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`# broker kill -9 recovery: ${JSON.stringify(figures)}`);
  // a bound to catch a hang (the target, 5 s, is reported, not asserted: timings vary on shared CI)
  assert.ok(figures.maxRecoveredMs < 30000, `recovered in ${figures.maxRecoveredMs} ms`);
  const state = (await reg.getTwin(sdk[0].deviceId)).responseBody.connectionState;
  assert.equal(state, 'Connected');
  // closed while connected: the SDK's retries would otherwise outlive the file when the next test
  // kills the broker again
  await Promise.all(sdk.map((d) => withTimeout(d.client.close(), 10000, 'close').catch(() => {})));
});

test('a broker that keeps dying is restarted with back-off, reported on stderr and in /health', { timeout: 120000 }, async () => {
  const hub = ctx.hub;
  const before = (await health(hub)).brokerRestarts;
  for (let i = 0; i < 3; i++) {
    let last;
    await waitFor(async () => { last = await health(hub); return last.http === 200 && brokerPid(hub); },
      { timeout: 30000, interval: 50, what: 'broker up' }).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(last)} pid ${brokerPid(hub)}`); });
    await killBroker(hub);
    await waitFor(async () => (await health(hub)).brokerRestarts > before + i || (await health(hub)).brokerBackoffMs > 0,
      { timeout: 30000, interval: 50, what: `restart ${i + 1} noticed` });
  }
  assert.match(hub.log(), /crash loop, restarting it in \d+ ms/);
  await waitFor(async () => { const h = await health(hub); return h.http === 200 && h.brokerRestarts >= before + 3; },
    { timeout: 60000, interval: 100, what: 'the hub to be healthy after the crash loop' });
  // and it serves devices again
  const d = await createDevice(hub, uid('br-after'));
  const client = await openDevice(hub, d.connectionString);
  client.onDeviceMethod('ping', (req, res) => res.send(200, 'pong'));
  await waitFor(async () => {
    const { result } = await serviceClient(hub).invokeDeviceMethod(d.deviceId, { methodName: 'ping', payload: {} });
    return result.status === 200;
  }, { timeout: 20000, interval: 200, what: 'a method call after the crash loop' });
});
