// stress.test.js - concurrency and lifetime edges of the daemon, made to be run also against
// sanitizer builds (MOCKHUB_BUILD_DIR=build-san-*, see README): many concurrent direct-method calls
// with timeouts and devices dropping mid-call, calls waiting for a device that connects meanwhile,
// desired pushes racing each other and a reconnect, takeovers by the same device id, a delete while
// a call waits, and a hub stopped with calls in flight. Every hub's log must stay free of
// AddressSanitizer/UBSan/ThreadSanitizer/LeakSanitizer reports.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, registry, withTimeout, waitFor, sleep, rest, rawMqtt, iotHubError,
} = require('./lib/hub');

const ctx = useHub();

// Reports a sanitizer prints into the hub's stderr (the hub log). TSan's exit code 66 is also caught
// by the exit-code check below.
const SANITIZER_REPORT = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|runtime error:|ThreadSanitizer: reported/;

function sanitizerReports(hub) {
  return hub.log().split('\n').filter((l) => SANITIZER_REPORT.test(l));
}

const subscribe = (client, filter) => new Promise((res, rej) =>
  client.subscribe(filter, { qos: 0 }, (e, granted) => (e ? rej(e) : res(granted))));

/** A raw MQTT device (clean=false, like the SDK) subscribed to filters. A twin GET round trip is the
 * barrier: the hub handles one connection's events in order, so its SUBSCRIBEs are known after it. */
async function rawDevice(hub, d, { filters = ['$iothub/methods/POST/#'], clientId } = {}) {
  const { client, connack } = await rawMqtt(hub, d.deviceId, d.key, { clientId });
  for (const f of [...filters, '$iothub/twin/res/#']) await subscribe(client, f);
  await barrier(client);
  return { client, connack };
}

let barrierSeq = 0;
function barrier(client) {
  barrierSeq += 1;
  const rid = `b${barrierSeq}`;
  return withTimeout(new Promise((resolve) => {
    const on = (topic) => {
      if (topic.startsWith('$iothub/twin/res/') && topic.includes(`$rid=${rid}`)) {
        client.removeListener('message', on);
        resolve();
      }
    };
    client.on('message', on);
    client.publish(`$iothub/twin/GET/?$rid=${rid}`, '');
  }), 10000, 'twin GET barrier');
}

