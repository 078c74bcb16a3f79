// errors.test.js - every bad input of issue #2 item 5 against the real hub, through Microsoft's SDKs
// where they can express it and raw HTTPS/MQTT where they cannot: the IoT Hub error (status, error
// code, the SDK's own error type) comes back, the hub keeps serving, and stored data does not change.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const {
  useHub, uid, createDevice, openDevice, deviceClient, registry, serviceClient, withTimeout, waitFor, sleep,
  rest, iotHubError, rejectsWith, serviceToken, deviceToken, rawMqtt, deviceConnectionString,
} = require('./lib/hub');

const ctx = useHub();
let sentinel = null; // a device whose stored state no bad input may change

const enc = encodeURIComponent;
const KB = 1024;

/** Asserts an IoT Hub REST error: status, JSON content type, {"Message":"ErrorCode:X;..."} body
 * (or the JSON-string form), and, when codes is given, one of those error names/numbers. */
function assertHubError(res, status, codes, what) {
  const statuses = Array.isArray(status) ? status : [status];
  const label = `${what}: got ${res.status} ${res.body.slice(0, 300)}`;
  assert.ok(statuses.includes(res.status), `${label} (expected ${statuses.join(' or ')})`);
  assert.match(String(res.headers['content-type']), /application\/json/, `${label}: content-type`);
  const e = iotHubError(res);
  assert.ok(e, `${label}: not an IoT Hub error body`);
  if (codes) {
    const list = Array.isArray(codes) ? codes : [codes];
    assert.ok(list.includes(e.code), `${label}: error code ${e.code}, expected ${list.join('|')}`);
  }
  return e;
}

/** Runs every check, collecting failures, then fails once listing all of them (so one run shows
 * every route that misbehaves, not only the first). */
async function allOf(checks) {
  const problems = [];
  for (const [label, fn] of checks) {
    try {
      await fn();
    } catch (e) {
      problems.push(e.message.startsWith(label) ? e.message.split('\n')[0] : `${label}: ${e.message.split('\n')[0]}`);
    }
  }
  if (problems.length) assert.fail(`${problems.length} of ${checks.length} cases failed:\n  ${problems.join('\n  ')}`);
}

/** The SDK error's HTTP status and IoT Hub error code (from the response body). */
function sdkErr(err) {
  let code = null;
  try { code = iotHubError({ json: JSON.parse(err.responseBody) }); } catch { /* not JSON */ }
  return { status: err.response && err.response.statusCode, code: code && code.code };
}

async function snapshot(hub, id) {
  const d = await rest(hub, 'GET', `/devices/${enc(id)}`);
  const t = await rest(hub, 'GET', `/twins/${enc(id)}`);
  assert.equal(d.status, 200, `GET /devices/${id}: ${d.status} ${d.body}`);
  assert.equal(t.status, 200, `GET /twins/${id}: ${t.status} ${t.body}`);
  // volatile members excluded: connection state and activity times
  const strip = (o) => {
    const c = JSON.parse(JSON.stringify(o));
    for (const k of ['connectionState', 'connectionStateUpdatedTime', 'lastActivityTime']) delete c[k];
    return c;
  };
  return { device: strip(d.json), twin: strip(t.json) };
}

async function deviceCount(hub) {
  const r = await rest(hub, 'GET', '/devices');
  assert.equal(r.status, 200);
  return r.json.length;
}

test.before(async () => {
  const hub = await ctx.ready;
  const reg = registry(hub);
  const d = await createDevice(hub, uid('sentinel'));
  await reg.updateTwin(d.deviceId, { tags: { role: 'sentinel' }, properties: { desired: { keep: 1 } } }, '*');
  const c = await openDevice(hub, d.connectionString);
  const tw = await withTimeout(c.getTwin(), 10000, 'sentinel getTwin');
  await withTimeout(new Promise((res, rej) => tw.properties.reported.update({ keep: 2 }, (e) => (e ? rej(e) : res()))),
    10000, 'sentinel reported');
  await c.close();
  sentinel = { id: d.deviceId, state: await snapshot(hub, d.deviceId) };
});

// After every test: the hub still serves and the sentinel's stored data is unchanged.
test.afterEach(async () => {
  const hub = ctx.hub;
  if (!hub || !sentinel) return;
  const h = await rest(hub, 'GET', '/health', { token: null, apiVersion: null });
  assert.equal(h.status, 200, `hub no longer healthy: ${h.status} ${h.body}`);
  assert.deepEqual(await snapshot(hub, sentinel.id), sentinel.state, 'sentinel device/twin changed');
});

// ---------------------------------------------------------------------------------------------
// REST: malformed, wrongly typed and oversized bodies on every route that takes one

function bodyRoutes(existing) {
  return [
    { name: 'PUT /devices/{new}', method: 'PUT', path: () => `/devices/${enc(uid('new'))}` },
    { name: 'PUT /devices/{existing}', method: 'PUT', path: () => `/devices/${enc(existing)}`, headers: { 'If-Match': '"*"' } },
    { name: 'PATCH /twins/{id}', method: 'PATCH', path: () => `/twins/${enc(existing)}`, headers: { 'If-Match': '"*"' } },
    { name: 'PUT /twins/{id}', method: 'PUT', path: () => `/twins/${enc(existing)}`, headers: { 'If-Match': '"*"' } },
    { name: 'POST /twins/{id}/methods', method: 'POST', path: () => `/twins/${enc(existing)}/methods` },
    { name: 'POST /devices/query', method: 'POST', path: () => '/devices/query' },
  ];
}

