// ci_example.test.js - runs the README's "Use it in your CI" Node test file (docs/examples/ci.test.js)
// with `node --test` against a hub seeded with docs/seed.example.json, so the example stays true.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { execFile } = require('node:child_process');
const { ROOT, startHub, cleanupAll } = require('./lib/hub');

test.after(() => cleanupAll());

test('the README CI example passes against a seeded hub', { timeout: 120000 }, async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const example = fs.readFileSync(path.join(ROOT, 'docs', 'examples', 'ci.test.js'), 'utf8');
  const body = example.slice(example.indexOf("const test = require('node:test');"));
  assert.ok(readme.includes(body.trimEnd()), 'docs/examples/ci.test.js is the README block');
  const hub = await startHub({ env: { MOCKHUB_SEED: path.join(ROOT, 'docs', 'seed.example.json') } });
  const r = await new Promise((resolve) => execFile(process.execPath, ['--test', path.join(ROOT, 'docs', 'examples', 'ci.test.js')], {
    env: {
      PATH: process.env.PATH,
      NODE_PATH: path.join(__dirname, 'node_modules'),
      NODE_EXTRA_CA_CERTS: hub.ca,
      IOTHUB_CONNECTION_STRING: hub.serviceConnectionString,
    },
    timeout: 90000,
  }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /# pass 2/);
  assert.match(r.stdout, /# fail 0/);
});
