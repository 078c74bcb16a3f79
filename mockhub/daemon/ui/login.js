// login.js - turns the owner connection string into a SAS token in the browser (WebCrypto
// HMAC-SHA256, as the SDKs do) or takes a token as is, has the hub check it (POST /ui/session sets
// the session cookie) and keeps it for the dashboard's REST calls.
'use strict';

function b64ToBytes(b64) {
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function sasFromConnectionString(cs) {
  const parts = {};
  for (const seg of cs.split(';')) {
    const i = seg.indexOf('=');
    if (i > 0) parts[seg.slice(0, i).trim()] = seg.slice(i + 1).trim();
  }
  if (!parts.HostName || !parts.SharedAccessKeyName || !parts.SharedAccessKey) {
    throw new Error('A service connection string needs HostName, SharedAccessKeyName and SharedAccessKey');
  }
  const expiry = Math.floor(Date.now() / 1000) + 3600 * 12;
  const sr = encodeURIComponent(parts.HostName);
  const key = await crypto.subtle.importKey('raw', b64ToBytes(parts.SharedAccessKey), { name: 'HMAC', hash: 'SHA-256' },
    false, ['sign']);
  const sig = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${sr}\n${expiry}`));
  const b64 = btoa(String.fromCharCode(...new Uint8Array(sig)));
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(b64)}&se=${expiry}&skn=${encodeURIComponent(parts.SharedAccessKeyName)}`;
}

document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const error = document.getElementById('error');
  error.textContent = '';
  const text = document.getElementById('credential').value.trim();
  try {
    const token = text.startsWith('SharedAccessSignature ') ? text : await sasFromConnectionString(text);
    const res = await fetch('/ui/session', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error((body.Message || `HTTP ${res.status}`).replace(/^ErrorCode:[^;]*;/, ''));
    }
    sessionStorage.setItem('mockhub.token', token);
    location.href = '/ui/app';
  } catch (e) {
    error.textContent = e.message;
  }
});
