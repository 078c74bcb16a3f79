// registry_modules.test.js - issue 11, the service side of modules and IoT Edge identities with
// Microsoft's azure-iothub Registry, unchanged: module identities (add, get, list, update with etag,
// remove), module twins (get, update with etag, versions), errors (ModuleNotFound,
// ModuleAlreadyExistsOnDevice, DeviceNotFound), deleting a device takes its modules, and edge
// scopes as the SDKs' own e2e tests expect (top-level, nested and leaf devices) with the
// $edgeAgent/$edgeHub system modules.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { useHub, uid, createDevice, registry, withTimeout, rest, iotHubError } = require('./lib/hub');

const ctx = useHub();

/** Resolves the error an SDK promise rejects with (fails when it resolves). */
async function failure(promise, what) {
  try {
    await withTimeout(promise, 10000, what);
  } catch (e) {
    return e;
  }
  assert.fail(`${what} succeeded; an error was expected`);
  return null;
}

test('Registry module identities: add, get, list, update with etag, remove', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('modhost'));
  const { responseBody: added } = await withTimeout(reg.addModule({ deviceId, moduleId: 'filter', managedBy: 'team-a' }),
    10000, 'addModule');
  assert.equal(added.deviceId, deviceId);
  assert.equal(added.moduleId, 'filter');
  assert.equal(added.managedBy, 'team-a');
  assert.equal(added.connectionState, 'Disconnected');
  assert.equal(added.authentication.type, 'sas');
  assert.match(added.authentication.symmetricKey.primaryKey, /^[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(added.authentication.symmetricKey.primaryKey, added.authentication.symmetricKey.secondaryKey);
  assert.ok(added.etag && added.generationId, 'etag and generationId are set');

  await withTimeout(reg.addModule({ deviceId, moduleId: 'sensor' }), 10000, 'addModule sensor');
  const { responseBody: got } = await withTimeout(reg.getModule(deviceId, 'filter'), 10000, 'getModule');
  assert.equal(got.authentication.symmetricKey.primaryKey, added.authentication.symmetricKey.primaryKey);
  assert.equal(got.etag, added.etag);

  const { responseBody: list } = await withTimeout(reg.getModulesOnDevice(deviceId), 10000, 'getModulesOnDevice');
  assert.deepEqual(list.map((m) => m.moduleId), ['filter', 'sensor']);
  assert.ok(list.every((m) => m.deviceId === deviceId));

  // GET /devices lists devices only
  const { responseBody: devices } = await withTimeout(reg.list(), 10000, 'list');
  assert.ok(devices.some((d) => d.deviceId === deviceId));
  assert.ok(!devices.some((d) => /\//.test(d.deviceId) || d.moduleId), 'no module rows among devices');

  // update: new key with the right etag, refused with a stale one
  const newKey = Buffer.alloc(32, 7).toString('base64');
  const { responseBody: updated } = await withTimeout(reg.updateModule({
    ...got, managedBy: 'team-b', authentication: { type: 'sas', symmetricKey: { primaryKey: newKey, secondaryKey: '' } },
  }), 10000, 'updateModule');
  assert.equal(updated.managedBy, 'team-b');
  assert.equal(updated.authentication.symmetricKey.primaryKey, newKey);
  assert.equal(updated.authentication.symmetricKey.secondaryKey, got.authentication.symmetricKey.secondaryKey);
  assert.notEqual(updated.etag, got.etag);
  const stale = await rest(hub, 'PUT', `/devices/${encodeURIComponent(deviceId)}/modules/filter`,
    { body: { deviceId, moduleId: 'filter' }, headers: { 'If-Match': `"${got.etag}"` } });
  assert.equal(stale.status, 412, stale.body);

  // errors the hub gives
  const dup = await failure(reg.addModule({ deviceId, moduleId: 'filter' }), 'addModule twice');
  assert.equal(dup.responseBody && iotHubError({ json: JSON.parse(dup.responseBody) }).code,
    'ModuleAlreadyExistsOnDevice');
  const r404 = await rest(hub, 'GET', `/devices/${encodeURIComponent(deviceId)}/modules/nope`);
  assert.equal(r404.status, 404);
  assert.equal(iotHubError(r404).code, 'ModuleNotFound');
  const noDev = await rest(hub, 'PUT', '/devices/no-such-device/modules/m1', { body: { moduleId: 'm1' } });
  assert.equal(noDev.status, 404);
  assert.equal(iotHubError(noDev).code, 'DeviceNotFound');
  const badId = await rest(hub, 'PUT', `/devices/${encodeURIComponent(deviceId)}/modules/bad%20id`, { body: {} });
  assert.equal(badId.status, 400);
  assert.equal(iotHubError(badId).code, 'ArgumentInvalid');
  const mismatch = await rest(hub, 'PUT', `/devices/${encodeURIComponent(deviceId)}/modules/m2`, { body: { moduleId: 'm3' } });
  assert.equal(mismatch.status, 400);

  await withTimeout(reg.removeModule(deviceId, 'sensor'), 10000, 'removeModule');
  const gone = await rest(hub, 'GET', `/devices/${encodeURIComponent(deviceId)}/modules/sensor`);
  assert.equal(gone.status, 404);
  const { responseBody: after } = await withTimeout(reg.getModulesOnDevice(deviceId), 10000, 'list after remove');
  assert.deepEqual(after.map((m) => m.moduleId), ['filter']);

  // deleting the device takes its modules and their twins
  await withTimeout(reg.delete(deviceId), 10000, 'delete device');
  const twinGone = await rest(hub, 'GET', `/twins/${encodeURIComponent(deviceId)}/modules/filter`);
  assert.equal(twinGone.status, 404);
  assert.equal(iotHubError(twinGone).code, 'DeviceNotFound');
  await withTimeout(reg.create({ deviceId }), 10000, 're-create device');
  const { responseBody: fresh } = await withTimeout(reg.getModulesOnDevice(deviceId), 10000, 'list on re-created');
  assert.deepEqual(fresh, []);
});

test('module twins: get, update desired/tags with etag, versions, replace', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('mtwin'));
  await withTimeout(reg.addModule({ deviceId, moduleId: 'm1' }), 10000, 'addModule');
  const { responseBody: twin } = await withTimeout(reg.getModuleTwin(deviceId, 'm1'), 10000, 'getModuleTwin');
  assert.equal(twin.deviceId, deviceId);
  assert.equal(twin.moduleId, 'm1');
  assert.equal(twin.etag, 'AAAAAAAAAAE=');
  assert.equal(twin.properties.desired.$version, 1);
  assert.equal(twin.properties.desired.$metadata.$lastUpdated, '0001-01-01T00:00:00Z');
  assert.equal(twin.capabilities, undefined, 'module twins have no capabilities');

  const { responseBody: t2 } = await withTimeout(reg.updateModuleTwin(deviceId, 'm1',
    { tags: { site: 'lab' }, properties: { desired: { interval: 5 } } }, twin.etag), 10000, 'updateModuleTwin');
  assert.equal(t2.moduleId, 'm1');
  assert.equal(t2.tags.site, 'lab');
  assert.equal(t2.properties.desired.interval, 5);
  assert.equal(t2.properties.desired.$version, 2);
  const stale = await failure(reg.updateModuleTwin(deviceId, 'm1', { properties: { desired: { x: 1 } } }, twin.etag),
    'updateModuleTwin with a stale etag');
  assert.match(String(stale.name + stale.message), /InvalidEtagError|Precondition/);
  assert.match(stale.message, new RegExp(`ETag mismatch for device ID '${deviceId}'`));

  // the device's own twin is a different twin
  const { responseBody: devTwin } = await withTimeout(reg.getTwin(deviceId), 10000, 'device twin');
  assert.equal(devTwin.properties.desired.interval, undefined);
  assert.equal(devTwin.moduleId, undefined);

  const replaced = await rest(hub, 'PUT', `/twins/${encodeURIComponent(deviceId)}/modules/m1`,
    { body: { properties: { desired: { only: true } } } });
  assert.equal(replaced.status, 200, replaced.body);
  assert.deepEqual(Object.keys(replaced.json.properties.desired).filter((k) => !k.startsWith('$')), ['only']);
  assert.equal((replaced.json.tags || {}).site, undefined, 'replace drops the old tags');

  const noMod = await rest(hub, 'GET', `/twins/${encodeURIComponent(deviceId)}/modules/none`);
  assert.equal(noMod.status, 404);
  assert.equal(iotHubError(noMod).code, 'ModuleNotFound');
  const noCall = await rest(hub, 'POST', `/twins/${encodeURIComponent(deviceId)}/modules/none/methods`,
    { body: { methodName: 'ping', responseTimeoutInSeconds: 5 } });
  assert.equal(noCall.status, 404);
  assert.equal(iotHubError(noCall).code, 'ModuleNotFound');
  const offline = await rest(hub, 'POST', `/twins/${encodeURIComponent(deviceId)}/modules/m1/methods`,
    { body: { methodName: 'ping', responseTimeoutInSeconds: 5 } });
  assert.equal(offline.status, 404);
  assert.equal(iotHubError(offline).code, 'DeviceNotOnline', offline.body);
});

