import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { Vitals } from '../../dist/index.js';
import { createBrowserAdapter } from '../../dist/adapters/browser.js';
import { createMiniProgramAdapter } from '../../dist/adapters/miniprogram.js';
import { createReactNativeAdapter } from '../../dist/adapters/react-native.js';
import { createHarmonyAdapter, preferencesStorage, parseArkError } from '../../dist/adapters/harmony.js';
import { parseUserAgent } from '../../dist/adapters/common.js';
import { baseOptions, settle, sleep, verifySignature, waitFor } from '../helpers.mjs';
import { keypair, configBody, signed } from '../config-server.mjs';

// ---------------------------------------------------------------- browser

function fakeWindow({ ua = 'Mozilla/5.0 (Linux; Android 14; SM-S9180 Build/UP1A) AppleWebKit/537.36 Mobile Safari/537.36', fetchImpl } = {}) {
  const w = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = 'visible';
  const ls = new Map();
  Object.assign(w, {
    document: doc,
    navigator: { userAgent: ua, connection: { effectiveType: '4g' } },
    localStorage: { getItem: (k) => ls.get(k) ?? null, setItem: (k, v) => ls.set(k, String(v)), removeItem: (k) => ls.delete(k) },
    screen: { width: 412, height: 915 },
    devicePixelRatio: 2.625,
    performance: {
      timeOrigin: Date.now() - 1200,
      now: () => performance.now(),
      getEntriesByType: (t) => (t === 'navigation' ? [{ type: 'navigate', startTime: 0, domainLookupStart: 5, domainLookupEnd: 25, connectStart: 25, connectEnd: 60, requestStart: 61, responseStart: 200, responseEnd: 260, domInteractive: 700, domContentLoadedEventEnd: 720, loadEventEnd: 900 }] : []),
      memory: { usedJSHeapSize: 150 * 1048576 },
    },
    fetch: fetchImpl,
    CompressionStream,
    Response,
    AbortController,
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (t) => clearTimeout(t),
  });
  w.ls = ls;
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

function recordingFetch(status = 202) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, ...init });
    return new Response(JSON.stringify({ accepted: 1 }), { status, headers: { date: new Date().toUTCString() } });
  };
  f.calls = calls;
  return f;
}

test('browser: device from the user agent, fetch with gzip and keepalive, localStorage', async () => {
  const f = recordingFetch();
  const w = fakeWindow({ fetchImpl: f });
  const a = createBrowserAdapter({ env: w });
  assert.equal(a.platform, 'android');
  assert.deepEqual(await a.device(), { model: 'SM-S9180', class: 'phone', os_version: '14', screen: { width: 1082, height: 2402, density: 2.625 } });
  assert.deepEqual(a.network(), { ip_family: 'unknown', carrier: '4g' });
  assert.deepEqual(a.sample(), { memory_mb: 150 });
  assert.deepEqual(a.launchSpans().map((s) => s.name), ['dns', 'connect', 'request', 'response', 'dom_interactive', 'dom_content_loaded', 'load']);
  const v = new Vitals(baseOptions(), a).start();
  await v.ready;
  for (let i = 0; i < 40; i++) v.count('c', i);
  await v.flush();
  const call = f.calls.at(-1);
  assert.equal(call.headers['Content-Encoding'], 'gzip');
  assert.ok(verifySignature({ method: 'POST', headers: call.headers, body: call.body }, 's3cret'));
  assert.equal(JSON.parse(gunzipSync(call.body)).events.length, 41);
  assert.ok(w.ls.get('vitals.zq-securities.install'));
  // page hide: session goes to the background and the queue is sent with keepalive
  v.count('last');
  w.dispatchEvent(new Event('pagehide'));
  await settle();
  assert.equal(f.calls.at(-1).keepalive, true);
  await v.close();
});

