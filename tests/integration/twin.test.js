// twin.test.js - device twins through Microsoft's SDKs: desired updates reaching the device with
// $version, reported patches, If-Match/etag, full replace, tags, and the version/etag counting rules
// of iothub-protocol-addendum.md section 1, checked through GET /twins.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, openDevice, registry, withTimeout, waitFor, rest, rejectsWith, iotHubError,
} = require('./lib/hub');

const ctx = useHub();

/** base64 of the 8-byte big-endian counter n: the twin etag form of the real hub. */
function twinEtag(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b.toString('base64');
}

async function getTwinRaw(hub, id) {
  const r = await rest(hub, 'GET', `/twins/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, `GET /twins/${id}: ${r.status} ${r.body}`);
  assert.match(String(r.headers['content-type']), /application\/json/);
  return r.json;
}

/** Opens the device, gets its twin and subscribes to desired changes; resolves { client, twin,
 * events, next(pred) } where next waits for a 'properties.desired' event matching pred. */
async function deviceWithDesired(hub, cs) {
  const client = await openDevice(hub, cs);
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  const events = [];
  const waiters = [];
  twin.on('properties.desired', (delta) => {
    const copy = JSON.parse(JSON.stringify(delta));
    events.push(copy);
    for (const w of [...waiters]) {
      if (w.pred(copy)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(copy); }
    }
  });
  // Barrier: a second GET after the desired SUBSCRIBE; its reply means the hub has seen it.
  await withTimeout(new Promise((res, rej) => twin.get((e) => (e ? rej(e) : res()))), 10000, 'twin.get barrier');
  const next = (pred, what) => {
    const hit = events.find(pred);
    if (hit) return Promise.resolve(hit);
    return withTimeout(new Promise((resolve) => waiters.push({ pred, resolve })), 10000, what);
  };
  return { client, twin, events, next };
}

test('new twin: desired/reported $version 1, version 2, etag AAAAAAAAAAE=', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('twin-new'));
  const t = await getTwinRaw(hub, deviceId);
  assert.equal(t.deviceId, deviceId);
  assert.equal(t.etag, 'AAAAAAAAAAE=');
  assert.equal(t.version, 2);
  assert.equal(t.properties.desired.$version, 1);
  assert.equal(t.properties.reported.$version, 1);
  assert.equal(t.status, 'enabled');
  assert.ok(t.properties.desired.$metadata && t.properties.desired.$metadata.$lastUpdated, 'desired $metadata.$lastUpdated');
  // the SDK's view
  const st = (await registry(hub).getTwin(deviceId)).responseBody;
  assert.equal(st.etag, 'AAAAAAAAAAE=');
  assert.equal(st.properties.desired.$version, 1);
});

test('desired update with etag reaches the device with $version; counters follow the addendum', { timeout: 45000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString } = await createDevice(hub, uid('twin-des'));
  const dev = await deviceWithDesired(hub, connectionString);

  // twin.update uses the twin's etag as If-Match
  const st = (await reg.getTwin(deviceId)).responseBody;
  const updated = (await withTimeout(st.update({ properties: { desired: { telemetryInterval: 30, nested: { a: 1, b: 'x' } } } }),
    10000, 'twin.update')).result;
  assert.equal(updated.properties.desired.telemetryInterval, 30, 'PATCH returns the full updated twin');
  assert.equal(updated.properties.desired.$version, 2);
  assert.equal(updated.etag, twinEtag(2));

  const ev = await dev.next((d) => d.telemetryInterval === 30, 'desired patch at the device');
  assert.equal(ev.$version, 2, 'the pushed patch carries $version');
  assert.deepEqual(ev.nested, { a: 1, b: 'x' });
  assert.equal(dev.twin.properties.desired.telemetryInterval, 30);

  // merge patch: nested merge and null deletes
  const u2 = (await reg.updateTwin(deviceId, { properties: { desired: { nested: { b: null, c: true }, telemetryInterval: null } } },
    updated.etag)).responseBody;
  assert.deepEqual(u2.properties.desired.nested, { a: 1, c: true });
  assert.equal(u2.properties.desired.telemetryInterval, undefined);
  assert.equal(u2.properties.desired.$version, 3);
  const ev2 = await dev.next((d) => d.$version === 3, 'second desired patch');
  assert.equal(ev2.telemetryInterval, null, 'the device receives the deletion as null');
  assert.deepEqual(ev2.nested, { b: null, c: true });

  // no-op desired patch still bumps desired $version (values are not compared)
  const u3 = (await reg.updateTwin(deviceId, { properties: { desired: { nested: { a: 1 } } } }, '*')).responseBody;
  assert.equal(u3.properties.desired.$version, 4);
  await dev.next((d) => d.$version === 4, 'no-op desired patch');

  const raw = await getTwinRaw(hub, deviceId);
  assert.equal(raw.etag, twinEtag(4), 'etag counts service writes: 1 + 3');
  assert.equal(raw.version, 4 + raw.properties.reported.$version, 'version = etag counter + reported $version');
  assert.equal(raw.properties.desired.$metadata.$lastUpdatedVersion, 4);

  // the device's GET shows the same desired, with $version
  const t2 = await withTimeout(new Promise((res, rej) => dev.twin.get((e, tw) => (e ? rej(e) : res(tw)))), 10000, 'twin.get');
  assert.equal(t2.properties.desired.$version, 4);
  assert.deepEqual(t2.properties.desired.nested, { a: 1, c: true });
});

test('reported patch: $version in the twin, etag unchanged, version +1, merge semantics', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('twin-rep'));
  const client = await openDevice(hub, connectionString);
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  assert.equal(twin.properties.reported.$version, 1);
  assert.equal(twin.properties.desired.$version, 1);
  const update = (patch) => withTimeout(new Promise((res, rej) =>
    twin.properties.reported.update(patch, (e) => (e ? rej(e) : res()))), 10000, `reported.update(${JSON.stringify(patch)})`);

  await update({ fw: '1.2.3', battery: 87, loc: { lat: 1.5, lon: 2.5 } });
  let raw = await getTwinRaw(hub, deviceId);
  assert.equal(raw.properties.reported.fw, '1.2.3');
  assert.equal(raw.properties.reported.battery, 87);
  assert.equal(raw.properties.reported.$version, 2);
  assert.equal(raw.etag, 'AAAAAAAAAAE=', 'reported patches do not change the twin etag');
  assert.equal(raw.version, 3);
  assert.ok(raw.properties.reported.$metadata.fw.$lastUpdated, 'reported $metadata per property');
  assert.equal(raw.properties.reported.$metadata.fw.$lastUpdatedVersion, undefined, 'reported metadata has no $lastUpdatedVersion');

  await update({ battery: null, loc: { lat: 3 } });
  raw = await getTwinRaw(hub, deviceId);
  assert.equal(raw.properties.reported.battery, undefined, 'null deletes');
  assert.deepEqual(raw.properties.reported.loc, { lat: 3, lon: 2.5 }, 'nested merge');
  assert.equal(raw.properties.reported.$version, 3);
  assert.equal(raw.version, 4);

  // identical patch still counts
  await update({ fw: '1.2.3' });
  raw = await getTwinRaw(hub, deviceId);
  assert.equal(raw.properties.reported.$version, 4);

  const t2 = await withTimeout(new Promise((res, rej) => twin.get((e, tw) => (e ? rej(e) : res(tw)))), 10000, 'twin.get');
  assert.equal(t2.properties.reported.$version, 4);
  assert.equal(t2.properties.reported.fw, '1.2.3');
});

test('stale If-Match -> InvalidEtagError (412 PreconditionFailed) and nothing changes; "*" always matches', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('twin-etag'));
  const t0 = (await reg.getTwin(deviceId)).responseBody;
  const staleEtag = t0.etag;
  await reg.updateTwin(deviceId, { tags: { site: 'a' } }, staleEtag);
  const before = await getTwinRaw(hub, deviceId);

  const err = await rejectsWith(reg.updateTwin(deviceId, { tags: { site: 'b' }, properties: { desired: { x: 1 } } }, staleEtag),
    'updateTwin with a stale etag');
  assert.equal(err.name, 'InvalidEtagError', `${err.name}: ${err.message}`);
  assert.equal(err.response.statusCode, 412);
  assert.equal(iotHubError({ json: JSON.parse(err.responseBody) }).code, 'PreconditionFailed');
  // the SDK's Twin.update with the old twin object fails the same way
  const err2 = await rejectsWith(t0.update({ tags: { site: 'c' } }), 'Twin.update with a stale etag');
  assert.equal(err2.name, 'InvalidEtagError');

  const after = await getTwinRaw(hub, deviceId);
  assert.deepEqual(after, before, 'a 412 changes nothing');

  // raw forms: quoted current etag, "*" and bare * are accepted
  for (const ifMatch of [`"${after.etag}"`, '"*"', '*']) {
    const r = await rest(hub, 'PATCH', `/twins/${deviceId}`, { body: { tags: { form: ifMatch } }, headers: { 'If-Match': ifMatch } });
    assert.equal(r.status, 200, `If-Match ${ifMatch}: ${r.status} ${r.body}`);
  }
  const r = await rest(hub, 'PATCH', `/twins/${deviceId}`, { body: { tags: { form: 'stale' } }, headers: { 'If-Match': `"${after.etag}"` } });
  assert.equal(r.status, 412);
  assert.equal(iotHubError(r).code, 'PreconditionFailed');
});

test('tags: tags-only update keeps desired $version, bumps etag and version; null deletes a tag', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('twin-tags'));
  const u1 = (await reg.updateTwin(deviceId, { tags: { site: 'lab2', floor: 3, deep: { x: { y: 1 } } } }, '*')).responseBody;
  assert.deepEqual(u1.tags, { site: 'lab2', floor: 3, deep: { x: { y: 1 } } });
  assert.equal(u1.properties.desired.$version, 1, 'tags-only: desired $version unchanged');
  assert.equal(u1.etag, twinEtag(2));
  let raw = await getTwinRaw(hub, deviceId);
  assert.equal(raw.version, 3);

  const u2 = (await reg.updateTwin(deviceId, { tags: { floor: null, deep: { x: { z: 2 } } }, properties: { desired: { d: 1 } } }, u1.etag)).responseBody;
  assert.deepEqual(u2.tags, { site: 'lab2', deep: { x: { y: 1, z: 2 } } });
  assert.equal(u2.properties.desired.$version, 2);
  assert.equal(u2.etag, twinEtag(3), 'tags + desired in one request count once');
  raw = await getTwinRaw(hub, deviceId);
  assert.equal(raw.version, 4);
  assert.deepEqual(raw.tags, u2.tags);
});

test('read-only members in a PATCH body are ignored (reported, $version, $metadata, deviceId)', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('twin-ro'));
  const r = await rest(hub, 'PATCH', `/twins/${deviceId}`, {
    headers: { 'If-Match': '"*"' },
    body: {
      deviceId, etag: 'AAAAAAAAAAk=', version: 99, status: 'disabled',
      properties: { desired: { k: 1, $version: 42, $metadata: { $lastUpdated: 'x' } }, reported: { hacked: true } },
    },
  });
  assert.equal(r.status, 200, r.body);
  const t = (await reg.getTwin(deviceId)).responseBody;
  assert.equal(t.properties.desired.k, 1);
  assert.equal(t.properties.desired.$version, 2);
  assert.equal(t.properties.reported.hacked, undefined, 'reported cannot be written by the service');
  assert.equal(t.properties.reported.$version, 1);
  assert.equal(t.status, 'enabled');
});

test('replace (PUT /twins): tags and desired replaced; the device gets removed keys as null', { timeout: 45000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString } = await createDevice(hub, uid('twin-put'));
  const u1 = (await reg.updateTwin(deviceId, { tags: { old: 1, keep: 1 }, properties: { desired: { a: 1, b: 2 } } }, '*')).responseBody;
  assert.equal(u1.properties.desired.$version, 2);
  const dev = await deviceWithDesired(hub, connectionString);
  // the first event is the desired state the device got by GET
  await dev.next((d) => d.a === 1 && d.b === 2, 'initial desired at the device');

  const r = await rest(hub, 'PUT', `/twins/${deviceId}`, {
    headers: { 'If-Match': `"${u1.etag}"` },
    body: { deviceId, tags: { keep: 2 }, properties: { desired: { a: 1, c: 100 } } },
  });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.deviceId, deviceId);
  assert.deepEqual(r.json.tags, { keep: 2 });
  assert.equal(r.json.properties.desired.b, undefined);
  assert.equal(r.json.properties.desired.c, 100);
  assert.equal(r.json.properties.desired.$version, 3);

  const ev = await dev.next((d) => d.$version === 3, 'replace notification');
  assert.equal(ev.a, 1);
  assert.equal(ev.c, 100);
  assert.equal(ev.b, null, 'a key removed by the replace arrives as null');
  assert.equal(dev.twin.properties.desired.b, undefined);

  // stale etag on PUT
  const r2 = await rest(hub, 'PUT', `/twins/${deviceId}`, {
    headers: { 'If-Match': `"${u1.etag}"` }, body: { deviceId, tags: {}, properties: { desired: {} } },
  });
  assert.equal(r2.status, 412);
  const after = await getTwinRaw(hub, deviceId);
  assert.deepEqual(after.tags, { keep: 2 });
});

test('desired: null clears all desired properties and notifies the device', { timeout: 45000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString } = await createDevice(hub, uid('twin-clear'));
  await reg.updateTwin(deviceId, { properties: { desired: { p: 1, q: { r: 2 } } } }, '*');
  const dev = await deviceWithDesired(hub, connectionString);
  await dev.next((d) => d.p === 1, 'initial desired');
  const u = (await reg.updateTwin(deviceId, { properties: { desired: null } }, '*')).responseBody;
  assert.equal(u.properties.desired.p, undefined);
  assert.equal(u.properties.desired.q, undefined);
  const ev = await dev.next((d) => d.$version === u.properties.desired.$version, 'clear notification');
  assert.equal(dev.twin.properties.desired.p, undefined, `device view after ${JSON.stringify(ev)}`);
});

test('desired changes made while the device is offline are seen by its next GET', { timeout: 45000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString } = await createDevice(hub, uid('twin-off'));
  await reg.updateTwin(deviceId, { properties: { desired: { offline: 'yes' } } }, '*');
  const client = await openDevice(hub, connectionString);
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  assert.equal(twin.properties.desired.offline, 'yes');
  assert.equal(twin.properties.desired.$version, 2);
  await waitFor(async () => (await reg.getTwin(deviceId)).responseBody.connectionState === 'Connected',
    { timeout: 5000, what: 'twin connectionState Connected' });
});
