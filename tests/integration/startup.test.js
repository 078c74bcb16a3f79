// startup.test.js - issue 8 part 4, "fail loudly, early": `mockhub run` in each situation that cannot
// work (no permission to bind 443 or the MQTT port, mosquitto missing, a data dir it cannot write, a
// port another process holds, the broker's own failure to bind) exits non-zero within a second or so,
// with exactly one line on stderr that names the cause and the fix.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { ROOT, BUILD, runDir } = require('./lib/hub');

const MOCKHUB = path.join(BUILD, 'mockhub');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const EXIT_BOUND_MS = 2000; // generous: each case takes well under 200 ms; this only catches hangs

// Running as uid 65534 needs real root (in a `unshare -r` run only uid 0 is mapped).
const canSetpriv = spawnSync('setpriv', [...NOBODY, 'true']).status === 0;
const noSetpriv = canSetpriv ? false : 'setpriv to uid 65534 is not possible here (not real root)';

let seq = 0;
/** A fresh data dir path under this file's artifact dir (created when mode is given). */
function dataDir(name, mode) {
  const dir = path.join(runDir(), `startup-${++seq}-${name}`);
  if (mode !== undefined) {
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, mode);
  }
  return dir;
}

/** Runs `mockhub run` (optionally through a wrapper command) and waits for it to exit; resolves
 * { code, signal, ms, stdout, stderr, lines } where lines are stderr's non-empty lines. A hub that is
 * still running after 10 s is killed (with its process group) and the test fails. */
function runHub(name, { dir, env = {}, wrap = [] } = {}) {
  const cmd = wrap.length ? wrap[0] : MOCKHUB;
  const args = wrap.length ? [...wrap.slice(1), MOCKHUB, 'run'] : ['run'];
  const started = process.hrtime.bigint();
  const proc = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, MOCKHUB_HOSTNAME: 'localhost', MOCKHUB_DATA_DIR: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`${name}: mockhub still running after 10 s; stderr: ${stderr}; stdout: ${stdout}`));
    }, 10000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* group empty, as it should be */ }
      fs.writeFileSync(path.join(runDir(), `startup-${name}.log`),
        `exit code=${code} signal=${signal} after ${ms.toFixed(0)} ms\n--- stderr\n${stderr}--- stdout\n${stdout}`);
      const lines = stderr.split('\n').filter((l) => l.trim() !== '');
      resolve({ code, signal, ms, stdout, stderr, lines });
    });
  });
}

/** The contract of every case: non-zero exit, quickly, one stderr line matching each pattern. */
function assertFailsLoudly(r, patterns) {
  const label = `exit code=${r.code} signal=${r.signal} after ${r.ms.toFixed(0)} ms; stderr:\n${r.stderr}` +
    `stdout (tail):\n${r.stdout.slice(-1500)}`;
  assert.ok(r.code !== 0 && r.code !== null, `non-zero exit expected: ${label}`);
  assert.ok(r.ms < EXIT_BOUND_MS, `exit within ${EXIT_BOUND_MS} ms expected: ${label}`);
  assert.equal(r.lines.length, 1, `exactly one stderr line expected: ${label}`);
  for (const re of patterns) assert.match(r.lines[r.lines.length - 1], re, label);
}

/** Holds a TCP port (as a node server does: SO_REUSEADDR) until close(); port 0 picks a free one. */
async function holdPort(port, host) {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, resolve);
  });
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Resolves true when port can be listened on now. */
function canListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port }, () => s.close(() => resolve(true)));
  });
}

// ---- 1. not allowed to bind a port below 1024 -------------------------------------------------

