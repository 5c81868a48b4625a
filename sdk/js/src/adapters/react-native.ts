/**
 * React Native adapter. The SDK has no dependency on react-native: the app
 * hands over the modules it already has (AppState, Platform, an
 * AsyncStorage-style store, optionally Dimensions, NetInfo and a device-info
 * function), so the adapter works with any RN version and with
 * react-native-harmony (Platform.OS === 'harmony').
 *
 * Errors: ErrorUtils' global handler (its `isFatal` decides fatality; the
 * previous handler still runs, after the crash is persisted or 2 s passed)
 * and, on Hermes, unhandled promise rejections (non-fatal).
 */
import { sha512 } from '@noble/hashes/sha2.js';
import type { Adapter, Hooks, Http, PerfSample, Storage } from '../core/adapter.js';
import type { Device, Network, Platform } from '../core/types.js';
import { G, bytesToLatin1, utf8 } from '../core/util.js';

type GlobalHandler = (error: unknown, isFatal?: boolean) => void;

export interface ReactNativeDeps {
  /** `@react-native-async-storage/async-storage` or anything with the same three methods. */
  AsyncStorage: {
    getItem(k: string): Promise<string | null>;
    setItem(k: string, v: string): Promise<void>;
    removeItem(k: string): Promise<void>;
  };
  AppState: {
    currentState?: string | null;
    addEventListener(type: 'change', l: (state: string) => void): { remove(): void } | void;
  };
  Platform: {
    OS: string;
    Version?: string | number;
    isPad?: boolean;
    constants?: { Model?: string; Brand?: string; Release?: string; osVersion?: string; interfaceIdiom?: string };
  };
  Dimensions?: { get(dim: 'screen'): { width: number; height: number; scale: number } };
  /** `@react-native-community/netinfo`. */
  NetInfo?: {
    fetch(): Promise<{ type?: string; isConnected?: boolean | null }>;
    addEventListener?(l: (s: { isConnected?: boolean | null }) => void): () => void;
  };
  /** Extra device facts (react-native-device-info: model, rooted, emulator…). */
  deviceInfo?(): Partial<Device> | Promise<Partial<Device>>;
  /** Process start, Unix ms (e.g. from react-native-performance or a native module). */
  processStart?(): number | undefined;
  /** CPU / memory, where a native module exposes them. */
  sample?(): PerfSample | undefined | Promise<PerfSample | undefined>;
  /** Defaults to the global ErrorUtils. */
  ErrorUtils?: { getGlobalHandler(): GlobalHandler; setGlobalHandler(h: GlobalHandler): void };
  /** Defaults to the global fetch. */
  fetch?(url: string, init: Record<string, unknown>): Promise<{ status: number; headers: { get(n: string): string | null }; text(): Promise<string> }>;
}

export function createReactNativeAdapter(d: ReactNativeDeps): Adapter {
  const P = d.Platform;
  const storage: Storage = {
    get: (k) => d.AsyncStorage.getItem(k),
    set: (k, v) => d.AsyncStorage.setItem(k, v),
    remove: (k) => d.AsyncStorage.removeItem(k),
  };
  const http: Http = async (req) => {
    const f = d.fetch || (G.fetch as ReactNativeDeps['fetch']);
    if (!f) throw new Error('no fetch');
    let timer: unknown;
    const timeout = new Promise<never>((_, rej) => (timer = G.setTimeout(() => rej(new Error('timeout')), req.timeoutMs)));
    try {
      // RN's fetch sends strings reliably; the body is ASCII JSON (RN has no gzip), so the string is the signed bytes.
      let body: string | undefined;
      if (req.body) body = bytesToLatin1(req.body);
      const res = await Promise.race([f(req.url, { method: req.method, headers: req.headers, body }), timeout]);
      const text = await res.text();
      return { status: res.status, header: (n) => res.headers.get(n) ?? undefined, body: utf8(text) };
    } finally {
      G.clearTimeout(timer);
    }
  };
  const screen = () => d.Dimensions?.get('screen');
  const platform = (): Platform => {
    if (P.OS === 'ios') return P.isPad ? 'ipados' : 'ios';
    if (P.OS === 'harmony') return 'harmonyos';
    const s = screen();
    return s && Math.min(s.width, s.height) >= 600 ? 'android_tablet' : 'android';
  };
  const plat = platform();
  let online = true;
  return {
    platform: plat,
    http,
    storage,
    async device(): Promise<Device> {
      const c = P.constants || {};
      const s = screen();
      const base: Device = {
        model: c.Model || (P.OS === 'ios' ? (P.isPad ? 'iPad' : 'iPhone') : P.OS),
        class: plat === 'ipados' || plat === 'android_tablet' ? 'tablet' : 'phone',
        os_version: String(c.Release || c.osVersion || P.Version || 'unknown'),
        screen: s ? { width: Math.round(s.width * s.scale), height: Math.round(s.height * s.scale), density: Math.min(s.scale, 10) } : {},
      };
      return { ...base, ...(d.deviceInfo ? await d.deviceInfo() : {}) };
    },
    async network(): Promise<Network> {
      const n = d.NetInfo ? await d.NetInfo.fetch().catch(() => undefined) : undefined;
      return { ip_family: 'unknown', carrier: String(n?.type || '').slice(0, 64) };
    },
    foreground: () => (d.AppState.currentState || 'active') === 'active',
    install(h: Hooks) {
      const eu = d.ErrorUtils || (G.ErrorUtils as ReactNativeDeps['ErrorUtils']);
      const prev = eu?.getGlobalHandler();
      const handler: GlobalHandler = (error, isFatal) => {
        const done = h.error({ error, fatal: !!isFatal, mechanism: 'global_handler' });
        if (!prev) return;
        if (!isFatal) return prev(error, isFatal);
        // Let the crash reach storage before RN's handler takes the app down.
        let called = false;
        const go = () => {
          if (!called) {
            called = true;
            prev(error, isFatal);
          }
        };
        done.then(go, go);
        G.setTimeout(go, 2000);
      };
      eu?.setGlobalHandler(handler);
      const hermes = G.HermesInternal as
        | { enablePromiseRejectionTracker?(o: { allRejections: boolean; onUnhandled(id: number, e: unknown): void; onHandled(): void }): void }
        | undefined;
      hermes?.enablePromiseRejectionTracker?.({
        allRejections: true,
        onUnhandled: (_id, e) => void h.error({ error: e, fatal: false, mechanism: 'unhandledrejection' }),
        onHandled: () => {},
      });
      let last = d.AppState.currentState || 'active';
      const sub = d.AppState.addEventListener('change', (state) => {
        if (state === 'active' && last !== 'active') h.foreground();
        else if (state === 'background' && last !== 'background') h.background();
        last = state;
      });
      const offNet = d.NetInfo?.addEventListener?.((s) => {
        if (s.isConnected && !online) h.online();
        online = s.isConnected !== false;
      });
      return () => {
        if (eu && prev) eu.setGlobalHandler(prev);
        if (sub) sub.remove();
        if (offNet) offNet();
      };
    },
    processStart: d.processStart,
    sample: d.sample,
    // Hermes has no crypto.subtle: SHA-512 for the client-config signature.
    sha512,
  };
}


