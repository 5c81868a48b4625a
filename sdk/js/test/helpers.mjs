// Fakes shared by the unit tests: an in-memory runtime adapter whose HTTP
// goes to a scripted responder, and helpers to read what went on the wire.
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHmac, createHash } from 'node:crypto';

export const tick = () => new Promise((r) => setImmediate(r));
export async function settle(n = 30) {
  for (let i = 0; i < n; i++) await tick();
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function memStore(init = {}) {
  const data = new Map(Object.entries(init));
  return {
    data,
    calls: 0,
    async get(k) {
      this.calls++;
      return data.has(k) ? data.get(k) : null;
    },
    async set(k, v) {
      this.calls++;
      data.set(k, v);
    },
    async remove(k) {
      this.calls++;
      data.delete(k);
    },
  };
}

export function response(status, body = '', headers = {}) {
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status, header: (n) => h[n], body: new Uint8Array(b) };
}

export const accepted = (req) => {
  const b = decodeBody(req);
  return response(202, JSON.stringify({ batch_id: b.batch_id, accepted: b.events.length, duplicate: false }), { date: new Date().toUTCString() });
};

/** The batch JSON of a captured request. */
export function decodeBody(req) {
  const raw = req.headers['Content-Encoding'] === 'gzip' ? gunzipSync(req.body) : Buffer.from(req.body);
  return JSON.parse(raw.toString('utf8'));
}

/** Recomputes the signature the collector would (protocol section 7). */
export function verifySignature(req, secret, path = '/api/v1/batch') {
  const h = req.headers;
  const digest = createHash('sha256').update(req.body || Buffer.alloc(0)).digest('hex');
  const canonical = ['VITALS-HMAC-SHA256', req.method, path, h['X-Vitals-Timestamp'], h['X-Vitals-Nonce'], digest].join('\n');
  return createHmac('sha256', secret).update(canonical).digest('hex') === h['X-Vitals-Signature'];
}

/**
 * A runtime adapter with in-memory storage and a scripted HTTP responder
 * (`respond(req) → response | throws`); `hooks` is what the core installed.
 */
export function fakeAdapter(opts = {}) {
  const a = {
    platform: opts.platform || 'android',
    requests: [],
    hooks: undefined,
    fg: opts.foreground ?? true,
    storage: opts.storage || memStore(),
    respond: opts.respond || accepted,
    installs: 0,
    http: async (req) => {
      a.requests.push(req);
      return a.respond(req);
    },
    device: () => ({ model: 'SM-S9180', class: 'phone', os_version: '14' }),
    network: () => ({ ip_family: 'dual', carrier: 'wifi' }),
    install(h) {
      a.installs++;
      a.hooks = h;
      return () => (a.hooks = undefined);
    },
    foreground: () => a.fg,
    ...opts.extra,
  };
  if (opts.gzip) a.gzip = async (d) => new Uint8Array(gzipSync(d));
  return a;
}

export const baseOptions = (extra = {}) => ({
  endpoint: 'http://collector.test',
  appId: 'zq-securities',
  keyId: 'k1',
  secret: 's3cret',
  release: { version: '5.2.0', build: '520013' },
  consent: { analytics: true, deviceIds: false },
  flushIntervalMs: 5,
  perfIntervalMs: 0,
  ...extra,
});

/** All events sent, in order, with their batch. */
export function sentEvents(adapter, path = '/api/v1/batch') {
  const out = [];
  for (const r of adapter.requests) {
    if (!r.url.endsWith(path)) continue;
    const b = decodeBody(r);
    for (const e of b.events) out.push({ ...e, _batch: b });
  }
  return out;
}

/** Polls until `cond()` holds (timers may run late on a busy machine). */
export async function waitFor(cond, what = 'condition', timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
