// lib/hub.js - the integration tests' harness: starts and stops a real mockhub (broker + plugin +
// daemon) on a fresh data dir, and gives tests Microsoft's SDK clients, raw REST/MQTT access and
// timeout helpers. The API is documented in ../README.md; keep the two in step.
'use strict';

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const test = require('node:test');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BUILD = process.env.MOCKHUB_BUILD_DIR || path.join(ROOT, 'build');
const MOCKHUB_BIN = path.join(BUILD, 'mockhub');
const HOST = 'localhost';
// Documented development key of the iothubowner policy (mockhub/config.h MH_DEV_OWNER_KEY).
const DEV_OWNER_KEY = 'bW9ja2h1Yi13ZWxsLWtub3duLWRldmVsb3BtZW50LWtleQ==';

// ---------------------------------------------------------------------------------------------
// small helpers

/** Rejects with Error('timed out after <ms> ms: <what>') unless promise settles first. */
function withTimeout(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), guard]).catch((e) => { throw quiet(e); })
    .finally(() => clearTimeout(timer));
}

/** Hides the SDK errors' huge `response` (IncomingMessage) from test-failure printouts; the
 * property stays readable. */
function quiet(e) {
  if (e && typeof e === 'object' && Object.prototype.propertyIsEnumerable.call(e, 'response')) {
    Object.defineProperty(e, 'response', { value: e.response, enumerable: false, writable: true, configurable: true });
  }
  return e;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() (sync or async) until it returns a truthy value, which is returned; throws after
 * timeout ms. Exceptions thrown by fn count as "not yet" and the last one is reported. */
async function waitFor(fn, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let lastErr = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
        (lastErr ? ` (last error: ${lastErr.name}: ${lastErr.message})` : ''));
    }
    await sleep(interval);
  }
}

let uidCounter = 0;
/** A device id unique across runs and files: <prefix>-<pid36>-<n>-<rand>. */
function uid(prefix = 'dev') {
  uidCounter += 1;
  return `${prefix}-${process.pid.toString(36)}-${uidCounter}-${crypto.randomBytes(3).toString('hex')}`;
}

/** Awaits promise and returns the error it rejects with; fails if it resolves. */
async function rejectsWith(promise, what = 'operation') {
  try {
    const v = await promise;
    const shown = (() => { try { return JSON.stringify(v && v.result !== undefined ? v.result : v); } catch { return String(v); } })();
    throw Object.assign(new Error(`${what}: expected a failure, got success: ${String(shown).slice(0, 300)}`), { _mhNoError: true });
  } catch (e) {
    if (e && e._mhNoError) throw e;
    return quiet(e);
  }
}

// ---------------------------------------------------------------------------------------------
// run directory, shared CA, cleanup

let runDirCache = null;
function runDir() {
  if (runDirCache) return runDirCache;
  if (process.env.MOCKHUB_TEST_RUN_DIR) {
    runDirCache = process.env.MOCKHUB_TEST_RUN_DIR;
    fs.mkdirSync(runDirCache, { recursive: true });
  } else {
    runDirCache = fs.mkdtempSync(path.join(os.tmpdir(), 'mockhub-it-'));
  }
  return runDirCache;
}

const liveHubs = new Set();
const cleanups = [];

/** Registers fn to run (once, in reverse order) by cleanupAll(). */
function onCleanup(fn) {
  cleanups.push(fn);
}

/** Closes every client and stops every hub this process started. Safe to call twice. */
async function cleanupAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await withTimeout(Promise.resolve().then(fn), 5000, 'cleanup step');
    } catch { /* best effort */ }
  }
  for (const h of [...liveHubs]) {
    try { await h.stop(); } catch { /* best effort */ }
  }
}

function killHubGroupsSync() {
  for (const h of liveHubs) {
    if (h._pgid) {
      try { process.kill(-h._pgid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}
process.on('exit', killHubGroupsSync);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    killHubGroupsSync();
    process.exit(128 + (sig === 'SIGTERM' ? 15 : 2));
  });
}

// ---------------------------------------------------------------------------------------------
// the hub process

function httpsGet(url, ca, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('health request timed out')));
    req.on('error', reject);
  });
}