test('browser: window errors and unhandled rejections are fatal crashes; resource errors ignored', async () => {
  const f = recordingFetch();
  const w = fakeWindow({ fetchImpl: f });
  const v = new Vitals(baseOptions(), createBrowserAdapter({ env: w })).start();
  await v.ready;
  const resource = new Event('error');
  w.dispatchEvent(resource);
  const e = new Event('error');
  e.error = new TypeError('t is undefined');
  w.dispatchEvent(e);
  await settle();
  const r = new Event('unhandledrejection');
  r.reason = 'plain string reason';
  w.dispatchEvent(r);
  await settle();
  await v.flush();
  const events = f.calls.flatMap((c) => JSON.parse(c.headers['Content-Encoding'] ? gunzipSync(c.body) : Buffer.from(c.body)).events);
  const crashes = events.filter((x) => x.type === 'crash');
  assert.deepEqual(crashes.map((c) => [c.exception_type, c.message, c.fatal]), [
    ['TypeError', 't is undefined', true],
    ['UnhandledRejection', 'plain string reason', true],
  ]);
  assert.equal(events.filter((x) => x.type === 'session' && x.status === 'crashed').length, 1);
  await v.close();
});

test('browser: visibility drives foreground and background', async () => {
  const w = fakeWindow({ fetchImpl: recordingFetch() });
  const v = new Vitals(baseOptions({ sessionTimeoutMs: 20 }), createBrowserAdapter({ env: w })).start();
  await v.ready;
  const s1 = v.sessionId;
  w.hide();
  await waitFor(() => v.sessionId === undefined, 'session end');
  w.show();
  assert.ok(v.sessionId && v.sessionId !== s1);
  await v.close();
});

