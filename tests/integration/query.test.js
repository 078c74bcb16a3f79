// query.test.js - twin queries (POST /devices/query) through Microsoft's Node service SDK
// (Registry.createQuery, paging with nextAsTwin(cb) / next(cb)): a fleet of a few hundred devices
// with varied tags and reported properties, every result checked against the set computed here
// from the fleet's description; paging across several pages; GROUP BY counts; the tutorial's
// rebootTime query with reports sent by the device SDK.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  useHub, uid, createDevice, openDevice, registry, withTimeout, waitFor, rest, rawMqtt, iotHubError, rejectsWith,
} = require('./lib/hub');

const ctx = useHub();

const FLEET_SIZE = 240;
const REPORTERS = 60; // devices that publish reported properties (raw MQTT, as the SDK does)
const RUN = uid('q');
const REGIONS = ['US', 'EU', 'ASIA'];
const FW = ['1.0.0', '1.1.0', '2.0.0'];
const fleet = []; // { id, key, i, region, floor, flag, reported }

/** Runs fn over items with at most n in flight. */
async function pool(items, n, fn) {
  let next = 0;
  const workers = Array.from({ length: n }, async () => {
    while (next < items.length) {
      const k = next++;
      await fn(items[k], k);
    }
  });
  await Promise.all(workers);
}

/** Describes device i: tags (region undefined for i % 4 == 3, floor a number or a string),
 * reported for the first REPORTERS devices. */
function describe(i) {
  const d = {
    i,
    region: i % 4 === 3 ? undefined : REGIONS[i % 4],
    floor: i % 5 === 4 ? String(i % 10) : i % 10,
    flag: i % 3 === 0,
    reported: null,
  };
  if (i < REPORTERS) {
    d.reported = { fw: FW[i % 3], battery: i % 100 };
    if (i % 2 === 0) d.reported.rebootTime = new Date(Date.UTC(2024, 0, 1 + (i % 28), 12)).toISOString();
  }
  return d;
}

function tagsOf(d) {
  const t = { fleet: RUN, floor: d.floor, flag: d.flag };
  if (d.region !== undefined) t.region = d.region;
  return t;
}

/** Pages through a query with the SDK; resolves { items, pages }. asTwin: nextAsTwin, else next. */
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

const ids = (items) => items.map((t) => t.deviceId);
const sorted = (a) => [...a].sort();
const expectIds = (pred) => sorted(fleet.filter(pred).map((d) => d.id));