let hubCounter = 0;

class Hub {
  constructor(opts) {
    hubCounter += 1;
    this.index = hubCounter;
    this.name = `hub-${hubCounter}`;
    this.dataDir = opts.dataDir || path.join(runDir(), `${this.name}-data`);
    this.env = { ...(opts.env || {}) };
    this.logFile = path.join(runDir(), `${this.name}.log`);
    this.ca = path.join(this.dataDir, 'ca.pem');
    this.host = HOST;
    this.ownerKey = this.env.MOCKHUB_OWNER_KEY || DEV_OWNER_KEY;
    this.serviceConnectionString =
      `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${this.ownerKey}`;
    this.proc = null;
    this._pgid = null;
    this._logStream = fs.createWriteStream(this.logFile, { flags: 'a' });
    this._logText = '';
    this._starts = 0;
  }

  /** Appends a marker line (e.g. the test name) to the hub log. */
  mark(text) {
    this._write(`\n===== [harness ${new Date().toISOString()}] ${text}\n`);
  }

  _write(s) {
    this._logText += s;
    if (this._logText.length > 4 * 1024 * 1024) this._logText = this._logText.slice(-2 * 1024 * 1024);
    this._logStream.write(s);
  }

  /** The captured stdout/stderr of every start of this hub (and harness markers). */
  log() {
    return this._logText;
  }

  async start({ timeout = 30000 } = {}) {
    if (this.proc) throw new Error(`${this.name} already running`);
    if (!fs.existsSync(MOCKHUB_BIN)) {
      throw new Error(`${MOCKHUB_BIN} not found: run \`make\` first`);
    }
    fs.mkdirSync(this.dataDir, { recursive: true });
    // Share one development CA across all hubs of the run (NODE_EXTRA_CA_CERTS is fixed when
    // node starts): the hub keeps an existing ca.pem/ca.key and issues its server cert from it.
    const caDir = process.env.MOCKHUB_TEST_CA_DIR;
    if (caDir && !fs.existsSync(this.ca)) {
      fs.copyFileSync(path.join(caDir, 'ca.pem'), path.join(this.dataDir, 'ca.pem'));
      fs.copyFileSync(path.join(caDir, 'ca.key'), path.join(this.dataDir, 'ca.key'));
      fs.chmodSync(path.join(this.dataDir, 'ca.key'), 0o600);
    }
    this._starts += 1;
    this.mark(`start #${this._starts}: ${MOCKHUB_BIN} run (MOCKHUB_DATA_DIR=${this.dataDir})`);
    const env = {
      ...process.env,
      MOCKHUB_DATA_DIR: this.dataDir,
      MOCKHUB_HOSTNAME: HOST,
      ...this.env,
    };
    const proc = spawn(MOCKHUB_BIN, ['run'], {
      cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this._pgid = proc.pid;
    liveHubs.add(this);
    try { fs.appendFileSync(path.join(runDir(), 'hub.pids'), `${proc.pid}\n`); } catch { /* ignore */ }
    proc.stdout.on('data', (d) => this._write(d.toString()));
    proc.stderr.on('data', (d) => this._write(d.toString()));
    let exited = null;
    this._exitPromise = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        exited = { code, signal };
        this._write(`\n===== [harness] ${this.name} exited code=${code} signal=${signal}\n`);
        resolve(exited);
      });
    });
    proc.on('error', (e) => this._write(`\n===== [harness] spawn error: ${e.message}\n`));

    const end = Date.now() + timeout;
    let last = 'no answer';
    for (;;) {
      if (exited) {
        throw new Error(`${this.name} exited during start (code=${exited.code} signal=${exited.signal}); ` +
          `log tail:\n${this.log().slice(-3000)}`);
      }
      if (fs.existsSync(this.ca)) {
        try {
          const r = await httpsGet(`https://${HOST}/health`, fs.readFileSync(this.ca), 2000);
          if (r.status === 200) break;
          last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
        } catch (e) {
          last = e.message;
        }
      } else {
        last = `${this.ca} not created yet`;
      }
      if (Date.now() > end) {
        await this.stop();
        throw new Error(`${this.name}: /health not 200 within ${timeout} ms (last: ${last}); log tail:\n` +
          this.log().slice(-3000));
      }
      await sleep(100);
    }
    this.mark(`${this.name} healthy`);
    return this;
  }

  /** Stops the hub (SIGTERM, then SIGKILL of its process group after timeout ms). */
  async stop({ timeout = 10000 } = {}) {
    const proc = this.proc;
    if (!proc) return;
    this.mark(`stop ${this.name}`);
    try { process.kill(proc.pid, 'SIGTERM'); } catch { /* already gone */ }
    let timer;
    const done = await Promise.race([this._exitPromise,
      new Promise((r) => { timer = setTimeout(() => r(null), timeout); })]);
    clearTimeout(timer);
    if (!done) {
      this.mark(`${this.name} did not exit within ${timeout} ms after SIGTERM: SIGKILL`);
    }
    // Whatever is left in the group (the broker, if the hub did not stop it) goes too.
    try { process.kill(-this._pgid, 'SIGKILL'); } catch { /* group empty */ }
    await this._exitPromise;
    await waitFor(() => { try { process.kill(-this._pgid, 0); return false; } catch { return true; } },
      { timeout: 5000, interval: 50, what: 'hub process group to exit' }).catch(() => {});
    this.proc = null;
    this._pgid = null;
    liveHubs.delete(this);
  }

  /** Stops and starts again on the same data dir (and env). */
  async restart(opts) {
    await this.stop();
    return this.start(opts);
  }

  get running() {
    return !!this.proc;
  }
}

