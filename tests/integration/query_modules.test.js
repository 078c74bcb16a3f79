// query_modules.test.js - queries over module twins (SELECT ... FROM devices.modules) through
// Microsoft's Node service SDK (Registry.addModule, Registry.createQuery with nextAsTwin / next,
// unchanged): module twins with deviceId and moduleId, WHERE on moduleId, deviceId IN [...], tags
// and reported properties (sent by a ModuleClient-style raw MQTT module connection), paging over
// several pages, projections and COUNT, x-ms-item-type; FROM devices and /statistics/devices see
// devices only.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, registry, withTimeout, rest, rawMqtt,
} = require('./lib/hub');

const ctx = useHub();

const RUN = uid('qm');
const DEVICES = 6;
const MODULES = ['camera', 'filter', 'sink']; // per device
const devices = []; // { id, key }

/** Pages through a query with the SDK; resolves { items, pages }. */
function runQuery(sql, pageSize, asTwin = true) {
  const q = registry(ctx.hub).createQuery(sql, pageSize);
  const items = [];
  let pages = 0;
  return withTimeout(new Promise((resolve, reject) => {
    const onResults = (err, results) => {
      if (err) { reject(err); return; }
      pages += 1;
      items.push(...results);
      if (pages > 1000) { reject(new Error('paging does not end')); return; }
      if (q.hasMoreResults) {
        if (asTwin) q.nextAsTwin(onResults); else q.next(onResults);
      } else {
        resolve({ items, pages });
      }
    };
    if (asTwin) q.nextAsTwin(onResults); else q.next(onResults);
  }), 60000, `query ${sql}`);
}

const idOf = (t) => `${t.deviceId}/${t.moduleId}`;
const sorted = (a) => [...a].sort();
/** The identities "d/m" of the fleet selected by pred(deviceIndex, moduleName). */
const expected = (pred) => sorted(devices.flatMap((d, i) => MODULES.filter((m) => pred(i, m))
  .map((m) => `${d.id}/${m}`)));