/** Answers every method request with 200 {echo: request payload, device} after 0-20 ms. */
function answerMethods(client, deviceId) {
  client.on('message', (topic, payload) => {
    const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (!m) return;
    const echo = payload.length ? JSON.parse(payload.toString()) : null;
    setTimeout(() => client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`,
      JSON.stringify({ echo, device: deviceId })), Math.floor(Math.random() * 20));
  });
}

function invoke(hub, deviceId, body, timeout = 30000) {
  return rest(hub, 'POST', `/twins/${encodeURIComponent(deviceId)}/methods`, { body, timeout });
}

/** Runs fns with at most n in flight (the hub has 2 REST threads; a real app fans out like this). */
async function pool(n, fns) {
  const out = new Array(fns.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < fns.length) {
      const i = next;
      next += 1;
      out[i] = await fns[i]();
    }
  }));
  return out;
}

test('many concurrent method calls: answered, timed out and dropped mid-call; each gets exactly its answer', { timeout: 120000 }, async () => {
  const hub = ctx.hub;
  const responders = [];
  for (let i = 0; i < 4; i += 1) {
    const d = await createDevice(hub, uid('st-resp'));
    const { client } = await rawDevice(hub, d);
    answerMethods(client, d.deviceId);
    responders.push(d);
  }
  const silent = await createDevice(hub, uid('st-silent'));
  await rawDevice(hub, silent); // never answers
  const dropper = await createDevice(hub, uid('st-drop'));
  const dropConn = await rawDevice(hub, dropper);
  let dropped = false;
  dropConn.client.on('message', (topic) => {
    if (!dropped && topic.startsWith('$iothub/methods/POST/')) {
      dropped = true;
      dropConn.client.end(true); // gone mid-call, without answering
    }
  });

  const calls = [];
  for (const d of responders) {
    for (let n = 0; n < 25; n += 1) {
      calls.push({ kind: 'resp', d, n, run: () => invoke(hub, d.deviceId, { methodName: 'echo', payload: { n, to: d.deviceId }, responseTimeoutInSeconds: 20 }) });
    }
  }
  for (let n = 0; n < 6; n += 1) {
    calls.push({ kind: 'silent', n, run: () => invoke(hub, silent.deviceId, { methodName: 'm', payload: { n }, responseTimeoutInSeconds: 5 }) });
    calls.push({ kind: 'drop', n, run: () => invoke(hub, dropper.deviceId, { methodName: 'm', payload: { n }, responseTimeoutInSeconds: 5 }) });
  }
  // interleave the kinds so timeouts, drops and answers overlap
  calls.sort(() => Math.random() - 0.5);
  const results = await pool(24, calls.map((c) => c.run));

  const problems = [];
  results.forEach((r, i) => {
    const c = calls[i];
    const what = `${c.kind} #${c.n}: ${r.status} ${r.body.slice(0, 200)}`;
    if (c.kind === 'resp') {
      const want = { status: 200, payload: { echo: { n: c.n, to: c.d.deviceId }, device: c.d.deviceId } };
      try { assert.deepEqual(r.json, want); } catch { problems.push(`${what} (expected ${JSON.stringify(want)})`); }
    } else if (c.kind === 'silent') {
      if (r.status !== 504 || (iotHubError(r) || {}).code !== 'GatewayTimeout') problems.push(what);
    } else if (!((r.status === 504 && (iotHubError(r) || {}).code === 'GatewayTimeout') ||
      (r.status === 404 && (iotHubError(r) || {}).code === 'DeviceNotOnline'))) {
      problems.push(what);
    }
  });
  assert.deepEqual(problems, [], `${problems.length} of ${calls.length} calls got a wrong answer`);
  assert.ok(dropped, 'the dropping device got a call');
  // the hub still serves, and the dropped device is offline
  const r = await invoke(hub, dropper.deviceId, { methodName: 'm', responseTimeoutInSeconds: 5 });
  assert.equal(r.status, 404);
});

test('calls waiting on connectTimeout reach a device that connects and subscribes meanwhile, none lost', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const devices = [];
  for (let i = 0; i < 4; i += 1) devices.push(await createDevice(hub, uid('st-late')));
  const pending = [];
  const conns = [];
  for (const d of devices) {
    // calls fired before, during and after the device's CONNECT/SUBSCRIBE
    const fire = (n) => pending.push({ d, n, p: invoke(hub, d.deviceId, { methodName: 'late', payload: { n, to: d.deviceId }, connectTimeoutInSeconds: 20, responseTimeoutInSeconds: 20 }) });
    for (let n = 0; n < 5; n += 1) fire(n);
    conns.push((async () => {
      await sleep(Math.floor(Math.random() * 300));
      const { client } = await rawMqtt(hub, d.deviceId, d.key);
      answerMethods(client, d.deviceId);
      const sub = subscribe(client, '$iothub/methods/POST/#');
      for (let n = 5; n < 10; n += 1) { fire(n); await sleep(5); }
      await sub;
    })());
  }
  await Promise.all(conns);
  const results = await Promise.all(pending.map((x) => x.p));
  const problems = [];
  results.forEach((r, i) => {
    const { d, n } = pending[i];
    const want = { status: 200, payload: { echo: { n, to: d.deviceId }, device: d.deviceId } };
    try { assert.deepEqual(r.json, want); } catch { problems.push(`${d.deviceId} #${n}: ${r.status} ${r.body.slice(0, 200)}`); }
  });
  assert.deepEqual(problems, [], 'every waiting call is delivered once the device subscribes');
});