test('user agents map to protocol platforms', () => {
  assert.deepEqual(parseUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148'), { platform: 'ios', class: 'phone', model: 'iPhone', os_version: '17.1.2' });
  assert.equal(parseUserAgent('Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X)').platform, 'ipados');
  assert.equal(parseUserAgent('Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 Safari/537.36').platform, 'android_tablet');
  const h = parseUserAgent('Mozilla/5.0 (Phone; OpenHarmony 4.1) AppleWebKit/537.36 Chrome/114 Safari/537.36 ArkWeb/4.1.6.1 Mobile');
  assert.equal(h.platform, 'harmonyos');
  assert.equal(h.os_version, '4.1');
  assert.equal(parseUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64)').class, 'other');
});

// ---------------------------------------------------------------- mini-program

function fakeWx({ version = '1.2.0', status = 202 } = {}) {
  const store = new Map();
  const handlers = {};
  const on = (name) => (cb) => ((handlers[name] ||= []).push(cb));
  const off = (name) => (cb) => (handlers[name] = (handlers[name] || []).filter((x) => x !== cb));
  const um = {};
  const perf = {};
  const wx = {
    requests: [],
    store,
    handlers,
    emit: (name, arg) => (handlers[name] || []).forEach((cb) => cb(arg)),
    request(o) {
      wx.requests.push(o);
      setTimeout(() => {
        if (o.url.includes('client-config')) {
          const d = wx.configResponse;
          return o.success({ statusCode: 200, header: { 'X-Vitals-Signature-Ed25519': d.signature, ETag: d.etag }, data: d.bytes.buffer.slice(d.bytes.byteOffset, d.bytes.byteOffset + d.bytes.length) });
        }
        o.success({ statusCode: status, header: { Date: new Date().toUTCString() }, data: new TextEncoder().encode('{"accepted":1}').buffer });
      }, 1);
    },
    getStorage: ({ key, success, fail }) => (store.has(key) ? success({ data: store.get(key) }) : fail({ errMsg: 'data not found' })),
    setStorage: ({ key, data, success }) => (store.set(key, data), success({})),
    removeStorage: ({ key, success }) => (store.delete(key), success({})),
    onError: on('error'),
    offError: off('error'),
    onUnhandledRejection: on('rejection'),
    offUnhandledRejection: off('rejection'),
    onAppShow: on('show'),
    offAppShow: off('show'),
    onAppHide: on('hide'),
    offAppHide: off('hide'),
    getNetworkType: ({ success }) => success({ networkType: '5g' }),
    getDeviceInfo: () => ({ model: 'iPhone 15 Pro<iPhone16,1>', system: 'iOS 17.1.2', platform: 'ios', brand: 'iPhone' }),
    getWindowInfo: () => ({ screenWidth: 393, screenHeight: 852, pixelRatio: 3 }),
    getAccountInfoSync: () => ({ miniProgram: { version, envVersion: 'release' } }),
    getUpdateManager: () => ({
      onCheckForUpdate: (cb) => (um.check = cb),
      onUpdateReady: (cb) => (um.ready = cb),
      onUpdateFailed: (cb) => (um.failed = cb),
    }),
    getPerformance: () => ({
      createObserver: (cb) => ({ observe: () => (perf.cb = cb), disconnect: () => {} }),
    }),
    um,
    perf,
  };
  return wx;
}

function wxEvents(wx) {
  return wx.requests.filter((r) => r.url.endsWith('/api/v1/batch')).flatMap((r) => JSON.parse(r.data).events);
}

test('mini-program: wx.request with exact signed bytes, storage, device, errors', async () => {
  const wx = fakeWx();
  const v = new Vitals(baseOptions(), createMiniProgramAdapter({ host: wx, kind: 'wx' })).start();
  await v.ready;
  await settle();
  wx.emit('error', "thirdScriptError\nCannot read property 'id' of undefined;at pages/order/order onLoad function\nTypeError: Cannot read property 'id' of undefined\n    at Ve.onLoad (appservice/pages/order/order.js:12:7)\n    at WAService.js:2:1234");
  await settle();
  await v.flush();
  const r = wx.requests.find((x) => x.url.endsWith('/api/v1/batch'));
  assert.equal(r.method, 'POST');
  assert.equal(typeof r.data, 'string');
  assert.equal(r.responseType, 'arraybuffer');
  assert.ok(verifySignature({ method: 'POST', headers: r.header, body: Buffer.from(r.data, 'latin1') }, 's3cret'));
  const b = JSON.parse(r.data);
  assert.equal(b.platform, 'miniprogram');
  assert.deepEqual(b.device, { model: 'iPhone 15 Pro<iPhone16,1>', class: 'phone', os_version: '17.1.2', screen: { width: 1179, height: 2556, density: 3 }, abi: '', rooted: false, emulator: false });
  assert.deepEqual(b.network, { ip_family: 'unknown', carrier: '5g' });
  const crash = wxEvents(wx).find((e) => e.type === 'crash');
  assert.equal(crash.exception_type, 'TypeError');
  assert.equal(crash.message, "Cannot read property 'id' of undefined");
  assert.equal(crash.threads[0].frames[0].file, 'appservice/pages/order/order.js');
  assert.ok(wx.store.get('vitals.zq-securities.install'));
  await v.close();
  assert.equal((wx.handlers.error || []).length, 0, 'handlers removed on close');
});

test('mini-program: launch entries give the cold start; update manager gives package stages', async () => {
  const wx = fakeWx({ version: '1.2.0' });
  const v = new Vitals(baseOptions(), createMiniProgramAdapter({ host: wx, kind: 'wx' })).start();
  await v.ready;
  await settle();
  const t0 = Date.now() - 1500;
  wx.perf.cb({
    getEntries: () => [
      { name: 'downloadPackage', entryType: 'loadPackage', startTime: t0 + 10, duration: 300 },
      { name: 'evaluateScript', entryType: 'script', startTime: t0 + 320, duration: 200 },
      { name: 'firstRender', entryType: 'render', startTime: t0 + 600, duration: 400 },
      { name: 'appLaunch', entryType: 'navigation', startTime: t0, duration: 1100 },
    ],
  });
  wx.um.check({ hasUpdate: true });
  wx.um.ready();
  await settle();
  await v.flush();
  const cs = wxEvents(wx).find((e) => e.type === 'cold_start');
  assert.equal(cs.duration_ms, 1100);
  assert.deepEqual(cs.spans.map((s) => [s.name, s.start_ms, s.duration_ms]), [
    ['downloadPackage', 10, 300],
    ['evaluateScript', 320, 200],
    ['firstRender', 600, 400],
  ]);
  await v.close();
  // next launch runs 1.3.0: the update from 1.2.0 was applied
  const wx2 = fakeWx({ version: '1.3.0' });
  for (const [k, val] of wx.store) wx2.store.set(k, val);
  const v2 = new Vitals(baseOptions(), createMiniProgramAdapter({ host: wx2, kind: 'wx' })).start();
  await v2.ready;
  await settle();
  await v2.flush();
  const stages = [...wxEvents(wx), ...wxEvents(wx2)].filter((e) => e.type === 'hot_update').map((e) => [e.patch_id, e.stage]);
  assert.deepEqual(stages, [
    ['mp-from-1.2.0', 'offered'],
    ['mp-from-1.2.0', 'downloaded'],
    ['mp-from-1.2.0', 'applied'],
  ]);
  await v2.close();
});

test('mini-program: client config verified with the adapter SHA-512 (no crypto.subtle)', async () => {
  const kp = await keypair(3);
  const wx = fakeWx();
  wx.configResponse = await signed(kp, configBody());
  const rejected = [];
  const a = createMiniProgramAdapter({ host: wx, kind: 'wx' });
  assert.equal(typeof a.sha512, 'function');
  const subtle = globalThis.crypto.subtle;
  const v = new Vitals(baseOptions({ clientConfig: { publicKeys: [kp.publicHex] }, onConfigRejected: (r) => rejected.push(r) }), a).start();
  await v.ready;
  Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined, configurable: true });
  try {
    await v.refreshConfig();
  } finally {
    Object.defineProperty(globalThis.crypto, 'subtle', { value: subtle, configurable: true });
  }
  assert.deepEqual(rejected, []);
  assert.equal(v.config.app_id, 'zq-securities');
  await v.close();
});

