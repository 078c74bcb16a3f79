// cli.test.js - issue #12's az-style command line (`mockhub device-identity ...` etc.) against a
// running hub, with Microsoft's SDKs observing the effects: JSON and table output, --help on every
// verb, and the exit codes a script relies on (0 done, 1 hub error, 2 usage, 3 unreachable).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const {
  BUILD, useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, rest, rawMqtt, sleep,
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

const opened = [];
test.afterEach(async () => {
  while (opened.length) await opened.pop().close().catch(() => {});
});

test('device-identity create/show/list/update/renew-key/delete with JSON and table output', { timeout: 60000 }, async () => {
  const id = uid('cli');
  const created = await ok(['device-identity', 'create', '-d', id, '--ee']);
  assert.equal(created.json.deviceId, id);
  assert.equal(created.json.capabilities.iotEdge, true);
  assert.match(created.json.authentication.symmetricKey.primaryKey, /^[A-Za-z0-9+/]{43}=$/);
  const dup = await cli(['device-identity', 'create', '-d', id]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /409 DeviceAlreadyExists/);
  const pk = 'AAECAwQFBgcICQoLDA0ODw==';
  const sk = 'AQIDBAUGBwgJCgsMDQ4PEA==';
  const id2 = uid('cli');
  const withKeys = await ok(['device-identity', 'create', '-d', id2, '--pk', pk, '--sk', sk, '--status', 'disabled']);
  assert.equal(withKeys.json.authentication.symmetricKey.primaryKey, pk);
  assert.equal(withKeys.json.status, 'disabled');
  const shown = await ok(['device-identity', 'show', '-d', id2]);
  assert.equal(shown.json.authentication.symmetricKey.secondaryKey, sk);
  const table = await ok(['device-identity', 'list', '-o', 'table']);
  assert.match(table.stdout, /^DeviceId\s+Status\s+ConnectionState/);
  assert.match(table.stdout, new RegExp(`${id}\\s+enabled\\s+Disconnected\\s+true`));
  assert.match(table.stdout, new RegExp(`${id2}\\s+disabled`));
  const listed = await ok(['device-identity', 'list', '--top', '1']);
  assert.equal(listed.json.length, 1);
  // renew-key: swap, then a fresh primary
  const swapped = await ok(['device-identity', 'renew-key', '-d', id2, '--kt', 'swap']);
  assert.equal(swapped.json.authentication.symmetricKey.primaryKey, sk);
  assert.equal(swapped.json.authentication.symmetricKey.secondaryKey, pk);
  const renewed = await ok(['device-identity', 'renew-key', '-d', id2, '--kt', 'primary']);
  assert.notEqual(renewed.json.authentication.symmetricKey.primaryKey, sk);
  assert.equal(renewed.json.authentication.symmetricKey.secondaryKey, pk);
  const upd = await ok(['device-identity', 'update', '-d', id2, '--status', 'enabled', '--ee', 'false']);
  assert.equal(upd.json.status, 'enabled');
  assert.equal(upd.json.capabilities.iotEdge, false);
  const badEtag = await cli(['device-identity', 'update', '-d', id2, '--status', 'disabled', '--etag', 'nope']);
  assert.equal(badEtag.code, 1);
  assert.match(badEtag.stderr, /412 PreconditionFailed/);
  const del = await ok(['device-identity', 'delete', '-d', id2]);
  assert.equal(del.stdout, '');
  const gone = await cli(['device-identity', 'show', '-d', id2]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /404 DeviceNotFound/);
});

test('connection-string show gives a string the device SDK connects with; disable and delete drop it', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const id = uid('cli');
  await ok(['device-identity', 'create', '-d', id]);
  const cs = (await ok(['device-identity', 'connection-string', 'show', '-d', id])).json.connectionString;
  assert.match(cs, new RegExp(`^HostName=localhost;DeviceId=${id};SharedAccessKey=`));
  const client = await openDevice(hub, cs, { noRetry: true });
  opened.push(client);
  await ok(['test', 'wait-for', '-d', id, '--timeout', '10']);
  const dropped = new Promise((resolve) => client.on('disconnect', resolve));
  await ok(['device-identity', 'update', '-d', id, '--status', 'disabled']);
  await withTimeout(dropped, 10000, 'disable drops the live connection');
  const id2 = uid('cli');
  await ok(['device-identity', 'create', '-d', id2]);
  const cs2 = (await ok(['device-identity', 'connection-string', 'show', '-d', id2, '--kt', 'secondary'])).json.connectionString;
  const c2 = await openDevice(hub, cs2, { noRetry: true });
  opened.push(c2);
  await ok(['test', 'wait-for', '-d', id2, '--connected', '--timeout', '10']);
  const dropped2 = new Promise((resolve) => c2.on('disconnect', resolve));
  await ok(['device-identity', 'delete', '-d', id2]);
  await withTimeout(dropped2, 10000, 'delete drops the live connection');
  const svc = await ok(['connection-string', 'show']);
  assert.equal(svc.json.connectionString, hub.serviceConnectionString);
  const plain = await ok(['connection-string']);
  assert.equal(plain.stdout.trim(), hub.serviceConnectionString, 'the old form still prints a bare line');
});