test('malformed JSON on every REST route -> 400 with an IoT Hub error body, nothing stored', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('badjson'));
  const before = await snapshot(hub, deviceId);
  const count = await deviceCount(hub);
  // the last one is valid JSON whose string holds \u0000, which would be stored cut short
  const bodies = ['{"deviceId":', 'not json', '{"a":1}}', '{"a":1,}', "{'a':1}", '\u0000\u0001', '{"a":"\ud800"',
    '{"tags":{"a":"x\\u0000y"},"properties":{"desired":{"b":"\\u0000"}},"methodName":"m\\u0000","query":"SELECT * FROM devices WHERE tags.a = \'x\\u0000\'"}'];
  const checks = [];
  for (const route of bodyRoutes(deviceId)) {
    for (const body of bodies) {
      const label = `${route.name} body ${JSON.stringify(body)}`;
      checks.push([label, async () => {
        const r = await rest(hub, route.method, route.path(), { body, headers: route.headers });
        assertHubError(r, 400, null, label);
      }]);
    }
  }
  checks.push(['stored data', async () => assert.deepEqual(await snapshot(hub, deviceId), before)]);
  checks.push(['device count', async () => assert.equal(await deviceCount(hub), count, 'a device was created')]);
  await allOf(checks);
});

test('JSON of the wrong shape on every REST route -> 400', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('badshape'));
  const before = await snapshot(hub, deviceId);
  const count = await deviceCount(hub);
  const checks = [];
  for (const route of bodyRoutes(deviceId)) {
    for (const body of ['[]', '"text"', '42', 'null', 'true', '[{"deviceId":"x"}]']) {
      const label = `${route.name} body ${body}`;
      checks.push([label, async () => {
        const r = await rest(hub, route.method, route.path(), { body, headers: route.headers });
        assertHubError(r, 400, null, label);
      }]);
    }
  }
  // type errors inside otherwise valid documents
  const cases = [
    ['PATCH', `/twins/${enc(deviceId)}`, { tags: 'x' }],
    ['PATCH', `/twins/${enc(deviceId)}`, { properties: { desired: [1, 2] } }],
    ['PATCH', `/twins/${enc(deviceId)}`, { properties: 'x' }],
    ['POST', `/twins/${enc(deviceId)}/methods`, { payload: {} }],
    ['POST', `/twins/${enc(deviceId)}/methods`, { methodName: 42 }],
    ['POST', `/twins/${enc(deviceId)}/methods`, { methodName: '' }],
    ['POST', '/devices/query', { q: 'SELECT * FROM devices' }],
    ['POST', '/devices/query', { query: 42 }],
    ['PUT', `/devices/${enc(uid('shape'))}`, { deviceId: 'someone-else' }, {}],
    ['PUT', `/devices/${enc(uid('shape'))}`, { status: 'sleeping' }, {}],
    ['PUT', `/devices/${enc(deviceId)}`, { deviceId, status: 'sleeping' }],
    ['PUT', `/devices/${enc(deviceId)}`, { deviceId, authentication: { type: 'sas', symmetricKey: { primaryKey: 'not base64!' } } }],
  ];
  for (const [method, path, body, headers] of cases) {
    const label = `${method} ${path} ${JSON.stringify(body)}`;
    checks.push([label, async () => {
      const r = await rest(hub, method, path, { body, headers: headers || { 'If-Match': '"*"' } });
      assertHubError(r, 400, null, label);
    }]);
  }
  checks.push(['stored data', async () => assert.deepEqual(await snapshot(hub, deviceId), before)]);
  checks.push(['device count', async () => assert.equal(await deviceCount(hub), count, 'a device was created')]);
  await allOf(checks);
});

test('oversized bodies on every REST route -> 413 or 400, the hub keeps serving', { timeout: 120000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('big'));
  const before = await snapshot(hub, deviceId);
  const count = await deviceCount(hub);
  const huge = JSON.stringify({ deviceId: 'x', methodName: 'm', query: 'SELECT * FROM devices', tags: { t: 1 },
    blob: 'a'.repeat(4 * KB * KB) });
  for (const route of bodyRoutes(deviceId)) {
    let r;
    try {
      r = await rest(hub, route.method, route.path(), { body: huge, headers: route.headers, timeout: 30000 });
    } catch (e) {
      assert.fail(`${route.name} with a 4 MB body: no HTTP answer (${e.code || ''} ${e.message})`);
    }
    assertHubError(r, [413, 400], null, `${route.name} 4 MB body`);
  }
  assert.deepEqual(await snapshot(hub, deviceId), before);
  assert.equal(await deviceCount(hub), count);
});

// ---------------------------------------------------------------------------------------------
// REST: routes and verbs

test('unknown routes -> 404 with an IoT Hub error body, never 200 {}', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const cases = [['GET', '/'], ['GET', '/nope'], ['POST', '/nope'], ['GET', '/devicez'], ['GET', '/twins'],
    ['GET', `/devices/${enc(sentinel.id)}/nope/deeper`], ['GET', `/twins/${enc(sentinel.id)}/nope`],
    ['POST', `/twins/${enc(sentinel.id)}/methodz`], ['GET', '/api/v1/whatever'], ['DELETE', '/nope/x']];
  for (const [method, path] of cases) {
    const r = await rest(hub, method, path);
    assertHubError(r, 404, null, `${method} ${path}`);
  }
});

