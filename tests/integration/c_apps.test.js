// c_apps.test.js - issue #3's pairings: our C tutorial apps (build/dmpatterns_getstarted_device and
// build/dmpatterns_getstarted_service) with each other and with Microsoft's Node SDKs, against the real
// hub; reconnect after a hub restart; clear, fast failures (wrong key, offline device, timeout).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  BUILD, useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, spawnApp,
  deviceConnectionString, rest,
} = require('./lib/hub');

const DEVICE_APP = path.join(BUILD, 'dmpatterns_getstarted_device');
const SERVICE_APP = path.join(BUILD, 'dmpatterns_getstarted_service');

const ctx = useHub();

test.before(() => {
  for (const bin of [DEVICE_APP, SERVICE_APP]) {
    assert.ok(fs.existsSync(bin), `${bin} missing: run \`make\` (issue #3 apps)`);
  }
});

function startDeviceApp(hub, cs, args = ['--reboot-delay', '1']) {
  return spawnApp(DEVICE_APP, args, { IOTHUB_DEVICE_CONNECTION_STRING: cs, IOTHUB_CA_FILE: hub.ca });
}

function runServiceApp(hub, deviceId, args = ['--interval', '1', '--count', '15'], env = {}) {
  return spawnApp(SERVICE_APP, args, {
    IOTHUB_CONNECTION_STRING: hub.serviceConnectionString, IOTHUB_DEVICE_ID: deviceId, IOTHUB_CA_FILE: hub.ca, ...env,
  });
}

/** Waits until the device app answers methods: an unknown method gets its 404 "Unknown method". */
async function deviceAppReady(hub, deviceId, app, timeout = 30000) {
  const svc = serviceClient(hub);
  return waitFor(async () => {
    if (app.exitInfo) throw new Error(`device app exited: ${JSON.stringify(app.exitInfo)}\n${app.output()}`);
    const { result } = await svc.invokeDeviceMethod(deviceId, { methodName: 'ping', payload: null, connectTimeoutInSeconds: 5 });
    return result;
  }, { timeout, interval: 500, what: 'the device app to answer methods' }).then((result) => {
    assert.deepEqual(result, { status: 404, payload: { Response: 'Unknown method' } }, 'unknown method answer');
    return result;
  });
}

async function expectExit(app, ms, what) {
  const info = await withTimeout(app.exited, ms, `${what} to exit`).catch((e) => {
    throw new Error(`${e.message}; output:\n${app.output()}`);
  });
  return info;
}

test('our device app + our service app: the tutorial flow', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('capp'));
  const dev = startDeviceApp(hub, connectionString);
  await deviceAppReady(hub, deviceId, dev);
  const t0 = Date.now();
  const svc = runServiceApp(hub, deviceId);
  const info = await expectExit(svc, 45000, 'service app');
  assert.equal(info.code, 0, `service app exit ${info.code}; output:\n${svc.output()}`);
  await dev.waitOutput(/Rebooting!/, 5000);
  await dev.waitOutput(/reported rebootTime=/, 10000);
  const twin = (await registry(hub).getTwin(deviceId)).responseBody;
  const rt = twin.properties.reported.rebootTime;
  assert.ok(rt && Date.parse(rt) >= t0 - 1000, `reported rebootTime ${rt}`);
  assert.ok(svc.output().includes(rt), `the service app printed the reboot time ${rt}:\n${svc.output()}`);
  assert.match(svc.output(), /Reboot started/, 'the service app printed the device\'s answer');
  const stop = await dev.stop('SIGINT');
  assert.equal(stop.code, 0, `device app exit after Ctrl-C: ${JSON.stringify(stop)}\n${dev.output()}`);
  assert.match(dev.output(), /shutting down/);
});

test('our device app + the Node service SDK', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString } = await createDevice(hub, uid('capp-node-svc'));
  const dev = startDeviceApp(hub, connectionString);
  await deviceAppReady(hub, deviceId, dev);
  const t0 = Date.now();
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, {
    methodName: 'rebootDevice', payload: null, responseTimeoutInSeconds: 30,
  }), 35000, 'invoke rebootDevice');
  assert.equal(result.status, 200);
  assert.deepEqual(result.payload, { result: 'Reboot started' });
  const twin = await waitFor(async () => {
    const t = (await reg.getTwin(deviceId)).responseBody;
    const rt = t.properties.reported.rebootTime;
    return rt && Date.parse(rt) >= t0 - 1000 ? t : null;
  }, { timeout: 20000, interval: 250, what: 'reported rebootTime' });
  const rt = twin.properties.reported.rebootTime;
  assert.match(rt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'ISO-8601 UTC');
  assert.equal(twin.properties.reported.iothubDM.reboot.lastReboot, rt, 'the Node tutorial\'s shape too');
  assert.equal(twin.connectionState, 'Connected');
  assert.equal((await dev.stop('SIGTERM')).code, 0);
  await waitFor(async () => (await reg.getTwin(deviceId)).responseBody.connectionState === 'Disconnected',
    { timeout: 5000, what: 'Disconnected after the app stopped' });
});