test('device-twin update/replace/show reach the device; invoke-device-method returns its answer', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('cli'));
  const client = await openDevice(hub, connectionString);
  opened.push(client);
  client.onDeviceMethod('echo', (req, res) => res.send(201, { got: req.payload }));
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  const seen = [];
  twin.on('properties.desired', (d) => seen.push(d));
  const upd = await ok(['device-twin', 'update', '-d', deviceId, '--desired', '{"fw":"2.0"}', '--tags', '{"site":"cli"}']);
  assert.equal(upd.json.properties.desired.fw, '2.0');
  assert.equal(upd.json.tags.site, 'cli');
  await (async () => { for (let i = 0; i < 100 && !seen.some((d) => d.fw === '2.0'); i++) await sleep(50); })();
  assert.ok(seen.some((d) => d.fw === '2.0'), 'the device received the desired change');
  const stale = await cli(['device-twin', 'update', '-d', deviceId, '--desired', '{"fw":"3"}', '--etag', 'AAAAAAAAAAE=']);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /412 PreconditionFailed/);
  const good = await ok(['device-twin', 'update', '-d', deviceId, '--tags', '{"n":1}', '--etag', upd.json.etag]);
  assert.equal(good.json.tags.n, 1);
  const rep = await ok(['device-twin', 'replace', '-d', deviceId, '-j', '{"tags":{"only":true},"properties":{"desired":{"fw":"9"}}}']);
  assert.deepEqual(rep.json.tags, { only: true });
  const shown = await ok(['device-twin', 'show', '-d', deviceId, '-o', 'table']);
  assert.match(shown.stdout, new RegExp(`${deviceId}\\s+enabled\\s+Connected`));
  const badJson = await cli(['device-twin', 'update', '-d', deviceId, '--desired', '{nope']);
  assert.equal(badJson.code, 2);
  assert.match(badJson.stderr, /not valid JSON/);
  await ok(['test', 'wait-for', '-d', deviceId, '--methods', '--timeout', '10']);
  const call = await ok(['invoke-device-method', '-d', deviceId, '--method-name', 'echo', '--method-payload', '{"a":1}', '--timeout', '10']);
  assert.deepEqual(call.json, { status: 201, payload: { got: { a: 1 } } });
  const offline = await cli(['invoke-device-method', '-d', 'nobody-' + deviceId, '--mn', 'x']);
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, /DeviceNotFound/);
  const q = await ok(['query', '-q', `SELECT deviceId, tags FROM devices WHERE deviceId = '${deviceId}'`]);
  assert.deepEqual(q.json, [{ deviceId, tags: { only: true } }]);
  const qbad = await cli(['query', '-q', 'SELEC']);
  assert.equal(qbad.code, 1);
  assert.match(qbad.stderr, /400 BadRequest/);
});

test('query follows continuation pages and stops at --top', { timeout: 60000 }, async () => {
  const tag = uid('page');
  const reg = registry(ctx.hub);
  for (let i = 0; i < 130; i++) {
    const { deviceId } = await createDevice(ctx.hub, `${tag}-${String(i).padStart(3, '0')}`);
    void deviceId;
  }
  const all = await ok(['query', '-q', `SELECT deviceId FROM devices WHERE deviceId >= '${tag}-' AND deviceId < '${tag}-~'`]);
  assert.equal(all.json.length, 130, 'two pages of 100 and 30');
  const top = await ok(['query', '-q', `SELECT deviceId FROM devices WHERE deviceId >= '${tag}-' AND deviceId < '${tag}-~'`, '--top', '105']);
  assert.equal(top.json.length, 105);
  void reg;
});