test('wrong verbs on known routes -> 405', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const id = enc(sentinel.id);
  const cases = [['POST', `/devices/${id}`], ['PATCH', `/devices/${id}`], ['DELETE', `/twins/${id}`],
    ['POST', `/twins/${id}`], ['GET', `/twins/${id}/methods`], ['PUT', `/twins/${id}/methods`],
    ['DELETE', `/twins/${id}/methods`], ['PATCH', '/devices'], ['DELETE', '/devices']];
  // (GET/PUT/DELETE /devices/query address a device named "query", a valid id)
  await allOf(cases.map(([method, path]) => [`${method} ${path}`, async () => {
    const r = await rest(hub, method, path, { body: method === 'GET' || method === 'DELETE' ? undefined : {} });
    assertHubError(r, 405, null, `${method} ${path}`);
  }]));
  const q = await rest(hub, 'GET', '/devices/query');
  assertHubError(q, 404, 'DeviceNotFound', 'GET /devices/query (device "query")');
});

// ---------------------------------------------------------------------------------------------
// registry

test('invalid device ids -> ArgumentError (400), nothing created; every allowed special character works', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const count = await deviceCount(hub);
  const bad = ['has space', 'x'.repeat(129), 'z'.repeat(300), 'ünïcödé', 'semi;colon', 'back\\slash', 'quote"d',
    'tab\there', 'brace{x}', 'less<than', '~tilde', 'a&b', '[x]'];
  const checks = bad.map((id) => [`create ${JSON.stringify(id)}`, async () => {
    const err = await rejectsWith(reg.create({ deviceId: id }), `Registry.create(${JSON.stringify(id)})`);
    assert.equal(err.name, 'ArgumentError', `${err.name} ${err.message}`);
    assert.equal(sdkErr(err).status, 400);
  }]);
  // an encoded '/' in the path: refused (400, or 404 as an unknown route), never stored
  checks.push(['create "slash/inside"', async () => {
    const r = await rest(hub, 'PUT', `/devices/${enc('slash/inside')}`, { body: { deviceId: 'slash/inside' } });
    assertHubError(r, [400, 404], null, 'PUT /devices/slash%2Finside');
  }]);
  checks.push(['device count', async () => assert.equal(await deviceCount(hub), count, 'an invalid device was stored')]);
  await allOf(checks);

  // ids at the edges of the rules: 128 characters and every allowed special character
  const okIds = ['y'.repeat(128), `sp-${process.pid}.a+b%c_d#e*f?g!h(i)j,k=l@m$n'o`];
  for (const id of okIds) {
    const { responseBody: dev } = await reg.create({ deviceId: id });
    assert.equal(dev.deviceId, id);
    assert.equal((await reg.get(id)).responseBody.deviceId, id);
    assert.equal((await reg.getTwin(id)).responseBody.deviceId, id);
    await reg.updateTwin(id, { tags: { ok: true } }, '*');
    await reg.delete(id);
    const err = await rejectsWith(reg.get(id), 'get after delete');
    assert.equal(err.name, 'DeviceNotFoundError');
  }
});

test('%00 in a device id path segment -> 400, never the device named by the text before it', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const id = enc(sentinel.id);
  const cases = [['GET', `/devices/${id}%00x`], ['PUT', `/devices/${id}%00x`], ['DELETE', `/devices/${id}%00x`],
    ['GET', `/twins/${id}%00`], ['PATCH', `/twins/${id}%00`], ['PUT', `/twins/${id}%00`],
    ['POST', `/twins/${id}%00/methods`]];
  await allOf(cases.map(([method, path]) => [`${method} ${path}`, async () => {
    const body = method === 'GET' || method === 'DELETE' ? undefined
      : method === 'POST' ? { methodName: 'm' } : { tags: { changed: true } };
    const r = await rest(hub, method, path, { body, headers: { 'If-Match': '"*"' } });
    assertHubError(r, 400, 'ArgumentInvalid', `${method} ${path}`);
  }]));
  // (the afterEach check proves the sentinel was neither deleted nor changed)
});

test('create an existing device -> DeviceAlreadyExistsError, keys unchanged', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, key } = await createDevice(hub, uid('dup'));
  const before = await snapshot(hub, deviceId);
  const err = await rejectsWith(reg.create({ deviceId }), 'create twice');
  assert.equal(err.name, 'DeviceAlreadyExistsError', `${err.name}: ${err.message}`);
  assert.deepEqual(sdkErr(err), { status: 409, code: 'DeviceAlreadyExists' });
  const err2 = await rejectsWith(reg.create({ deviceId, authentication: { type: 'sas',
    symmetricKey: { primaryKey: Buffer.alloc(32, 1).toString('base64'), secondaryKey: Buffer.alloc(32, 2).toString('base64') } } }),
  'create twice with keys');
  assert.equal(err2.name, 'DeviceAlreadyExistsError');
  assert.deepEqual(await snapshot(hub, deviceId), before);
  assert.equal(before.device.authentication.symmetricKey.primaryKey, key);
});

test('unknown device -> DeviceNotFoundError on get, getTwin, updateTwin, delete, invokeDeviceMethod', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const id = uid('ghost');
  const ops = [
    ['get', () => reg.get(id)],
    ['getTwin', () => reg.getTwin(id)],
    ['updateTwin', () => reg.updateTwin(id, { tags: { a: 1 } }, '*')],
    ['delete', () => reg.delete(id)],
    ['invokeDeviceMethod', () => serviceClient(hub).invokeDeviceMethod(id, { methodName: 'm', payload: null })],
  ];
  for (const [name, op] of ops) {
    const err = await rejectsWith(withTimeout(op(), 15000, name), name);
    assert.equal(err.name, 'DeviceNotFoundError', `${name}: ${err.name} ${err.message}`);
    assert.deepEqual(sdkErr(err), { status: 404, code: 'DeviceNotFound' }, name);
  }
  const r = await rest(hub, 'PUT', `/twins/${enc(id)}`, { body: { tags: {} }, headers: { 'If-Match': '"*"' } });
  assertHubError(r, 404, 'DeviceNotFound', 'PUT /twins unknown');
  const list = (await reg.list()).responseBody.map((d) => d.deviceId);
  assert.ok(!list.includes(id), 'no device appeared');
});

