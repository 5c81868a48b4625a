import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Vitals, verifyConfig } from '../../dist/index.js';
import { accepted, baseOptions, decodeBody, fakeAdapter, memStore, response, sentEvents, settle, sleep, verifySignature, waitFor } from '../helpers.mjs';

async function started(opts = {}, adapterOpts = {}) {
  const a = fakeAdapter(adapterOpts);
  const v = new Vitals(baseOptions(opts), a).start();
  await v.ready;
  return { a, v };
}

test('start() only registers handlers: no storage, no network, no crypto on the startup path', async () => {
  const storage = memStore();
  const a = fakeAdapter({ storage });
  let deferred;
  a.defer = (f) => (deferred = f);
  const v = new Vitals(baseOptions(), a);
  v.start();
  assert.equal(a.installs, 1);
  assert.equal(storage.calls, 0);
  assert.equal(a.requests.length, 0);
  assert.equal(typeof deferred, 'function');
  v.count('before_init');
  deferred();
  await v.ready;
  await v.flush();
  assert.ok(storage.calls > 0);
  const evs = sentEvents(a);
  assert.deepEqual(evs.map((e) => e.type).sort(), ['custom', 'session']);
  await v.close();
});

test('batches are signed exactly as the collector verifies them, with the protocol envelope', async () => {
  const { a, v } = await started({ deviceId: 'OAID-123' });
  v.count('order_submit', 2);
  await v.flush();
  assert.ok(a.requests.length >= 1);
  const r = a.requests[0];
  assert.equal(r.url, 'http://collector.test/api/v1/batch');
  assert.equal(r.method, 'POST');
  assert.ok(verifySignature(r, 's3cret'));
  assert.match(r.headers['X-Vitals-Timestamp'], /^[1-9]\d*$/);
  assert.match(r.headers['X-Vitals-Nonce'], /^[A-Za-z0-9_-]{16,64}$/);
  const b = decodeBody(r);
  assert.deepEqual(Object.keys(b).sort(), ['app_id', 'batch_id', 'consent', 'device', 'events', 'install_id', 'network', 'platform', 'release', 'sent_at', 'v']);
  assert.equal(b.v, 1);
  assert.equal(b.app_id, 'zq-securities');
  assert.deepEqual(b.release, { version: '5.2.0', build: '520013' });
  assert.deepEqual(b.consent, { analytics: true, device_ids: false });
  assert.equal(b.device.device_id, undefined, 'no device id without consent');
  assert.match(b.install_id, /^[0-9a-f-]{36}$/);
  assert.ok(b.events.every((e) => Number.isInteger(e.ts)));
  await v.close();
});

test('consent gate: nothing leaves the device before consent; device id only with it', async () => {
  const { a, v } = await started({ consent: undefined, deviceId: 'OAID-123' });
  v.setUser('C00012345');
  v.count('x');
  v.captureException(new Error('boom'));
  await v.flush();
  await sleep(20);
  assert.equal(a.requests.length, 0, 'no request before consent');
  v.setConsent({ analytics: true, deviceIds: true });
  await sleep(20);
  await v.flush();
  const b = decodeBody(a.requests.at(-1));
  assert.equal(b.device.device_id, 'OAID-123');
  assert.equal(b.user_id, 'C00012345');
  assert.deepEqual(b.consent, { analytics: true, device_ids: true });
  await v.close();
});

test('analytics declined: health data only, no user id, no device id, no custom events', async () => {
  const { a, v } = await started({ consent: { analytics: false, deviceIds: true }, deviceId: 'OAID-123' });
  v.setUser('C00012345');
  v.count('usage');
  v.request({ category: 'trade', site: 'sh-trade-1', latencyMs: 120, status: 200 });
  await v.flush();
  const evs = sentEvents(a);
  assert.deepEqual(evs.map((e) => e.type).sort(), ['network', 'session']);
  for (const e of evs) {
    assert.equal(e._batch.user_id, undefined);
    assert.deepEqual(e._batch.consent, { analytics: false, device_ids: true });
  }
  await v.close();
});

