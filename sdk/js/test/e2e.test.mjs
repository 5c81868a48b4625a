// End-to-end: the real `vitals` binary on loopback, driven by the browser
// SDK bundle (dist/bundle/browser.min.js, the minified artifact apps load)
// inside a simulated app. Checks through /metrics and the analyzer API that
// what the server counted is exactly what the test did.
//
// The binary: $VITALS_BIN, else $CARGO_TARGET_DIR/debug/vitals, else
// <repo>/target/debug/vitals. Missing: skipped locally, a failure under CI=true.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { gunzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { inject } from '../scripts/debug-id.mjs';
import { originalPosition } from './sourcemap.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const sdkRoot = resolve(here, '..');
const repo = resolve(sdkRoot, '../..');
const APP = 'e2e-sdk-js';
const RELEASE = { version: '3.4.0', build: '340' };

function findBinary() {
  const candidates = [
    process.env.VITALS_BIN,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug/vitals'),
    join(repo, 'target/debug/vitals'),
  ].filter(Boolean);
  return candidates.find((p) => existsSync(p));
}

const BIN = findBinary();
const CI = process.env.CI === 'true';
if (!BIN && CI) throw new Error('CI=true but the vitals binary was not found (set VITALS_BIN or build it with `cargo build`)');
const skip = BIN ? false : 'vitals binary not found (cargo build, or set VITALS_BIN): end-to-end test skipped';

// ------------------------------------------------------------------ server

/** The child's environment: no VITALS_* settings from outside leak into it. */
function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITALS_')) env[k] = v;
  env.VITALS_LOG = 'warn';
  return env;
}

function cli(args) {
  return execFileSync(BIN, [...args, '--lang', 'en'], { env: childEnv(), encoding: 'utf8' });
}

class Server {
  constructor(dataDir) {
    this.dataDir = dataDir;
    this.listen = '127.0.0.1:0';
  }
  async start() {
    const child = spawn(BIN, ['serve', '--lang', 'en', '--listen', this.listen, '--data-dir', this.dataDir], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    const line = await new Promise((res, rej) => {
      const rl = createInterface({ input: child.stdout });
      rl.once('line', (l) => res(l));
      child.once('exit', (c) => rej(new Error(`vitals serve exited with ${c} before listening`)));
    });
    const url = /(http:\/\/\S+)/.exec(line)?.[1];
    assert.ok(url, `no URL in banner ${line}`);
    assert.match(line, /vitals is listening on http:\/\/127\.0\.0\.1:\d+ \(telemetry store: sqlite\)/);
    this.url = url;
    this.listen = url.replace('http://', '');
    child.stdout.resume();
    return this;
  }
  async stop() {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(t);
  }
  async metrics() {
    const text = await (await fetch(this.url + '/metrics')).text();
    const out = { accepted: {}, stored: 0, duplicate: 0 };
    for (const m of text.matchAll(/^vitals_events_accepted_total\{kind="([a-z_]+)"\} (\d+)/gm)) out.accepted[m[1]] = +m[2];
    out.stored = +(/^vitals_events_stored_total (\d+)/m.exec(text)?.[1] || 0);
    out.duplicate = +(/^vitals_events_dropped_total\{reason="duplicate"\} (\d+)/m.exec(text)?.[1] || 0);
    out.acceptedSum = Object.values(out.accepted).reduce((a, b) => a + b, 0);
    return out;
  }
  /** Waits until the writer has stored everything accepted. */
  async drained(timeoutMs = 30_000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.metrics();
      if (m.stored >= m.acceptedSum) return m;
      if (Date.now() > end) throw new Error(`store did not catch up: ${JSON.stringify(m)}`);
      await sleep(100);
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits for a condition (timers on a busy CI machine may run late). */
async function waitFor(cond, what, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// ------------------------------------------------------------------ the simulated app

/** A browser window for one install: its localStorage survives relaunches. */
function makeWindow(ls, wire) {
  const w = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = 'visible';
  Object.assign(w, {
    document: doc,
    navigator: { userAgent: 'Mozilla/5.0 (Linux; Android 14; SM-S9180 Build/UP1A) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36', connection: { type: 'wifi' } },
    localStorage: { getItem: (k) => ls.get(k) ?? null, setItem: (k, v) => ls.set(k, String(v)), removeItem: (k) => ls.delete(k) },
    screen: { width: 412, height: 915 },
    devicePixelRatio: 2.625,
    performance: { timeOrigin: Date.now() - 900, now: () => performance.now(), getEntriesByType: () => [] },
    fetch: async (url, init) => {
      const rec = { url, headers: init.headers, body: init.body ? Buffer.from(init.body) : undefined, status: 0 };
      wire.push(rec);
      const res = await fetch(url, init);
      rec.status = res.status;
      return res;
    },
    CompressionStream,
    Response,
    AbortController,
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (t) => clearTimeout(t),
  });
  w.hide = () => {
    doc.visibilityState = 'hidden';
    doc.dispatchEvent(new Event('visibilitychange'));
  };
  w.show = () => {
    doc.visibilityState = 'visible';
    doc.dispatchEvent(new Event('visibilitychange'));
  };
  return w;
}

function wireEvents(wire) {
  return wire
    .filter((r) => r.url.endsWith('/api/v1/batch') && r.body && r.status === 202)
    .flatMap((r) => JSON.parse((r.headers['Content-Encoding'] === 'gzip' ? gunzipSync(r.body) : r.body).toString()).events);
}

// ------------------------------------------------------------------ the test

let work;
let server;
let sdk;
let key;
let token;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'vitals-sdk-e2e-'));
  const dataDir = join(work, 'data');
  mkdirSync(dataDir);
  const keyOut = cli(['keys', 'create', '--app', APP, '--data-dir', dataDir]);
  key = { id: /key id:\s*(\S+)/.exec(keyOut)[1], secret: /secret:\s*(\S+)/.exec(keyOut)[1] };
  const tokOut = cli(['tokens', 'create', '--role', 'admin', '--data-dir', dataDir]);
  token = tokOut.trim().split('\n').find((l) => /token/i.test(l)).trim().split(/\s+/).pop();
  server = await new Server(dataDir).start();
  const bundle = join(sdkRoot, 'dist/bundle/browser.min.js');
  assert.ok(existsSync(bundle), 'run `npm run build` first');
  sdk = await import(pathToFileURL(bundle).href);
});