test('device PUT/DELETE with a stale If-Match -> 412, device unchanged', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('devetag'));
  const before = await snapshot(hub, deviceId);
  const stale = '"c3RhbGU="';
  const r1 = await rest(hub, 'PUT', `/devices/${enc(deviceId)}`, { body: { deviceId, status: 'disabled' }, headers: { 'If-Match': stale } });
  assertHubError(r1, 412, 'PreconditionFailed', 'PUT /devices stale');
  const r2 = await rest(hub, 'DELETE', `/devices/${enc(deviceId)}`, { headers: { 'If-Match': stale } });
  assertHubError(r2, 412, 'PreconditionFailed', 'DELETE /devices stale');
  assert.deepEqual(await snapshot(hub, deviceId), before);
});

// ---------------------------------------------------------------------------------------------
// service SAS

test('REST without, with bad, or with expired SAS -> 401 UnauthorizedError on every route, nothing changes', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const id = enc(sentinel.id);
  const { SharedAccessSignature } = require('azure-iothub');
  const now = Math.floor(Date.now() / 1000);
  const good = serviceToken(hub);
  const tokens = {
    none: null,
    empty: '',
    garbage: 'SharedAccessSignature garbage',
    bearer: 'Bearer eyJhbGciOiJub25lIn0.e30.',
    'wrong key': SharedAccessSignature.create(hub.host, 'iothubowner', Buffer.alloc(32, 7).toString('base64'), now + 3600).toString(),
    expired: serviceToken(hub, { expiry: now - 60 }),
    'unknown policy': SharedAccessSignature.create(hub.host, 'nosuchpolicy', hub.ownerKey, now + 3600).toString(),
    'other host': SharedAccessSignature.create('otherhub.azure-devices.net', 'iothubowner', hub.ownerKey, now + 3600).toString(),
    'tampered se': good.replace(/se=(\d+)/, (m, se) => `se=${Number(se) + 100}`),
    'tampered sig': good.replace(/sig=([^&]+)/, 'sig=' + enc(Buffer.alloc(32, 9).toString('base64'))),
    'no skn': good.replace(/&skn=[^&]+/, ''),
  };
  const routes = [['GET', '/devices'], ['GET', `/devices/${id}`], ['PUT', `/devices/${enc(uid('unauth'))}`, {}],
    ['DELETE', `/devices/${id}`], ['GET', `/twins/${id}`], ['PATCH', `/twins/${id}`, { tags: { hacked: 1 } }],
    ['PUT', `/twins/${id}`, { tags: {} }], ['POST', `/twins/${id}/methods`, { methodName: 'm' }],
    ['POST', '/devices/query', { query: 'SELECT * FROM devices' }]];
  for (const [tname, token] of Object.entries(tokens)) {
    for (const [method, path, body] of routes) {
      const r = await rest(hub, method, path, { token, body, headers: { 'If-Match': '"*"' } });
      assertHubError(r, 401, ['IotHubUnauthorizedAccess', 'IotHubUnauthorized', 'GenericUnauthorized'],
        `${method} ${path} with ${tname} SAS`);
    }
  }
  // through the SDK: a wrong key in the connection string
  const badCs = `HostName=${hub.host};SharedAccessKeyName=iothubowner;SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`;
  const err = await rejectsWith(registry(hub, badCs).get(sentinel.id), 'Registry.get with a wrong key');
  assert.equal(err.name, 'UnauthorizedError', `${err.name}: ${err.message}`);
  assert.equal(sdkErr(err).status, 401);
  const err2 = await rejectsWith(withTimeout(serviceClient(hub, badCs).invokeDeviceMethod(sentinel.id, { methodName: 'm' }), 15000, 'invoke'),
    'invoke with a wrong key');
  assert.equal(err2.name, 'UnauthorizedError');
});

// ---------------------------------------------------------------------------------------------
// direct-method arguments

test('responseTimeoutInSeconds outside 5..300 and connectTimeoutInSeconds outside 0..300 -> 400 ArgumentError; the device gets no call', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('mto'));
  const client = await openDevice(hub, connectionString);
  const calls = [];
  client.onDeviceMethod('m', (req, res) => { calls.push(req.payload); res.send(200, { ok: true }); });
  await withTimeout(client.getTwin(), 10000, 'barrier');
  const svc = serviceClient(hub);
  // (a negative responseTimeout makes the SDK itself throw a RangeError: raw requests below)
  const sdkCases = [{ responseTimeoutInSeconds: 4 }, { responseTimeoutInSeconds: 301 },
    { connectTimeoutInSeconds: 301 }, { connectTimeoutInSeconds: -1 }, { responseTimeoutInSeconds: 3600 }];
  for (const extra of sdkCases) {
    const err = await rejectsWith(withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'm', payload: { x: 1 }, ...extra }),
      15000, `invoke ${JSON.stringify(extra)}`), `invoke ${JSON.stringify(extra)}`);
    assert.equal(err.name, 'ArgumentError', `${JSON.stringify(extra)}: ${err.name} ${err.message}`);
    assert.equal(sdkErr(err).status, 400);
  }
  // values the SDK cannot send (it turns 0 into the default)
  for (const extra of [{ responseTimeoutInSeconds: 0 }, { responseTimeoutInSeconds: -5 }, { responseTimeoutInSeconds: 'abc' }, { connectTimeoutInSeconds: 'x' },
    { responseTimeoutInSeconds: 5.5 }, { responseTimeoutInSeconds: null, connectTimeoutInSeconds: [] }]) {
    const r = await rest(hub, 'POST', `/twins/${enc(deviceId)}/methods`, { body: { methodName: 'm', payload: {}, ...extra } });
    assertHubError(r, 400, null, `raw invoke ${JSON.stringify(extra)}`);
  }
  await sleep(300);
  assert.deepEqual(calls, [], 'no call reached the device');
  // the edges are valid
  for (const extra of [{ responseTimeoutInSeconds: 5 }, { responseTimeoutInSeconds: 300, connectTimeoutInSeconds: 300 }]) {
    const { result } = await withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'm', payload: { edge: extra }, ...extra }),
      15000, `invoke ${JSON.stringify(extra)}`);
    assert.equal(result.status, 200);
  }
  assert.equal(calls.length, 2);
});