test('hashUserId: the plain user id never leaves the device', async () => {
  const { a, v } = await started({ hashUserId: true });
  v.setUser('13812345678');
  v.count('x');
  await v.flush();
  const body = Buffer.from(a.requests.at(-1).body).toString();
  assert.ok(!body.includes('13812345678'));
  assert.match(decodeBody(a.requests.at(-1)).user_id, /^[0-9a-f]{32}$/);
  await v.close();
});

test('crash messages are scrubbed on the wire; stack frames and debug ids kept', async () => {
  const { a, v } = await started({ debugIds: { 'https://h5.example.com/app.min.js': '3c9f2a1b-7e4d-5a6c-8b9e-0f1a2b3c4d5e' } });
  const err = new TypeError('账户6222020200112233445 手机13812345678 身份证11010519491231002X 余额不足');
  err.stack = `TypeError: ${err.message}\n    at placeOrder (https://h5.example.com/app.min.js:1:2345)\n    at https://h5.example.com/vendor.js:1:9`;
  v.captureException(err);
  await v.flush();
  const raw = Buffer.from(a.requests.at(-1).body).toString();
  for (const secret of ['6222020200112233445', '13812345678', '11010519491231002X']) assert.ok(!raw.includes(secret), secret);
  const c = sentEvents(a).find((e) => e.type === 'crash');
  assert.equal(c.message, '账户6222***********3445 手机138****5678 身份证110***********002X 余额不足');
  assert.equal(c.exception_type, 'TypeError');
  assert.equal(c.fatal, false);
  assert.equal(c.handled, true);
  assert.equal(c.session_id, v.sessionId);
  assert.deepEqual(c.threads[0].frames[0], { file: 'https://h5.example.com/app.min.js', line: 1, col: 2345, in_app: true, function: 'placeOrder' });
  assert.deepEqual(c.images, [{ debug_id: '3c9f2a1b-7e4d-5a6c-8b9e-0f1a2b3c4d5e', name: 'https://h5.example.com/app.min.js', arch: 'js' }]);
  // Non-ASCII text goes as \u escapes: the string is its own bytes.
  assert.match(raw, /^[\x00-\x7f]*$/);
  await v.close();
});

test('unhandled error: fatal crash, session ends crashed, no new session until foreground', async () => {
  const { a, v } = await started();
  const sid = v.sessionId;
  await a.hooks.error({ error: new RangeError('bad'), fatal: true, mechanism: 'onerror' });
  await v.flush();
  const evs = sentEvents(a);
  const crash = evs.find((e) => e.type === 'crash');
  assert.equal(crash.fatal, true);
  assert.equal(crash.handled, false);
  assert.equal(crash.session_id, sid);
  const end = evs.find((e) => e.type === 'session' && e.phase === 'end');
  assert.equal(end.status, 'crashed');
  assert.equal(end.session_id, sid);
  assert.equal(v.sessionId, undefined);
  a.hooks.foreground();
  assert.ok(v.sessionId && v.sessionId !== sid);
  await v.close();
});

test('sessions: end after the background timeout, resume within it, abnormal when killed in the foreground', async () => {
  const storage = memStore();
  const { a, v } = await started({ sessionTimeoutMs: 200 }, { storage });
  const s1 = v.sessionId;
  a.hooks.background();
  await sleep(10);
  a.hooks.foreground();
  assert.equal(v.sessionId, s1, 'short background keeps the session');
  a.hooks.background();
  await waitFor(() => v.sessionId === undefined, 'the session to end after the timeout');
  a.hooks.foreground();
  const s2 = v.sessionId;
  assert.ok(s2 && s2 !== s1);
  await v.flush();
  await v.close(); // the process dies in the foreground
  const b = fakeAdapter({ storage });
  const v2 = new Vitals(baseOptions(), b).start();
  await v2.ready;
  await v2.flush();
  const all = [...sentEvents(a), ...sentEvents(b)].filter((e) => e.type === 'session');
  const ends = all.filter((e) => e.phase === 'end');
  assert.deepEqual(ends.map((e) => [e.session_id, e.status]), [[s1, 'ok'], [s2, 'abnormal']]);
  assert.equal(all.filter((e) => e.phase === 'start').length, 3);
  assert.ok(ends[0].foreground_ms <= ends[0].duration_ms);
  await v2.close();
});

