// dashboard.test.js - issue #12's web dashboard (/ui) end to end in headless Chromium (Debian's
// chromium, driven by playwright-core): nothing but the login page without a credential; log in
// with the owner connection string, see a device connect, edit desired properties and see the
// device receive them, an etag conflict shown, invoke a method, the live log. Screenshots go to
// <run dir>/screenshots/.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  useHub, uid, createDevice, openDevice, registry, withTimeout, rest, runDir, onCleanup,
} = require('./lib/hub');

const CHROMIUM = process.env.MOCKHUB_CHROMIUM || '/usr/bin/chromium';
// The machine's network is closed: without these Chromium keeps trying to reach Google's services.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

const ctx = useHub();
const shots = path.join(runDir(), 'screenshots');

async function browser() {
  const { chromium } = require('playwright-core');
  fs.mkdirSync(shots, { recursive: true });
  const profile = fs.mkdtempSync(path.join(runDir(), 'chromium-profile-'));
  // the hub's development CA is not in Chromium's store; the test trusts it by skipping the check
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 },
  });
  onCleanup(() => context.close().catch(() => {}));
  return context;
}

test('without a credential only the login page is served', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const login = await rest(hub, 'GET', '/ui/', { token: null, apiVersion: null });
  assert.equal(login.status, 200);
  assert.match(login.headers['content-type'], /text\/html/);
  assert.match(login.body, /Connection string or SAS token/);
  for (const p of ['/ui/app.js', '/ui/app.html', '/ui/events', '/ui/nothing']) {
    const r = await rest(hub, 'GET', p, { token: null, apiVersion: null });
    assert.equal(r.status, 401, p);
  }
  const app = await rest(hub, 'GET', '/ui/app', { token: null, apiVersion: null });
  assert.equal(app.status, 303);
  assert.equal(app.headers.location, '/ui/');
  // an Authorization header is not a session: the dashboard's files need the cookie
  assert.equal((await rest(hub, 'GET', '/ui/app.js', { apiVersion: null })).status, 401);
  const bad = await rest(hub, 'POST', '/ui/session', { token: null, apiVersion: null, body: { token: 'SharedAccessSignature sr=localhost&sig=x&se=9999999999&skn=iothubowner' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers['set-cookie'], undefined);
});

test('log in, watch a device connect, edit desired, see an etag conflict, invoke a method', { timeout: 120000 }, async () => {
  const hub = ctx.hub;
  const context = await browser();
  const page = context.pages()[0] || await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await page.goto('https://localhost/ui/');
  await page.screenshot({ path: path.join(shots, '1-login.png') });
  // a wrong credential is refused on the page
  await page.fill('#credential', 'HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAA==');
  await page.click('#signin');
  await page.waitForSelector('#error:has-text("not a valid token")', { timeout: 10000 });
  await page.fill('#credential', hub.serviceConnectionString);
  await page.click('#signin');
  await page.waitForURL('**/ui/app', { timeout: 10000 });

  // a device connects: its row turns Connected without a reload
  const { deviceId, connectionString } = await createDevice(hub, uid('ui'));
  const client = await openDevice(hub, connectionString);
  onCleanup(() => client.close().catch(() => {}));
  const row = page.locator(`tr.device[data-device-id="${deviceId}"]`);
  await row.locator('td.state-Connected').waitFor({ timeout: 15000 });
  await page.screenshot({ path: path.join(shots, '2-device-connected.png') });

  // the device answers a method and listens for desired properties
  client.onDeviceMethod('reboot', (req, res) => res.send(200, { rebooting: true, delay: req.payload.delay }));
  const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
  const received = new Promise((resolve) => twin.on('properties.desired', (d) => { if (d.fw === '2.0') resolve(d); }));

  await row.click();
  await page.waitForSelector('#twin:has-text("\\"deviceId\\"")');
  await page.fill('#desired', '{"fw": "2.0", "interval": 5}');
  await page.click('#save-desired');
  await page.waitForSelector('#desired-result.ok:has-text("Saved")', { timeout: 10000 });
  const got = await withTimeout(received, 10000, 'the device receives the desired properties');
  assert.equal(got.interval, 5);
  await page.screenshot({ path: path.join(shots, '3-desired-saved.png') });

  // someone else changes the twin: saving with the old etag shows the conflict
  await registry(hub).updateTwin(deviceId, { properties: { desired: { fw: '3.0' } } }, '*');
  await page.fill('#desired', '{"fw": "2.1"}');
  await page.click('#save-desired');
  await page.waitForSelector('#desired-result.error:has-text("Etag conflict")', { timeout: 10000 });
  assert.equal((await registry(hub).getTwin(deviceId)).responseBody.properties.desired.fw, '3.0', 'nothing overwritten');
  await page.screenshot({ path: path.join(shots, '4-etag-conflict.png') });

  // a direct method and its answer
  await page.fill('#method-name', 'reboot');
  await page.fill('#method-payload', '{"delay": 3}');
  await page.click('#invoke');
  await page.waitForSelector('#method-result:has-text("rebooting")', { timeout: 15000 });
  const result = JSON.parse(await page.textContent('#method-result'));
  assert.deepEqual(result, { status: 200, payload: { rebooting: true, delay: 3 } });

  // telemetry and the rest in the live log
  const { Message } = require('azure-iot-device');
  await client.sendEvent(new Message(JSON.stringify({ temperature: 21 })));
  await page.waitForSelector('#log-lines li[data-kind="telemetry"]:has-text("temperature")', { timeout: 10000 });
  for (const kind of ['connected', 'twin.update', 'method']) {
    assert.ok(await page.locator(`#log-lines li[data-kind="${kind}"]`).count() >= 1, `log has ${kind}`);
  }
  await page.screenshot({ path: path.join(shots, '5-method-and-log.png') });

  // the device goes: its row turns Disconnected
  await client.close();
  await row.locator('td.state-Disconnected').waitFor({ timeout: 15000 });
  await page.screenshot({ path: path.join(shots, '6-device-disconnected.png') });
  assert.deepEqual(consoleErrors, []);
  for (const f of ['1-login.png', '3-desired-saved.png', '5-method-and-log.png']) {
    assert.ok(fs.statSync(path.join(shots, f)).size > 1000, f);
  }
});
