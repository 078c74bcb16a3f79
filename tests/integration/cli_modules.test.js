// cli_modules.test.js - issue #11's module verbs of the az-style command line (`mockhub
// module-identity|module-twin|invoke-module-method`, `generate-sas-token -m`, `monitor-events --module`)
// against a running hub, with Microsoft's SDKs (Registry, ModuleClient) observing the effects.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const {
  BUILD, useHub, uid, createDevice, registry, withTimeout, waitFor, rawMqtt, onCleanup,
} = require('./lib/hub');

const ctx = useHub();
const MOCKHUB = path.join(BUILD, 'mockhub');

/** Runs `mockhub ...args` against the file's hub; resolves { code, stdout, stderr, json }. */
function cli(args, env = {}) {
  const hub = ctx.hub;
  return new Promise((resolve) => {
    execFile(MOCKHUB, args, {
      env: { PATH: process.env.PATH, MOCKHUB_DATA_DIR: hub.dataDir, MOCKHUB_HOSTNAME: hub.host, MOCKHUB_OWNER_KEY: hub.ownerKey, ...env },
      timeout: 60000,
    }, (err, stdout, stderr) => {
      let json = null;
      try { json = JSON.parse(stdout); } catch { json = null; }
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, json });
    });
  });
}

async function ok(args, env) {
  const r = await cli(args, env);
  assert.equal(r.code, 0, `mockhub ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** An opened azure-iot-device ModuleClient over MQTT, closed after the file. */
async function openModule(hub, connectionString) {
  const { ModuleClient } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  const client = ModuleClient.fromConnectionString(connectionString, Mqtt);
  client.on('error', () => {});
  await withTimeout(client.setOptions({ ca: fs.readFileSync(hub.ca, 'utf8') }), 5000, 'module setOptions');
  onCleanup(() => client.close().catch(() => {}));
  await withTimeout(client.open(), 15000, 'ModuleClient.open()');
  return client;
}

test('module-identity create/show/list/update/delete and module-twin update/replace/show, seen by Registry', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('clim'));
  const created = await ok(['module-identity', 'create', '-d', deviceId, '-m', 'mod1']);
  assert.equal(created.json.deviceId, deviceId);
  assert.equal(created.json.moduleId, 'mod1');
  assert.match(created.json.authentication.symmetricKey.primaryKey, /^[A-Za-z0-9+/]{43}=$/);
  const dup = await cli(['module-identity', 'create', '-d', deviceId, '-m', 'mod1']);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /409 ModuleAlreadyExistsOnDevice/);
  const nodev = await cli(['module-identity', 'create', '-d', 'nobody-' + deviceId, '-m', 'mod1']);
  assert.equal(nodev.code, 1);
  assert.match(nodev.stderr, /404 DeviceNotFound/);
  const pk = 'AAECAwQFBgcICQoLDA0ODw==';
  const sk = 'AQIDBAUGBwgJCgsMDQ4PEA==';
  await ok(['module-identity', 'create', '-d', deviceId, '-m', 'mod2', '--pk', pk, '--sk', sk]);
  const viaSdk = (await reg.getModule(deviceId, 'mod2')).responseBody;
  assert.equal(viaSdk.authentication.symmetricKey.primaryKey, pk);
  const shown = await ok(['module-identity', 'show', '-d', deviceId, '-m', 'mod2']);
  assert.equal(shown.json.authentication.symmetricKey.secondaryKey, sk);
  const list = await ok(['module-identity', 'list', '-d', deviceId]);
  assert.deepEqual(list.json.map((m) => m.moduleId).sort(), ['mod1', 'mod2']);
  const top = await ok(['module-identity', 'list', '-d', deviceId, '--top', '1']);
  assert.equal(top.json.length, 1);
  const table = await ok(['module-identity', 'list', '-d', deviceId, '-o', 'table']);
  assert.match(table.stdout, /^DeviceId\s+ModuleId\s+ConnectionState/);
  assert.match(table.stdout, new RegExp(`${deviceId}\\s+mod2\\s+Disconnected`));
  // update: new keys, with the module's etag by default; a stale one is refused
  const upd = await ok(['module-identity', 'update', '-d', deviceId, '-m', 'mod2', '--pk', sk]);
  assert.equal(upd.json.authentication.symmetricKey.primaryKey, sk);
  assert.equal((await reg.getModule(deviceId, 'mod2')).responseBody.authentication.symmetricKey.primaryKey, sk);
  const stale = await cli(['module-identity', 'update', '-d', deviceId, '-m', 'mod2', '--pk', pk, '--etag', 'nope']);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /412 PreconditionFailed/);
  const cs = await ok(['module-identity', 'connection-string', 'show', '-d', deviceId, '-m', 'mod2', '--kt', 'secondary']);
  assert.equal(cs.json.connectionString, `HostName=${hub.host};DeviceId=${deviceId};ModuleId=mod2;SharedAccessKey=${sk}`);
  // module twin
  const tw = await ok(['module-twin', 'update', '-d', deviceId, '-m', 'mod1', '--desired', '{"rate":5}', '--tags', '{"role":"filter"}']);
  assert.equal(tw.json.deviceId, deviceId);
  assert.equal(tw.json.moduleId, 'mod1');
  assert.equal(tw.json.properties.desired.rate, 5);
  const sdkTwin = (await reg.getModuleTwin(deviceId, 'mod1')).responseBody;
  assert.equal(sdkTwin.tags.role, 'filter');
  assert.equal(sdkTwin.properties.desired.rate, 5);
  const staleTwin = await cli(['module-twin', 'update', '-d', deviceId, '-m', 'mod1', '--desired', '{"rate":6}', '--etag', 'AAAAAAAAAAE=']);
  assert.equal(staleTwin.code, 1);
  assert.match(staleTwin.stderr, /412 PreconditionFailed/);
  const good = await ok(['module-twin', 'update', '-d', deviceId, '-m', 'mod1', '--desired', '{"rate":7}', '--etag', tw.json.etag]);
  assert.equal(good.json.properties.desired.rate, 7);
  const rep = await ok(['module-twin', 'replace', '-d', deviceId, '-m', 'mod1', '-j', '{"tags":{"only":true},"properties":{"desired":{"x":1}}}']);
  assert.deepEqual(rep.json.tags, { only: true });
  assert.equal(rep.json.properties.desired.rate, undefined);
  const twTable = await ok(['module-twin', 'show', '-d', deviceId, '-m', 'mod1', '-o', 'table']);
  assert.match(twTable.stdout, /^DeviceId\s+ModuleId\s+ConnectionState\s+Version\s+Etag/);
  assert.match(twTable.stdout, new RegExp(`${deviceId}\\s+mod1\\s+Disconnected`));
  // the device's own twin is not the module's
  assert.equal(((await reg.getTwin(deviceId)).responseBody.tags || {}).only, undefined);
  // delete
  const del = await ok(['module-identity', 'delete', '-d', deviceId, '-m', 'mod2']);
  assert.equal(del.stdout, '');
  const gone = await cli(['module-identity', 'show', '-d', deviceId, '-m', 'mod2']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /404 ModuleNotFound/);
  const goneTwin = await cli(['module-twin', 'show', '-d', deviceId, '-m', 'mod2']);
  assert.equal(goneTwin.code, 1);
  assert.match(goneTwin.stderr, /404 ModuleNotFound/);
  // usage: -m is required where a module is addressed
  for (const args of [['module-identity', 'show', '-d', deviceId], ['module-twin', 'show', '-d', deviceId],
    ['invoke-module-method', '-d', deviceId, '--mn', 'x'], ['module-identity', 'list'],
    ['module-identity', 'update', '-d', deviceId, '-m', 'mod1'], ['generate-sas-token', '-m', 'mod1'],
    ['module-twin', 'update', '-d', deviceId, '-m', 'mod1']]) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
  }
});

test('a ModuleClient on the CLI connection string: invoke-module-method, desired updates, module SAS, monitor-events --module', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('clim'));
  await ok(['module-identity', 'create', '-d', deviceId, '-m', 'filter']);
  await ok(['module-identity', 'create', '-d', deviceId, '-m', 'other']);
  const cs = (await ok(['module-identity', 'connection-string', 'show', '-d', deviceId, '-m', 'filter'])).json.connectionString;
  const mod = await openModule(hub, cs);
  mod.onMethod('echo', (req, res) => res.send(202, { got: req.payload, by: 'filter' }));
  const twin = await withTimeout(mod.getTwin(), 10000, 'module getTwin');
  const seen = [];
  twin.on('properties.desired', (d) => seen.push(d));
  const call = await waitFor(async () => {
    const r = await cli(['invoke-module-method', '-d', deviceId, '-m', 'filter', '--mn', 'echo', '--mp', '{"a":1}', '--timeout', '10']);
    return r.code === 0 ? r : null;
  }, { timeout: 10000, interval: 300, what: 'the module to take methods' });
  assert.deepEqual(call.json, { status: 202, payload: { got: { a: 1 }, by: 'filter' } });
  const offline = await cli(['invoke-module-method', '-d', deviceId, '-m', 'other', '--mn', 'echo', '--timeout', '5']);
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, /404 DeviceNotOnline/);
  await ok(['module-twin', 'update', '-d', deviceId, '-m', 'filter', '--desired', '{"threshold":42}']);
  await waitFor(() => seen.some((d) => d.threshold === 42), { timeout: 10000, what: 'the desired update at the module' });
  const shown = await ok(['module-twin', 'show', '-d', deviceId, '-m', 'filter']);
  assert.equal(shown.json.connectionState, 'Connected');
  // a module token: sr={host}/devices/{d}/modules/{m}, accepted for the module's MQTT connection only
  const sas = await ok(['generate-sas-token', '-d', deviceId, '-m', 'other', '--du', '300']);
  assert.match(sas.json.sas, new RegExp(`^SharedAccessSignature sr=${hub.host}%2Fdevices%2F${deviceId}%2Fmodules%2Fother&sig=.*&se=\\d+$`));
  const otherKey = (await ok(['module-identity', 'show', '-d', deviceId, '-m', 'other'])).json.authentication.symmetricKey.primaryKey;
  const username = `${hub.host}/${deviceId}/other/?api-version=2021-04-12`;
  const good = await rawMqtt(hub, deviceId, otherKey, { clientId: `${deviceId}/other`, username, password: sas.json.sas });
  assert.equal(good.connack.returnCode, 0);
  good.client.end(true);
  const wrong = await rawMqtt(hub, deviceId, otherKey, {
    clientId: `${deviceId}/filter`, username: `${hub.host}/${deviceId}/filter/?api-version=2021-04-12`, password: sas.json.sas,
  }).catch((e) => ({ error: e }));
  assert.ok(wrong.error || wrong.connack.returnCode !== 0, 'the other module\'s token does not open filter');
  if (wrong.client) wrong.client.end(true);
  // module telemetry in monitor-events, filtered by --module
  const { Message } = require('azure-iot-device');
  await withTimeout(mod.sendEvent(new Message('{"t":1}')), 10000, 'module sendEvent');
  const ev = await ok(['monitor-events', '--device', deviceId, '--module', 'filter', '--from-start', '--count', '1', '--timeout', '10']);
  if (!ev.stdout.trim()) {
    const all = await cli(['monitor-events', '--device', deviceId, '--from-start', '--timeout', '1']);
    assert.fail(`monitor-events --module filter printed nothing; without --module: ${all.stdout} ${all.stderr}`);
  }
  const line = JSON.parse(ev.stdout.trim().split('\n')[0]);
  assert.equal(line.event.origin, deviceId);
  assert.equal(line.event.module, 'filter');
  assert.deepEqual(line.event.payload, { t: 1 });
  const none = await ok(['monitor-events', '--device', deviceId, '--module', 'other', '--from-start', '--timeout', '1']);
  assert.equal(none.stdout, '', 'nothing from module other');
});