test('killed while in the background: the session ends ok at the next launch', async () => {
  const storage = memStore();
  const { a, v } = await started({ sessionTimeoutMs: 60_000 }, { storage });
  const sid = v.sessionId;
  a.hooks.background();
  await v.close();
  const b = fakeAdapter({ storage });
  const v2 = new Vitals(baseOptions(), b).start();
  await v2.ready;
  await v2.flush();
  const end = sentEvents(b).find((e) => e.type === 'session' && e.phase === 'end');
  assert.deepEqual([end.session_id, end.status], [sid, 'ok']);
  await v2.close();
});

test('cold start: process start origin, runtime spans and app marks', async () => {
  let t = 1_000_000;
  const origin = t - 500;
  const a = fakeAdapter({ extra: { processStart: () => origin, launchSpans: () => [{ name: 'dns', start_ms: 0, duration_ms: 20 }] } });
  const v = new Vitals(baseOptions({ now: () => t }), a).start();
  t += 100;
  v.mark('sdk_ready');
  t += 300;
  v.mark('first_frame');
  t += 50;
  v.appReady();
  v.appReady();
  await v.ready;
  await v.flush();
  const cs = sentEvents(a).filter((e) => e.type === 'cold_start');
  assert.equal(cs.length, 1);
  assert.equal(cs[0].duration_ms, 950);
  assert.deepEqual(cs[0].spans, [
    { name: 'dns', start_ms: 0, duration_ms: 20 },
    { name: 'sdk_ready', start_ms: 0, duration_ms: 600 },
    { name: 'first_frame', start_ms: 600, duration_ms: 300 },
  ]);
  await v.close();
});

test('network timings: wrapper measures latency, status, failure and IP family', async () => {
  const { a, v } = await started();
  const res = await v.track({ category: 'quote', site: 'sh-quote-1', url: 'https://[2001:db8::1]/q' }, async () => {
    await sleep(15);
    return { status: 200 };
  });
  assert.equal(res.status, 200);
  await assert.rejects(v.track({ category: 'trade', site: 'sz trade/2', url: 'https://203.0.113.9/t' }, async () => { throw new Error('reset'); }));
  v.request({ category: 'bus', latencyMs: 412.6, status: 503 });
  await v.flush();
  const n = sentEvents(a).filter((e) => e.type === 'network');
  assert.equal(n.length, 3);
  assert.ok(n[0].latency_ms >= 14);
  assert.deepEqual([n[0].category, n[0].site, n[0].status, n[0].ip_family], ['quote', 'sh-quote-1', 200, 'ipv6']);
  assert.deepEqual([n[1].category, n[1].site, n[1].status, n[1].ip_family], ['trade', 'sz_trade_2', 0, 'ipv4']);
  assert.deepEqual([n[2].latency_ms, n[2].status, n[2].site], [413, 503, '']);
  await v.close();
});

test('hot update funnel, install and custom events keep protocol types', async () => {
  const { a, v } = await started();
  v.hotUpdate('p-20241129.1', 'offered', { packageBytes: 524288 });
  v.hotUpdate('p-20241129.1', 'failed', { errorCode: 'E_VERIFY' });
  v.install(9400, 68157440, [{ abi: 'arm64-v8a', bytes: 41943040 }]);
  v.timing('order_submit', 240.4);
  v.count('nan', NaN);
  await v.flush();
  const e = sentEvents(a).map(({ _batch, ts, ...x }) => x).filter((x) => x.type !== 'session');
  assert.deepEqual(e, [
    { type: 'hot_update', patch_id: 'p-20241129.1', stage: 'offered', package_bytes: 524288, error_code: '' },
    { type: 'hot_update', patch_id: 'p-20241129.1', stage: 'failed', package_bytes: 0, error_code: 'E_VERIFY' },
    { type: 'install', duration_ms: 9400, package_bytes: 68157440, abi_split: [{ abi: 'arm64-v8a', bytes: 41943040 }] },
    { type: 'custom', name: 'order_submit', kind: 'timer', value: 240.4 },
  ]);
  await v.close();
});

