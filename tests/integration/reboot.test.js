// reboot.test.js - the tutorial's device-management flow end to end with Microsoft's Node SDKs,
// unchanged: Registry creates the device, the device answers rebootDevice and reports rebootTime,
// the back end invokes the method and polls the twin until it sees the new rebootTime.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, openDevice, registry, serviceClient, withTimeout, waitFor, rest,
} = require('./lib/hub');

const ctx = useHub();

/** getTwin() round trip: the device's earlier SUBSCRIBEs have been processed by the hub when the
 * reply arrives (one connection is handled in order). */
async function deviceBarrier(client) {
  return withTimeout(client.getTwin(), 10000, 'device getTwin()');
}

test('reboot flow: Registry.create -> device method -> reported rebootTime -> service sees it', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const reg = registry(hub);
  const deviceId = uid('reboot');

  // Registry.create with only a deviceId: the hub generates the keys.
  const { device, key, connectionString } = await createDevice(hub, deviceId);
  assert.equal(device.deviceId, deviceId);
  assert.equal(device.status, 'enabled');
  assert.match(key, /^[A-Za-z0-9+/]{43}=$/, 'generated primary key is 32 random bytes in base64');
  assert.match(device.authentication.symmetricKey.secondaryKey, /^[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(device.authentication.symmetricKey.secondaryKey, key);
  assert.ok(device.etag, 'device has an etag');
  assert.match(String(device.generationId), /^\d{18}$/);
  const before = (await withTimeout(reg.get(deviceId), 10000, 'Registry.get')).responseBody;
  assert.equal(before.connectionState, 'Disconnected');

  // The device app: connects with the generated key, answers rebootDevice, reports rebootTime.
  const client = await openDevice(hub, connectionString);
  const twin = await deviceBarrier(client);
  const seen = [];
  let reportedTime = null;
  let reportError = null;
  let reportDone = null;
  const reported = new Promise((resolve) => { reportDone = resolve; });
  client.onDeviceMethod('rebootDevice', (request, response) => {
    seen.push({ methodName: request.methodName, payload: request.payload, requestId: request.requestId });
    response.send(200, { result: 'Reboot started', echo: request.payload }, (err) => {
      if (err) reportError = err;
      // the "reboot": report the time afterwards, as the tutorial's device does
      setTimeout(() => {
        reportedTime = new Date().toISOString();
        twin.properties.reported.update({ rebootTime: reportedTime }, (e) => {
          if (e) reportError = e;
          reportDone();
        });
      }, 200);
    });
  });
  await deviceBarrier(client);

  const connected = (await withTimeout(reg.get(deviceId), 10000, 'Registry.get')).responseBody;
  assert.equal(connected.connectionState, 'Connected', 'connectionState while the device is connected');

  // The service app: invoke the method, get the device's status and payload.
  const svc = serviceClient(hub);
  const invokedAt = Date.now();
  const { result } = await withTimeout(svc.invokeDeviceMethod(deviceId, {
    methodName: 'rebootDevice', payload: { delaySeconds: 1 }, responseTimeoutInSeconds: 30,
  }), 35000, 'invokeDeviceMethod(rebootDevice)');
  assert.deepEqual(result, { status: 200, payload: { result: 'Reboot started', echo: { delaySeconds: 1 } } });
  assert.equal(seen.length, 1, 'the device got exactly one call');
  assert.equal(seen[0].methodName, 'rebootDevice');
  assert.deepEqual(seen[0].payload, { delaySeconds: 1 });

  await withTimeout(reported, 15000, 'device reported.update({rebootTime})');
  assert.equal(reportError, null, `device-side error: ${reportError}`);

  // The service's twin polling sees the new rebootTime.
  const polled = await waitFor(async () => {
    const t = (await reg.getTwin(deviceId)).responseBody;
    return t.properties.reported.rebootTime === reportedTime ? t : null;
  }, { timeout: 15000, interval: 250, what: 'Registry.getTwin to show reported.rebootTime' });
  assert.ok(new Date(polled.properties.reported.rebootTime).getTime() >= invokedAt - 1000);
  assert.equal(polled.properties.reported.$version, 2, 'one reported patch: reported $version 1 -> 2');
  assert.equal(polled.deviceId, deviceId);
});

test('tutorial defaults: payload null reaches the Node device as null, empty answer gives payload null', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('reboot-null'));
  const client = await openDevice(hub, connectionString);
  const got = [];
  client.onDeviceMethod('rebootDevice', (request, response) => {
    got.push(request.payload);
    response.send(200, (err) => { if (err) got.push(err); });
  });
  await deviceBarrier(client);
  // exactly what the tutorial's service sends: payload null, default timeouts
  const { result } = await withTimeout(serviceClient(hub).invokeDeviceMethod(deviceId, {
    methodName: 'rebootDevice', payload: null,
  }), 35000, 'invokeDeviceMethod');
  assert.equal(result.status, 200, `device answered ${JSON.stringify(result)} (400 = the SDK could not parse the request payload)`);
  assert.equal(result.payload, null);
  assert.deepEqual(got, [null], 'the device handler saw payload null');
});

test('method calls work repeatedly and the twin read by REST matches the SDK view', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { deviceId, connectionString } = await createDevice(hub, uid('reboot-rep'));
  const client = await openDevice(hub, connectionString);
  let n = 0;
  client.onDeviceMethod('rebootDevice', (request, response) => {
    n += 1;
    response.send(200 + (n % 3), { n, input: request.payload });
  });
  await deviceBarrier(client);
  const svc = serviceClient(hub);
  for (let i = 1; i <= 10; i += 1) {
    const { result } = await withTimeout(svc.invokeDeviceMethod(deviceId, {
      methodName: 'rebootDevice', payload: { i, text: 'é ✓ "quoted"' }, responseTimeoutInSeconds: 10,
    }), 15000, `invoke #${i}`);
    assert.deepEqual(result, { status: 200 + (i % 3), payload: { n: i, input: { i, text: 'é ✓ "quoted"' } } });
  }
  const raw = await rest(hub, 'GET', `/twins/${encodeURIComponent(deviceId)}`);
  assert.equal(raw.status, 200);
  assert.match(raw.headers['content-type'], /application\/json/);
  assert.equal(raw.json.deviceId, deviceId);
  assert.equal(raw.json.connectionState, 'Connected');
});