test('generate-sas-token: a policy token the REST API accepts, a device token MQTT accepts', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const pol = await ok(['generate-sas-token', '--du', '120']);
  assert.match(pol.json.sas, /^SharedAccessSignature sr=localhost&sig=.*&se=\d+&skn=iothubowner$/);
  const res = await rest(hub, 'GET', '/devices', { token: pol.json.sas });
  assert.equal(res.status, 200);
  const { deviceId, key } = await createDevice(hub, uid('cli'));
  const dev = await ok(['generate-sas-token', '-d', deviceId]);
  const { client, connack } = await rawMqtt(hub, deviceId, key, { password: dev.json.sas });
  assert.equal(connack.returnCode, 0);
  client.end(true);
  const nodev = await cli(['generate-sas-token', '-d', 'nobody-here']);
  assert.equal(nodev.code, 1);
});

test('test reset / fault / drop / wait-for through the CLI', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('cli'));
  const f = await ok(['test', 'fault', 'add', '-d', deviceId, '--operations', 'twin.read', '--error', 'ThrottlingException', '--count', '1']);
  assert.equal(f.json.error.code, 429001);
  const err = await registry(hub).getTwin(deviceId).then(() => null, (e) => e);
  assert.equal(err && err.name, 'ThrottlingError');
  const lat = await ok(['test', 'fault', 'add', '--latency', '200', '--operations', 'registry', '-o', 'table']);
  assert.match(lat.stdout, /^Id\s+DeviceId\s+Operations/);
  const list = await ok(['test', 'fault', 'list']);
  assert.equal(list.json.length, 1);
  await ok(['test', 'fault', 'clear', '--id', String(list.json[0].id)]);
  assert.deepEqual((await ok(['test', 'fault', 'list'])).json, []);
  const client = await openDevice(hub, connectionString);
  opened.push(client);
  await ok(['test', 'wait-for', '-d', deviceId, '--timeout', '10']);
  const drop = await ok(['test', 'drop', '-d', deviceId]);
  assert.equal(drop.json.wasConnected, true);
  const notYet = await cli(['test', 'wait-for', '-d', deviceId, '--path', 'properties.reported.x', '--timeout', '1']);
  assert.equal(notYet.code, 1);
  assert.match(notYet.stderr, /did not hold/);
  const reset = await ok(['test', 'reset', '--to', 'empty']);
  assert.equal(reset.json.to, 'empty');
  assert.ok(reset.json.tookMs < 100);
  assert.deepEqual((await ok(['device-identity', 'list'])).json, []);
  assert.equal((await cli(['test', 'reset', '--to', 'seed'])).code, 1, 'no seed loaded');
  assert.equal((await cli(['test', 'reset', '--to', 'x'])).code, 2);
});