test('method payload over 128 KB -> 413/400 and the device gets nothing; just under the limit works', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('mbig'));
  const client = await openDevice(hub, connectionString);
  const sizes = [];
  client.onDeviceMethod('m', (req, res) => { sizes.push(JSON.stringify(req.payload).length); res.send(200, { n: sizes.length }); });
  await withTimeout(client.getTwin(), 10000, 'barrier');
  const svc = serviceClient(hub);
  const err = await rejectsWith(withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'm', payload: { d: 'a'.repeat(129 * KB) } }),
    15000, 'invoke 129 KB'), 'invoke 129 KB');
  const e = sdkErr(err);
  assert.ok([400, 413].includes(e.status), `129 KB payload: ${e.status} ${err.name} ${err.message}`);
  assert.ok(e.code, `129 KB payload: IoT Hub error body expected, got ${err.responseBody}`);
  const { result } = await withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'm', payload: { d: 'a'.repeat(120 * KB) } }),
    15000, 'invoke 120 KB');
  assert.equal(result.status, 200);
  assert.equal(sizes.length, 1, 'only the valid call reached the device');
  assert.ok(sizes[0] > 120 * KB);
});

// ---------------------------------------------------------------------------------------------
// twin limits (service side and device side)

function deep(levels, leaf = 1) {
  let o = leaf;
  for (let i = 0; i < levels; i += 1) o = { [`l${levels - i}`]: o };
  return o;
}

test('twin sections over the size and depth limits, bad keys -> 400 ArgumentInvalid; twin unchanged', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('tlim'));
  await reg.updateTwin(deviceId, { tags: { t: 1 }, properties: { desired: { d: 1 } } }, '*');
  const before = await snapshot(hub, deviceId);
  const many = (n, size) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(size)]));
  const cases = {
    'desired over 32 KB': { properties: { desired: many(10, 3500) } },
    'tags over 8 KB': { tags: many(3, 3500) },
    'desired value over 4 KB': { properties: { desired: { big: 'v'.repeat(5 * KB) } } },
    'tag value over 4 KB': { tags: { big: 'v'.repeat(5 * KB) } },
    'desired deeper than 10': { properties: { desired: deep(12) } },
    'tags deeper than 10': { tags: deep(12) },
    'key with a dot': { properties: { desired: { 'a.b': 1 } } },
    'key with $': { properties: { desired: { $x: 1 } } },
    'key with a space': { tags: { 'a b': 1 } },
  };
  for (const [name, patch] of Object.entries(cases)) {
    const err = await rejectsWith(reg.updateTwin(deviceId, patch, '*'), name);
    assert.equal(err.name, 'ArgumentError', `${name}: ${err.name} ${err.message}`);
    assert.deepEqual(sdkErr(err), { status: 400, code: 'ArgumentInvalid' }, `${name}: ${err.responseBody}`);
    // the same through PUT (replace)
    const r = await rest(hub, 'PUT', `/twins/${enc(deviceId)}`, { body: { tags: patch.tags || {}, properties: patch.properties || { desired: {} } },
      headers: { 'If-Match': '"*"' } });
    assertHubError(r, 400, 'ArgumentInvalid', `PUT ${name}`);
  }
  assert.deepEqual(await snapshot(hub, deviceId), before);
  // just inside the limits works
  const ok = await reg.updateTwin(deviceId, { tags: { v: 'v'.repeat(4000) }, properties: { desired: deep(5) } }, '*');
  assert.equal(ok.responseBody.tags.v.length, 4000);
});

test('reported patches over the limits or not objects -> the SDK\'s reported.update fails with the hub\'s message', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('rlim'));
  const client = await openDevice(hub, connectionString);
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  const update = (patch) => withTimeout(new Promise((res, rej) =>
    twin.properties.reported.update(patch, (e) => (e ? rej(e) : res()))), 10000, 'reported.update');
  await update({ fine: 1 });
  const before = await snapshot(hub, deviceId);
  const many = (n, size) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(size)]));
  const cases = {
    'over 32 KB': many(10, 3500),
    'value over 4 KB': { big: 'v'.repeat(5 * KB) },
    'deeper than 10': deep(12),
    'key with a dot': { 'a.b': 1 },
    'key with $': { $x: 1 },
  };
  for (const [name, patch] of Object.entries(cases)) {
    const err = await rejectsWith(update(patch), `reported ${name}`);
    assert.ok(!/timed out/.test(err.message), `reported ${name}: the hub sent no reply`);
    assert.ok(err.message && err.message.length > 3, `reported ${name}: error carries the hub's message (${err.message})`);
  }
  assert.deepEqual(await snapshot(hub, deviceId), before);
  await update({ fine: 2 });
  assert.equal((await registry(hub).getTwin(deviceId)).responseBody.properties.reported.fine, 2, 'the device is still served');
});