test('mini-program: the site probe reads the connect time from wx.request profile', async () => {
  const wx = fakeWx();
  wx.request = (o) => setTimeout(() => o.success({ statusCode: 200, header: {}, data: new ArrayBuffer(0), profile: { connectStart: 1000, connectEnd: 1023 } }), 1);
  assert.equal(await createMiniProgramAdapter({ host: wx, kind: 'wx' }).probe('https://203.0.113.10/', 1000), 23);
});

test('mini-program: Alipay my.request reads headers/status', async () => {
  const calls = [];
  const my = {
    ...fakeWx(),
    request(o) {
      calls.push(o);
      setTimeout(() => o.success({ status: 202, headers: { date: new Date().toUTCString() }, data: new ArrayBuffer(0) }), 1);
    },
  };
  const a = createMiniProgramAdapter({ host: my, kind: 'my' });
  const r = await a.http({ url: 'http://x/api/v1/batch', method: 'POST', headers: { A: '1' }, body: new TextEncoder().encode('{}'), timeoutMs: 1000 });
  assert.equal(r.status, 202);
  assert.ok(r.header('date'));
  assert.equal(calls[0].dataType, 'arraybuffer');
  assert.deepEqual(calls[0].headers, { A: '1' });
});

// ---------------------------------------------------------------- React Native

function rnDeps() {
  const store = new Map();
  const listeners = [];
  let handler = (e, fatal) => rn.defaultCalls.push([e, fatal]);
  const rn = {
    defaultCalls: [],
    fetchCalls: [],
    AsyncStorage: {
      getItem: async (k) => store.get(k) ?? null,
      setItem: async (k, v) => void store.set(k, v),
      removeItem: async (k) => void store.delete(k),
    },
    AppState: {
      currentState: 'active',
      addEventListener: (_t, l) => (listeners.push(l), { remove: () => listeners.splice(listeners.indexOf(l), 1) }),
    },
    Platform: { OS: 'android', Version: 34, constants: { Model: 'ALN-AL00', Release: '14' } },
    Dimensions: { get: () => ({ width: 392, height: 850, scale: 2.75 }) },
    ErrorUtils: { getGlobalHandler: () => handler, setGlobalHandler: (h) => (handler = h) },
    fetch: async (url, init) => {
      rn.fetchCalls.push({ url, ...init });
      return { status: 202, headers: { get: (n) => (n === 'date' ? new Date().toUTCString() : null) }, text: async () => '{"accepted":1}' };
    },
    setState: (s) => {
      rn.AppState.currentState = s;
      listeners.forEach((l) => l(s));
    },
    throwGlobal: (e, fatal) => handler(e, fatal),
    store,
  };
  return rn;
}