after(async () => {
  if (server) await server.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('sessions, crashes, network timings, hot updates, consent and an offline period, end to end', { skip }, async (t) => {
  // What the simulated app does, counted by the test itself.
  const did = { session: 0, crash: 0, cold_start: 0, network: 0, hot_update: 0, upgrade_prompt: 0, custom: 0 };
  let sessionStarts = 0;
  let crashedSessions = 0;
  let fatalCrashes = 0;

  // The app's own code, built and source-mapped like a release, with a debug id.
  const appDir = join(work, 'app');
  mkdirSync(join(appDir, 'src'), { recursive: true });
  writeFileSync(
    join(appDir, 'src/trade.js'),
    [
      'export function placeOrder(order) {',
      '  if (!order.account) {',
      "    throw new TypeError('order ' + order.id + ' has no account; customer phone 13812345678');",
      '  }',
      "  return order.account + ':' + order.qty;",
      '}',
      '',
    ].join('\n'),
  );
  await build({ entryPoints: [join(appDir, 'src/trade.js')], bundle: true, minify: true, format: 'esm', sourcemap: true, outfile: join(appDir, 'app.min.js'), logLevel: 'warning' });
  const debugId = inject(join(appDir, 'app.min.js'));
  const appBundleUrl = pathToFileURL(join(appDir, 'app.min.js')).href;

  const wire = [];
  const drops = [];
  const launch = (ls, opts = {}, win = makeWindow(ls, wire)) => {
    const v = sdk.initBrowser(
      {
        endpoint: server.url,
        appId: APP,
        keyId: key.id,
        secret: key.secret,
        release: RELEASE,
        consent: { analytics: true, deviceIds: false },
        sessionTimeoutMs: 250,
        flushIntervalMs: 50,
        perfIntervalMs: 0,
        lang: 'en',
        onDrop: (d) => drops.push(d),
        ...opts,
      },
      { env: win },
    );
    return { v, win };
  };
  const settled = async (v) => {
    await v.ready;
    await v.flush();
  };

  // ---- Install A: a logged-in customer over two launches.
  const lsA = new Map();
  {
    const { v, win } = launch(lsA);
    v.setUser('C00012345');
    await v.ready;
    sessionStarts++, did.session++;
    v.mark('bundle_loaded');
    v.appReady();
    did.cold_start++;
    for (const ms of [120, 250, 310]) v.request({ category: 'trade', site: 'sh-trade-1', latencyMs: ms, status: 200, url: 'https://203.0.113.10/order' });
    for (let i = 0; i < 2; i++) await v.track({ category: 'quote', site: 'sh-quote-1', url: 'https://[2001:db8::1]/q' }, async () => ({ status: 200 }));
    v.request({ category: 'bus', site: 'bus-1', latencyMs: 520, status: 503 });
    did.network += 6;
    v.count('order_submit');
    v.count('order_submit');
    v.timing('kline_render', 85);
    did.custom += 3;
    for (const stage of ['offered', 'downloaded', 'applied']) v.hotUpdate('p-3.4.1', stage, { packageBytes: 524288 });
    did.hot_update += 3;
    // 5.4b: the app prompts to upgrade to 3.5.0; the user asks to be reminded later.
    v.upgradePrompt('shown', { targetVersion: '3.5.0', placement: 'home' });
    v.upgradePrompt('later', { targetVersion: '3.5.0', placement: 'home' });
    did.upgrade_prompt += 2;
    win.hide(); // background: flushed at once, the session ends after 250 ms
    await waitFor(() => v.sessionId === undefined, 'the session to end in the background');
    did.session++; // S1 end ok
    win.show(); // a new session
    sessionStarts++, did.session++;
    await settled(v);
    await v.close(); // the process is killed in the foreground
  }
  {
    const { v, win } = launch(lsA);
    v.setUser('C00012345');
    await v.ready;
    did.session += 2; // S2 ends abnormal at this launch; S3 starts
    sessionStarts++;
    v.appReady();
    did.cold_start++;
    v.captureException(new RangeError('quote feed out of range')); // handled, non-fatal
    did.crash++;
    const { placeOrder } = await import(appBundleUrl);
    let thrown;
    try {
      placeOrder({ id: 'o-1', qty: 100 });
    } catch (e) {
      thrown = e;
    }
    const ev = new Event('error');
    ev.error = thrown;
    ev.message = thrown.message;
    win.dispatchEvent(ev); // uncaught: the page's onerror sees it
    did.crash++, fatalCrashes++;
    did.session++, crashedSessions++; // S3 ends crashed
    await sleep(50);
    await settled(v);
    await v.close();
  }

  // ---- Install B: consent not yet given; then analytics declined.
  const lsB = new Map();
  {
    const before = wire.length;
    const { v, win } = launch(lsB, { consent: undefined });
    await v.ready;
    v.request({ category: 'trade', site: 'sz-trade-2', latencyMs: 90, status: 200 });
    v.hotUpdate('p-3.4.1', 'offered');
    v.hotUpdate('p-3.4.1', 'failed', { errorCode: 'E_CHECKSUM' });
    v.count('promo_click'); // usage analytics: never sent without consent
    await v.flush();
    await sleep(300);
    assert.equal(wire.length, before, 'nothing leaves the device before consent');
    v.setConsent({ analytics: false });
    sessionStarts++, did.session++;
    did.network += 1;
    did.hot_update += 2;
    // Not usage analytics: the app's own upgrade prompt (5.4b) is sent without it.
    v.upgradePrompt('declined', { targetVersion: '3.5.0' });
    did.upgrade_prompt++;
    win.hide();
    await waitFor(() => v.sessionId === undefined, 'the session to end in the background');
    did.session++; // ended ok after the background timeout
    await settled(v);
    await v.close();
    const sent = wire.slice(before).filter((r) => r.url.endsWith('/api/v1/batch'));
    assert.ok(sent.length > 0);
    for (const r of sent) {
      const b = JSON.parse((r.headers['Content-Encoding'] === 'gzip' ? gunzipSync(r.body) : r.body).toString());
      assert.deepEqual(b.consent, { analytics: false, device_ids: false });
      assert.ok(!b.events.some((e) => e.type === 'custom'));
    }
  }

  // Everything so far is stored; remember this run's counters (they reset with the process).
  const run1 = await server.drained();
  assert.equal(run1.duplicate, 0);

  // ---- Install C: the collector is down, the app is killed, the collector comes back.
  await server.stop();
  const lsC = new Map();
  {
    const { v, win } = launch(lsC);
    await v.ready;
    sessionStarts++, did.session++;
    v.appReady();
    did.cold_start++;
    v.request({ category: 'trade', site: 'sh-trade-1', latencyMs: 180, status: 200 });
    v.request({ category: 'trade', site: 'sh-trade-1', latencyMs: 30_000, status: 0 });
    did.network += 2;
    v.hotUpdate('p-3.4.1', 'offered');
    did.hot_update++;
    v.count('offline_action');
    did.custom++;
    await v.flush();
    win.hide();
    await waitFor(() => v.sessionId === undefined, 'the session to end in the background');
    did.session++; // ended ok while offline
    await v.flush();
    // session start and end, cold start, 2 network, 1 hot update, 1 custom
    assert.equal(v.stats().queued, 7, `queued offline: ${JSON.stringify(v.stats())}`);
    await v.close(); // killed in the background, queue persisted in localStorage
  }
  assert.ok(lsC.get(`vitals.${APP}.queue`).length > 100, 'the offline queue is in storage');
  await server.start();
  {
    const { v } = launch(lsC);
    await v.ready;
    sessionStarts++, did.session++;
    await settled(v);
    assert.equal(v.stats().queued, 0);
    await v.close();
  }
  const run2 = await server.drained();
  assert.equal(run2.duplicate, 0, 'nothing stored twice');

  // ---- What the server counted is what the app did.
  const kinds = ['session', 'crash', 'cold_start', 'perf', 'install', 'network', 'hot_update', 'upgrade_prompt', 'custom'];
  const accepted = Object.fromEntries(kinds.map((k) => [k, (run1.accepted[k] || 0) + (run2.accepted[k] || 0)]));
  assert.deepEqual(accepted, { ...did, perf: 0, install: 0 });
  // And what the SDK put on the wire (acknowledged requests), event by event.
  const onWire = {};
  for (const e of wireEvents(wire)) onWire[e.type] = (onWire[e.type] || 0) + 1;
  assert.deepEqual(onWire, did);
  assert.deepEqual(drops, []);

  const res = await fetch(`${server.url}/api/v1/apps/${APP}/releases`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const rel = (await res.json()).releases.find((r) => r.version === RELEASE.version && r.build === RELEASE.build);
  assert.ok(rel, 'release row');
  assert.equal(rel.sessions, sessionStarts);
  assert.equal(rel.crashed_sessions, crashedSessions);
  assert.equal(rel.fatal_crashes, fatalCrashes);
  assert.equal(rel.users, 3, 'A (pseudonymised user id), B and C (install ids)');
  assert.equal(rel.crashed_users, 1);
  assert.equal(rel.crash_rate_per_session, crashedSessions / sessionStarts);
  assert.equal(rel.crash_rate_per_user, 1 / 3);

  // ---- The crash carries what symbolication needs, and it is enough.
  const crash = wireEvents(wire).find((e) => e.type === 'crash' && e.fatal);
  assert.equal(crash.exception_type, 'TypeError');
  assert.equal(crash.message, 'order o-1 has no account; customer phone 138****5678', 'scrubbed on the device');
  assert.deepEqual(crash.images, [{ debug_id: debugId, name: appBundleUrl, arch: 'js' }]);
  const top = crash.threads[0].frames[0];
  assert.equal(top.file, appBundleUrl);
  const map = JSON.parse(readFileSync(join(appDir, 'app.min.js.map'), 'utf8'));
  assert.equal(map.debugId, debugId);
  const orig = originalPosition(map, top.line, top.col);
  assert.match(orig.source, /src\/trade\.js$/);
  assert.equal(orig.line, 3, 'the throw in trade.js');

  await t.test('analyzer: hot-update funnel, request timings and cold starts of the release', async (st) => {
    await analyzerCheck(st);
  });
  await t.test('symbolication by the server (source-map upload)', async (st) => {
    await symbolicationCheck(st, { appDir, crash, appBundleUrl });
  });
  await t.test('client config signed by the server', async (st) => {
    await clientConfigCheck(st);
  });
});

/** A 404 from a route the binary does not have (as opposed to a JSON error of a handler). */
async function routeMissing(res) {
  if (res.status !== 404 && res.status !== 405) return false;
  try {
    return !(await res.clone().json()).error;
  } catch {
    return true;
  }
}

/**
 * Distinct installs per hot-update stage, and the request / cold-start
 * samples of the release, as the analyzer computes them from the store.
 */
async function analyzerCheck(st) {
  const auth = { headers: { Authorization: `Bearer ${token}` } };
  const rel = encodeURIComponent(`${RELEASE.version}+${RELEASE.build}`);
  const u = await fetch(`${server.url}/api/v1/apps/${APP}/releases/${rel}/updates`, auth);
  if (await routeMissing(u)) {
    st.skip('this vitals build has no analyzer release API (…/releases/{release}/updates)');
    return;
  }
  assert.equal(u.status, 200, await u.clone().text());
  const updates = await u.json();
  const patch = updates.patches.find((p) => p.patch_id === 'p-3.4.1');
  // A offered, downloaded, applied; B offered, failed; C offered (while offline).
  assert.deepEqual(
    { offered: patch.offered, downloaded: patch.downloaded, applied: patch.applied, failed: patch.failed, rolled_back: patch.rolled_back, max_bytes: patch.max_bytes },
    { offered: 3, downloaded: 1, applied: 1, failed: 1, rolled_back: 0, max_bytes: 524288 },
  );
  // 5.4b: the prompts offered 3.5.0, so it is the newest version, out since
  // the first prompt; A, B and C were active since, A (shown, later) and B
  // (declined) were prompted.
  const prompts = { platform: 'android', newest: '3.5.0', due: 3, prompted: 2, accepted: 0, declined: 1, later: 1, stale_prompts: 0 };
  const [first, ...more] = updates.upgrade_prompts.platforms;
  assert.deepEqual(more, []);
  assert.deepEqual({ ...first, since: 0 }, { ...prompts, since: 0 });
  assert.ok(first.since > 1_700_000_000, `first prompt at ${first.since}`);
  // Registered as released before any of this, 3.5.0 is due from then on.
  const reg = await fetch(`${server.url}/api/v1/apps/${APP}/releases`, {
    method: 'POST',
    headers: { ...auth.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ version: '3.5.0', build: '350', notes: 'new', released_at: 1 }),
  });
  assert.equal(reg.status, 201, await reg.clone().text());
  const due = (await (await fetch(`${server.url}/api/v1/apps/${APP}/releases/${rel}/updates`, auth)).json()).upgrade_prompts;
  assert.deepEqual(due.platforms, [{ ...prompts, since: 1 }]);
  const c = await (await fetch(`${server.url}/api/v1/apps/${APP}/releases/${rel}/compliance`, auth)).json();
  const r54b = c.rules.find((r) => r.id === '5.4b/upgrade_prompt_share');
  assert.equal(r54b.value, 2 / 3);
  assert.equal(r54b.verdict, 'insufficient_data', 'fewer than 100 users');
  const p = await (await fetch(`${server.url}/api/v1/apps/${APP}/releases/${rel}/performance`, auth)).json();
  assert.equal(p.cold_start.n, 3);
  // 5.3f: response times of answered requests; the timeout (status 0) is
  // counted by the request error rate instead.
  assert.equal(p.latency.trade.n, 5);
  assert.equal(p.latency.trade.mean, (120 + 250 + 310 + 90 + 180) / 5);
  const errors = (category) =>
    p.request_errors.filter((c) => c.category === category).reduce((a, c) => [a[0] + c.failed, a[1] + c.requests], [0, 0]);
  assert.deepEqual(errors('trade'), [1, 6]);
  assert.equal(p.latency.quote.n, 2);
  // The one bus request was answered 503: an error, not a response time.
  assert.equal(p.latency.bus, undefined);
  assert.deepEqual(errors('bus'), [1, 1]);
  assert.deepEqual(errors('quote'), [0, 2]);
  const cell = (category, site, fam) => p.latency_by_site.find((c) => c.category === category && c.site === site && c.ip_family === fam)?.n;
  assert.equal(cell('trade', 'sh-trade-1', 'ipv4'), 3, 'IP family from the request URL');
  assert.equal(cell('quote', 'sh-quote-1', 'ipv6'), 2);
  assert.equal(cell('trade', 'sz-trade-2', 'unknown'), 1);
}

// ------------------------------------------------------------------ extension points
//
// The collector does not serve these yet. Each check probes for its endpoint
// and runs when it answers; until then it is reported as skipped with the
// reason. The contracts are in docs/sdk-js.md ("What the server must provide").

/**
 * Upload the release's bundle and map (debug ids written by vitals-debug-id)
 * to the symbolicator's debug-file endpoint; the stored crash must then read
 * back at src/trade.js:3.
 */
async function symbolicationCheck(st, { appDir, crash, appBundleUrl }) {
  const auth = { Authorization: `Bearer ${token}` };
  const release = `${RELEASE.version}+${RELEASE.build}`;
  for (const [name, url] of [
    ['app.min.js', appBundleUrl],
    ['app.min.js.map', appBundleUrl + '.map'],
  ]) {
    const form = new FormData();
    form.append('release', release);
    form.append('url', url);
    form.append('file', new Blob([readFileSync(join(appDir, name))]), name);
    const up = await fetch(`${server.url}/api/v1/apps/${APP}/debug-files`, { method: 'POST', headers: auth, body: form });
    if (await routeMissing(up)) {
      st.skip('this vitals build has no debug-file upload (POST /api/v1/apps/{app}/debug-files)');
      return;
    }
    assert.ok(up.status >= 200 && up.status < 300, `upload ${name}: ${up.status} ${await up.text()}`);
  }
  const end = Date.now() + 30_000;
  for (;;) {
    const r = await fetch(`${server.url}/api/v1/apps/${APP}/crashes/${crash.crash_id}`, { headers: auth });
    if (await routeMissing(r)) {
      st.skip('this vitals build has no crash read endpoint (GET /api/v1/apps/{app}/crashes/{crash_id})');
      return;
    }
    if (r.status === 200) {
      const c = await r.json();
      const f = c.threads.find((x) => x.crashed).frames[0];
      assert.match(f.file, /src\/trade\.js$/);
      assert.equal(f.line, 3);
      return;
    }
    if (Date.now() > end) assert.fail(`symbolicated crash not available: ${r.status}`);
    await sleep(250);
  }
}

/** The real endpoint's config must be trusted; the same bytes altered in transit must not. */
async function clientConfigCheck(st) {
  const probe = await fetch(`${server.url}/api/v1/client-config/public-key?app=${APP}`);
  if (await routeMissing(probe)) {
    st.skip('the collector has no client-config endpoint yet (GET /api/v1/client-config, /api/v1/client-config/public-key)');
    return;
  }
  const { public_keys: publicKeys } = await probe.json();
  const run = async (tamper) => {
    const rejected = [];
    const configs = [];
    const win = makeWindow(new Map(), []);
    const real = win.fetch;
    win.fetch = async (url, init) => {
      const res = await real(url, init);
      if (!tamper || !String(url).includes('/api/v1/client-config')) return res;
      const body = new Uint8Array(await res.arrayBuffer());
      if (body.length) body[body.length >> 1] ^= 1;
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const v = sdk.initBrowser(
      { endpoint: server.url, appId: APP, keyId: key.id, secret: key.secret, release: RELEASE, clientConfig: { publicKeys }, onConfig: (c) => configs.push(c), onConfigRejected: (r) => rejected.push(r) },
      { env: win },
    );
    await v.ready;
    await v.refreshConfig();
    await v.close();
    return { rejected, configs };
  };
  const good = await run(false);
  assert.deepEqual(good.rejected, []);
  assert.equal(good.configs.length, 1);
  const bad = await run(true);
  assert.equal(bad.configs.length, 0);
  assert.ok(bad.rejected.length > 0);
}
