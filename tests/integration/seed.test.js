// seed.test.js - issue #12's seed file (`mockhub run --seed FILE`, MOCKHUB_SEED): devices with keys
// given or generated, status, edge flag, tags, desired properties and policies; loading it twice
// changes nothing; `test reset` returns to it with the same keys; bad files are refused before the
// hub starts with the JSON path and line of the problem.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const {
  BUILD, ROOT, startHub, cleanupAll, runDir, registry, openDevice, deviceConnectionString, rest, serviceToken,
  withTimeout, sleep,
} = require('./lib/hub');

const EXAMPLE = path.join(ROOT, 'docs', 'seed.example.json');
const CI_KEY = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')).policies[0].primaryKey;
const T1_KEY = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')).devices[0].primaryKey;

test.after(() => cleanupAll());

function writeSeed(name, text) {
  const file = path.join(runDir(), name);
  fs.writeFileSync(file, text);
  return file;
}

test('the example seed: devices, keys, twins and a policy; a restart with it changes nothing', { timeout: 90000 }, async () => {
  const hub = await startHub({ env: { MOCKHUB_SEED: EXAMPLE } });
  assert.match(hub.log(), /Seed: .*seed\.example\.json \(3 device\(s\) created now, 3 in all\)/);
  const reg = registry(hub);
  const t1 = (await reg.getTwin('thermostat-1')).responseBody;
  assert.deepEqual(t1.tags, { site: 'lab', floor: 2 });
  assert.equal(t1.properties.desired.targetTemperature, 21.5);
  const d2 = (await reg.get('thermostat-2')).responseBody;
  assert.equal(d2.status, 'disabled');
  const gw = (await reg.get('edge-gateway')).responseBody;
  assert.equal(gw.capabilities.iotEdge, true);
  const gwKey = gw.authentication.symmetricKey.primaryKey;
  assert.match(gwKey, /^[A-Za-z0-9+/]{43}=$/, 'generated');
  // the seeded key lets the device in; desired properties are there for it
  const client = await openDevice(hub, deviceConnectionString(hub, 'thermostat-1', T1_KEY));
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  assert.equal(twin.properties.desired.targetTemperature, 21.5);
  await client.close();
  // the seeded policy works for the service API, but test control is the owner's
  const ciToken = serviceToken(hub, { policy: 'ci-reader', key: CI_KEY });
  assert.equal((await rest(hub, 'GET', '/devices/thermostat-1', { token: ciToken })).status, 200);
  assert.equal((await rest(hub, 'POST', '/mockhub/reset', { token: ciToken, apiVersion: null, body: {} })).status, 401,
    'a policy without all rights may not use test control');
  assert.equal((await rest(hub, 'GET', '/mockhub/faults', { token: ciToken, apiVersion: null })).status, 401);
  // restart with the same seed: nothing changes (etags, versions, generated keys)
  const before = (await reg.getTwin('thermostat-1')).responseBody;
  await hub.restart();
  assert.match(hub.log(), /Seed: .*\(0 device\(s\) created now, 3 in all\)/);
  const after = (await registry(hub).getTwin('thermostat-1')).responseBody;
  assert.equal(after.etag, before.etag);
  assert.equal(after.version, before.version);
  assert.equal(after.properties.desired.$version, before.properties.desired.$version);
  assert.equal((await registry(hub).get('edge-gateway')).responseBody.authentication.symmetricKey.primaryKey, gwKey);
  // reset to the seed: extra devices go, changes are undone, keys stay
  await registry(hub).create({ deviceId: 'extra' });
  await registry(hub).updateTwin('thermostat-1', { tags: { site: 'moved' } }, '*');
  const t0 = Date.now();
  const res = await rest(hub, 'POST', '/mockhub/reset', { apiVersion: null, body: {} });
  assert.equal(res.status, 200, res.body);
  assert.ok(Date.now() - t0 < 100, 'reset to the seed in well under 100 ms');
  assert.equal(res.json.to, 'seed', 'the default target when a seed was loaded');
  assert.equal(res.json.devices, 3);
  const ids = (await registry(hub).list()).responseBody.map((d) => d.deviceId).sort();
  assert.deepEqual(ids, ['edge-gateway', 'thermostat-1', 'thermostat-2']);
  assert.equal((await registry(hub).getTwin('thermostat-1')).responseBody.tags.site, 'lab');
  assert.equal((await registry(hub).get('edge-gateway')).responseBody.authentication.symmetricKey.primaryKey, gwKey,
    'a generated key is the same after a reset');
  const empty = await rest(hub, 'POST', '/mockhub/reset', { apiVersion: null, body: { to: 'empty' } });
  assert.equal(empty.json.devices, 0);
  assert.deepEqual((await registry(hub).list()).responseBody, []);
  await hub.stop();
});

test('bad seed files are refused before the hub starts, with the JSON path and line', { timeout: 60000 }, async () => {
  const cases = [
    ['status.json', '{\n  "devices": [\n    { "deviceId": "a" },\n    { "deviceId": "b", "status": "on" }\n  ]\n}\n',
      /status\.json:4:34: \$\.devices\[1\]\.status: must be "enabled" or "disabled"/],
    ['syntax.json', '{\n  "devices": [\n    { "deviceId": "a" }\n    { "deviceId": "b" }\n  ]\n}\n', /syntax\.json:4:\d+: not valid JSON here/],
    ['dup.json', '{"devices":[{"deviceId":"a"},\n{"deviceId":"a"}]}', /dup\.json:2:13: \$\.devices\[1\]\.deviceId: device 'a' is already seeded at \$\.devices\[0\]/],
    ['key.json', '{"devices":[{"deviceId":"a","primaryKey":"nope"}]}', /\$\.devices\[0\]\.primaryKey: must be a base64 key/],
    ['twin.json', '{"devices":[{"deviceId":"a","desired":{"$bad":1}}]}', /\$\.devices\[0\]\.desired: /],
    ['policy.json', '{"policies":[{"name":"iothubowner","rights":["RegistryRead"]}]}', /\$\.policies\[0\]\.name: 'iothubowner' is built in/],
  ];
  for (const [name, text, re] of cases) {
    const file = writeSeed(name, text);
    const dataDir = path.join(runDir(), `bad-${name}`);
    const t0 = Date.now();
    const r = await new Promise((resolve) => execFile(path.join(BUILD, 'mockhub'), ['run', '--seed', file], {
      env: { PATH: process.env.PATH, MOCKHUB_DATA_DIR: dataDir, MOCKHUB_HOSTNAME: 'localhost' }, timeout: 20000,
    }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, re, name);
    assert.match(r.stderr, /refusing the seed file/);
    assert.ok(Date.now() - t0 < 2000, 'at once');
    assert.ok(!fs.existsSync(path.join(dataDir, 'mockhub.db')), 'nothing started, nothing written');
  }
  const missing = await startHub({ env: { MOCKHUB_SEED: '/nonexistent/seed.json' } }).then(() => null, (e) => e);
  assert.ok(missing);
  assert.match(String(missing.message), /cannot read the seed file \/nonexistent\/seed\.json/);
  await sleep(10);
});
