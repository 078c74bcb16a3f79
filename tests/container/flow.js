// tests/container/flow.js - run by scripts/container-check.sh from the host against the mockhub
// container started by `podman-compose up` (published ports 443 and 8883 on localhost): the
// tutorial's reboot flow and a desired-property update, with Microsoft's Node SDKs over MQTT.
// Env: MOCKHUB_CA (the ca.pem copied out of the container). Exits non-zero on any failure.
'use strict';

const path = require('node:path');
const fs = require('node:fs');
const modules = path.join(__dirname, '..', 'integration', 'node_modules');
const { Registry, Client: ServiceClient } = require(path.join(modules, 'azure-iothub'));
const { Client: DeviceClient } = require(path.join(modules, 'azure-iot-device'));
const { Mqtt } = require(path.join(modules, 'azure-iot-device-mqtt'));

const OWNER = 'HostName=localhost;SharedAccessKeyName=iothubowner;' +
  'SharedAccessKey=bW9ja2h1Yi13ZWxsLWtub3duLWRldmVsb3BtZW50LWtleQ==';
const ca = fs.readFileSync(process.env.MOCKHUB_CA, 'utf8');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function main() {
  const registry = Registry.fromConnectionString(OWNER);
  const id = `container-${process.pid}`;
  const { responseBody: dev } = await registry.create({ deviceId: id });
  const cs = `HostName=localhost;DeviceId=${id};SharedAccessKey=${dev.authentication.symmetricKey.primaryKey}`;
  const client = DeviceClient.fromConnectionString(cs, Mqtt);
  client.setOptions({ ca });
  await client.open();
  const twin = await client.getTwin();
  let desiredSeen = null;
  twin.on('properties.desired', (d) => { if (d.fresh !== undefined) desiredSeen = d.fresh; });
  client.onDeviceMethod('rebootDevice', (req, res) => {
    res.send(200, 'Reboot started', () => {
      twin.properties.reported.update({ iothubDM: { reboot: { lastReboot: new Date().toISOString() } } }, () => {});
    });
  });

  const service = ServiceClient.fromConnectionString(OWNER);
  const started = new Date();
  const call = await until('rebootDevice answered', async () => {
    const r = await service.invokeDeviceMethod(id, { methodName: 'rebootDevice', payload: null, responseTimeoutInSeconds: 10 });
    return r.result;
  });
  if (call.status !== 200) throw new Error(`rebootDevice answered ${call.status}`);
  const reboot = await until('reported lastReboot', async () => {
    const { responseBody: t } = await registry.getTwin(id);
    const last = t.properties.reported.iothubDM && t.properties.reported.iothubDM.reboot.lastReboot;
    return last && new Date(last) >= new Date(started.getTime() - 1000) ? last : null;
  });
  console.log(`reboot flow: method status ${call.status}, reported lastReboot ${reboot}`);

  const value = `v-${Date.now()}`;
  const { responseBody: t0 } = await registry.getTwin(id);
  await registry.updateTwin(id, { properties: { desired: { fresh: value } } }, t0.etag);
  await until('desired property pushed to the device', async () => desiredSeen === value);
  console.log(`twin update: the device received desired.fresh = ${value}`);

  await client.close();
  await registry.delete(id);
}

main().then(() => process.exit(0), (e) => {
  console.error(`container flow FAILED: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
