// disk_full.test.js - issue 13 part 3: the data dir fills up while the hub runs. The file re-executes
// itself in a private mount namespace (`unshare -m`, inside run.sh's network namespace) and puts the
// data dir on an 8 MB tmpfs there. With the disk full, writes get a clear IoT Hub error, reads and
// method calls still work, nothing half-written appears; once space returns, writes work again and
// SQLite's integrity check is clean. (A data dir made read-only under a running hub cannot be
// produced: Linux refuses to remount a file system read-only while files are open for writing.)
'use strict';

const { spawnSync } = require('node:child_process');

if (!process.env.MOCKHUB_IT_MNTNS) {
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, ...process.execArgv, __filename],
    { stdio: 'inherit', env: { ...process.env, MOCKHUB_IT_MNTNS: '1' } });
  process.exit(r.status === null ? 1 : r.status);
}

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  startHub, cleanupAll, uid, createDevice, openDevice, serviceClient, rest, iotHubError, runDir, sleep,
} = require('./lib/hub');

const mnt = path.join(runDir(), 'tmpfs');
let hub;

test.before(async () => {
  fs.mkdirSync(mnt, { recursive: true });
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`mount tmpfs: ${m.stderr}`);
  hub = await startHub({ dataDir: path.join(mnt, 'data') });
}, { timeout: 60000 });
test.after(async () => {
  await cleanupAll();
  spawnSync('umount', ['-l', mnt]);
}, { timeout: 30000 });

/** Fills the file system with one file until ENOSPC; returns its path. */
function fill(dir) {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  }
  // the last partial blocks too
  try { for (;;) fs.writeSync(fd, Buffer.alloc(512, 1)); } catch { /* full */ }
  fs.closeSync(fd);
  return file;
}

function integrityCheck(db) {
  const r = spawnSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `sqlite3 failed: ${r.stderr}`;
}

test('a full data dir: clear errors for writes, reads and methods still work, recovery when space returns', { timeout: 120000 }, async () => {
  const kept = await createDevice(hub, uid('full-kept'));
  const client = await openDevice(hub, kept.connectionString);
  client.onDeviceMethod('m', (req, res) => res.send(200, 'ok'));
  // some history so the database has pages in use
  for (let i = 0; i < 20; i++) await createDevice(hub, uid('full-pre'));

  const filler = fill(mnt);
  hub.mark('data dir full');
  const errors = [];
  const refused = [];
  for (let i = 0; i < 20; i++) {
    const id = uid('full-new');
    const r = await rest(hub, 'PUT', `/devices/${encodeURIComponent(id)}`, { body: { deviceId: id } });
    if (r.status === 200) continue; // SQLite may still fit a row in free pages of its file
    refused.push(id);
    errors.push({ status: r.status, code: (iotHubError(r) || {}).code });
    assert.match((iotHubError(r) || {}).text || '', /disk is full/, `the error says why: ${r.body}`);
    const patch = await rest(hub, 'PATCH', `/twins/${encodeURIComponent(kept.deviceId)}`,
      { body: { properties: { desired: { big: 'x'.repeat(4000), i } } }, headers: { 'If-Match': '*' } });
    if (patch.status !== 200) errors.push({ status: patch.status, code: (iotHubError(patch) || {}).code });
  }
  assert.ok(refused.length > 0, 'writes are refused on a full disk');
  for (const e of errors) {
    assert.ok(e.status >= 500 && e.code, `a full disk answers an IoT Hub server error: ${JSON.stringify(e)}`);
  }
  // reads and direct methods need no space
  const g = await rest(hub, 'GET', `/devices/${encodeURIComponent(kept.deviceId)}`);
  assert.equal(g.status, 200);
  const { result } = await serviceClient(hub).invokeDeviceMethod(kept.deviceId, { methodName: 'm', payload: {} });
  assert.equal(result.status, 200);
  for (const id of refused) {
    const r = await rest(hub, 'GET', `/devices/${encodeURIComponent(id)}`);
    assert.equal(r.status, 404, `a refused create left nothing behind: ${id}`);
  }
  const health = await rest(hub, 'GET', '/health', { token: null, apiVersion: null });
  assert.equal(health.status, 200, 'the hub keeps running');

  fs.unlinkSync(filler);
  hub.mark('space returned');
  await sleep(200);
  const after = await createDevice(hub, uid('full-after'));
  const t = await rest(hub, 'PATCH', `/twins/${encodeURIComponent(after.deviceId)}`,
    { body: { properties: { desired: { back: true } } }, headers: { 'If-Match': '*' } });
  assert.equal(t.status, 200, `twin write after recovery: ${t.body}`);
  assert.equal(integrityCheck(path.join(hub.dataDir, 'mockhub.db')), 'ok');
  console.log(`# disk full: ${refused.length}/20 creates refused, errors ${JSON.stringify([...new Set(errors.map((e) => `${e.status} ${e.code}`))])}`);
});