test('gzip where the runtime has it: signature covers the compressed bytes', async () => {
  const { a, v } = await started({}, { gzip: true });
  for (let i = 0; i < 50; i++) v.count('c' + i, i);
  await v.flush();
  const r = a.requests.at(-1);
  assert.equal(r.headers['Content-Encoding'], 'gzip');
  assert.ok(verifySignature(r, 's3cret'));
  assert.equal(decodeBody(r).events.length, 51);
  await v.close();
});

test('batches by size: at most maxBatchEvents per request', async () => {
  const { a, v } = await started({ maxBatchEvents: 10, flushIntervalMs: 60_000 });
  for (let i = 0; i < 35; i++) v.count('c', i);
  await v.flush();
  const sizes = a.requests.map((r) => decodeBody(r).events.length);
  assert.deepEqual(sizes, [10, 10, 10, 6]);
  await v.close();
});

test('retry: same batch id, fresh nonce, exponential backoff with jitter, Retry-After honoured', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 1_700_000_000_000;
  const statuses = [503, 429, 'throw', 202];
  const times = [];
  const a = fakeAdapter({
    respond: (req) => {
      times.push(clock);
      const s = statuses.shift();
      if (s === 'throw') throw new Error('ECONNRESET');
      if (s === 202) return accepted(req);
      return response(s, JSON.stringify({ error: { code: s === 429 ? 'request.rate_limited' : 'request.spool_full' } }), { 'retry-after': s === 429 ? 30 : 1 });
    },
  });
  a.defer = (f) => f();
  const v = new Vitals(baseOptions({ now: () => clock, flushIntervalMs: 0 }), a).start();
  await v.ready;
  const advance = async (ms) => {
    for (let i = 0; i < ms; i += 250) {
      clock += 250;
      t.mock.timers.tick(250);
      await settle(5);
    }
  };
  await settle();
  await advance(120_000);
  const ids = a.requests.map((r) => decodeBody(r).batch_id);
  assert.equal(a.requests.length, 4);
  assert.equal(new Set(ids).size, 1, 'the same batch id on every retry');
  assert.equal(new Set(a.requests.map((r) => r.headers['X-Vitals-Nonce'])).size, 4, 'a fresh nonce each time');
  const gaps = times.slice(1).map((x, i) => x - times[i]);
  assert.ok(gaps[0] >= 1000 && gaps[0] <= 2250, `first backoff ${gaps[0]}`);
  assert.ok(gaps[1] >= 30_000, `Retry-After 30 s honoured: ${gaps[1]}`);
  assert.ok(gaps[2] >= 4000 && gaps[2] <= 8250, `third backoff ${gaps[2]}`);
  assert.equal(v.stats().queued, 0);
  t.mock.timers.reset();
  await v.close();
});

test('400 naming one event: that event is dropped, the rest resent under a new batch id', async () => {
  const drops = [];
  let first = true;
  const a = fakeAdapter({
    respond: (req) => {
      if (first) {
        first = false;
        return response(400, JSON.stringify({ error: { code: 'validate.too_old', path: 'events[1].ts' } }));
      }
      return accepted(req);
    },
  });
  const v = new Vitals(baseOptions({ onDrop: (d) => drops.push(d) }), a).start();
  await v.ready;
  v.count('a');
  v.count('b');
  await v.flush();
  await settle();
  const [b1, b2] = a.requests.map(decodeBody);
  assert.equal(b1.events.length, 3);
  assert.equal(b2.events.length, 2);
  assert.notEqual(b1.batch_id, b2.batch_id);
  assert.deepEqual(b2.events.map((e) => e.type), [b1.events[0].type, b1.events[2].type]);
  assert.deepEqual(drops, [{ code: 'validate.too_old', events: 1 }]);
  await v.close();
});