test('c2d-message send reaches the device with body, properties and ids; ack full gives feedback', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('cli-c2d'));
  const device = await openDevice(hub, connectionString);
  opened.push(device);
  const got = [];
  device.on('message', (msg) => { got.push(msg); device.complete(msg).catch(() => {}); });
  await sleep(300); // the SDK subscribes on the first 'message' listener
  const svc = serviceClient(hub);
  await withTimeout(svc.open(), 15000, 'service Client.open over AMQP');
  const records = [];
  try {
    const { result: receiver } = await withTimeout(svc.getFeedbackReceiver(), 15000, 'getFeedbackReceiver');
    receiver.on('message', (msg) => { for (const r of JSON.parse(msg.data.toString())) records.push(r); });
    const sent = await ok(['c2d-message', 'send', '-d', deviceId, '--data', 'hello from the cli',
      '--props', 'color=blue;with/slash=a/b', '--mid', 'cli-mid-1', '--cid', 'cli-cid', '--ct', 'text/plain',
      '--ce', 'utf-8', '--ack', 'full']);
    assert.deepEqual(sent.json, { deviceId, messageId: 'cli-mid-1', ack: 'full' });
    const msg = await waitFor(() => got[0], { timeout: 10000, what: 'the C2D message' });
    assert.equal(msg.data.toString(), 'hello from the cli');
    assert.equal(msg.messageId, 'cli-mid-1');
    assert.equal(msg.correlationId, 'cli-cid');
    assert.equal(msg.contentType, 'text/plain');
    assert.equal(msg.contentEncoding, 'utf-8');
    assert.equal(msg.properties.getValue('color'), 'blue');
    assert.equal(msg.properties.getValue('with/slash'), 'a/b');
    await waitFor(() => records.find((r) => r.originalMessageId === 'cli-mid-1'), { timeout: 10000, what: 'the feedback record' });
    assert.equal(records.find((r) => r.originalMessageId === 'cli-mid-1').statusCode, 'Success');
    // without --mid: a generated UUID; the default body is az's
    const plain = await ok(['c2d-message', 'send', '-d', deviceId]);
    assert.match(plain.json.messageId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(plain.json.ack, 'none');
    const second = await waitFor(() => got[1], { timeout: 10000, what: 'the second C2D message' });
    assert.equal(second.messageId, plain.json.messageId);
    assert.equal(second.data.toString(), 'Ping from Az CLI IoT Extension');
  } finally {
    await svc.close();
  }
  // the hub's answers: unknown device 404, a full queue 403004, no address for a module's queue
  const nodev = await cli(['c2d-message', 'send', '-d', 'nobody-' + deviceId]);
  assert.equal(nodev.code, 1);
  assert.match(nodev.stderr, /404 DeviceNotFound/);
  const offline = await createDevice(hub, uid('cli-c2d'));
  for (let i = 0; i < 50; i++) await ok(['c2d-message', 'send', '-d', offline.deviceId, '--data', `m${i}`]);
  const full = await cli(['c2d-message', 'send', '-d', offline.deviceId]);
  assert.equal(full.code, 1);
  assert.match(full.stderr, /403 DeviceMaximumQueueDepthExceeded/);
  const mod = await rest(hub, 'POST', `/mockhub/devices/${encodeURIComponent(`${deviceId}/m1`)}/messages`, { body: {} });
  assert.equal(mod.status, 404);
  const modCli = await cli(['c2d-message', 'send', '-d', deviceId, '-m', 'm1']);
  assert.equal(modCli.code, 2, 'the verb takes no module id');
  const bad = await rest(hub, 'POST', `/mockhub/devices/${deviceId}/messages`, { body: { data: 5 } });
  assert.equal(bad.status, 400);
  const badAck = await cli(['c2d-message', 'send', '-d', deviceId, '--ack', 'sometimes']);
  assert.equal(badAck.code, 2);
  const badProps = await cli(['c2d-message', 'send', '-d', deviceId, '--props', 'novalue']);
  assert.equal(badProps.code, 2);
  const noOwner = await rest(hub, 'POST', `/mockhub/devices/${deviceId}/messages`, { body: {}, token: 'SharedAccessSignature sr=x&sig=y&se=1' });
  assert.equal(noOwner.status, 401);
});

test('usage errors exit 2, an unreachable hub 3, --help on every verb exits 0', { timeout: 60000 }, async () => {
  for (const args of [
    ['device-identity', 'bogus'], ['device-identity', 'show'], ['device-twin', 'show', '-d', 'x', '--foo', '1'],
    ['device-identity', 'list', '-o', 'yaml'], ['device-identity', 'list', '--top', '0'],
    ['device-identity', 'create', '-d', 'x', '--status', 'maybe'], ['invoke-device-method', '-d', 'x'],
    ['device-identity', 'renew-key', '-d', 'x', '--kt'], ['test', 'wait-for', '-d', 'x', '--connected', '--methods'],
    ['device-identity', 'list', '-l', 'HostName=x'],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    assert.ok(r.stderr.length > 0);
  }
  const down = await cli(['device-identity', 'list'], { MOCKHUB_HTTPS_PORT: '1' });
  assert.equal(down.code, 3);
  assert.match(down.stderr, /cannot reach the hub/);
  const top = await ok(['--help']);
  const verbs = [...top.stdout.matchAll(/^ {2}((?:device-identity|device-twin|invoke-device-method|module-identity|module-twin|invoke-module-method|c2d-message|query|generate-sas-token|connection-string show|test)[a-z -]*?)\s{2,}/gm)]
    .map((m) => m[1].trim());
  assert.ok(verbs.length >= 30, `verbs listed: ${verbs.join(', ')}`);
  for (const v of verbs) {
    const r = await ok([...v.split(' '), '--help']);
    assert.match(r.stdout, new RegExp(`^usage: .*mockhub ${v} \\[options\\]`), v);
    assert.match(r.stdout, /exit codes/);
  }
  // the old offline commands keep working
  await ok(['device', 'create', 'legacy-dev']);
  const legacy = await ok(['device', 'list']);
  assert.match(legacy.stdout, /legacy-dev/);
});
