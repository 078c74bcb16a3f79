// ci.test.js - the README's "Use it in your CI" example (kept identical; tests/integration/ci_example.test.js runs it
// against a hub seeded with docs/seed.example.json).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const { Registry, Client, SharedAccessSignature } = require('azure-iothub');
const { Client: Device } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const cs = process.env.IOTHUB_CONNECTION_STRING;    // the owner connection string
const host = /HostName=([^;]+)/.exec(cs)[1];
const key = /SharedAccessKey=([^;]+)/.exec(cs)[1];

function mockhub(method, path, body) {                // test control, owner token
  const token = SharedAccessSignature.create(host, 'iothubowner', key, Math.ceil(Date.now() / 1000) + 600).toString();
  return new Promise((resolve, reject) => {
    const req = https.request({ host, method, path, headers: { Authorization: token, 'Content-Type': 'application/json' } },
      (res) => { let t = ''; res.on('data', (d) => { t += d; }); res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(t || 'null') })); });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

test.beforeEach(async () => { await mockhub('POST', '/mockhub/reset', {}); });   // back to the seed

test('my service reboots the device', async () => {
  const { responseBody: dev } = await Registry.fromConnectionString(cs).get('thermostat-1');
  const device = Device.fromConnectionString(
    `HostName=${host};DeviceId=thermostat-1;SharedAccessKey=${dev.authentication.symmetricKey.primaryKey}`, Mqtt);
  await device.open();
  device.onDeviceMethod('reboot', (req, res) => res.send(200, { ok: true }));
  const ready = await mockhub('GET', '/mockhub/wait?deviceId=thermostat-1&condition=methods&timeout=10');
  assert.equal(ready.status, 200);
  const { result } = await Client.fromConnectionString(cs).invokeDeviceMethod('thermostat-1', { methodName: 'reboot' });
  assert.equal(result.status, 200);
  await device.close();
});

test('my service copes with throttling', async () => {
  await mockhub('POST', '/mockhub/faults', { operations: 'twin.read', error: 'ThrottlingException', count: 1 });
  await assert.rejects(Registry.fromConnectionString(cs).getTwin('thermostat-1'), { name: 'ThrottlingError' });
});
