// bulk.test.js - bulk registry operations (POST /devices) through Microsoft's Node service SDK
// (Registry.addDevices / updateDevices / removeDevices, unchanged) and raw REST: all-good calls,
// a mix of good and bad entries (the good ones are applied, each bad one is reported with its
// error code), etags in the IfMatchETag modes, the 101-entry refusal, whole-call refusals, module
// entries, and the live connection of a disabled or deleted device dropped as the single calls do.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, openDevice, registry, withTimeout, waitFor, rest, iotHubError, rejectsWith,
} = require('./lib/hub');

const ctx = useHub();

const reg = () => registry(ctx.hub);

/** GET /devices/{id} status, or 404. */
async function deviceStatus(id) {
  const res = await rest(ctx.hub, 'GET', `/devices/${encodeURIComponent(id)}`);
  return res.status === 200 ? res.json.status : res.status;
}

/** The BulkRegistryOperationResult carried by a rejected SDK call (HTTP 400). */
function bulkResultOf(err) {
  assert.ok(err.responseBody, `no response body: ${err.message}`);
  return JSON.parse(err.responseBody);
}

test('addDevices creates every device and answers isSuccessful', async () => {
  const ids = [uid('bulk'), uid('bulk'), uid('bulk')];
  const res = await withTimeout(reg().addDevices([
    { deviceId: ids[0] },
    { deviceId: ids[1], status: 'disabled' },
    { deviceId: ids[2], authentication: { symmetricKey: { primaryKey: Buffer.alloc(32, 1).toString('base64'),
      secondaryKey: Buffer.alloc(32, 2).toString('base64') } } },
  ]), 10000, 'addDevices');
  assert.deepEqual(res.responseBody, { isSuccessful: true, errors: [], warnings: [] });
  assert.equal(res.httpResponse.statusCode, 200);
  const { responseBody: d0 } = await reg().get(ids[0]);
  assert.equal(d0.status, 'enabled');
  assert.ok(d0.authentication.symmetricKey.primaryKey.length >= 24, 'keys are generated');
  assert.equal(await deviceStatus(ids[1]), 'disabled');
  const { responseBody: d2 } = await reg().get(ids[2]);
  assert.equal(d2.authentication.symmetricKey.primaryKey, Buffer.alloc(32, 1).toString('base64'));
  // the created devices connect
  const key = d0.authentication.symmetricKey.primaryKey;
  await openDevice(ctx.hub, `HostName=${ctx.hub.host};DeviceId=${ids[0]};SharedAccessKey=${key}`);
});

test('a mix of good and bad entries: good ones applied, each bad one reported with its error code', async () => {
  const { deviceId: existing } = await createDevice(ctx.hub);
  const good1 = uid('bulk');
  const good2 = uid('bulk');
  const err = await rejectsWith(reg().addDevices([
    { deviceId: good1 },
    { deviceId: existing },
    { deviceId: 'no spaces allowed' },
    { deviceId: uid('bulk'), status: 'sleeping' },
    { deviceId: good2 },
  ]), 'addDevices with bad entries');
  assert.equal(err.constructor.name, 'ArgumentError');
  assert.equal(err.response.statusCode, 400);
  const result = bulkResultOf(err);
  assert.equal(result.isSuccessful, false);
  assert.deepEqual(result.warnings, []);
  assert.deepEqual(result.errors.map((e) => [e.deviceId, e.errorCode]), [
    [existing, 'DeviceAlreadyExists'],
    ['no spaces allowed', 'ArgumentInvalid'],
    [result.errors[2].deviceId, 'ArgumentInvalid'],
  ]);
  for (const e of result.errors) assert.equal(typeof e.errorStatus, 'string');
  assert.match(result.errors[0].errorStatus, /already registered/);
  assert.equal(await deviceStatus(good1), 'enabled');
  assert.equal(await deviceStatus(good2), 'enabled');
  assert.equal(await deviceStatus(result.errors[2].deviceId), 404);

  // update and remove of unknown devices: DeviceNotFound per entry; the known one still applied
  const ghost = uid('ghost');
  const err2 = await rejectsWith(reg().updateDevices([{ deviceId: ghost, status: 'disabled' },
    { deviceId: good1, status: 'disabled' }], true), 'updateDevices with a ghost');
  assert.deepEqual(bulkResultOf(err2).errors.map((e) => [e.deviceId, e.errorCode]), [[ghost, 'DeviceNotFound']]);
  assert.equal(await deviceStatus(ghost), 404, 'update does not create');
  assert.equal(await deviceStatus(good1), 'disabled');
  const err3 = await rejectsWith(reg().removeDevices([{ deviceId: ghost }, { deviceId: good2 }], true),
    'removeDevices with a ghost');
  assert.deepEqual(bulkResultOf(err3).errors.map((e) => [e.deviceId, e.errorCode]), [[ghost, 'DeviceNotFound']]);
  assert.equal(await deviceStatus(good2), 404);
});