test('the Node device SDK + our service app', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('capp-node-dev'));
  const client = await openDevice(hub, connectionString);
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  let reportedTime = null;
  const payloads = [];
  client.onDeviceMethod('rebootDevice', (req, res) => {
    payloads.push(req.payload);
    res.send(200, { result: 'Reboot started (node)' }, () => {
      setTimeout(() => {
        reportedTime = new Date().toISOString();
        twin.properties.reported.update({ rebootTime: reportedTime }, () => {});
      }, 300);
    });
  });
  await withTimeout(client.getTwin(), 10000, 'barrier');
  const svc = runServiceApp(hub, deviceId);
  const info = await expectExit(svc, 45000, 'service app');
  assert.equal(info.code, 0, `service app exit ${info.code}; output:\n${svc.output()}`);
  assert.deepEqual(payloads, [null], 'the tutorial payload (null) reached the Node device as null');
  assert.ok(reportedTime && svc.output().includes(reportedTime), `printed ${reportedTime}:\n${svc.output()}`);
  assert.match(svc.output(), /Reboot started \(node\)/);
});

test('our device app reconnects after a hub restart and keeps answering methods', { timeout: 120000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString } = await createDevice(hub, uid('capp-restart'));
  const dev = startDeviceApp(hub, connectionString);
  await deviceAppReady(hub, deviceId, dev);
  await hub.restart();
  await deviceAppReady(hub, deviceId, dev, 60000);
  assert.equal(dev.exitInfo, null, 'the app kept running');
  const t0 = Date.now();
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, { methodName: 'rebootDevice', payload: {} }),
    35000, 'invoke after restart');
  assert.equal(result.status, 200);
  await waitFor(async () => {
    const rt = (await reg.getTwin(deviceId)).responseBody.properties.reported.rebootTime;
    return rt && Date.parse(rt) >= t0 - 1000;
  }, { timeout: 20000, interval: 250, what: 'rebootTime reported after the restart' });
  assert.match(dev.output(), /connected to [^\n]* as /);
});

test('a wrong key fails fast with a clear message (device app and service app)', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId } = await createDevice(hub, uid('capp-badkey'));
  const wrong = Buffer.alloc(32, 5).toString('base64');
  const t0 = Date.now();
  const dev = startDeviceApp(hub, deviceConnectionString(hub, deviceId, wrong));
  const dinfo = await expectExit(dev, 20000, 'device app with a wrong key');
  assert.equal(dinfo.code, 2, `device app exit code (2 = authentication refused):\n${dev.output()}`);
  assert.ok(Date.now() - t0 < 15000, 'fails fast, no retry loop');
  assert.match(dev.output(), /auth|not authori[sz]ed|refused/i);

  const badCs = `HostName=${hub.host};SharedAccessKeyName=iothubowner;SharedAccessKey=${wrong}`;
  const svc = runServiceApp(hub, deviceId, ['--interval', '1', '--count', '2'], { IOTHUB_CONNECTION_STRING: badCs });
  const sinfo = await expectExit(svc, 20000, 'service app with a wrong key');
  assert.equal(sinfo.code, 3, `service app exit code (3 = authentication failed):\n${svc.output()}`);
  assert.match(svc.output(), /auth|unauthori[sz]ed|401/i);
});

test('bad connection strings are reported clearly', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const dev = startDeviceApp(hub, 'HostName=localhost;DeviceId=x');
  const d = await expectExit(dev, 10000, 'device app');
  assert.equal(d.code, 1, dev.output());
  assert.match(dev.output(), /SharedAccessKey|connection string/i);
  const svc = runServiceApp(hub, 'x', [], { IOTHUB_CONNECTION_STRING: 'HostName=localhost;SharedAccessKey=abc' });
  const s = await expectExit(svc, 10000, 'service app');
  assert.equal(s.code, 2, svc.output());
  assert.match(svc.output(), /SharedAccessKeyName|connection string/i);
});