// ---------------------------------------------------------------------------------------------
// device authentication

function sasClient(hub, sas) {
  const { Client } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  const c = Client.fromSharedAccessSignature(sas, Mqtt);
  c.on('error', () => {});
  return c;
}

test('device open() with a wrong key, an expired token or an unknown id -> UnauthorizedError, fast', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, key } = await createDevice(hub, uid('dauth'));
  const wrongKey = Buffer.alloc(32, 3).toString('base64');
  const now = Math.floor(Date.now() / 1000);
  const clients = {
    'wrong key': await deviceClient(hub, deviceConnectionString(hub, deviceId, wrongKey)),
    'secondary key of another device': await deviceClient(hub, deviceConnectionString(hub, deviceId,
      (await createDevice(hub, uid('other'))).device.authentication.symmetricKey.secondaryKey)),
    'unknown device': await deviceClient(hub, deviceConnectionString(hub, uid('nodev'), key)),
  };
  const expired = sasClient(hub, deviceToken(hub, deviceId, key, { expiry: now - 60 }));
  await expired.setOptions({ ca: fs.readFileSync(hub.ca, 'utf8') });
  clients['expired token'] = expired;
  for (const [name, c] of Object.entries(clients)) {
    const t0 = Date.now();
    const err = await rejectsWith(withTimeout(c.open(), 20000, `open with ${name}`), `open with ${name}`);
    assert.equal(err.name, 'UnauthorizedError', `${name}: ${err.name} ${err.message}`);
    assert.ok(Date.now() - t0 < 10000, `${name}: open() took ${Date.now() - t0} ms (should fail fast)`);
    await c.close().catch(() => {});
  }
  // the valid key still works afterwards
  await openDevice(hub, deviceConnectionString(hub, deviceId, key));
});

test('raw CONNACK codes: 5 for bad credentials and mismatched ids, 3 for a disabled device', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const a = await createDevice(hub, uid('rc'));
  const b = await createDevice(hub, uid('rc'));
  const now = Math.floor(Date.now() / 1000);
  const connackOf = async (deviceId, key, opts) => {
    try {
      await rawMqtt(hub, deviceId, key, opts);
      return 0;
    } catch (e) {
      return e.code !== undefined ? e.code : e.message;
    }
  };
  assert.equal(await connackOf(a.deviceId, a.key), 0, 'valid credentials are accepted');
  const cases = {
    'wrong key': [a.deviceId, b.key, {}],
    'expired token': [a.deviceId, a.key, { password: deviceToken(hub, a.deviceId, a.key, { expiry: now - 5 }) }],
    'unknown device': [uid('nodev'), a.key, {}],
    'client id of another device': [a.deviceId, a.key, { clientId: b.deviceId }],
    'username naming another device': [a.deviceId, a.key, { username: `${hub.host}/${b.deviceId}/?api-version=2021-04-12` }],
    'token for another device': [a.deviceId, a.key, { password: deviceToken(hub, b.deviceId, b.key) }],
    'username with another hub name': [a.deviceId, a.key, { username: `otherhub/${a.deviceId}/?api-version=2021-04-12` }],
    'no password': [a.deviceId, a.key, { password: ' ' }],
    'garbage password': [a.deviceId, a.key, { password: 'SharedAccessSignature sr=&sig=&se=' }],
  };
  for (const [name, [id, key, opts]] of Object.entries(cases)) {
    assert.equal(await connackOf(id, key, opts), 5, `${name}: CONNACK`);
  }
  const { responseBody: dev } = await reg.get(a.deviceId);
  dev.status = 'disabled';
  await reg.update(dev);
  assert.equal(await connackOf(a.deviceId, a.key), 3, 'disabled device: CONNACK 3 (server unavailable)');
});

test('a disabled device cannot connect; re-enabled it can', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString, key } = await createDevice(hub, uid('dis'));
  const { responseBody: dev } = await reg.get(deviceId);
  dev.status = 'disabled';
  const upd = (await reg.update(dev)).responseBody;
  assert.equal(upd.status, 'disabled');
  assert.equal(upd.authentication.symmetricKey.primaryKey, key, 'update keeps the keys');
  // CONNACK 3 (as the real hub answers) is "server unavailable" for the SDK: it may keep retrying
  // instead of failing; what matters is that it never gets connected.
  const c = await deviceClient(hub, connectionString, { noRetry: true });
  const outcome = await Promise.race([c.open().then(() => 'opened', (e) => e), sleep(6000).then(() => 'still trying')]);
  assert.notEqual(outcome, 'opened', 'a disabled device connected');
  if (outcome instanceof Error) {
    assert.ok(['UnauthorizedError', 'ServiceUnavailableError', 'NotConnectedError'].includes(outcome.name), `${outcome.name}: ${outcome.message}`);
  }
  assert.equal((await reg.getTwin(deviceId)).responseBody.connectionState, 'Disconnected');
  await c.close().catch(() => {});
  dev.status = 'enabled';
  await reg.update(dev);
  await openDevice(hub, connectionString);
});