test('IoT Edge: scopes for top-level, nested and leaf devices; $edgeAgent and $edgeHub', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const edge1 = uid('edge1');
  const edge2 = uid('edge2');
  const leaf = uid('leaf');
  const { responseBody: e1 } = await withTimeout(reg.create({ deviceId: edge1, capabilities: { iotEdge: true } }),
    10000, 'create edge1');
  assert.ok(e1.deviceScope, 'Created edge device contains a scope value');
  assert.ok(e1.deviceScope.startsWith(`ms-azure-iot-edge://${edge1}-`), e1.deviceScope);
  assert.deepEqual(e1.parentScopes, []);
  assert.equal(e1.capabilities.iotEdge, true);

  const { responseBody: e2 } = await withTimeout(reg.create({
    deviceId: edge2, capabilities: { iotEdge: true }, parentScopes: [e1.deviceScope],
  }), 10000, 'create edge2');
  assert.notEqual(e2.deviceScope, e1.deviceScope);
  assert.deepEqual(e2.parentScopes, [e1.deviceScope], 'the parent scope is respected as set');

  const { responseBody: l } = await withTimeout(reg.create({ deviceId: leaf, deviceScope: e2.deviceScope }),
    10000, 'create leaf');
  assert.equal(l.deviceScope, e2.deviceScope);
  assert.deepEqual(l.parentScopes, [e2.deviceScope], 'the service copies the edge scope into parentScopes');

  // a leaf moves to another parent by a plain update; an edge device's own scope cannot change
  const { responseBody: lget } = await withTimeout(reg.get(leaf), 10000, 'get leaf');
  const { responseBody: moved } = await withTimeout(reg.update({ ...lget, deviceScope: e1.deviceScope }), 10000,
    'update leaf scope');
  assert.equal(moved.deviceScope, e1.deviceScope);
  assert.deepEqual(moved.parentScopes, [e1.deviceScope]);
  const { responseBody: e2get } = await withTimeout(reg.get(edge2), 10000, 'get edge2');
  const refused = await rest(hub, 'PUT', `/devices/${encodeURIComponent(edge2)}`, {
    body: { ...e2get, deviceScope: 'ms-azure-iot-edge://other-1' }, headers: { 'If-Match': '*' },
  });
  assert.equal(refused.status, 400, refused.body);
  assert.equal(iotHubError(refused).code, 'ArgumentInvalid');
  const kept = await rest(hub, 'PUT', `/devices/${encodeURIComponent(edge2)}`, {
    body: { ...e2get, status: 'enabled' }, headers: { 'If-Match': '*' },
  });
  assert.equal(kept.status, 200, kept.body);
  assert.equal(kept.json.deviceScope, e2.deviceScope);
  assert.deepEqual(kept.json.parentScopes, [e1.deviceScope]);

  // the system modules of an edge device
  const { responseBody: mods } = await withTimeout(reg.getModulesOnDevice(edge1), 10000, 'edge modules');
  assert.deepEqual(mods.map((m) => m.moduleId).sort(), ['$edgeAgent', '$edgeHub']);
  const agentTwin = await rest(hub, 'GET', `/twins/${encodeURIComponent(edge1)}/modules/%24edgeAgent`);
  assert.equal(agentTwin.status, 200, agentTwin.body);
  assert.equal(agentTwin.json.moduleId, '$edgeAgent');
  const { responseBody: leafMods } = await withTimeout(reg.getModulesOnDevice(leaf), 10000, 'leaf modules');
  assert.deepEqual(leafMods, []);
});
