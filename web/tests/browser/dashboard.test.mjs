// End-to-end test of the vitals dashboard in headless Chromium.
//
// Starts the real `vitals` binary on a fresh data directory, creates
// dashboard users and an ingest key with the CLI, feeds it the simulated
// fleet (whose newest release 5.3.0 is the bad one), then drives Debian's
// chromium through the pages with playwright-core: sign-in, the release's
// no-go badge and crash-rate chart, the top urgent crash group's frames, an
// emergency switch requested by operator A and approved by operator B (seen
// in the audit log and in the signed client config), a viewer without
// action buttons, refused forged POSTs, and logout ending the session.
// Screenshots of every page go to tests/artifacts/ (PNG).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const artifacts = join(repo, 'tests', 'artifacts');
const CI = process.env.CI === 'true';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function findBinary() {
  const c = [process.env.VITALS_BIN, process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug', 'vitals'), join(repo, 'target', 'debug', 'vitals')];
  return c.find((p) => p && existsSync(p));
}

const BIN = findBinary();
const missing = !BIN ? 'vitals binary not built' : !existsSync(CHROMIUM) ? `no browser at ${CHROMIUM}` : null;
if (missing && CI) {
  throw new Error(`dashboard e2e cannot run under CI: ${missing}`);
}
const skip = missing ? `skipped: ${missing}` : false;

// Passwords that meet the policy (not containing the user name).
const PASS = { 'ops-a': 'amber-harbour-41', 'ops-b': 'copper-lantern-52', viewer: 'quiet-meadow-63', admin: 'silver-compass-74' };
let dataDir;
let server;
let url;
let key;
let browser;
let adminToken;

function cli(args, input) {
  const r = spawnSync(BIN, [...args, '--data-dir', dataDir, '--lang', 'en'], { input, encoding: 'utf8', env: { ...process.env, VITALS_LOG: 'warn' } });
  if (r.status !== 0) {
    throw new Error(`vitals ${args.join(' ')} failed (${r.status}): ${r.stderr}\n${r.stdout}`);
  }
  return r.stdout;
}

async function waitFor(what, fn, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
}

function startServer() {
  return new Promise((resolveUrl, reject) => {
    server = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--lang', 'en'], {
      env: { ...process.env, VITALS_LOG: 'warn,vitals_web=info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onData = (d) => {
      out += d.toString();
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) resolveUrl(m[0]);
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', (d) => process.stderr.write(`[vitals] ${d}`));
    server.on('exit', (code) => reject(new Error(`vitals serve exited (${code}): ${out}`)));
  });
}

async function releaseRows() {
  const r = await fetch(`${url}/api/v1/apps/demo/releases`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (!r.ok) return null;
  return (await r.json()).releases;
}

before(async () => {
  if (skip) return;
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'vitals-web-e2e-'));
  for (const [name, role] of [['ops-a', 'operator'], ['ops-b', 'operator'], ['viewer', 'viewer'], ['admin', 'admin']]) {
    cli(['users', 'create', '--name', name, '--role', role, '--password-stdin'], `${PASS[name]}\n`);
  }
  const k = cli(['keys', 'create', '--app', 'demo']);
  key = { id: k.match(/vk_[0-9a-f]+/)[0], secret: k.match(/\b[0-9a-f]{64}\b/)[0] };
  adminToken = cli(['tokens', 'create', '--role', 'admin']).match(/vt_[0-9a-f]+/)[0];
  url = await startServer();
  const sim = spawnSync(BIN, ['simulate', '--url', url, '--app', 'demo', '--key-id', key.id, '--key-secret', key.secret, '--batches', '1500', '--devices', '3000', '--seed', '11', '--lang', 'en'], { encoding: 'utf8', env: { ...process.env, VITALS_LOG: 'warn' } });
  assert.equal(sim.status, 0, `simulate failed: ${sim.stderr}`);
  // The writer drains the spool into the store in blocks: wait until stable.
  let prev = -1;
  await waitFor('the store to catch up', async () => {
    const rows = await releaseRows();
    const n = rows ? rows.reduce((a, r) => a + r.sessions, 0) : 0;
    const stable = n > 0 && n === prev && rows.some((r) => r.version === '5.3.0');
    prev = n;
    return stable;
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // playwright-core gives every launch a fresh --user-data-dir of its own.
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    server.removeAllListeners('exit');
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function signIn(name, opts = {}) {
  const context = await browser.newContext({ locale: opts.locale || 'zh-CN', viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  await page.goto(`${url}/ui/`);
  assert.match(page.url(), /\/ui\/login/);
  await page.fill('#name', name);
  await page.fill('#password', PASS[name]);
  await Promise.all([page.waitForURL(`${url}/ui/`), page.click('button[type=submit]')]);
  return { context, page };
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

function signedGet(path, query) {
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString('hex');
  const digest = createHash('sha256').update('').digest('hex');
  const canonical = ['VITALS-HMAC-SHA256', 'GET', path, ts, nonce, digest].join('\n');
  const sig = createHmac('sha256', key.secret).update(canonical).digest('hex');
  return fetch(`${url}${path}?${query}`, { headers: { 'x-vitals-key': key.id, 'x-vitals-timestamp': ts, 'x-vitals-nonce': nonce, 'x-vitals-signature': sig } });
}

test('sign-in is required, wrong passwords are refused and throttled', { skip }, async () => {
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${url}/ui/apps/demo/releases/5.3.0`);
  assert.match(page.url(), /\/ui\/login\?next=/);
  await shot(page, '00-login');
  // Keyboard: the first Tab lands on a visible, outlined control.
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  for (let i = 0; i < 4; i++) {
    await page.fill('#name', 'viewer');
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
  }
  const body = await page.textContent('body');
  assert.match(body, /登录失败次数过多|用户名或密码错误/);
  await context.close();
});

test('overview and the bad release: no-go badge and crash-rate chart', { skip }, async () => {
  const { context, page } = await signIn('ops-a');
  await shot(page, '01-overview');
  await page.click('[data-testid=latest-release]');
  await page.waitForURL(/releases\/5\.3\.0/);
  const decision = await page.getAttribute('[data-decision]', 'data-decision');
  assert.equal(decision, 'NoGo');
  assert.ok(await page.isVisible('#crash-rate-chart svg.chart'), 'crash-rate chart drawn');
  const svg = await page.innerHTML('#crash-rate-chart .chart-svg');
  assert.match(svg, /0\.050%/, 'the 0.05% threshold line is named');
  const row = await page.textContent('[data-testid=scorecard] tr[data-clause="5.1a"]');
  assert.match(row, /不通过/);
  await shot(page, '02-release-5.3.0');
  for (const [tab, name] of [['compatibility', '05-compatibility'], ['performance', '06-performance'], ['updates', '07-updates']]) {
    await page.goto(`${url}/ui/apps/demo/${tab}?release=5.3.0`);
    assert.ok((await page.locator('svg.chart').count()) > 0, `${tab} has charts`);
    await shot(page, name);
  }
  await page.goto(`${url}/ui/alerts`);
  await shot(page, '09-alerts');
  await context.close();
});

test('the top urgent crash group shows symbolicated frames', { skip }, async () => {
  const { context, page } = await signIn('ops-a');
  await page.goto(`${url}/ui/apps/demo/crashes?release=5.3.0`);
  const first = page.locator('[data-testid=crash-groups] tbody tr').first();
  assert.match(await first.getAttribute('class'), /urgent/);
  await shot(page, '03-crash-groups');
  await first.locator('a').first().click();
  await page.waitForURL(/\/crashes\/[^?]+\?release=5\.3\.0/);
  const frames = page.locator('[data-testid=crashed-thread] tbody tr');
  assert.ok((await frames.count()) >= 3, 'frames listed');
  const inApp = page.locator('[data-testid=crashed-thread] tr.inapp');
  assert.ok((await inApp.count()) >= 1, 'an in-app frame is highlighted');
  const fn = await inApp.first().locator('td.fn').textContent();
  assert.ok(fn.trim().length > 3 && !/未符号化/.test(fn), `function named: ${fn}`);
  assert.ok(await page.isVisible('[data-testid=missing-files]'));
  assert.ok((await page.locator('form.action').count()) > 0, 'operators get lifecycle forms');
  await shot(page, '04-crash-detail');
  await context.close();
});

test('emergency switch: requested by A, approved by B, audited and in client-config', { skip }, async () => {
  const a = await signIn('ops-a');
  await a.page.goto(`${url}/ui/apps/demo/emergency`);
  await a.page.fill('#ks-feature', 'trade');
  await a.page.selectOption('#ks-enabled', 'false');
  const form = a.page.locator('form.action', { has: a.page.locator('#ks-feature') });
  await form.locator('input[name=reason]').fill('5.3.0 crashes on order confirm');
  await form.locator('select[name=mode]').selectOption('approval');
  await form.locator('input[name=confirm]').check();
  await form.locator('button[type=submit]').click();
  await a.page.waitForSelector('[data-testid=notice]');
  const row = a.page.locator('[data-testid=pending] tbody tr', { hasText: 'kill_switch.set' });
  assert.equal(await row.count(), 1);
  assert.match(await row.textContent(), /ops-a/);
  assert.equal(await row.locator('button', { hasText: '批准' }).count(), 0, 'the requester cannot approve');
  await shot(a.page, '08-emergency-pending');
  await a.context.close();

  const b = await signIn('ops-b');
  await b.page.goto(`${url}/ui/apps/demo/emergency`);
  const pending = b.page.locator('[data-testid=pending] tbody tr', { hasText: 'kill_switch.set' });
  await pending.locator('input[type=checkbox][name=confirm]').check();
  await pending.locator('button', { hasText: '批准' }).click();
  await b.page.waitForSelector('[data-testid=notice]');
  const audit = b.page.locator('[data-testid=audit] tbody tr', { hasText: 'kill_switch.set' }).first();
  const text = await audit.textContent();
  assert.match(text, /ops-a/);
  assert.match(text, /ops-b/);
  const config = JSON.parse(await b.page.textContent('[data-testid=client-config]'));
  assert.equal(JSON.stringify(config).includes('"trade"'), true, 'the switch is in the client config preview');
  await shot(b.page, '08-emergency-approved');
  await b.context.close();

  // The signed client-config endpoint devices call carries it too.
  const r = await signedGet('/api/v1/client-config', 'app=demo&platform=ios&version=5.3.0');
  assert.equal(r.status, 200, await r.clone().text());
  const body = await r.json();
  assert.match(JSON.stringify(body), /"trade"/);
});

test('viewers get no action buttons; forged POSTs are refused; logout ends the session', { skip }, async () => {
  const v = await signIn('viewer');
  for (const p of ['/ui/apps/demo/emergency', '/ui/apps/demo/updates']) {
    await v.page.goto(`${url}${p}`);
    assert.equal(await v.page.locator('form.action').count(), 0, `no action forms on ${p}`);
    assert.equal(await v.page.locator('button', { hasText: '批准' }).count(), 0);
  }
  await shot(v.page, '10-emergency-viewer');
  const post = (csrf) =>
    v.page.evaluate(async (token) => {
      const body = new URLSearchParams({ _csrf: token, type: 'set_kill_switch', feature: 'quote', enabled: 'false', reason: 'forged', mode: 'automatic', confirm: 'yes' });
      const r = await fetch('/ui/apps/demo/actions', { method: 'POST', body, redirect: 'manual' });
      return r.status;
    }, csrf);
  assert.equal(await post('forged-token'), 403, 'wrong CSRF token refused');
  const real = await v.page.getAttribute('form[action="/ui/logout"] input[name=_csrf]', 'value');
  assert.equal(await post(real), 403, 'a viewer may not act even with a valid token');

  // Operator without the token: refused too.
  const a = await signIn('ops-a');
  await a.page.goto(`${url}/ui/apps/demo/emergency`);
  const status = await a.page.evaluate(async () => {
    const body = new URLSearchParams({ type: 'set_kill_switch', feature: 'quote', enabled: 'false', reason: 'no token', confirm: 'yes' });
    return (await fetch('/ui/apps/demo/actions', { method: 'POST', body, redirect: 'manual' })).status;
  });
  assert.equal(status, 403);
  await a.context.close();

  // Logout revokes the session on the server: the old cookie is dead.
  const cookies = await v.context.cookies();
  const session = cookies.find((c) => c.name.endsWith('vitals_session'));
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict');
  await v.page.click('form[action="/ui/logout"] button');
  await v.page.waitForURL(/\/ui\/login/);
  const replay = await fetch(`${url}/ui/`, { headers: { cookie: `${session.name}=${session.value}` }, redirect: 'manual' });
  assert.equal(replay.status, 303);
  assert.match(replay.headers.get('location'), /\/ui\/login/);
  await v.context.close();
});

test('high-contrast dark theme, larger font and English', { skip }, async () => {
  const { context, page } = await signIn('viewer', { locale: 'en-US' });
  await page.goto(`${url}/ui/prefs?theme=dark&font=150&lang=en&back=/ui/apps/demo/releases/5.3.0`);
  await page.waitForURL(/releases\/5\.3\.0/);
  assert.match(await page.getAttribute('html', 'class'), /theme-dark font-150/);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.match(await page.textContent('[data-decision]'), /No-go/);
  await shot(page, '11-release-dark-150-en');
  await context.close();
});