test('etags: updateDevices/removeDevices without force need the current etag', async () => {
  const a = await createDevice(ctx.hub);
  const b = await createDevice(ctx.hub);
  const { responseBody: cur } = await reg().get(a.deviceId);
  // a: the device as get() returned it (its own "etag" member), b: a stale eTag
  const err = await rejectsWith(reg().updateDevices([
    { ...cur, status: 'disabled' },
    { deviceId: b.deviceId, eTag: 'MTIzNDU2Nzg5', status: 'disabled' },
  ], false), 'updateDevices with a stale etag');
  assert.deepEqual(bulkResultOf(err).errors.map((e) => [e.deviceId, e.errorCode]),
    [[b.deviceId, 'PreconditionFailed']]);
  assert.equal(await deviceStatus(a.deviceId), 'disabled');
  assert.equal(await deviceStatus(b.deviceId), 'enabled');
  const { responseBody: after } = await reg().get(a.deviceId);
  assert.notEqual(after.etag, cur.etag, 'the update moved the device etag');

  // removeDevices(force=false) with the old etag of a: refused; with the new one: deleted
  const err2 = await rejectsWith(reg().removeDevices([{ deviceId: a.deviceId, eTag: cur.etag }], false),
    'removeDevices with a stale etag');
  assert.deepEqual(bulkResultOf(err2).errors.map((e) => [e.deviceId, e.errorCode]),
    [[a.deviceId, 'PreconditionFailed']]);
  assert.equal(await deviceStatus(a.deviceId), 'disabled');
  const ok = await reg().removeDevices([{ deviceId: a.deviceId, eTag: after.etag }], false);
  assert.equal(ok.responseBody.isSuccessful, true);
  assert.equal(await deviceStatus(a.deviceId), 404);
  // force: the etag is ignored
  const forced = await reg().removeDevices([{ deviceId: b.deviceId, eTag: 'stale' }], true);
  assert.equal(forced.responseBody.isSuccessful, true);
  assert.equal(await deviceStatus(b.deviceId), 404);
});

test('more than 100 entries: the SDK refuses, the hub answers 413 TooManyDevices; 100 pass', async () => {
  const many = Array.from({ length: 101 }, () => ({ deviceId: uid('many') }));
  assert.throws(() => reg().addDevices(many, () => {}), /invalid size of 101/);
  const body = many.map((d) => ({ id: d.deviceId, importMode: 'create' }));
  const res = await rest(ctx.hub, 'POST', '/devices', { body });
  assert.equal(res.status, 413);
  assert.equal(iotHubError(res).code, 'TooManyDevices');
  assert.equal(res.headers['iothub-errorcode'], 'TooManyDevices');
  assert.equal(await deviceStatus(many[0].deviceId), 404, 'nothing applied');
  const hundred = await withTimeout(reg().addDevices(many.slice(0, 100)), 20000, 'addDevices(100)');
  assert.equal(hundred.responseBody.isSuccessful, true);
  assert.equal(await deviceStatus(many[99].deviceId), 'enabled');
  const removed = await reg().removeDevices(many.slice(0, 100), true);
  assert.equal(removed.responseBody.isSuccessful, true);
  assert.equal(await deviceStatus(many[50].deviceId), 404);
});