/** Starts a hub; see README. Resolves when GET https://localhost/health answers 200. */
async function startHub(opts = {}) {
  const hub = new Hub(opts);
  await hub.start({ timeout: opts.timeout });
  return hub;
}

// ---------------------------------------------------------------------------------------------
// SDK clients

function iothub() {
  return require('azure-iothub');
}

/** azure-iothub Registry for the hub (iothubowner unless cs is given). */
function registry(hub, cs) {
  return iothub().Registry.fromConnectionString(cs || hub.serviceConnectionString);
}

/** azure-iothub Client (service) for the hub: invokeDeviceMethod over HTTPS, send/getFeedbackReceiver over AMQP. */
function serviceClient(hub, cs) {
  return iothub().Client.fromConnectionString(cs || hub.serviceConnectionString);
}

function deviceConnectionString(hub, deviceId, key) {
  return `HostName=${hub.host};DeviceId=${deviceId};SharedAccessKey=${key}`;
}

/** Registers a device with Registry.create; resolves { deviceId, device, key, connectionString }. */
async function createDevice(hub, deviceId = uid('dev'), extra = {}) {
  const reg = registry(hub);
  const { responseBody: device } = await withTimeout(reg.create({ deviceId, ...extra }), 10000,
    `Registry.create(${deviceId})`);
  const key = device.authentication.symmetricKey.primaryKey;
  return { deviceId, device, key, connectionString: deviceConnectionString(hub, deviceId, key) };
}

/** A device Client (azure-iot-device + Mqtt) trusting the hub's CA; not yet opened. Closed by
 * cleanupAll(). options go to setOptions(), except noRetry: true, which installs the SDK's NoRetry
 * policy (use it for clients the hub will refuse or drop: close() does not cancel the SDK's
 * background retries, which would keep the test process alive for up to 240 s). */
async function deviceClient(hub, connectionString, options = {}) {
  const { Client } = require('azure-iot-device');
  const { Mqtt } = require('azure-iot-device-mqtt');
  const { noRetry, ...sdkOptions } = options;
  const client = Client.fromConnectionString(connectionString, Mqtt);
  client.on('error', () => { /* surfaced through the calls; keep the process alive */ });
  if (noRetry) client.setRetryPolicy(new (require('azure-iot-common').NoRetry)());
  await withTimeout(client.setOptions({ ca: fs.readFileSync(hub.ca, 'utf8'), ...sdkOptions }), 5000,
    'device setOptions');
  onCleanup(() => client.close().catch(() => {}));
  return client;
}