test('disabling or deleting a connected device drops its connection', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  for (const action of ['disable', 'delete']) {
    const { deviceId, connectionString } = await createDevice(hub, uid(`kick-${action}`));
    const client = await openDevice(hub, connectionString, { noRetry: true });
    client.onDeviceMethod('m', (req, res) => res.send(200, {}));
    await withTimeout(client.getTwin(), 10000, 'getTwin');
    // and a raw connection of the same kind, to see the socket close itself
    const raw = await createDevice(hub, uid(`kickraw-${action}`));
    const { client: rc } = await rawMqtt(hub, raw.deviceId, raw.key);
    let rawClosed = false;
    rc.on('close', () => { rawClosed = true; });
    for (const id of [deviceId, raw.deviceId]) {
      if (action === 'disable') {
        const { responseBody: dev } = await reg.get(id);
        dev.status = 'disabled';
        await reg.update(dev);
      } else {
        await reg.delete(id);
      }
    }
    await waitFor(() => rawClosed, { timeout: 5000, what: `raw connection closed after ${action}` });
    // The SDK client notices the drop and retries in the background (refused now); the hub must
    // consider it gone.
    const err = await rejectsWith(withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, { methodName: 'm' }), 15000, 'invoke'),
      `invoke after ${action}`);
    if (action === 'delete') {
      assert.equal(err.name, 'DeviceNotFoundError', `${err.name}: ${err.message}`);
    } else {
      assertNotOnline(err, 'invoke after disable');
      await waitFor(async () => (await reg.getTwin(deviceId)).responseBody.connectionState === 'Disconnected',
        { timeout: 5000, what: 'connectionState Disconnected after disable' });
    }
    await client.close().catch(() => {});
  }
});

// ---------------------------------------------------------------------------------------------
// direct-method failures

function assertNotOnline(err, what) {
  const e = sdkErr(err);
  assert.equal(e.status, 404, `${what}: ${err.name} ${err.message}`);
  assert.equal(err.message, 'Not found', `${what}: Node's plain 404 error`);
  assert.ok(['DeviceNotOnline', '404103'].includes(String(e.code)), `${what}: body ${err.responseBody}`);
}

test('invoke on a registered but offline device -> 404 DeviceNotOnline at once, or after connectTimeout', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('offline'));
  const svc = serviceClient(hub);
  let t0 = Date.now();
  let err = await rejectsWith(withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'rebootDevice', payload: null }), 15000, 'invoke'),
    'invoke offline');
  assertNotOnline(err, 'connectTimeout 0');
  assert.ok(Date.now() - t0 < 3000, `connectTimeout 0 answers at once (took ${Date.now() - t0} ms)`);
  t0 = Date.now();
  err = await rejectsWith(withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'rebootDevice', connectTimeoutInSeconds: 2 }),
    15000, 'invoke'), 'invoke offline, connectTimeout 2');
  assertNotOnline(err, 'connectTimeout 2');
  const took = Date.now() - t0;
  assert.ok(took >= 1800 && took < 8000, `connectTimeout 2 s: answered after ${took} ms`);
});

test('invoke on a connected device not subscribed to methods -> 404 DeviceNotOnline', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('nosub'));
  const client = await openDevice(hub, connectionString);
  await withTimeout(client.getTwin(), 10000, 'getTwin');
  const err = await rejectsWith(withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, { methodName: 'm' }), 15000, 'invoke'),
    'invoke unsubscribed');
  assertNotOnline(err, 'not subscribed');
});

test('connectTimeout: a device that subscribes while the call waits gets it', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('late'));
  const pending = withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, {
    methodName: 'm', payload: { late: true }, connectTimeoutInSeconds: 20, responseTimeoutInSeconds: 10,
  }), 35000, 'invoke with connectTimeout 20');
  await sleep(1000);
  const client = await openDevice(hub, connectionString);
  client.onDeviceMethod('m', (req, res) => res.send(201, { got: req.payload }));
  const { result } = await pending;
  assert.deepEqual(result, { status: 201, payload: { got: { late: true } } });
});

test('device not answering -> GatewayTimeoutError after responseTimeoutInSeconds; a late answer is dropped', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('silent'));
  const client = await openDevice(hub, connectionString);
  const held = [];
  client.onDeviceMethod('slow', (req, res) => { held.push(res); });
  client.onDeviceMethod('fast', (req, res) => res.send(200, { fast: true }));
  await withTimeout(client.getTwin(), 10000, 'barrier');
  const svc = serviceClient(hub);
  const t0 = Date.now();
  const err = await rejectsWith(withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'slow', payload: {}, responseTimeoutInSeconds: 5 }),
    20000, 'invoke slow'), 'invoke a silent device');
  const took = Date.now() - t0;
  assert.equal(err.name, 'GatewayTimeoutError', `${err.name}: ${err.message}`);
  assert.equal(sdkErr(err).status, 504);
  assert.ok(['GatewayTimeout', '504101'].includes(String(sdkErr(err).code)), `body ${err.responseBody}`);
  assert.ok(took >= 4500 && took < 9000, `answered after ${took} ms, expected about 5000`);
  assert.equal(held.length, 1);
  await held[0].send(200, { late: true });
  const { result } = await withTimeout(svc.invokeDeviceMethod(deviceId, { methodName: 'fast', payload: {} }), 15000, 'invoke fast');
  assert.deepEqual(result, { status: 200, payload: { fast: true } }, 'the late answer did not leak into the next call');
});

// ---------------------------------------------------------------------------------------------
// bad input on device topics (raw MQTT: the SDK cannot send malformed JSON)

function collect(client) {
  const msgs = [];
  client.on('message', (topic, payload) => msgs.push({ topic, body: payload.toString() }));
  return {
    msgs,
    async waitRid(rid, what) {
      const m = await waitFor(() => msgs.find((x) => x.topic.includes(`$rid=${rid}`)), { timeout: 5000, what });
      return m;
    },
  };
}