test('whole-call refusals: not an array, empty, unknown importMode, an id twice, no id, no auth', async () => {
  const id = uid('ref');
  const cases = [
    [{ id }, 400, 'ArgumentInvalid'],
    [[], 400, 'ArgumentInvalid'],
    ['[{"id":', 400, 'IotHubFormatError'],
    [[{ id, importMode: 'upsert' }], 400, 'ArgumentInvalid'],
    [[{ id, importMode: 'create' }, { id, importMode: 'delete' }], 400, 'DeviceDefinedMultipleTimes'],
    [[{ deviceId: id, importMode: 'create' }], 400, 'ArgumentInvalid'],
  ];
  for (const [body, status, code] of cases) {
    const res = await rest(ctx.hub, 'POST', '/devices', { body });
    assert.equal(res.status, status, JSON.stringify(body));
    assert.equal(iotHubError(res).code, code, JSON.stringify(body));
  }
  assert.equal(await deviceStatus(id), 404, 'nothing applied');
  const unauth = await rest(ctx.hub, 'POST', '/devices', { body: [{ id, importMode: 'create' }], token: null });
  assert.equal(unauth.status, 401);
  assert.equal(await deviceStatus(id), 404);
  // importMode names are not case-sensitive; absent means createOrUpdate
  const res = await rest(ctx.hub, 'POST', '/devices', { body: [{ id, importMode: 'CREATE' }] });
  assert.equal(res.status, 200, res.body);
  const res2 = await rest(ctx.hub, 'POST', '/devices', { body: [{ id, status: 'disabled' }] });
  assert.equal(res2.status, 200, res2.body);
  assert.equal(await deviceStatus(id), 'disabled');
});

test('disabling or deleting in bulk drops the live connection', async () => {
  const a = await createDevice(ctx.hub);
  const b = await createDevice(ctx.hub);
  const ca = await openDevice(ctx.hub, a.connectionString, { noRetry: true });
  const cb = await openDevice(ctx.hub, b.connectionString, { noRetry: true });
  let aGone = false;
  let bGone = false;
  ca.on('disconnect', () => { aGone = true; });
  cb.on('disconnect', () => { bGone = true; });
  await waitFor(async () => (await reg().get(a.deviceId)).responseBody.connectionState === 'Connected',
    { what: 'a connected' });
  const res = await reg().updateDevices([{ deviceId: a.deviceId, status: 'disabled' }], true);
  assert.equal(res.responseBody.isSuccessful, true);
  await waitFor(() => aGone, { what: 'disabled device dropped', timeout: 10000 });
  const res2 = await reg().removeDevices([{ deviceId: b.deviceId }], true);
  assert.equal(res2.responseBody.isSuccessful, true);
  await waitFor(() => bGone, { what: 'deleted device dropped', timeout: 10000 });
});

test('module entries: created with their device in one call, listed, deleted', async () => {
  const dev = uid('bmod');
  const res = await rest(ctx.hub, 'POST', '/devices', {
    body: [
      { id: dev, importMode: 'create', tags: { site: 'north' } },
      { id: dev, moduleId: 'filter', importMode: 'create', managedBy: 'ops' },
      { id: dev, moduleId: 'sink', importMode: 'create', properties: { desired: { rate: 3 } } },
      { id: uid('nodev'), moduleId: 'x', importMode: 'create' },
    ],
  });
  assert.equal(res.status, 400, res.body);
  assert.equal(res.json.isSuccessful, false);
  assert.equal(res.json.errors.length, 1);
  assert.equal(res.json.errors[0].errorCode, 'DeviceNotFound');
  assert.equal(res.json.errors[0].moduleId, 'x');
  const { responseBody: mods } = await reg().getModulesOnDevice(dev);
  assert.deepEqual(mods.map((m) => m.moduleId).sort(), ['filter', 'sink']);
  assert.equal(mods.find((m) => m.moduleId === 'filter').managedBy, 'ops');
  const twin = await rest(ctx.hub, 'GET', `/twins/${dev}/modules/sink`);
  assert.equal(twin.json.properties.desired.rate, 3);
  const devTwin = await rest(ctx.hub, 'GET', `/twins/${dev}`);
  assert.equal(devTwin.json.tags.site, 'north');
  const del = await rest(ctx.hub, 'POST', '/devices', { body: [{ id: dev, moduleId: 'filter', importMode: 'delete' }] });
  assert.equal(del.status, 200, del.body);
  const after = await rest(ctx.hub, 'GET', `/devices/${dev}/modules/filter`);
  assert.equal(after.status, 404);
});
