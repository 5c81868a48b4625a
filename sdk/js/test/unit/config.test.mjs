import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vitals, verifyConfig, compareVersions, inRollout } from '../../dist/index.js';
import { baseOptions, fakeAdapter, memStore, response, accepted, verifySignature } from '../helpers.mjs';
import { keypair, configBody, signed } from '../config-server.mjs';

const kp = await keypair(7);
const other = await keypair(9);

/** Adapter whose client-config endpoint serves `state.doc` (mutable), like the collector would. */
function configAdapter(state, storage = memStore()) {
  const a = fakeAdapter({
    storage,
    respond: (req) => {
      if (!req.url.includes('/api/v1/client-config')) return accepted(req);
      state.hits = (state.hits || 0) + 1;
      state.lastReq = req;
      if (req.headers['If-None-Match'] && req.headers['If-None-Match'] === state.doc.etag) return response(304, '');
      const headers = { etag: state.doc.etag };
      if (state.doc.signature !== null) headers['x-vitals-signature-ed25519'] = state.doc.signature;
      return response(200, state.doc.bytes, headers);
    },
  });
  a.probe = async (url) => state.latency[url] ?? Promise.reject(new Error('unreachable'));
  return a;
}

function recorder() {
  const r = { config: [], emergency: [], minVersion: [], sites: [], rollouts: [], rejected: [] };
  const opts = {
    onConfig: (c) => r.config.push(c),
    onEmergency: (e) => r.emergency.push(e),
    onMinVersion: (m) => r.minVersion.push(m),
    onSites: (s) => r.sites.push(s),
    onRollouts: (x) => r.rollouts.push(x),
    onConfigRejected: (why) => r.rejected.push(why),
  };
  return { r, opts };
}

async function client(state, keys = [kp.publicHex], storage, extra = {}) {
  const { r, opts } = recorder();
  const a = configAdapter(state, storage);
  const v = new Vitals(baseOptions({ ...opts, clientConfig: { publicKeys: keys, intervalMs: 3_600_000 }, ...extra }), a).start();
  await v.ready;
  await new Promise((res) => setTimeout(res, 20));
  return { a, v, r };
}

test('a signed config is trusted and handed to the app through callbacks', async () => {
  const state = { doc: await signed(kp, configBody()), latency: {} };
  const { v, r } = await client(state);
  assert.deepEqual(r.rejected, []);
  assert.equal(r.config.length, 1);
  assert.equal(v.config.seq, 1);
  assert.deepEqual(r.emergency[0].message, { 'zh-CN': '系统维护中', en: 'Maintenance' });
  assert.equal(r.minVersion[0].action, 'block');
  assert.equal(r.minVersion[0].current, '5.2.0');
  assert.equal(r.sites[0].length, 3);
  assert.equal(r.rollouts[0].length, 3);
  assert.equal(v.isEnabled('all'), true);
  assert.equal(v.isEnabled('none'), false);
  assert.equal(v.isEnabled('missing'), false);
  // the GET is signed like ingest (method GET, its path, digest of the empty body)
  const req = state.lastReq;
  assert.equal(req.method, 'GET');
  assert.match(req.url, /\/api\/v1\/client-config\?app=zq-securities&platform=android&version=5\.2\.0&build=520013$/);
  assert.ok(verifySignature({ ...req, body: new Uint8Array() }, 's3cret', '/api/v1/client-config'));
  await v.close();
});

test('a tampered config is rejected and the app is not told', async () => {
  const good = await signed(kp, configBody());
  const tampered = Buffer.from(good.bytes.toString().replace('"block"', '"warn"'));
  const state = { doc: { ...good, bytes: tampered }, latency: {} };
  const { v, r } = await client(state);
  assert.deepEqual(r.rejected, ['config.bad_signature']);
  assert.equal(r.config.length, 0);
  assert.equal(r.emergency.length + r.minVersion.length + r.sites.length, 0);
  assert.equal(v.config, undefined);
  await v.close();
});

test('unsigned, wrong key, wrong app, expired and rolled-back configs are all refused', async () => {
  const cases = [
    [{ ...(await signed(kp, configBody())), signature: null }, 'config.unsigned'],
    [await signed(other, configBody()), 'config.bad_signature'],
    [{ ...(await signed(kp, configBody())), signature: 'not-a-signature!' }, 'config.bad_signature'],
    [await signed(kp, configBody({ app_id: 'another-app' })), 'config.wrong_app'],
    [await signed(kp, configBody({ expires_at: 1000 })), 'config.expired'],
    [await signed(kp, '[1,2'), 'config.malformed'],
  ];
  for (const [doc, why] of cases) {
    const { v, r } = await client({ doc, latency: {} });
    assert.deepEqual(r.rejected, [why]);
    assert.equal(v.config, undefined);
    await v.close();
  }
  // Rollback: seq 5 trusted, then an older signed seq 4 is served.
  const state = { doc: await signed(kp, configBody({ seq: 5 })), latency: {} };
  const { v, r } = await client(state);
  state.doc = await signed(kp, configBody({ seq: 4, emergency: { action: 'block' } }));
  await v.refreshConfig();
  assert.deepEqual(r.rejected, ['config.rollback']);
  assert.equal(v.config.seq, 5);
  await v.close();
});