test('react native: global handler records, persists, then chains to the previous handler', async () => {
  const rn = rnDeps();
  const v = new Vitals(baseOptions(), createReactNativeAdapter(rn)).start();
  await v.ready;
  rn.throwGlobal(new Error('render failed'), true);
  assert.equal(rn.defaultCalls.length, 0, 'the app is not taken down before the crash is saved');
  await waitFor(() => rn.defaultCalls.length === 1, 'the previous handler');
  assert.equal(rn.defaultCalls[0][1], true);
  const events = rn.fetchCalls.flatMap((c) => JSON.parse(c.body).events);
  const crash = events.find((e) => e.type === 'crash');
  assert.equal(crash.fatal, true);
  assert.ok(events.some((e) => e.type === 'session' && e.status === 'crashed'));
  const b = JSON.parse(rn.fetchCalls[0].body);
  assert.equal(b.platform, 'android');
  assert.deepEqual(b.device, { model: 'ALN-AL00', class: 'phone', os_version: '14', screen: { width: 1078, height: 2338, density: 2.75 }, abi: '', rooted: false, emulator: false });
  assert.ok(verifySignature({ method: 'POST', headers: rn.fetchCalls[0].headers, body: Buffer.from(rn.fetchCalls[0].body, 'latin1') }, 's3cret'));
  rn.throwGlobal(new Error('soft'), false);
  assert.equal(rn.defaultCalls.length, 2, 'non-fatal errors go straight on');
  await v.close();
});

test('react native: AppState drives sessions; platform detection', async () => {
  const rn = rnDeps();
  const v = new Vitals(baseOptions({ sessionTimeoutMs: 20 }), createReactNativeAdapter(rn)).start();
  await v.ready;
  const s1 = v.sessionId;
  rn.setState('inactive');
  rn.setState('background');
  await waitFor(() => v.sessionId === undefined, 'session end');
  rn.setState('active');
  assert.ok(v.sessionId && v.sessionId !== s1);
  await v.close();
  assert.equal(createReactNativeAdapter({ ...rnDeps(), Platform: { OS: 'ios', isPad: true } }).platform, 'ipados');
  assert.equal(createReactNativeAdapter({ ...rnDeps(), Platform: { OS: 'harmony' } }).platform, 'harmonyos');
  assert.equal(createReactNativeAdapter({ ...rnDeps(), Dimensions: { get: () => ({ width: 800, height: 1280, scale: 2 }) } }).platform, 'android_tablet');
});

// ---------------------------------------------------------------- HarmonyOS

function harmonyModules() {
  const prefs = new Map();
  const m = {
    log: [],
    prefs,
    http: {
      RequestMethod: { GET: 'GET', POST: 'POST', HEAD: 'HEAD' },
      HttpDataType: { STRING: 0, OBJECT: 1, ARRAY_BUFFER: 2 },
      createHttp: () => ({
        request: async (url, o) => {
          m.log.push({ url, ...o });
          return { responseCode: 202, header: { Date: new Date().toUTCString() }, result: new TextEncoder().encode('{}').buffer, resultType: 2, cookies: '', performanceTiming: { tcpTiming: 17 } };
        },
        destroy: () => {},
      }),
    },
    preferences: {
      getPreferences: async () => ({
        get: async (k, d) => (prefs.has(k) ? prefs.get(k) : d),
        put: async (k, v) => {
          if (typeof v === 'string' && v.length > 8192) throw new Error('value too long');
          prefs.set(k, v);
        },
        delete: async (k) => void prefs.delete(k),
        flush: async () => {},
      }),
    },
    errorManager: {
      observers: [],
      on(type, o) {
        if (type === 'error') return this.observers.push(o);
        this.rejection = o;
      },
      off: async () => {},
    },
    deviceInfo: { deviceType: 'phone', productModel: 'ALN-AL00', distributionOSVersion: '4.2.0', displayVersion: 'ALN-AL00 4.2.0.120', abiList: 'arm64-v8a', sdkApiVersion: 12, osFullName: 'OpenHarmony-4.1', manufacture: 'HUAWEI', brand: 'HUAWEI', marketName: 'Mate 60 Pro' },
    display: { getDefaultDisplaySync: () => ({ width: 1260, height: 2720, densityPixels: 3.5, densityDPI: 560 }) },
    connection: {
      NetBearType: { BEARER_CELLULAR: 0, BEARER_WIFI: 1, BEARER_ETHERNET: 3 },
      getDefaultNetSync: () => ({ netId: 100 }),
      getNetCapabilitiesSync: () => ({ bearerTypes: [1] }),
      getConnectionPropertiesSync: () => ({ linkAddresses: [{ address: { address: '192.168.1.3', family: 1 } }, { address: { address: '2001:db8::3', family: 2 } }] }),
      createNetConnection: () => ({ on: () => {}, register: () => {}, unregister: () => {} }),
    },
    hidebug: { getPss: () => 145_000n, getCpuUsage: () => 0.032 },
    process: { getStartRealtime: () => 10_000, uptime: () => 2 },
    systemDateTime: { TimeType: { STARTUP: 0, ACTIVE: 1 }, getUptime: () => 11_500 },
  };
  return m;
}

