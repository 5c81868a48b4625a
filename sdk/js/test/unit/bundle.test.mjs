// The shipped artifacts: the minified browser bundle (private members
// mangled) against a loopback stand-in of the collector that checks
// signatures as protocol/src/sign.rs does, and client config over real HTTP
// with a tampering hop. Plus load checks of the other bundles.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac, createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { keypair, configBody, signed } from '../config-server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const sdk = await import(join(root, 'dist/bundle/browser.min.js'));
const kp = await keypair(5);
const doc = await signed(kp, configBody({ app_id: 'bundle-app' }));

const seen = { batches: [], nonces: new Set(), refused: [] };
let tamper = false;
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const path = req.url.split('?')[0];
    const h = req.headers;
    const digest = createHash('sha256').update(body).digest('hex');
    const canonical = ['VITALS-HMAC-SHA256', req.method, path, h['x-vitals-timestamp'], h['x-vitals-nonce'], digest].join('\n');
    const ok =
      createHmac('sha256', 'bundle-secret').update(canonical).digest('hex') === h['x-vitals-signature'] &&
      /^[1-9]\d*$/.test(h['x-vitals-timestamp']) &&
      Math.abs(+h['x-vitals-timestamp'] - Date.now() / 1000) <= 300 &&
      /^[A-Za-z0-9_-]{16,64}$/.test(h['x-vitals-nonce']) &&
      !seen.nonces.has(h['x-vitals-nonce']);
    seen.nonces.add(h['x-vitals-nonce']);
    if (!ok) {
      seen.refused.push(path);
      res.writeHead(401, { 'content-type': 'application/json' });
      return res.end('{"error":{"code":"auth.bad_signature"}}');
    }
    if (path === '/api/v1/batch') {
      const json = h['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
      const b = JSON.parse(json);
      seen.batches.push(b);
      res.writeHead(202, { 'content-type': 'application/json', date: new Date().toUTCString() });
      return res.end(JSON.stringify({ batch_id: b.batch_id, accepted: b.events.length, duplicate: false }));
    }
    if (path === '/api/v1/client-config') {
      if (h['if-none-match'] === doc.etag) {
        res.writeHead(304, { etag: doc.etag });
        return res.end();
      }
      const bytes = Buffer.from(doc.bytes);
      if (tamper) bytes[bytes.length - 5] ^= 1;
      res.writeHead(200, { 'content-type': 'application/json', etag: doc.etag, 'x-vitals-signature-ed25519': doc.signature });
      return res.end(bytes);
    }
    res.writeHead(404);
    res.end();
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${server.address().port}`;
after(() => server.close());

function win() {
  const w = new EventTarget();
  const d = new EventTarget();
  d.visibilityState = 'visible';
  const ls = new Map();
  return Object.assign(w, {
    document: d,
    navigator: { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)' },
    localStorage: { getItem: (k) => ls.get(k) ?? null, setItem: (k, v) => ls.set(k, v), removeItem: (k) => ls.delete(k) },
    fetch: (u, i) => fetch(u, i),
    CompressionStream,
    Response,
    AbortController,
    setTimeout,
    clearTimeout,
  });
}

const options = (extra) => ({ endpoint, appId: 'bundle-app', keyId: 'k', secret: 'bundle-secret', release: { version: '1.0.0' }, consent: { analytics: true }, flushIntervalMs: 10, ...extra });

test('minified bundle: signed, gzipped batches accepted by a collector that checks like sign.rs', async () => {
  const v = sdk.initBrowser(options(), { env: win() });
  await v.ready;
  for (let i = 0; i < 30; i++) v.request({ category: 'quote', latencyMs: i, status: 200 });
  v.captureException(new Error('卡号6222020200112233445'));
  await v.flush();
  await v.close();
  assert.deepEqual(seen.refused, []);
  const events = seen.batches.flatMap((b) => b.events);
  assert.equal(events.filter((e) => e.type === 'network').length, 30);
  assert.equal(events.find((e) => e.type === 'crash').message, '卡号6222***********3445');
  assert.equal(seen.batches[0].platform, 'ios');
});

test('minified bundle: client config over HTTP, trusted as served, rejected when altered in transit', async () => {
  const run = async () => {
    const got = { configs: [], rejected: [] };
    const v = sdk.initBrowser(
      options({ clientConfig: { publicKeys: [kp.publicB64] }, onConfig: (c) => got.configs.push(c), onConfigRejected: (r) => got.rejected.push(r) }),
      { env: win() },
    );
    await v.ready;
    await v.refreshConfig();
    await v.close();
    return got;
  };
  tamper = false;
  const good = await run();
  assert.deepEqual(good.rejected, []);
  assert.equal(good.configs.length, 1);
  tamper = true;
  const bad = await run();
  assert.deepEqual(bad.rejected, ['config.bad_signature']);
  assert.equal(bad.configs.length, 0);
});

test('the other bundles load in their module systems', () => {
  const require = createRequire(import.meta.url);
  const mp = require(join(root, 'dist/miniprogram/index.js'));
  assert.equal(typeof mp.initMiniProgram, 'function');
  assert.equal(typeof mp.createMiniProgramAdapter, 'function');
  const ctx = {};
  runInNewContext(readFileSync(join(root, 'dist/bundle/browser.iife.min.js'), 'utf8'), ctx);
  assert.equal(typeof ctx.Vitals.initBrowser, 'function');
  const harmony = readFileSync(join(root, 'dist/bundle/harmony.min.js'), 'utf8');
  const imports = [...harmony.matchAll(/from\s*"([^"]+)"/g)].map((m) => m[1]).sort();
  assert.ok(imports.length >= 8);
  assert.ok(imports.every((m) => m.startsWith('@ohos.')), imports.join(','));
});