test('413 splits the batch; 401 halts sending and keeps the queue', async () => {
  let n = 0;
  const a = fakeAdapter({
    respond: (req) => (++n === 1 ? response(413, JSON.stringify({ error: { code: 'request.too_large' } })) : accepted(req)),
  });
  const v = new Vitals(baseOptions(), a).start();
  await v.ready;
  for (let i = 0; i < 5; i++) v.count('x', i);
  await v.flush();
  const sizes = a.requests.map((r) => decodeBody(r).events.length);
  assert.deepEqual(sizes, [6, 3, 3]);
  a.respond = () => response(401, JSON.stringify({ error: { code: 'auth.revoked_key' } }));
  v.count('y');
  await v.flush();
  const before = a.requests.length;
  v.count('z');
  await v.flush();
  assert.equal(a.requests.length, before, 'no more requests once halted');
  assert.equal(v.stats().halted, 'auth.revoked_key');
  assert.equal(v.stats().queued, 2);
  await v.close();
});

test('401 auth.stale_timestamp: clock offset from Date, resend signed with server time', async () => {
  const serverNow = Date.now() + 3_600_000; // device clock one hour behind
  let n = 0;
  const a = fakeAdapter({
    respond: (req) =>
      ++n === 1
        ? response(401, JSON.stringify({ error: { code: 'auth.stale_timestamp' } }), { date: new Date(serverNow).toUTCString() })
        : accepted(req),
  });
  const v = new Vitals(baseOptions(), a).start();
  await v.ready;
  await v.flush();
  assert.equal(a.requests.length, 2);
  const ts = +a.requests[1].headers['X-Vitals-Timestamp'];
  assert.ok(Math.abs(ts - serverNow / 1000) < 5, 'signed with server time');
  const b = decodeBody(a.requests[1]);
  assert.ok(Math.abs(b.events[0].ts - serverNow) < 5000, 'event times shifted to server time');
  await v.close();
});

test('offline queue: persisted through storage, delivered by the next launch, nothing duplicated', async () => {
  const storage = memStore();
  const a = fakeAdapter({ storage, respond: () => { throw new Error('offline'); } });
  const v = new Vitals(baseOptions(), a).start();
  await v.ready;
  for (let i = 0; i < 7; i++) v.count('offline', i);
  await v.flush();
  const failedIds = new Set(a.requests.map((r) => decodeBody(r).batch_id));
  await v.close();
  assert.ok(storage.data.get('vitals.zq-securities.queue').length > 0);
  const b = fakeAdapter({ storage });
  const v2 = new Vitals(baseOptions(), b).start();
  await v2.ready;
  await v2.flush();
  const sent = sentEvents(b);
  const offline = sent.filter((e) => e.type === 'custom').map((e) => e.value);
  assert.deepEqual(offline, [0, 1, 2, 3, 4, 5, 6]);
  assert.ok(sent.some((e) => failedIds.has(e._batch.batch_id)), 'the failed batch keeps its id');
  assert.equal(v2.stats().queued, 0);
  await v2.flush();
  assert.equal(sentEvents(b).length, sent.length, 'sent once');
  await v2.close();
});