test('the service app reports device-not-found, device-not-online and method timeout distinctly', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  // not registered
  const nf = runServiceApp(hub, uid('capp-ghost'));
  const nfi = await expectExit(nf, 20000, 'service app, unknown device');
  assert.equal(nfi.code, 5, nf.output());
  assert.match(nf.output(), /not found|not registered/i);
  // registered, offline
  const { deviceId: offId } = await createDevice(hub, uid('capp-off'));
  const off = runServiceApp(hub, offId);
  const offi = await expectExit(off, 20000, 'service app, offline device');
  assert.equal(offi.code, 6, off.output());
  assert.match(off.output(), /not online|offline|not connected/i);
  assert.doesNotMatch(off.output(), /timed out waiting for the response|did not answer/i);
  // connected, never answers
  const { deviceId, connectionString } = await createDevice(hub, uid('capp-mute'));
  const client = await openDevice(hub, connectionString);
  client.onDeviceMethod('rebootDevice', () => { /* never answers */ });
  await withTimeout(client.getTwin(), 10000, 'barrier');
  const t0 = Date.now();
  const mute = runServiceApp(hub, deviceId, ['--response-timeout', '5', '--interval', '1', '--count', '2']);
  const mi = await expectExit(mute, 30000, 'service app, silent device');
  assert.equal(mi.code, 7, mute.output());
  assert.ok(Date.now() - t0 >= 4500, 'waited the response timeout');
  assert.match(mute.output(), /time(d)? ?out|did not answer/i);
  assert.doesNotMatch(mute.output(), /not online/i);
});

test('the Node service SDK\'s Client.send over AMQP reaches our device app (C2D with properties)', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('capp-c2d'));
  const { Message } = require('azure-iot-common');
  const client = serviceClient(hub);
  await withTimeout(client.open(), 15000, 'service Client.open over AMQP');
  try {
    // queued while the app is not running, delivered when it subscribes
    const early = new Message('queued before the app started');
    early.messageId = 'c2d-early';
    await withTimeout(client.send(deviceId, early), 15000, 'send (offline)');
    const dev = startDeviceApp(hub, connectionString);
    await deviceAppReady(hub, deviceId, dev);
    await dev.waitOutput(/C2D message received: queued before the app started/, 10000);
    const m = new Message('hello C device');
    m.messageId = 'c2d-1';
    m.correlationId = 'corr-1';
    m.contentType = 'text/plain';
    m.contentEncoding = 'utf-8';
    m.properties.add('color', 'blue');
    m.properties.add('with/slash', 'a b/c');
    await withTimeout(client.send(deviceId, m), 15000, 'send');
    await dev.waitOutput(/property with\/slash: a b\/c/, 10000);
    const out = dev.output();
    assert.match(out, /C2D message received: hello C device\n  messageId: c2d-1\n  correlationId: corr-1\n  contentType: text\/plain\n  contentEncoding: utf-8\n  property color: blue\n/);
    // completed by the app's PUBACK: nothing left in the queue
    await waitFor(async () => (await registry(hub).get(deviceId)).responseBody.cloudToDeviceMessageCount === 0,
      { timeout: 10000, what: 'the queue to empty' });
    await dev.stop('SIGINT');
  } finally {
    await client.close();
  }
});

