// app.js - the dashboard: devices with live connection state (GET /devices, refreshed on the live
// log's connection events), a twin viewer and desired-properties editor (PATCH /twins with
// If-Match: an etag conflict is shown), a direct-method form, and the live log (Server-Sent Events
// from /ui/events). REST calls carry the SAS token the login made.
'use strict';

const API = 'api-version=2021-04-12';
const token = sessionStorage.getItem('mockhub.token');
let selected = null;

const $ = (id) => document.getElementById(id);

function signOut() {
  sessionStorage.removeItem('mockhub.token');
  fetch('/ui/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"token":null}' })
    .finally(() => { location.href = '/ui/'; });
}

async function api(method, path, body, headers = {}) {
  const res = await fetch(`${path}${path.includes('?') ? '&' : '?'}${API}`, {
    method,
    headers: { Authorization: token, 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (res.status === 401) signOut();
  return { status: res.status, ok: res.ok, json, text };
}

function errorText(r) {
  const m = r.json && r.json.Message;
  return `${r.status} ${m ? m.replace(/^ErrorCode:/, '') : r.text}`;
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function loadDevices() {
  const r = await api('GET', '/devices?top=1000');
  if (!r.ok) { $('status').textContent = errorText(r); return; }
  const rows = $('device-rows');
  rows.replaceChildren();
  for (const d of r.json) {
    const tr = document.createElement('tr');
    tr.className = `device${d.deviceId === selected ? ' selected' : ''}`;
    tr.dataset.deviceId = d.deviceId;
    tr.append(cell(d.deviceId), cell(d.connectionState, `state state-${d.connectionState}`),
      cell(d.lastActivityTime.startsWith('0001') ? '-' : d.lastActivityTime.replace('T', ' ').slice(0, 19)));
    tr.addEventListener('click', () => selectDevice(d.deviceId));
    rows.append(tr);
  }
  $('count').textContent = `(${r.json.length})`;
}

let reloadTimer = null;
function reloadDevicesSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadDevices, 100);
}

function desiredOnly(desired) {
  const out = {};
  for (const [k, v] of Object.entries(desired || {})) if (!k.startsWith('$')) out[k] = v;
  return out;
}

async function loadTwin(keepEditor) {
  if (!selected) return;
  const r = await api('GET', `/twins/${encodeURIComponent(selected)}`);
  if (!r.ok) { $('twin').textContent = errorText(r); return; }
  $('twin').textContent = JSON.stringify(r.json, null, 2);
  if (!keepEditor) {
    $('desired').value = JSON.stringify(desiredOnly(r.json.properties.desired), null, 2);
    $('etag').value = r.json.etag;
  }
}

async function selectDevice(id) {
  selected = id;
  $('pick').hidden = true;
  $('device-panel').hidden = false;
  $('device-title').textContent = id;
  $('desired-result').textContent = '';
  $('method-result').textContent = '';
  for (const tr of document.querySelectorAll('tr.device')) tr.classList.toggle('selected', tr.dataset.deviceId === id);
  await loadTwin(false);
}

$('desired-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = $('desired-result');
  out.className = '';
  let desired;
  try { desired = JSON.parse($('desired').value); } catch (e) { out.className = 'error'; out.textContent = `Not JSON: ${e.message}`; return; }
  const etag = $('etag').value.trim();
  const r = await api('PATCH', `/twins/${encodeURIComponent(selected)}`, { properties: { desired } },
    { 'If-Match': etag ? `"${etag}"` : '*' });
  if (r.status === 412) {
    out.className = 'error';
    out.textContent = 'Etag conflict: the twin changed since it was loaded. Reload it (the twin on the left is current) and edit again.';
    await loadTwin(true);
    return;
  }
  if (!r.ok) { out.className = 'error'; out.textContent = errorText(r); return; }
  out.className = 'ok';
  out.textContent = `Saved: desired $version ${r.json.properties.desired.$version}`;
  $('etag').value = r.json.etag;
  $('twin').textContent = JSON.stringify(r.json, null, 2);
});

$('method-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = $('method-result');
  let payload;
  try { payload = JSON.parse($('method-payload').value || 'null'); } catch (e) { out.textContent = `Payload is not JSON: ${e.message}`; return; }
  out.textContent = 'calling...';
  const r = await api('POST', `/twins/${encodeURIComponent(selected)}/methods`, {
    methodName: $('method-name').value.trim(), payload, responseTimeoutInSeconds: Number($('method-timeout').value) || 30,
  });
  out.textContent = r.ok ? JSON.stringify(r.json, null, 2) : errorText(r);
});

function logLine(ev) {
  const li = document.createElement('li');
  li.dataset.kind = ev.kind;
  const kind = document.createElement('span');
  kind.className = 'kind';
  kind.textContent = ev.kind;
  const detail = ev.detail === '' || ev.detail === undefined ? '' : (typeof ev.detail === 'string' ? ev.detail : JSON.stringify(ev.detail));
  li.append(`${ev.time.slice(11, 23)} `, kind, ` ${ev.deviceId} ${detail}`);
  const list = $('log-lines');
  list.prepend(li);
  while (list.children.length > 500) list.lastChild.remove();
}

function startLog() {
  const es = new EventSource('/ui/events');
  es.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    logLine(ev);
    if (ev.kind === 'connected' || ev.kind === 'disconnected' || ev.kind === 'telemetry') reloadDevicesSoon();
    if (ev.deviceId === selected && ev.kind.startsWith('twin.')) loadTwin(true);
  };
  es.onopen = () => { $('status').textContent = 'live'; };
  // each response ends after a batch; EventSource reconnects with Last-Event-ID by itself
}

if (!token) {
  location.href = '/ui/';
} else {
  $('hub').textContent = location.host;
  $('logout').addEventListener('click', signOut);
  loadDevices();
  startLog();
}
