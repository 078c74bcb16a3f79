// amqp_token_expiry.test.js - issue 10: a CBS token with a short expiry on a service AMQP connection (rhea,
// the Node SDKs' AMQP library, over TLS 5671). When it expires the hub detaches every link but $cbs with
// amqp:unauthorized-access; a new put-token before expiry keeps the links; after expiry a new token lets
// the client attach again on the same connection.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { useHub, serviceToken, waitFor, sleep, withTimeout, onCleanup } = require('./lib/hub');

const ctx = useHub();

/** A rhea connection with $cbs sender/receiver; resolves { conn, putToken(token) -> status }. */
async function connect(hub) {
  const rhea = require('rhea');
  const container = rhea.create_container();
  const conn = container.connect({
    host: hub.host, port: 5671, transport: 'tls', ca: fs.readFileSync(hub.ca), servername: hub.host,
    hostname: hub.host, username: 'anonymous', reconnect: false, idle_time_out: 0,
  });
  onCleanup(() => { try { conn.close(); } catch { /* closed */ } });
  await withTimeout(new Promise((res, rej) => { conn.once('connection_open', res); conn.once('connection_error', rej); conn.once('disconnected', (c) => rej(c.error || new Error('disconnected'))); }), 10000, 'AMQP open');
  const cbsSend = conn.open_sender({ target: { address: '$cbs' } });
  const cbsRecv = conn.open_receiver({ source: { address: '$cbs' } });
  await withTimeout(Promise.all([
    new Promise((res) => cbsSend.once('sendable', res)),
    new Promise((res) => cbsRecv.once('receiver_open', res)),
  ]), 10000, '$cbs links');
  let n = 0;
  const pending = new Map();
  cbsRecv.on('message', (ctx2) => {
    const m = ctx2.message;
    const p = pending.get(m.correlation_id);
    if (p) { pending.delete(m.correlation_id); p(m.application_properties['status-code']); }
  });
  const putToken = (token) => new Promise((res) => {
    n += 1;
    const id = `put-${n}`;
    pending.set(id, res);
    cbsSend.send({
      message_id: id, reply_to: 'cbs', to: '$cbs',
      application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: hub.host },
      body: token,
    });
  });
  return { conn, putToken, cbsSend, cbsRecv };
}

/** Opens a receiver on the feedback node and a sender on devicebound; records their closes. */
async function openLinks(conn) {
  const closes = [];
  const fb = conn.open_receiver({ source: { address: '/messages/serviceBound/feedback' } });
  const c2d = conn.open_sender({ target: { address: '/messages/devicebound' } });
  for (const [name, l] of [['feedback', fb], ['devicebound', c2d]]) {
    l.on(l.is_receiver() ? 'receiver_close' : 'sender_close', (c) => closes.push({ name, at: Date.now(), error: (c.receiver || c.sender).remote.detach?.error }));
    l.on(l.is_receiver() ? 'receiver_error' : 'sender_error', () => {});
  }
  await withTimeout(Promise.all([
    new Promise((res) => fb.once('receiver_open', res)),
    new Promise((res) => c2d.once('sender_open', res)),
  ]), 10000, 'feedback and devicebound links');
  return { fb, c2d, closes };
}

test('links but $cbs are detached with amqp:unauthorized-access when the token expires; a new token reattaches', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { conn, putToken, cbsSend, cbsRecv } = await connect(hub);
  const se = Math.ceil(Date.now() / 1000) + 4;
  assert.equal(await withTimeout(putToken(serviceToken(hub, { expiry: se })), 10000, 'put-token'), 200);
  const { closes, fb, c2d } = await openLinks(conn);
  await sleep(1000);
  assert.equal(closes.length, 0, 'still open before expiry');
  await waitFor(() => closes.length === 2, { timeout: 10000, what: 'both links detached' });
  for (const c of closes) {
    assert.ok(c.at >= se * 1000, `${c.name} detached at ${c.at}, before expiry ${se * 1000}`);
    assert.ok(c.at <= se * 1000 + 3000, `${c.name} detached ${c.at - se * 1000} ms after expiry`);
    assert.equal(c.error?.condition, 'amqp:unauthorized-access', `${c.name}: ${JSON.stringify(c.error)}`);
  }
  assert.ok(!fb.is_open() && !c2d.is_open());
  assert.ok(cbsSend.is_open() && cbsRecv.is_open(), '$cbs links kept');
  assert.ok(conn.is_open(), 'the connection stays');
  // a new token on the same connection: attaching works again
  assert.equal(await withTimeout(putToken(serviceToken(hub, { ttl: 3600 })), 10000, 'put-token again'), 200);
  const again = await openLinks(conn);
  await sleep(1500);
  assert.equal(again.closes.length, 0);
});

test('a token renewed before expiry keeps the links attached', { timeout: 60000 }, async () => {
  const hub = ctx.hub;
  const { conn, putToken } = await connect(hub);
  const se = Math.ceil(Date.now() / 1000) + 4;
  assert.equal(await withTimeout(putToken(serviceToken(hub, { expiry: se })), 10000, 'put-token'), 200);
  const { closes, fb, c2d } = await openLinks(conn);
  await sleep(1500);
  assert.equal(await withTimeout(putToken(serviceToken(hub, { ttl: 60 })), 10000, 'renewal'), 200);
  // well past the first token's expiry (the hub checks once a second)
  while (Date.now() < se * 1000 + 4000) await sleep(250);
  assert.deepEqual(closes, [], 'no link detached');
  assert.ok(fb.is_open() && c2d.is_open() && conn.is_open());
});

test('an already expired token is refused with 401 and links cannot attach', { timeout: 30000 }, async () => {
  const hub = ctx.hub;
  const { conn, putToken } = await connect(hub);
  assert.equal(await withTimeout(putToken(serviceToken(hub, { expiry: Math.floor(Date.now() / 1000) - 5 })), 10000, 'put-token'), 401);
  const l = conn.open_receiver({ source: { address: '/messages/serviceBound/feedback' } });
  const err = await withTimeout(new Promise((res) => l.once('receiver_close', (c) => res(c.receiver.remote.detach?.error))), 10000, 'refused attach');
  assert.equal(err?.condition, 'amqp:unauthorized-access');
});
