/**
 * Browser / WebView (H5) adapter: fetch (keepalive on page hide), gzip via
 * CompressionStream, localStorage, `error` and `unhandledrejection`,
 * visibility for foreground / background, navigation timing for the launch.
 *
 * The collector needs the signing headers, which `navigator.sendBeacon`
 * cannot carry, so the unload path uses `fetch(…, { keepalive: true })`
 * (the beacon with headers); what does not make it is persisted and sent at
 * the next visit.
 */
import type { Adapter, Hooks, Http, PerfSample, Storage } from '../core/adapter.js';
import type { Device, Network, Platform, Span } from '../core/types.js';
import { memoryStorage, parseUserAgent, syncStorage } from './common.js';

type Listener = (e: any) => void;
interface Target {
  addEventListener(t: string, l: Listener, o?: unknown): void;
  removeEventListener(t: string, l: Listener, o?: unknown): void;
}
interface FetchResponse {
  status: number;
  headers: { get(n: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}
interface Timing {
  name?: string;
  startTime: number;
  duration?: number;
  type?: string;
  fetchStart?: number;
  domainLookupStart?: number;
  domainLookupEnd?: number;
  connectStart?: number;
  connectEnd?: number;
  requestStart?: number;
  responseStart?: number;
  responseEnd?: number;
  domInteractive?: number;
  domContentLoadedEventEnd?: number;
  loadEventEnd?: number;
}

/** The parts of `window` the adapter uses; defaults to the global object. */
export interface BrowserEnv extends Target {
  document?: Target & { visibilityState?: string };
  navigator?: {
    userAgent?: string;
    onLine?: boolean;
    connection?: { effectiveType?: string; type?: string };
  };
  localStorage?: { getItem(k: string): string | null; setItem(k: string, v: string): void; removeItem(k: string): void };
  screen?: { width?: number; height?: number };
  devicePixelRatio?: number;
  performance?: {
    timeOrigin?: number;
    now?(): number;
    getEntriesByType?(t: string): Timing[];
    getEntriesByName?(n: string): Timing[];
    memory?: { usedJSHeapSize?: number };
  };
  fetch?(url: string, init: Record<string, unknown>): Promise<FetchResponse>;
  CompressionStream?: new (f: string) => { writable: any; readable: any };
  Response?: new (b: unknown) => { arrayBuffer(): Promise<ArrayBuffer> };
  AbortController?: new () => { signal: unknown; abort(): void };
  requestIdleCallback?(f: () => void, o?: { timeout: number }): unknown;
  setTimeout(f: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

export interface BrowserAdapterOptions {
  env?: BrowserEnv;
  /** The protocol has no `web` platform: H5 pages report the host OS, detected from the user agent unless set here. */
  platform?: Platform;
  storage?: Storage;
}

export function createBrowserAdapter(opts: BrowserAdapterOptions = {}): Adapter {
  const w = opts.env || (globalThis as unknown as BrowserEnv);
  const doc = w.document;
  const ua = parseUserAgent(w.navigator?.userAgent || '');
  let storage = opts.storage;
  if (!storage) {
    try {
      const ls = w.localStorage;
      storage = ls ? syncStorage(ls) : memoryStorage();
    } catch {
      storage = memoryStorage();
    }
  }

  const http: Http = async (req) => {
    const f = w.fetch;
    if (!f) throw new Error('no fetch');
    const ac = w.AbortController ? new w.AbortController() : undefined;
    const t = ac ? w.setTimeout(() => ac.abort(), req.timeoutMs) : undefined;
    try {
      const res = await f.call(w, req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        // keepalive bodies are limited to 64 KiB by browsers.
        keepalive: !!req.keepalive && (req.body?.length || 0) < 60_000,
        signal: ac?.signal,
        credentials: 'omit',
        cache: 'no-store',
      });
      const body = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, header: (n) => res.headers.get(n) ?? undefined, body };
    } finally {
      if (t !== undefined) w.clearTimeout(t);
    }
  };

  const navigation = (): Timing | undefined => w.performance?.getEntriesByType?.('navigation')?.[0];

  const adapter: Adapter = {
    platform: opts.platform || ua.platform,
    http,
    storage,
    device(): Device {
      const dpr = w.devicePixelRatio || 1;
      const s = w.screen || {};
      return {
        model: ua.model,
        class: ua.class,
        os_version: ua.os_version,
        screen: { width: Math.round((s.width || 0) * dpr), height: Math.round((s.height || 0) * dpr), density: Math.min(dpr, 10) },
      };
    },
    network(): Network {
      const c = w.navigator?.connection;
      return { ip_family: 'unknown', carrier: String(c?.type || c?.effectiveType || '').slice(0, 64) };
    },
    foreground: () => doc?.visibilityState !== 'hidden',
    install(h: Hooks) {
      const onError: Listener = (e) => {
        // Resource load failures (img, script) carry no error and no message.
        if (!e || (!e.error && !e.message)) return;
        const err = e.error || { name: 'Error', message: e.message, stack: e.filename ? `at ${e.filename}:${e.lineno || 0}:${e.colno || 0}` : undefined };
        h.error({ error: err, fatal: true, mechanism: 'onerror' });
      };
      const onRejection: Listener = (e) => {
        const r = e && e.reason;
        h.error({ error: r instanceof Error || (r && r.stack) ? r : { name: 'UnhandledRejection', message: String(r) }, fatal: true, mechanism: 'unhandledrejection' });
      };
      const onVisibility: Listener = () => (doc?.visibilityState === 'hidden' ? h.background() : h.foreground());
      const onHide: Listener = () => h.terminate();
      const onOnline: Listener = () => h.online();
      w.addEventListener('error', onError);
      w.addEventListener('unhandledrejection', onRejection);
      w.addEventListener('pagehide', onHide);
      w.addEventListener('online', onOnline);
      doc?.addEventListener('visibilitychange', onVisibility);
      return () => {
        w.removeEventListener('error', onError);
        w.removeEventListener('unhandledrejection', onRejection);
        w.removeEventListener('pagehide', onHide);
        w.removeEventListener('online', onOnline);
        doc?.removeEventListener('visibilitychange', onVisibility);
      };
    },
    processStart: () => w.performance?.timeOrigin,
    coldLaunch: () => {
      const n = navigation();
      return !n || n.type !== 'back_forward';
    },
    launchSpans(): Span[] {
      const n = navigation();
      if (!n) return [];
      const spans: Span[] = [];
      const add = (name: string, a?: number, b?: number) => {
        if (a != null && b != null && b >= a && b > 0) spans.push({ name, start_ms: Math.round(a), duration_ms: Math.round(b - a) });
      };
      add('dns', n.domainLookupStart, n.domainLookupEnd);
      add('connect', n.connectStart, n.connectEnd);
      add('request', n.requestStart, n.responseStart);
      add('response', n.responseStart, n.responseEnd);
      add('dom_interactive', n.responseEnd, n.domInteractive);
      add('dom_content_loaded', n.domInteractive, n.domContentLoadedEventEnd);
      add('load', n.domContentLoadedEventEnd, n.loadEventEnd);
      return spans;
    },
    sample(): PerfSample | undefined {
      const m = w.performance?.memory?.usedJSHeapSize;
      return m ? { memory_mb: Math.round((m / 1048576) * 10) / 10 } : undefined;
    },
    async probe(url, timeoutMs) {
      const p = w.performance;
      const t0 = p?.now?.() ?? Date.now();
      const f = w.fetch;
      if (!f) throw new Error('no fetch');
      const ac = w.AbortController ? new w.AbortController() : undefined;
      const t = ac ? w.setTimeout(() => ac.abort(), timeoutMs) : undefined;
      try {
        await f.call(w, url, { method: 'HEAD', mode: 'no-cors', cache: 'no-store', credentials: 'omit', signal: ac?.signal });
      } finally {
        if (t !== undefined) w.clearTimeout(t);
      }
      // The TCP connect time, when the site sends Timing-Allow-Origin.
      const r = p?.getEntriesByName?.(url)?.slice(-1)[0];
      if (r && r.connectEnd && r.connectStart != null && r.connectEnd > r.connectStart) return r.connectEnd - r.connectStart;
      return (p?.now?.() ?? Date.now()) - t0;
    },
    defer(f) {
      if (w.requestIdleCallback) w.requestIdleCallback(f, { timeout: 2000 });
      else w.setTimeout(f, 0);
    },
    survivesCrash: true,
  };
  const CS = w.CompressionStream;
  const R = w.Response;
  if (CS && R) {
    adapter.gzip = async (data) => {
      const cs = new CS('gzip');
      const wr = cs.writable.getWriter();
      wr.write(data);
      wr.close();
      return new Uint8Array(await new R(cs.readable).arrayBuffer());
    };
  }
  return adapter;
}