test('non-root cannot bind 443: says so and gives the three fixes', { timeout: 15000, skip: noSetpriv },
  async () => {
    const r = await runHub('nonroot-443', { dir: dataDir('nonroot-443', 0o777), wrap: ['setpriv', ...NOBODY] });
    assertFailsLoudly(r, [
      /cannot bind HTTPS port 443: permission denied/,
      /run as root/,
      /setcap cap_net_bind_service=\+ep \S*\/mockhub`/,
      /set MOCKHUB_HTTPS_PORT above 1023/,
    ]);
    assert.doesNotMatch(r.stdout, /^broker: /m, 'nothing started: the broker never ran');
  });

test('non-root cannot bind an MQTT port below 1024: names MOCKHUB_MQTT_PORT', { timeout: 15000, skip: noSetpriv },
  async () => {
    const r = await runHub('nonroot-883', {
      dir: dataDir('nonroot-883', 0o777),
      env: { MOCKHUB_HTTPS_PORT: '8443', MOCKHUB_MQTT_PORT: '883' },
      wrap: ['setpriv', ...NOBODY],
    });
    assertFailsLoudly(r, [/cannot bind MQTT port 883: permission denied/, /setcap/, /set MOCKHUB_MQTT_PORT above 1023/]);
  });

// ---- 2. mosquitto missing -----------------------------------------------------------------------

test('mosquitto not installed: says so and names the Debian package', { timeout: 15000 }, async (t) => {
  // Hide the broker: an empty PATH, and empty file systems over the fixed places the launcher also
  // looks in (a private mount namespace: nothing outside this process sees it).
  const emptyBin = dataDir('empty-bin', 0o755);
  const script = 'for d in /usr/sbin /usr/local/sbin /sbin; do ' +
    '[ -d "$d" ] && [ ! -L "$d" ] && { mount -t tmpfs none "$d" || exit 99; }; done; ' +
    'export PATH="$MH_EMPTY_PATH"; exec "$@"';
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs none /mnt']);
  if (probe.status !== 0) {
    t.skip('no private mount namespace here');
    return;
  }
  const r = await runHub('no-mosquitto', {
    dir: dataDir('no-mosquitto'),
    env: { MH_EMPTY_PATH: emptyBin, MOCKHUB_MOSQUITTO: '' },
    wrap: ['unshare', '-m', 'sh', '-c', script, 'sh'],
  });
  assertFailsLoudly(r, [/the mosquitto broker is not installed/, /apt-get install mosquitto/, /make run/]);
});

test('MOCKHUB_MOSQUITTO pointing nowhere: names the variable', { timeout: 15000 }, async () => {
  const r = await runHub('bad-mosquitto-env', {
    dir: dataDir('bad-mosquitto-env'),
    env: { MOCKHUB_MOSQUITTO: '/nonexistent/mosquitto' },
  });
  assertFailsLoudly(r, [/MOCKHUB_MOSQUITTO=\/nonexistent\/mosquitto is not an executable file/]);
});

// ---- 3. a data dir that cannot be written ---------------------------------------------------------

test('read-only data dir: names the path, the errno text and the fix', { timeout: 15000, skip: noSetpriv },
  async () => {
    const dir = dataDir('read-only', 0o555);
    const r = await runHub('read-only', { dir, wrap: ['setpriv', ...NOBODY] });
    assertFailsLoudly(r, [
      new RegExp(`the data dir ${dir} is not writable by uid 65534: Permission denied`),
      /set MOCKHUB_DATA_DIR to a directory you can write/,
    ]);
  });

test('data dir below a read-only dir: names the path and where creation failed', { timeout: 15000, skip: noSetpriv },
  async () => {
    const parent = dataDir('read-only-parent', 0o555);
    const dir = path.join(parent, 'data');
    const r = await runHub('read-only-parent', { dir, wrap: ['setpriv', ...NOBODY] });
    assertFailsLoudly(r, [
      new RegExp(`cannot create the data dir ${dir}: Permission denied \\(in ${parent}, as uid 65534\\)`),
      /MOCKHUB_DATA_DIR/,
    ]);
  });

test('data dir below a regular file: names the file in the way', { timeout: 15000 }, async () => {
  const file = dataDir('a-file');
  fs.writeFileSync(file, 'not a directory\n');
  const dir = path.join(file, 'data');
  const r = await runHub('file-in-the-way', { dir });
  assertFailsLoudly(r, [
    new RegExp(`cannot create the data dir ${dir}: Not a directory \\(${file} is a file\\)`),
    /remove that file, or set MOCKHUB_DATA_DIR/,
  ]);
});

test('data dir files left by another user: names the file and the chown', { timeout: 15000, skip: noSetpriv },
  async () => {
    const dir = dataDir('root-owned', 0o777);
    fs.writeFileSync(path.join(dir, 'mockhub.db'), '');
    fs.chmodSync(path.join(dir, 'mockhub.db'), 0o600); // root's, as after a `sudo make run`
    const r = await runHub('root-owned', { dir, env: { MOCKHUB_HTTPS_PORT: '8443' }, wrap: ['setpriv', ...NOBODY] });
    assertFailsLoudly(r, [
      new RegExp(`${dir}/mockhub.db is not readable and writable by uid 65534`),
      new RegExp(`sudo chown -R 65534 ${dir}`),
    ]);
  });

// ---- 4. a port another process holds -----------------------------------------------------------

for (const { port, env, what, variable } of [
  { port: 443, env: {}, what: 'HTTPS', variable: 'MOCKHUB_HTTPS_PORT' },
  { port: 8883, env: {}, what: 'MQTT', variable: 'MOCKHUB_MQTT_PORT' },
  { port: 8443, env: { MOCKHUB_HTTPS_PORT: '8443' }, what: 'HTTPS', variable: 'MOCKHUB_HTTPS_PORT' },
  { port: 18883, env: { MOCKHUB_MQTT_PORT: '18883' }, what: 'MQTT', variable: 'MOCKHUB_MQTT_PORT' },
]) {
  test(`${what} port ${port} held by another process: found before the broker starts`, { timeout: 15000 },
    async () => {
      const held = await holdPort(port, '127.0.0.1'); // even one address of the port is enough
      try {
        const r = await runHub(`in-use-${port}`, { dir: dataDir(`in-use-${port}`), env });
        assertFailsLoudly(r, [
          new RegExp(`${what} port ${port} is already in use by another process`),
          new RegExp(`ss -ltnp 'sport = :${port}'`),
          new RegExp(`pick a free port with ${variable}`),
        ]);
        assert.doesNotMatch(r.stdout, /^broker: /m, 'the probe found it: the broker never ran');
      } finally {
        await held.close();
      }
    });
}

test('the broker\'s own bind failure (internal websockets port held): one line, broker gone', { timeout: 15000 },
  async () => {
    // The preflight does not probe the internal port (it is random unless set), so this reaches the broker.
    const held = await holdPort(0, '127.0.0.1');
    try {
      const r = await runHub('ws-in-use', {
        dir: dataDir('ws-in-use'),
        env: { MOCKHUB_WS_INTERNAL_PORT: String(held.port) },
      });
      assertFailsLoudly(r, [
        new RegExp(`the broker exited while starting: internal websockets port ${held.port} is already in use`),
        /MOCKHUB_WS_INTERNAL_PORT/,
      ]);
      assert.match(r.stdout, /^broker: .*Unable to create websockets listener/m, 'the broker did try');
      assert.ok(await canListen(8883), 'the broker, which had opened 8883, is gone');
    } finally {
      await held.close();
    }
  });