function harmonyContext() {
  const app = { cbs: [], on: (_t, cb) => app.cbs.push(cb), off: (_t, cb) => (app.cbs = app.cbs.filter((x) => x !== cb)) };
  return { app, filesDir: '/data', getApplicationContext: () => app };
}

test('harmony: preferences storage chunks long values', async () => {
  const m = harmonyModules();
  const s = preferencesStorage(m, harmonyContext());
  const long = 'x'.repeat(20_000) + 'end';
  await s.set('k', long);
  assert.equal(await s.get('k'), long);
  assert.equal(await s.get('missing'), null);
  await s.set('k', 'short');
  assert.equal(await s.get('k'), 'short');
});

test('harmony: http, device, network, perf, errorManager and application state', async () => {
  const m = harmonyModules();
  const ctx = harmonyContext();
  const a = createHarmonyAdapter(m, ctx);
  assert.equal(a.platform, 'harmonyos');
  assert.deepEqual(a.device(), { model: 'ALN-AL00', class: 'phone', os_version: '4.2.0', screen: { width: 1260, height: 2720, density: 3.5 }, abi: 'arm64-v8a', emulator: false });
  assert.deepEqual(a.network(), { ip_family: 'dual', carrier: 'wifi' });
  assert.deepEqual(a.sample(), { memory_mb: 141.6, cpu_pct: 3.2 });
  assert.ok(Math.abs(a.processStart() - (Date.now() - 1500)) < 50);
  assert.equal(await a.probe('https://203.0.113.10/', 1000), 17);
  assert.equal(a.random, undefined, 'no cryptoFramework given: Web Crypto or the fallback');
  const v = new Vitals(baseOptions({ sessionTimeoutMs: 20 }), a).start();
  await v.ready;
  m.errorManager.observers[0].onUnhandledException('Error name:TypeError\nError message:Cannot read property order of undefined\nStacktrace:\n    at submit (entry/src/main/ets/pages/Trade.ts:42:13)\n');
  await settle();
  await v.flush();
  const post = m.log.find((r) => r.method === 'POST');
  assert.equal(post.expectDataType, 2);
  assert.ok(verifySignature({ method: 'POST', headers: post.header, body: Buffer.from(post.extraData, 'latin1') }, 's3cret'));
  const events = m.log.filter((r) => r.method === 'POST').flatMap((r) => JSON.parse(r.extraData).events);
  const crash = events.find((e) => e.type === 'crash');
  assert.deepEqual([crash.exception_type, crash.message, crash.threads[0].frames[0].file, crash.threads[0].frames[0].line], ['TypeError', 'Cannot read property order of undefined', 'entry/src/main/ets/pages/Trade.ts', 42]);
  ctx.app.cbs[0].onApplicationForeground();
  assert.ok(v.sessionId);
  ctx.app.cbs[0].onApplicationBackground();
  await waitFor(() => v.sessionId === undefined, 'session end');
  await v.close();
  assert.deepEqual(parseArkError('weird text'), { name: 'Error', message: 'weird text', stack: 'weird text' });
});