test('modules: our device app as a module + our service app with --module-id; the Node SDK calls the module too', { timeout: 90000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId } = await createDevice(hub, uid('capp-mod'));
  const { responseBody: module } = await withTimeout(reg.addModule({ deviceId, moduleId: 'rebooter' }), 10000, 'addModule');
  const key = module.authentication.symmetricKey.primaryKey;
  const cs = `${deviceConnectionString(hub, deviceId, key)};ModuleId=rebooter`;
  const dev = startDeviceApp(hub, cs);
  await dev.waitOutput(new RegExp(`connected to .* as ${deviceId}/rebooter`), 15000);
  // the Node service SDK reaches the module (and only the module: the device itself is not connected)
  const svc = serviceClient(hub);
  const unknown = await waitFor(async () => {
    const { result } = await svc.invokeDeviceMethod(deviceId, 'rebooter', { methodName: 'ping', payload: null });
    return result;
  }, { timeout: 15000, interval: 500, what: 'the module to answer methods' });
  assert.deepEqual(unknown, { status: 404, payload: { Response: 'Unknown method' } });
  const notDevice = await svc.invokeDeviceMethod(deviceId, { methodName: 'ping', payload: null }).then(() => null, (e) => e);
  assert.ok(notDevice, 'the device itself is not connected');
  assert.equal(notDevice.response && notDevice.response.statusCode, 404, `${notDevice.name}: ${notDevice.message}`);
  assert.match(`${notDevice.message} ${notDevice.responseBody || ''}`, /DeviceNotOnline|404103/);
  // our service app: the module's method, then the module twin until the new reboot time shows
  const t0 = Date.now();
  const app = runServiceApp(hub, deviceId, ['--module-id', 'rebooter', '--interval', '1', '--count', '15']);
  const info = await expectExit(app, 45000, 'service app');
  assert.equal(info.code, 0, `service app exit ${info.code}; output:\n${app.output()}`);
  assert.match(app.output(), new RegExp(`on module '${deviceId}/rebooter'`));
  assert.match(app.output(), /Reboot started/);
  await dev.waitOutput(/reported rebootTime=/, 10000);
  const mtwin = (await reg.getModuleTwin(deviceId, 'rebooter')).responseBody;
  assert.equal(mtwin.moduleId, 'rebooter');
  const rt = mtwin.properties.reported.rebootTime;
  assert.ok(rt && Date.parse(rt) >= t0 - 1000, `module reported rebootTime ${rt}`);
  assert.ok(app.output().includes(rt), `the service app printed the module's reboot time ${rt}:\n${app.output()}`);
  const dtwin = (await reg.getTwin(deviceId)).responseBody;
  assert.equal(dtwin.properties.reported.rebootTime, undefined, 'the device twin is untouched');
  // the service app against a module that does not exist, or is not connected
  const missing = runServiceApp(hub, deviceId, ['--module-id', 'nope', '--count', '1']);
  assert.equal((await expectExit(missing, 30000, 'service app (no module)')).code, 5, missing.output());
  await withTimeout(reg.addModule({ deviceId, moduleId: 'idle' }), 10000, 'addModule idle');
  const idle = runServiceApp(hub, deviceId, ['--module-id', 'idle', '--count', '1']);
  assert.equal((await expectExit(idle, 30000, 'service app (idle module)')).code, 6, idle.output());
  const stop = await dev.stop('SIGINT');
  assert.equal(stop.code, 0, `device app exit after Ctrl-C: ${JSON.stringify(stop)}\n${dev.output()}`);
});

test('modules: our device library sends module telemetry with an output name ($.on)', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const { deviceId, connectionString: deviceCs } = await createDevice(hub, uid('capp-mout'));
  const { responseBody: module } = await withTimeout(reg.addModule({ deviceId, moduleId: 'sensor' }), 10000, 'addModule');
  const cs = `${deviceConnectionString(hub, deviceId, module.authentication.symmetricKey.primaryKey)};ModuleId=sensor`;
  const sender = path.join(BUILD, 'iotd_send_events');
  const app = spawnApp(sender, ['mout', '2'], { IOTHUB_DEVICE_CONNECTION_STRING: cs, IOTHUB_CA_FILE: hub.ca, IOTD_OUTPUT_NAME: 'alerts' });
  const info = await expectExit(app, 30000, 'iotd_send_events (module)');
  assert.equal(info.code, 0, app.output());
  let evs = [];
  await waitFor(async () => {
    const res = await rest(hub, 'GET', `/mockhub/events?deviceId=${encodeURIComponent(deviceId)}`);
    evs = (res.json || []).map((e) => e.event);
    return evs.length >= 2;
  }, { timeout: 10000, what: 'the module\'s two events' });
  for (const [i, e] of evs.entries()) {
    assert.equal(e.origin, deviceId);
    assert.equal(e.module, 'sensor');
    assert.equal(e.annotations['iothub-connection-module-id'], 'sensor');
    assert.equal(e.properties.system['$.on'], 'alerts', 'the output name arrives');
    assert.equal(e.properties.system.messageId, `mout-${i + 1}`);
    assert.equal(e.properties.application.source, 'c-device');
  }
  // an output name on a device connection is refused by the library, before anything is sent
  const dev = spawnApp(sender, ['dout', '1'], { IOTHUB_DEVICE_CONNECTION_STRING: deviceCs, IOTHUB_CA_FILE: hub.ca, IOTD_OUTPUT_NAME: 'alerts' });
  const dinfo = await expectExit(dev, 30000, 'iotd_send_events (device)');
  assert.equal(dinfo.code, 2, dev.output());
  assert.match(dev.output(), /an output name \(\$\.on\) needs a module identity/);
});