test('desired pushes racing each other and a reconnect: every PATCH answered, pushes arrive in $version order', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const d = await createDevice(hub, uid('st-desired'));
  const filters = ['$iothub/twin/PATCH/properties/desired/#'];
  const seen = []; // [connection#, $version, n]
  const watch = (client, k) => client.on('message', (topic, payload) => {
    const m = /^\$iothub\/twin\/PATCH\/properties\/desired\/\?\$version=(\d+)$/.exec(topic);
    if (m) seen.push([k, Number(m[1]), JSON.parse(payload.toString()).n]);
  });
  const first = await rawDevice(hub, d, { filters });
  watch(first.client, 1);

  const patch = (n) => rest(hub, 'PATCH', `/twins/${encodeURIComponent(d.deviceId)}`,
    { body: { properties: { desired: { n } } }, headers: { 'If-Match': '*' } });
  const batch1 = Array.from({ length: 20 }, (_, n) => () => patch(n));
  const batch2 = Array.from({ length: 20 }, (_, n) => () => patch(100 + n));
  let second = null;
  const [r1, r2] = await Promise.all([
    pool(8, batch1),
    (async () => {
      await sleep(30);
      first.client.end(true);
      // same id, clean=false, no re-subscribe: the session keeps the desired subscription
      second = await rawMqtt(hub, d.deviceId, d.key);
      watch(second.client, 2);
      return pool(8, batch2);
    })(),
  ]);
  for (const r of [...r1, ...r2]) assert.equal(r.status, 200, r.body.slice(0, 300));
  const versions = [...r1, ...r2].map((r) => r.json.properties.desired.$version).sort((a, b) => a - b);
  for (let i = 1; i < versions.length; i += 1) assert.equal(versions[i], versions[i - 1] + 1, 'each PATCH got its own $version');

  // after the reconnect has settled, one more change reaches the device
  await barrier(second.client);
  const final = await patch(999);
  assert.equal(final.status, 200);
  await waitFor(() => seen.some(([k, , n]) => k === 2 && n === 999), { timeout: 10000, what: 'desired push after the reconnect' });
  // within one connection, pushes come in $version order and each carries that version's value
  const byVersion = new Map([...r1, ...r2, final].map((r) => [r.json.properties.desired.$version, r.json.properties.desired.n]));
  for (const k of [1, 2]) {
    const vs = seen.filter((s) => s[0] === k);
    for (let i = 1; i < vs.length; i += 1) {
      assert.ok(vs[i][1] > vs[i - 1][1], `connection ${k}: push $version ${vs[i][1]} after ${vs[i - 1][1]}`);
    }
    for (const [, v, n] of vs) assert.equal(n, byVersion.get(v), `push $version ${v} carries its own value`);
  }
  const twin = (await withTimeout(reg.getTwin(d.deviceId), 10000, 'getTwin')).responseBody;
  assert.equal(twin.properties.desired.n, 999);
});