test('queue cap: oldest dropped, counted and reported to the collector', async () => {
  const storage = memStore();
  const a = fakeAdapter({ storage, respond: () => { throw new Error('offline'); } });
  const drops = [];
  const v = new Vitals(baseOptions({ maxQueueBytes: 4000, onDrop: (d) => drops.push(d) }), a).start();
  await v.ready;
  for (let i = 0; i < 200; i++) v.count('c', i);
  const lost = v.stats().dropped;
  assert.ok(lost > 100, `dropped ${lost}`);
  assert.ok(drops.every((d) => d.code === 'queue.full'));
  await v.close();
  const b = fakeAdapter({ storage });
  const v2 = new Vitals(baseOptions({ maxQueueBytes: 4000 }), b).start();
  await v2.ready;
  await v2.flush();
  // Making room for the last report may drop one more: the next send reports it.
  await v2.flush();
  const evs = sentEvents(b);
  const counters = evs.filter((e) => e.name === 'c').map((e) => e.value);
  assert.equal(counters.at(-1), 199, 'the newest survive');
  const reported = evs.filter((e) => e.name === 'vitals.queue_dropped').reduce((n, e) => n + e.value, 0);
  assert.ok(reported > 0, 'drop count reported');
  // Everything generated is delivered or counted as dropped: 200 counters, and
  // three session events (start; its abnormal end and the next start at relaunch).
  const delivered = evs.filter((e) => e.name === 'c' || e.type === 'session').length;
  assert.equal(delivered + reported, 203);
  await v2.close();
});

test('events older than 29 days are dropped from the queue, not sent', async () => {
  let clock = Date.now() - 31 * 86_400_000;
  const storage = memStore();
  const a = fakeAdapter({ storage, respond: () => { throw new Error('offline'); } });
  const v = new Vitals(baseOptions({ now: () => clock }), a).start();
  await v.ready;
  v.count('ancient');
  await v.close();
  clock = Date.now();
  const b = fakeAdapter({ storage });
  const v2 = new Vitals(baseOptions({ now: () => clock }), b).start();
  await v2.ready;
  await v2.flush();
  assert.ok(!sentEvents(b).some((e) => e.name === 'ancient'));
  await v2.close();
});

test('perf samples while in the foreground', async () => {
  let n = 0;
  const { a, v } = await started({ perfIntervalMs: 10 }, { extra: { sample: () => ({ cpu_pct: 3.2 + n++, memory_mb: 142.5 }) } });
  await waitFor(() => n >= 3, 'three samples');
  a.fg = false;
  a.hooks.background();
  await v.flush();
  const p = sentEvents(a).filter((e) => e.type === 'perf');
  assert.ok(p.length >= 2);
  assert.equal(p[0].memory_mb, 142.5);
  assert.equal(p[0].cpu_pct, 3.2);
  await v.close();
});

test('background flushes immediately', async () => {
  const { a, v } = await started({ flushIntervalMs: 3_600_000 });
  v.count('x');
  await v.flush();
  const n = a.requests.length;
  v.count('y');
  a.hooks.background();
  await settle();
  assert.equal(a.requests.length, n + 1);
  await v.close();
});

test('verifyConfig is exported for apps that fetch config themselves', () => {
  assert.equal(typeof verifyConfig, 'function');
});

test('device facts are kept within the protocol limits', async () => {
  const { a, v } = await started({ device: { rooted: true } }, { extra: { device: () => ({ model: '型'.repeat(100), os_version: '', screen: { width: 1080.4, height: -5, density: 12 } }) } });
  await v.flush();
  const d = decodeBody(a.requests[0]).device;
  assert.equal(Buffer.byteLength(d.model), 255, '85 three-byte characters fit in 256 bytes');
  assert.equal(d.os_version, 'unknown');
  assert.deepEqual(d.screen, { width: 1080, height: 0, density: 10 });
  assert.equal(d.rooted, true);
  await v.close();
});

test('a fatal capture is a crash, never handled; a caught one is handled and not fatal', async () => {
  const { a, v } = await started({});
  v.captureException(new Error('caught'));
  v.captureException(new Error('dying'), { fatal: true });
  v.captureException(new Error('dying too'), { fatal: true, handled: true });
  await v.flush();
  const crashes = a.requests.flatMap((r) => decodeBody(r).events).filter((e) => e.type === 'crash');
  assert.deepEqual(
    crashes.map((c) => [c.message, c.fatal, c.handled]),
    [
      ['caught', false, true],
      ['dying', true, false],
      ['dying too', true, false],
    ],
  );
  await v.close();
});