/** deviceClient + open(); resolves the opened client. */
async function openDevice(hub, connectionString, options = {}) {
  const client = await deviceClient(hub, connectionString, options);
  await withTimeout(client.open(), 15000, 'device open()');
  return client;
}

// ---------------------------------------------------------------------------------------------
// raw REST and MQTT

/** A service SAS token (sr=<host>, skn=policy) via azure-iothub's SharedAccessSignature. */
function serviceToken(hub, { policy = 'iothubowner', key = hub.ownerKey, ttl = 3600, expiry } = {}) {
  const { SharedAccessSignature } = iothub();
  const se = expiry !== undefined ? expiry : Math.ceil(Date.now() / 1000) + ttl;
  return SharedAccessSignature.create(hub.host, policy, key, se).toString();
}

/** Raw HTTPS request to the hub. opts: body (string|Buffer|object -> JSON), headers, token
 * (default: iothubowner SAS; null = no Authorization header), apiVersion (default 2021-04-12; null =
 * none). Resolves { status, headers, body, json } (json null unless the body parses). */
function rest(hub, method, urlPath, opts = {}) {
  let p = urlPath;
  const apiVersion = opts.apiVersion === undefined ? '2021-04-12' : opts.apiVersion;
  if (apiVersion !== null && !/[?&]api-version=/.test(p)) {
    p += (p.includes('?') ? '&' : '?') + `api-version=${apiVersion}`;
  }
  const headers = { ...(opts.headers || {}) };
  const token = opts.token === undefined ? serviceToken(hub) : opts.token;
  if (token !== null) headers.Authorization = token;
  let body = opts.body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !Buffer.isBuffer(body)) {
    body = JSON.stringify(body);
  }
  if (body !== undefined && body !== null) {
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json; charset=utf-8';
    }
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  const ca = fs.readFileSync(hub.ca);
  return withTimeout(new Promise((resolve, reject) => {
    const req = https.request({ host: hub.host, port: 443, method, path: p, headers, ca, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json = null;
          try { json = text ? JSON.parse(text) : null; } catch { json = null; }
          resolve({ status: res.statusCode, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      });
    req.on('error', reject);
    if (body !== undefined && body !== null) req.write(body);
    req.end();
  }), opts.timeout || 15000, `${method} ${p}`);
}

/** Extracts { code, text } from an IoT Hub REST error body ({"Message":"ErrorCode:X;text"} or the
 * JSON-string form {"Message":"{\"errorCode\":404103,...}"}). Returns null when not such a body. */
function iotHubError(res) {
  const j = res && (res.json !== undefined ? res.json : res);
  if (!j || typeof j.Message !== 'string') return null;
  const m = /^ErrorCode:([A-Za-z0-9]+);(.*)$/s.exec(j.Message);
  if (m) return { code: m[1], text: m[2], number: null };
  try {
    const inner = JSON.parse(j.Message);
    return { code: String(inner.errorCode), text: inner.message, number: inner.errorCode };
  } catch {
    return null;
  }
}

/** A device SAS token: sr=urlenc(host/devices/id), HMAC-SHA256 with the base64 key. */
function deviceToken(hub, deviceId, key, { ttl = 3600, expiry } = {}) {
  const se = expiry !== undefined ? expiry : Math.ceil(Date.now() / 1000) + ttl;
  const sr = encodeURIComponent(`${hub.host}/devices/${deviceId}`);
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

/** A raw MQTT.js (the SDK's own dependency) connection as device deviceId, clean=false like the SDK.
 * Resolves { client, connack } or rejects with the connect error. Closed by cleanupAll(). */
function rawMqtt(hub, deviceId, key, { clientId = deviceId, username, password, clean = false,
  port = 8883, timeout = 10000 } = {}) {
  const mqtt = require('mqtt');
  const client = mqtt.connect({
    protocol: 'mqtts', host: hub.host, port, ca: fs.readFileSync(hub.ca), clientId,
    username: username || `${hub.host}/${deviceId}/?api-version=2021-04-12`,
    password: password || deviceToken(hub, deviceId, key),
    protocolVersion: 4, clean, reconnectPeriod: 0, connectTimeout: timeout,
  });
  onCleanup(() => new Promise((r) => client.end(true, {}, r)));
  return withTimeout(new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', (e) => { client.end(true); reject(e); });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  }), timeout + 1000, `raw MQTT connect ${clientId}`);
}

// ---------------------------------------------------------------------------------------------
// other processes (our C apps)

let appCounter = 0;
/** Spawns a program (e.g. build/dmpatterns_getstarted_device) with extra env; its stdout+stderr go
 * to <run dir>/app-N-<name>.log (printed by run.sh on failure). Resolves immediately with
 * { proc, output(), waitOutput(regex, ms, what), exited (Promise<{code, signal}>), stop(signal) }.
 * Killed by cleanupAll(). */
function spawnApp(bin, args = [], env = {}) {
  appCounter += 1;
  const name = `app-${appCounter}-${path.basename(bin)}`;
  const logStream = fs.createWriteStream(path.join(runDir(), `${name}.log`), { flags: 'a' });
  logStream.write(`===== [harness] ${bin} ${args.join(' ')}\n`);
  let text = '';
  const proc = spawn(bin, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const add = (d) => { text += d.toString(); logStream.write(d); };
  proc.stdout.on('data', add);
  proc.stderr.on('data', add);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      logStream.write(`\n===== [harness] exited code=${code} signal=${signal}\n`);
      resolve(exitInfo);
    });
    proc.on('error', (e) => { add(`spawn error: ${e.message}\n`); exitInfo = { code: -1, signal: null }; resolve(exitInfo); });
  });
  const app = {
    name, proc, exited,
    output: () => text,
    get exitInfo() { return exitInfo; },
    waitOutput: (re, ms = 10000, what = String(re)) => waitFor(() => re.test(text), { timeout: ms, interval: 50,
      what: `${name} output ${what}; output so far:\n${text.slice(-1500)}` }),
    /** Sends signal and waits (ms) for the exit; SIGKILL after that. Resolves the exit info. */
    async stop(signal = 'SIGINT', ms = 10000) {
      if (!exitInfo) {
        try { proc.kill(signal); } catch { /* gone */ }
        const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, ms);
        await exited;
        clearTimeout(t);
      }
      return exitInfo;
    },
  };
  onCleanup(() => app.stop('SIGKILL', 2000));
  return app;
}