test('takeover by the same device id, over and over: the newest connection gets the calls, state follows', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const d = await createDevice(hub, uid('st-take'));
  const conns = [];
  for (let i = 0; i < 8; i += 1) {
    // without closing the previous one: the broker drops it (a takeover), its late DISCONNECT must not
    // make the device look offline
    const { client } = await rawMqtt(hub, d.deviceId, d.key, { clean: i % 2 === 0 });
    client.on('error', () => {});
    await subscribe(client, '$iothub/methods/POST/#');
    conns.push(client);
  }
  // two at once, twice
  for (let round = 0; round < 2; round += 1) {
    const pair = await Promise.allSettled([0, 1].map(() => rawMqtt(hub, d.deviceId, d.key)));
    for (const p of pair) if (p.status === 'fulfilled') { p.value.client.on('error', () => {}); conns.push(p.value.client); }
  }
  const last = await rawDevice(hub, d);
  const lastId = 'last';
  last.client.on('message', (topic) => {
    const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (m) last.client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, JSON.stringify({ who: lastId }));
  });
  for (const c of conns) {
    c.on('message', (topic) => {
      const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
      if (m) c.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, JSON.stringify({ who: 'old' }));
    });
  }
  await sleep(300); // the old connections' DISCONNECTs have been handled
  const results = await pool(4, Array.from({ length: 8 }, () => () => invoke(hub, d.deviceId, { methodName: 'who', responseTimeoutInSeconds: 10 })));
  for (const r of results) assert.deepEqual(r.json, { status: 200, payload: { who: lastId } });
  const t = (await withTimeout(reg.get(d.deviceId), 10000, 'Registry.get')).responseBody;
  assert.equal(t.connectionState, 'Connected');
  last.client.end(true);
  await waitFor(async () => (await reg.get(d.deviceId)).responseBody.connectionState === 'Disconnected',
    { timeout: 10000, what: 'Disconnected after the last connection closed' });
  const r = await invoke(hub, d.deviceId, { methodName: 'who', responseTimeoutInSeconds: 5 });
  assert.equal(r.status, 404);
});

test('a device deleted while calls wait for it: every call answered, the hub keeps serving', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('st-del'));
  await rawDevice(hub, d); // subscribed, never answers
  const offline = await createDevice(hub, uid('st-del-off'));
  const calls = [
    ...Array.from({ length: 5 }, (_, n) => invoke(hub, d.deviceId, { methodName: 'm', payload: { n }, responseTimeoutInSeconds: 5 })),
    ...Array.from({ length: 5 }, (_, n) => invoke(hub, offline.deviceId, { methodName: 'm', payload: { n }, connectTimeoutInSeconds: 5 })),
  ];
  await sleep(200);
  for (const x of [d, offline]) {
    const del = await rest(hub, 'DELETE', `/devices/${encodeURIComponent(x.deviceId)}`, { headers: { 'If-Match': '*' } });
    assert.equal(del.status, 204);
  }
  const results = await Promise.all(calls);
  for (const r of results) assert.ok([404, 504].includes(r.status), `${r.status} ${r.body.slice(0, 200)}`);
  const h = await rest(hub, 'GET', '/health', { token: null, apiVersion: null });
  assert.equal(h.status, 200);
});

// Last: it stops the file's hub (a second hub in the same network namespace would collide on its ports).
test('the hub stopped with method calls in flight and requests arriving answers or closes each, exits 0, and its log has no sanitizer report', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('st-stop'));
  await rawDevice(hub, d); // never answers
  const offline = await createDevice(hub, uid('st-stop-off'));
  const settle = (p) => p.then((r) => ({ status: r.status }), (e) => ({ error: e.message }));
  const inflight = [
    ...Array.from({ length: 10 }, () => settle(invoke(hub, d.deviceId, { methodName: 'm', responseTimeoutInSeconds: 300 }, 60000))),
    ...Array.from({ length: 10 }, () => settle(invoke(hub, offline.deviceId, { methodName: 'm', connectTimeoutInSeconds: 300 }, 60000))),
  ];
  await sleep(500);
  // keep calls arriving while the hub stops
  let stopping = true;
  const late = [];
  const feeder = (async () => {
    while (stopping) {
      late.push(settle(invoke(hub, d.deviceId, { methodName: 'm', responseTimeoutInSeconds: 300 }, 60000)));
      await sleep(10);
    }
  })();
  const exit = hub._exitPromise;
  await hub.stop({ timeout: 20000 });
  stopping = false;
  await feeder;
  const { code, signal } = await exit;
  const results = await Promise.all([...inflight, ...late]);
  for (const r of results.slice(0, inflight.length)) {
    assert.ok(r.error || r.status === 503, `in-flight call at stop: ${JSON.stringify(r)}`);
  }
  assert.deepEqual(sanitizerReports(hub), [], 'no sanitizer report in the hub log');
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, 'the hub exits 0 on SIGTERM with calls in flight');
});