test('hex signatures and key rotation (any listed key)', async () => {
  const state = { doc: await signed(other, configBody(), 'hex'), latency: {} };
  const { v, r } = await client(state, [kp.publicB64, other.publicHex]);
  assert.deepEqual(r.rejected, []);
  assert.equal(v.config.app_id, 'zq-securities');
  await v.close();
});

test('ETag: If-None-Match on the next poll, 304 keeps the trusted config', async () => {
  const state = { doc: await signed(kp, configBody({ seq: 3 })), latency: {} };
  const { v, r } = await client(state);
  assert.equal(state.hits, 1);
  const c = await v.refreshConfig();
  assert.equal(state.lastReq.headers['If-None-Match'], state.doc.etag);
  assert.equal(c.seq, 3);
  assert.equal(r.config.length, 1, 'a 304 does not re-notify');
  state.doc = await signed(kp, configBody({ seq: 4, emergency: { action: 'block' } }));
  await v.refreshConfig();
  assert.equal(v.config.seq, 4);
  assert.equal(r.emergency.at(-1).action, 'block');
  await v.close();
});

test('the stored config is verified again at the next launch; a tampered store is ignored', async () => {
  const storage = memStore();
  const state = { doc: await signed(kp, configBody({ seq: 8 })), latency: {} };
  const first = await client(state, [kp.publicHex], storage);
  await first.v.close();
  // Offline at the next launch: the stored copy is used.
  const offline = fakeAdapter({ storage, respond: () => { throw new Error('offline'); } });
  const { r, opts } = recorder();
  const v2 = new Vitals(baseOptions({ ...opts, clientConfig: { publicKeys: [kp.publicHex] } }), offline).start();
  await v2.ready;
  assert.equal(v2.config.seq, 8);
  assert.equal(r.emergency.length, 1);
  await v2.close();
  // Someone edits the stored copy: it no longer verifies.
  const key = 'vitals.zq-securities.config';
  const stored = JSON.parse(storage.data.get(key));
  stored.b = stored.b.replace('"notice"', '"none"');
  storage.data.set(key, JSON.stringify(stored));
  const rec = recorder();
  const v3 = new Vitals(baseOptions({ ...rec.opts, clientConfig: { publicKeys: [kp.publicHex] } }), fakeAdapter({ storage, respond: () => { throw new Error('offline'); } })).start();
  await v3.ready;
  assert.equal(v3.config, undefined);
  assert.deepEqual(rec.r.rejected, ['config.bad_signature']);
  await v3.close();
});

test('fastest-site picker measures every IPv4 and IPv6 address (6.2b)', async () => {
  const state = {
    doc: await signed(kp, configBody()),
    latency: {
      'https://203.0.113.10/healthz': 48,
      'https://[2001:db8::10]/healthz': 21,
      'https://198.51.100.20/': 35,
      'https://203.0.113.30/': 5,
    },
  };
  const { v } = await client(state);
  const best = await v.pickSite('trade');
  assert.equal(best.site.id, 'sh-trade-1');
  assert.deepEqual(best.address, { url: 'https://[2001:db8::10]', family: 'ipv6' });
  assert.equal(best.ms, 21);
  delete state.latency['https://[2001:db8::10]/healthz'];
  assert.equal((await v.pickSite('trade')).site.id, 'sz-trade-2');
  assert.equal(await v.pickSite('bus'), undefined);
  await v.close();
});

test('helpers: version order and rollout buckets', async () => {
  assert.ok(compareVersions('5.10.0', '5.9.1') > 0);
  assert.ok(compareVersions('5.2', '5.2.0') === 0);
  assert.ok(compareVersions('5.2.0', '5.3.0') < 0);
  let inHalf = 0;
  for (let i = 0; i < 2000; i++) if (inRollout({ id: 'half', percent: 50 }, 'install-' + i)) inHalf++;
  assert.ok(inHalf > 850 && inHalf < 1150, `${inHalf} of 2000 in a 50 % rollout`);
  assert.equal(inRollout({ id: 'x', percent: 30 }, 'i1'), inRollout({ id: 'x', percent: 30 }, 'i1'));
  const good = await signed(kp, configBody());
  const c = await verifyConfig(good.bytes, good.signature, [kp.publicHex], 'zq-securities', Date.now());
  assert.equal(c.seq, 1);
});