/** A module SAS token: sr=urlenc(host/devices/d/modules/m). */
function moduleToken(hub, deviceId, moduleId, key) {
  const crypto = require('node:crypto');
  const se = Math.ceil(Date.now() / 1000) + 3600;
  const sr = encodeURIComponent(`${hub.host}/devices/${deviceId}/modules/${moduleId}`);
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

test.before(async () => {
  await ctx.ready;
  const reg = registry(ctx.hub);
  for (let i = 0; i < DEVICES; i += 1) {
    const { deviceId, key } = await createDevice(ctx.hub, `${RUN}-d${i}`);
    devices.push({ id: deviceId, key });
    for (const m of MODULES) {
      await withTimeout(reg.addModule({ deviceId, moduleId: m }), 10000, `addModule ${deviceId}/${m}`);
      // tags: the run (to scope queries), the device index, the module's role
      await withTimeout(reg.updateModuleTwin(deviceId, m, { tags: { run: RUN, i, role: m } }, '*'), 10000,
        `updateModuleTwin ${deviceId}/${m}`);
    }
  }
});

test('SELECT * FROM devices.modules pages over module twins (deviceId + moduleId)', async () => {
  const want = expected(() => true);
  for (const size of [1, 4, 100]) {
    const { items, pages } = await runQuery(`SELECT * FROM devices.modules WHERE tags.run = '${RUN}'`, size);
    assert.deepEqual(sorted(items.map(idOf)), want, `page size ${size}`);
    assert.equal(new Set(items.map(idOf)).size, items.length, 'no repeats');
    assert.equal(pages, Math.ceil(want.length / size), `pages at size ${size}`);
    for (const t of items) {
      assert.equal(typeof t.moduleId, 'string');
      assert.equal(t.tags.role, t.moduleId);
      assert.ok(t.properties && t.properties.desired && t.properties.reported, 'a twin');
    }
  }
});

test('WHERE moduleId, deviceId IN [...], tags and NOT', async () => {
  const pick = [devices[1].id, devices[4].id, 'no-such-device'];
  const cases = [
    [`SELECT * FROM devices.modules WHERE moduleId = 'filter' AND tags.run = '${RUN}'`, (i, m) => m === 'filter'],
    [`SELECT * FROM devices.modules WHERE deviceId IN ['${pick.join("','")}']`, (i) => i === 1 || i === 4],
    [`SELECT * FROM devices.modules WHERE deviceId = '${devices[2].id}' AND moduleId != 'sink'`,
      (i, m) => i === 2 && m !== 'sink'],
    [`SELECT * FROM devices.modules WHERE tags.run = '${RUN}' AND tags.i >= 3 AND moduleId IN ['camera', 'sink']`,
      (i, m) => i >= 3 && m !== 'filter'],
    [`SELECT * FROM devices.modules WHERE devices.modules.moduleId = 'camera' AND tags.run = '${RUN}' AND NOT (tags.i = 0)`,
      (i, m) => m === 'camera' && i !== 0],
  ];
  for (const [sql, pred] of cases) {
    const { items } = await runQuery(sql, 2);
    assert.deepEqual(sorted(items.map(idOf)), expected(pred), sql);
  }
});

test('desired properties written through the module twin are queryable', async () => {
  const d = devices[2];
  await registry(ctx.hub).updateModuleTwin(d.id, 'sink', { properties: { desired: { rate: 42 } } }, '*');
  const { items } = await runQuery(
    `SELECT * FROM devices.modules WHERE properties.desired.rate = 42 AND tags.run = '${RUN}'`, 10);
  assert.deepEqual(items.map(idOf), [`${d.id}/sink`]);
  assert.equal(items[0].properties.desired.rate, 42);
});

test('reported properties from a module connection are queryable', async (t) => {
  const d = devices[3];
  const { responseBody: mod } = await registry(ctx.hub).getModule(d.id, 'filter');
  const key = mod.authentication.symmetricKey.primaryKey;
  let conn;
  try {
    conn = await rawMqtt(ctx.hub, d.id, key, {
      clientId: `${d.id}/filter`,
      username: `${ctx.hub.host}/${d.id}/filter/?api-version=2021-04-12`,
      password: moduleToken(ctx.hub, d.id, 'filter', key),
    });
  } catch (e) {
    // issue 11 item 2 (modules on MQTT) is built on another branch; until it is merged the broker
    // refuses module CONNECTs. Any other failure fails the test.
    if (/Not authorized/.test(String(e && e.message))) {
      t.skip('module MQTT connections are not available in this build (issue 11 item 2)');
      return;
    }
    throw e;
  }
  const { client } = conn;
  await new Promise((resolve, reject) => client.subscribe('$iothub/twin/res/#', { qos: 0 },
    (e) => (e ? reject(e) : resolve())));
  const answered = new Promise((resolve) => client.on('message', (topic) => {
    if (topic.startsWith('$iothub/twin/res/204/')) resolve(topic);
  }));
  client.publish('$iothub/twin/PATCH/properties/reported/?$rid=1', JSON.stringify({ status: 'scanning' }));
  await withTimeout(answered, 10000, 'reported patch 204');
  const sql = `SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['${devices[2].id}', '${d.id}']`;
  const { items } = await runQuery(sql, 10);
  assert.deepEqual(items.map(idOf), [`${d.id}/filter`]);
  assert.equal(items[0].properties.reported.status, 'scanning');
  await new Promise((resolve) => client.end(true, {}, resolve));
});

test('projections, COUNT and GROUP BY over modules; x-ms-item-type', async () => {
  const { items } = await runQuery(
    `SELECT deviceId, moduleId, tags.i AS i FROM devices.modules WHERE tags.run = '${RUN}' AND tags.i = 5`, 2, false);
  assert.deepEqual(items.map((r) => `${r.deviceId}/${r.moduleId}/${r.i}`).sort(),
    MODULES.map((m) => `${devices[5].id}/${m}/5`).sort());
  const count = await runQuery(`SELECT COUNT() AS n FROM devices.modules WHERE tags.run = '${RUN}'`, 10, false);
  assert.deepEqual(count.items, [{ n: DEVICES * MODULES.length }]);
  const groups = await runQuery(
    `SELECT moduleId, COUNT() AS n FROM devices.modules WHERE tags.run = '${RUN}' GROUP BY moduleId`, 10, false);
  assert.deepEqual(groups.items.sort((a, b) => a.moduleId.localeCompare(b.moduleId)),
    MODULES.map((m) => ({ moduleId: m, n: DEVICES })));

  const star = await rest(ctx.hub, 'POST', '/devices/query',
    { body: { query: `SELECT * FROM devices.modules WHERE tags.run = '${RUN}'` } });
  assert.equal(star.status, 200, star.body);
  assert.equal(star.headers['x-ms-item-type'], 'Twin');
  const raw = await rest(ctx.hub, 'POST', '/devices/query',
    { body: { query: `SELECT moduleId FROM devices.modules WHERE tags.run = '${RUN}'` } });
  assert.equal(raw.headers['x-ms-item-type'], 'Raw');
  const none = await rest(ctx.hub, 'POST', '/devices/query',
    { body: { query: "SELECT * FROM devices.modules WHERE moduleId = 'nothing-here'" } });
  assert.equal(none.status, 200);
  assert.deepEqual(none.json, []);
  assert.equal(none.headers['x-ms-item-type'], 'Twin');
});

test('FROM devices and the device statistics see devices only', async () => {
  // this file's devices by id range (their modules' rows "d/m" share the table and the prefix)
  const { items } = await runQuery(`SELECT * FROM devices WHERE deviceId >= '${RUN}-' AND deviceId < '${RUN}.'`, 2);
  assert.deepEqual(sorted(items.map((t) => t.deviceId)), sorted(devices.map((d) => d.id)));
  for (const t of items) assert.equal(t.moduleId, undefined, 'a device twin has no moduleId');
  const count = await runQuery('SELECT COUNT() AS n FROM devices', 10, false);
  const stats = await rest(ctx.hub, 'GET', '/statistics/devices');
  assert.equal(stats.status, 200);
  assert.equal(stats.json.totalDeviceCount, count.items[0].n);
  const list = await rest(ctx.hub, 'GET', '/devices?top=1000');
  assert.equal(list.json.length, count.items[0].n, 'GET /devices and COUNT agree');
  assert.ok(count.items[0].n >= DEVICES && count.items[0].n < DEVICES * (MODULES.length + 1));
});