test('malformed JSON and non-objects on the reported topic -> error reply with errorCode; twin unchanged', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('rawrep'));
  const before = await snapshot(hub, d.deviceId);
  const { client } = await rawMqtt(hub, d.deviceId, d.key);
  await new Promise((res, rej) => client.subscribe('$iothub/twin/res/#', { qos: 0 }, (e, g) => (e ? rej(e) : res(g))));
  const box = collect(client);
  const bodies = ['{bad', '', ' ', 'null', '[1,2]', '"str"', '42', '{"a":1}}', '\u00ff\u00fe', `{"big":"${'v'.repeat(40 * KB)}"}`];
  for (let i = 0; i < bodies.length; i += 1) {
    const rid = `bad${i}`;
    client.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid}`, bodies[i], { qos: 0 });
    const m = await box.waitRid(rid, `reply to reported body ${JSON.stringify(bodies[i].slice(0, 20))}`);
    const status = Number(/^\$iothub\/twin\/res\/(\d+)\//.exec(m.topic)[1]);
    assert.ok(status >= 400, `body ${JSON.stringify(bodies[i].slice(0, 20))}: status ${status} (${m.topic})`);
    let j = null;
    try { j = JSON.parse(m.body); } catch { /* checked below */ }
    assert.ok(j && j.errorCode && j.message, `error reply must be JSON with errorCode and message: ${m.body}`);
  }
  // still served: a GET answers with the (unchanged) twin
  client.publish('$iothub/twin/GET/?$rid=get1', ' ', { qos: 0 });
  const g = await box.waitRid('get1', 'GET after bad patches');
  assert.match(g.topic, /^\$iothub\/twin\/res\/200\//);
  const t = JSON.parse(g.body);
  assert.equal(t.reported.$version, 1);
  assert.deepEqual(await snapshot(hub, d.deviceId), before);
});

test('twin requests with a readable $rid but a malformed topic get a 400 reply on that rid; twin unchanged', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('rawtopic'));
  const before = await snapshot(hub, d.deviceId);
  const { client } = await rawMqtt(hub, d.deviceId, d.key);
  await new Promise((res, rej) => client.subscribe('$iothub/twin/res/#', { qos: 0 }, (e, g) => (e ? rej(e) : res(g))));
  const box = collect(client);
  const cases = [
    ['$iothub/twin/PATCH/properties/reported/?$rid=tv1&$version=abc', '{"a":1}', /\$version/],
    ['$iothub/twin/PATCH/properties/reported/?$version=-3&$rid=tv2', '{"a":1}', /\$version/],
    ['$iothub/twin/PATCH/properties/reported/?$rid=tv3&$version=1&$version=2', '{"a":1}', /duplicate \$version/],
    ['$iothub/twin/GET/?$rid=tv4&$rid=other', ' ', /duplicate \$rid/],
  ];
  for (const [topic, body, why] of cases) {
    const rid = /\$rid=(tv\d)/.exec(topic)[1];
    client.publish(topic, body, { qos: 0 });
    const m = await box.waitRid(rid, `reply to ${topic}`);
    assert.match(m.topic, new RegExp(`^\\$iothub/twin/res/400/\\?\\$rid=${rid}$`), topic);
    const j = JSON.parse(m.body);
    assert.equal(j.errorCode, 400004, m.body);
    assert.match(j.message, why, m.body);
  }
  assert.deepEqual(await snapshot(hub, d.deviceId), before);
});

test('odd device publishes (no rid, unknown twin op, unknown method rid, big telemetry) do not break the hub', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const d = await createDevice(hub, uid('rawodd'));
  const before = await snapshot(hub, d.deviceId);
  const { client } = await rawMqtt(hub, d.deviceId, d.key);
  await new Promise((res, rej) => client.subscribe('$iothub/twin/res/#', { qos: 0 }, (e, g) => (e ? rej(e) : res(g))));
  const pubs = [
    ['$iothub/twin/GET/', ' '],
    ['$iothub/twin/GET/?rid=1', ' '],
    ['$iothub/twin/PATCH/properties/reported/', '{"a":1}'],
    ['$iothub/twin/FOO/?$rid=x1', '{}'],
    ['$iothub/methods/res/200/?$rid=999999', '{"orphan":true}'],
    ['$iothub/methods/res/abc/?$rid=1', '{}'],
    [`devices/${d.deviceId}/messages/events/%zz=%%`, 'x'],
    [`devices/${d.deviceId}/messages/events/`, Buffer.alloc(300 * KB, 0x61)],
  ];
  for (const [topic, body] of pubs) {
    await new Promise((res) => client.publish(topic, body, { qos: 0 }, res));
  }
  await sleep(500);
  // the hub answers a fresh connection of the same device
  const c2 = await rawMqtt(hub, d.deviceId, d.key);
  await new Promise((res, rej) => c2.client.subscribe('$iothub/twin/res/#', { qos: 0 }, (e, g) => (e ? rej(e) : res(g))));
  const box = collect(c2.client);
  c2.client.publish('$iothub/twin/GET/?$rid=after', ' ', { qos: 0 });
  const g = await box.waitRid('after', 'GET on a new connection');
  assert.match(g.topic, /^\$iothub\/twin\/res\/200\//);
  const after = await snapshot(hub, d.deviceId);
  delete after.device.cloudToDeviceMessageCount; delete before.device.cloudToDeviceMessageCount;
  assert.deepEqual(after.twin.properties, before.twin.properties, 'the twin did not change');
});