test.before(async () => {
  await ctx.ready;
  const reg = registry(ctx.hub);
  const specs = Array.from({ length: FLEET_SIZE }, (_, i) => describe(i));
  await pool(specs, 12, async (d) => {
    const { deviceId, key } = await createDevice(ctx.hub, `${RUN}-${String(d.i).padStart(3, '0')}`);
    await withTimeout(reg.updateTwin(deviceId, { tags: tagsOf(d) }, '*'), 10000, 'updateTwin tags');
    fleet.push({ ...d, id: deviceId, key });
  });
  // reported properties over MQTT, the device protocol the SDK uses
  const reporters = fleet.filter((d) => d.reported);
  await pool(reporters, 8, async (d) => {
    const { client } = await rawMqtt(ctx.hub, d.id, d.key);
    await new Promise((resolve, reject) => client.subscribe('$iothub/twin/res/#', { qos: 0 }, (e) => (e ? reject(e) : resolve())));
    const done = new Promise((resolve) => client.on('message', (topic) => { if (topic.includes('rid=1')) resolve(topic); }));
    client.publish('$iothub/twin/PATCH/properties/reported/?$rid=1', JSON.stringify(d.reported), { qos: 0 });
    const topic = await withTimeout(done, 10000, `reported PATCH of ${d.id}`);
    assert.match(topic, /^\$iothub\/twin\/res\/204\//, topic);
    await new Promise((resolve) => client.end(true, {}, resolve));
  });
}, { timeout: 240000 });

const F = () => `tags.fleet = '${RUN}'`;

const CASES = [
  ['region = US', () => `SELECT * FROM devices WHERE ${F()} AND tags.region = 'US'`, (d) => d.region === 'US'],
  ['region != US (undefined excluded)', () => `SELECT * FROM devices WHERE ${F()} AND tags.region != 'US'`,
    (d) => d.region !== undefined && d.region !== 'US'],
  ['NOT (region = US)', () => `SELECT * FROM devices WHERE ${F()} AND NOT (tags.region = 'US')`,
    (d) => d.region !== undefined && d.region !== 'US'],
  ['floor > 5 (numbers only)', () => `SELECT * FROM devices WHERE ${F()} AND tags.floor > 5`,
    (d) => typeof d.floor === 'number' && d.floor > 5],
  ['floor = "4" (strings only)', () => `SELECT * FROM devices WHERE ${F()} AND tags.floor = "4"`, (d) => d.floor === '4'],
  ['floor % 2 = 0', () => `SELECT * FROM devices WHERE ${F()} AND tags.floor % 2 = 0`,
    (d) => typeof d.floor === 'number' && d.floor % 2 === 0],
  ['region IN + flag', () => `SELECT * FROM devices WHERE ${F()} AND tags.region IN ['US', 'EU'] AND tags.flag = true`,
    (d) => (d.region === 'US' || d.region === 'EU') && d.flag],
  ['region NIN', () => `SELECT * FROM devices WHERE ${F()} AND tags.region NIN ['US', 'EU']`,
    (d) => d.region !== undefined && d.region !== 'US' && d.region !== 'EU'],
  ['NOT is_defined(region)', () => `SELECT * FROM devices WHERE ${F()} AND NOT is_defined(tags.region)`, (d) => d.region === undefined],
  ['is_defined(rebootTime)', () => `SELECT * FROM devices WHERE ${F()} AND is_defined(properties.reported.rebootTime)`,
    (d) => !!(d.reported && d.reported.rebootTime)],
  ['rebootTime > 2024-01-15', () => `SELECT * FROM devices WHERE ${F()} AND properties.reported.rebootTime > '2024-01-15'`,
    (d) => !!(d.reported && d.reported.rebootTime && d.reported.rebootTime > '2024-01-15')],
  ['fw NIN + battery arithmetic', () => `SELECT * FROM devices WHERE ${F()} AND properties.reported.fw NIN ['1.0.0'] AND properties.reported.battery * 2 >= 40`,
    (d) => !!(d.reported && d.reported.fw !== '1.0.0' && d.reported.battery * 2 >= 40)],
  ['reported $version > 1', () => `SELECT * FROM devices WHERE ${F()} AND properties.reported.$version > 1`, (d) => !!d.reported],
  ['case-insensitive top level, exact keys', () => `SELECT * FROM devices WHERE TAGS.fleet = '${RUN}' AND Status = 'enabled' AND tags.Region = 'US'`,
    () => false],
  ['OR across sections', () => `SELECT * FROM devices WHERE ${F()} AND (tags.floor = 0 OR properties.reported.fw = '2.0.0')`,
    (d) => d.floor === 0 || !!(d.reported && d.reported.fw === '2.0.0')],
];

for (const [name, sql, pred] of CASES) {
  test(`query: ${name}`, { timeout: 60000 }, async () => {
    const { items } = await runQuery(sql(), 1000);
    assert.deepEqual(sorted(ids(items)), expectIds(pred), sql());
  });
}

test('paging with nextAsTwin: several page sizes give the whole set once', { timeout: 120000 }, async () => {
  const want = expectIds(() => true);
  assert.equal(want.length, FLEET_SIZE);
  for (const size of [7, 50, 100, 1000]) {
    const { items, pages } = await runQuery(`SELECT * FROM devices WHERE ${F()}`, size);
    const got = ids(items);
    assert.equal(new Set(got).size, got.length, `page size ${size}: no device twice`);
    assert.deepEqual(sorted(got), want, `page size ${size}`);
    assert.equal(pages, Math.ceil(FLEET_SIZE / size), `page size ${size}: pages`);
    assert.ok(items.every((t) => t.properties && t.properties.reported && t.properties.reported.$version >= 1), 'full twins');
    assert.ok(items.every((t) => typeof t.etag === 'string' && t.tags.fleet === RUN));
  }
});

test('raw REST paging: x-ms-continuation only while pages remain, x-ms-item-type', { timeout: 60000 }, async () => {
  const query = `SELECT deviceId FROM devices WHERE ${F()} AND tags.region = 'EU'`;
  const want = expectIds((d) => d.region === 'EU');
  const got = [];
  let token;
  let pages = 0;
  do {
    const headers = { 'x-ms-max-item-count': '16' };
    if (token) headers['x-ms-continuation'] = token;
    const r = await rest(ctx.hub, 'POST', '/devices/query', { body: { query }, headers });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-ms-item-type'], 'Raw');
    assert.ok(Array.isArray(r.json));
    got.push(...r.json.map((o) => o.deviceId));
    token = r.headers['x-ms-continuation'];
    if (token !== undefined) assert.ok(token.length > 0, 'never an empty token');
    pages += 1;
  } while (token !== undefined && pages < 100);
  assert.deepEqual(sorted(got), want);
  assert.equal(pages, Math.ceil(want.length / 16));
  const r = await rest(ctx.hub, 'POST', '/devices/query', { body: { query: `SELECT * FROM devices WHERE ${F()} AND tags.region = 'none'` } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-ms-item-type'], 'Twin');
  assert.deepEqual(r.json, []);
  assert.equal(r.headers['x-ms-continuation'], undefined);
});

test('GROUP BY counts (next(cb), Raw items)', { timeout: 60000 }, async () => {
  const { items } = await runQuery(
    `SELECT tags.region AS region, COUNT() AS numberOfDevices FROM devices WHERE ${F()} GROUP BY tags.region`, 2, false);
  const want = {};
  for (const d of fleet) want[d.region === undefined ? '(undefined)' : d.region] = (want[d.region === undefined ? '(undefined)' : d.region] || 0) + 1;
  const got = {};
  for (const it of items) got[it.region === undefined ? '(undefined)' : it.region] = it.numberOfDevices;
  assert.deepEqual(got, want);

  const fw = await runQuery(`SELECT properties.reported.fw AS fw, COUNT() AS n, AVG(properties.reported.battery) AS avg FROM devices `
    + `WHERE ${F()} AND is_defined(properties.reported.fw) GROUP BY properties.reported.fw`, 100, false);
  for (const v of FW) {
    const ds = fleet.filter((d) => d.reported && d.reported.fw === v);
    const row = fw.items.find((r) => r.fw === v);
    assert.ok(row, `group ${v}`);
    assert.equal(row.n, ds.length);
    assert.ok(Math.abs(row.avg - ds.reduce((s, d) => s + d.reported.battery, 0) / ds.length) < 1e-9);
  }
  const total = await runQuery(`SELECT COUNT() AS totalNumberOfDevices FROM devices WHERE ${F()}`, 10, false);
  assert.deepEqual(total.items, [{ totalNumberOfDevices: FLEET_SIZE }]);
});

test('projection: SELECT DeviceId, tags.floor AS floor (members of undefined values left out)', { timeout: 60000 }, async () => {
  const { items } = await runQuery(`SELECT DeviceId, tags.floor AS floor, tags.region FROM devices WHERE ${F()} AND tags.flag = true`, 1000, false);
  const want = fleet.filter((d) => d.flag).map((d) => {
    const o = { deviceId: d.id, floor: d.floor };
    if (d.region !== undefined) o.region = d.region;
    return o;
  }).sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
  assert.deepEqual([...items].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)), want);
});

test('tutorial: devices that rebooted since a time, reported with the device SDK', { timeout: 90000 }, async () => {
  const since = new Date().toISOString();
  const rebooted = [];
  for (let k = 0; k < 3; k++) {
    const { deviceId, connectionString } = await createDevice(ctx.hub, uid('q-reboot'));
    const client = await openDevice(ctx.hub, connectionString);
    const twin = await withTimeout(client.getTwin(), 10000, 'getTwin');
    await withTimeout(new Promise((res, rej) => twin.properties.reported.update(
      { iothubDM: { reboot: { lastReboot: new Date().toISOString() } }, rebootTime: new Date().toISOString() },
      (e) => (e ? rej(e) : res()))), 10000, 'reported.update');
    rebooted.push(deviceId);
  }
  const { items } = await runQuery(`SELECT * FROM devices WHERE properties.reported.rebootTime > '${since}'`, 100);
  assert.deepEqual(sorted(ids(items)), sorted(rebooted));
  const nested = await runQuery(`SELECT * FROM devices WHERE properties.reported.iothubDM.reboot.lastReboot > '${since}'`, 1);
  assert.deepEqual(sorted(ids(nested.items)), sorted(rebooted));
  assert.equal(nested.pages, 3);
});

test('errors: syntax error 400 with position, devices.jobs 501, bad continuation 400', { timeout: 30000 }, async () => {
  const err = await rejectsWith(runQuery('SELECT * FORM devices', 10), 'query with a syntax error');
  assert.equal(err.response && err.response.statusCode, 400, `${err.name}: ${err.message}`);
  assert.match(err.message, /position 10/);

  const r = await rest(ctx.hub, 'POST', '/devices/query', { body: { query: 'SELECT * FROM devices.jobs' } });
  assert.equal(r.status, 501, r.body);
  assert.ok(iotHubError(r), r.body);

  const bad = await rest(ctx.hub, 'POST', '/devices/query',
    { body: { query: 'SELECT * FROM devices' }, headers: { 'x-ms-continuation': 'bm90LWEtdG9rZW4=' } });
  assert.equal(bad.status, 400, bad.body);
  assert.equal(iotHubError(bad).code, 'ArgumentInvalid');

  const long = await rest(ctx.hub, 'POST', '/devices/query', { body: { query: `SELECT * FROM devices WHERE deviceId = '${'x'.repeat(8200)}'` } });
  assert.equal(long.status, 400, long.body);
});

test('connectionState reflects live connections', { timeout: 60000 }, async () => {
  const d = fleet[FLEET_SIZE - 1];
  const { client } = await rawMqtt(ctx.hub, d.id, d.key);
  await waitFor(async () => {
    const { items } = await runQuery(`SELECT deviceId FROM devices WHERE ${F()} AND connectionState = 'Connected'`, 100, false);
    return items.length === 1 && items[0].deviceId === d.id;
  }, { timeout: 10000, what: 'the connected device in a connectionState query' });
  await new Promise((resolve) => client.end(true, {}, resolve));
});