// ---------------------------------------------------------------------------------------------
// node:test integration

/** Registers before/after hooks for a test file: one hub for the file (started before the first
 * test, stopped after the last), a marker line per test in the hub log, cleanupAll() at the end.
 * Returns a holder whose .hub is set once started. */
function useHub(opts = {}) {
  const holder = { hub: null, ready: null };
  // node:test starts root-level before() hooks as they are registered, without waiting for the
  // previous one: a file's own before() must `await ctx.ready` first.
  let resolveReady;
  let rejectReady;
  holder.ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
  holder.ready.catch(() => {});
  test.before(async () => {
    try {
      holder.hub = await startHub(opts);
      resolveReady(holder.hub);
    } catch (e) {
      rejectReady(e);
      throw e;
    }
  }, { timeout: (opts.timeout || 30000) + 15000 });
  test.beforeEach((t) => { if (holder.hub) holder.hub.mark(`test: ${t.name}`); });
  test.after(async () => { await cleanupAll(); }, { timeout: 30000 });
  return holder;
}

module.exports = {
  ROOT, BUILD, HOST, DEV_OWNER_KEY,
  withTimeout, waitFor, sleep, uid, rejectsWith, quiet,
  startHub, useHub, cleanupAll, onCleanup, runDir,
  registry, serviceClient, createDevice, deviceConnectionString, deviceClient, openDevice,
  serviceToken, deviceToken, rest, iotHubError, rawMqtt, spawnApp,
};
