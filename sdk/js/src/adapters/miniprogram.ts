/**
 * Mini-program adapter for WeChat (`wx`) and Alipay (`my`): wx.request /
 * my.request, async storage, onError / onUnhandledRejection, onAppShow /
 * onAppHide, the launch performance entries (appLaunch, evaluateScript,
 * firstRender, downloadPackage) and the update manager's package stages.
 *
 * Package stages (5.4e) are keyed by the version being updated from:
 * `mp-from-<version>` is `offered` when the update manager finds an update,
 * `downloaded` when it is ready, `failed` when the download fails, and
 * `applied` at the next launch that runs a different version.
 */
import { sha512 } from '@noble/hashes/sha2.js';
import type { Adapter, Hooks, Http, Storage } from '../core/adapter.js';
import type { Device, Network } from '../core/types.js';
import { G, bytesToLatin1, utf8 } from '../core/util.js';

type Cb<T> = (r: T) => void;

interface RequestOpts {
  url: string;
  method: string;
  enableProfile?: boolean;
  header?: Record<string, string>;
  headers?: Record<string, string>;
  data?: string;
  dataType?: string;
  responseType?: string;
  timeout?: number;
  success: Cb<{
    statusCode?: number;
    status?: number;
    header?: Record<string, string>;
    headers?: Record<string, string>;
    data: unknown;
    profile?: { connectStart?: number; connectEnd?: number };
  }>;
  fail: Cb<unknown>;
}

interface PerfEntry {
  name: string;
  entryType: string;
  startTime: number;
  duration: number;
  packageSize?: number;
}

/** The subset of `wx` / `my` the adapter uses (all optional beyond request and storage). */
export interface MiniProgramHost {
  request(o: RequestOpts): unknown;
  getStorage(o: { key: string; success: Cb<{ data: unknown }>; fail: Cb<unknown> }): void;
  setStorage(o: { key: string; data: string; success: Cb<unknown>; fail: Cb<unknown> }): void;
  removeStorage(o: { key: string; success: Cb<unknown>; fail: Cb<unknown> }): void;
  onError?(cb: Cb<unknown>): void;
  offError?(cb: Cb<unknown>): void;
  onUnhandledRejection?(cb: Cb<{ reason: unknown }>): void;
  offUnhandledRejection?(cb: Cb<{ reason: unknown }>): void;
  onAppShow?(cb: Cb<unknown>): void;
  offAppShow?(cb: Cb<unknown>): void;
  onAppHide?(cb: Cb<unknown>): void;
  offAppHide?(cb: Cb<unknown>): void;
  onNetworkStatusChange?(cb: Cb<{ isConnected: boolean; networkType: string }>): void;
  offNetworkStatusChange?(cb: Cb<{ isConnected: boolean; networkType: string }>): void;
  getNetworkType?(o: { success: Cb<{ networkType: string }>; fail?: Cb<unknown> }): void;
  getSystemInfoSync?(): { model?: string; system?: string; platform?: string; screenWidth?: number; screenHeight?: number; pixelRatio?: number; brand?: string };
  getDeviceInfo?(): { model?: string; system?: string; platform?: string; abi?: string; brand?: string };
  getWindowInfo?(): { screenWidth?: number; screenHeight?: number; pixelRatio?: number };
  getAccountInfoSync?(): { miniProgram?: { version?: string; envVersion?: string } };
  getUpdateManager?(): {
    onCheckForUpdate(cb: Cb<{ hasUpdate: boolean }>): void;
    onUpdateReady(cb: Cb<unknown>): void;
    onUpdateFailed(cb: Cb<unknown>): void;
  };
  getPerformance?(): {
    createObserver(cb: Cb<{ getEntries(): PerfEntry[] }>): { observe(o: { entryTypes: string[] }): void; disconnect?(): void };
  };
}

export interface MiniProgramAdapterOptions {
  /** `wx` (default when present) or `my`. */
  host?: MiniProgramHost;
  /** Which host API `host` is (default: `my` only when there is no `wx`). */
  kind?: 'wx' | 'my';
  /** Mini-program version for package stages; default from getAccountInfoSync. */
  version?: string;
}

export function createMiniProgramAdapter(opts: MiniProgramAdapterOptions = {}): Adapter {
  const host = opts.host || ((G.wx || G.my) as MiniProgramHost);
  if (!host) throw new Error('vitals: no wx / my host object');
  const isAlipay = opts.kind ? opts.kind === 'my' : !G.wx && !!G.my;

  const call = <T>(f: (o: { success: Cb<T>; fail: Cb<unknown> }) => void) =>
    new Promise<T>((res, rej) => f({ success: res, fail: rej }));

  const storage: Storage = {
    get: (key) =>
      call<{ data: unknown }>((o) => host.getStorage({ key, ...o })).then(
        (r) => (typeof r.data === 'string' ? r.data : null),
        () => null,
      ),
    set: (key, data) => call((o) => host.setStorage({ key, data, ...o })).then(() => {}),
    remove: (key) => call((o) => host.removeStorage({ key, ...o })).then(
      () => {},
      () => {},
    ),
  };

  const http: Http = (req) =>
    new Promise((resolve, reject) => {
      host.request({
        url: req.url,
        method: req.method,
        // wx reads `header`, my reads `headers`.
        header: req.headers,
        headers: req.headers,
        // No gzip on mini-programs: the body is ASCII JSON, so the string is the signed bytes.
        data: req.body ? bytesToLatin1(req.body) : undefined,
        dataType: isAlipay ? 'arraybuffer' : 'other',
        responseType: 'arraybuffer',
        timeout: req.timeoutMs,
        success: (r) => {
          const hs = r.header || r.headers || {};
          const lower: Record<string, string> = {};
          for (const k in hs) lower[k.toLowerCase()] = String(hs[k]);
          const d = r.data;
          const body =
            d instanceof ArrayBuffer ? new Uint8Array(d) : typeof d === 'string' ? utf8(d) : utf8(d == null ? '' : JSON.stringify(d));
          resolve({ status: r.statusCode ?? r.status ?? 0, header: (n) => lower[n], body });
        },
        fail: reject,
      });
    });

  let carrier = '';
  const entries: PerfEntry[] = [];
  const version = () => {
    const mp = host.getAccountInfoSync?.().miniProgram;
    return opts.version || mp?.version || mp?.envVersion || 'dev';
  };

  return {
    platform: 'miniprogram',
    http,
    storage,
    device(): Device {
      const di = host.getDeviceInfo?.() || host.getSystemInfoSync?.() || {};
      const wi = host.getWindowInfo?.() || host.getSystemInfoSync?.() || {};
      const r = wi.pixelRatio || 1;
      const plat = String(di.platform || '').toLowerCase();
      const w = wi.screenWidth || 0;
      const h = wi.screenHeight || 0;
      return {
        model: String(di.model || 'unknown').slice(0, 256),
        class: Math.min(w, h) >= 600 ? 'tablet' : 'phone',
        os_version: String(di.system || 'unknown').replace(/^[^\d]*/, '') || 'unknown',
        screen: { width: Math.round(w * r), height: Math.round(h * r), density: Math.min(r, 10) },
        abi: String((di as { abi?: string }).abi || ''),
        emulator: plat === 'devtools',
      };
    },
    network(): Network {
      return { ip_family: 'unknown', carrier };
    },
    foreground: () => true,
    install(h: Hooks) {
      const onError = (e: unknown) => void h.error({ error: e, fatal: true, mechanism: 'onError' });
      const onRejection = (r: { reason: unknown }) => {
        const e = r && r.reason;
        void h.error({
          error: e && typeof e === 'object' ? e : { name: 'UnhandledRejection', message: String(e) },
          fatal: true,
          mechanism: 'onUnhandledRejection',
        });
      };
      const onShow = () => h.foreground();
      const onHide = () => h.background();
      const onNet = (s: { isConnected: boolean; networkType: string }) => {
        carrier = s.networkType || '';
        if (s.isConnected) h.online();
      };
      host.onError?.(onError);
      host.onUnhandledRejection?.(onRejection);
      host.onAppShow?.(onShow);
      host.onAppHide?.(onHide);
      host.onNetworkStatusChange?.(onNet);
      // Launch entries arrive after the first render; the observer itself is cheap.
      let obs: { disconnect?(): void } | undefined;
      try {
        const p = host.getPerformance?.();
        if (p) {
          const o = p.createObserver((list) => {
            for (const e of list.getEntries()) {
              entries.push(e);
              if (e.name === 'appLaunch') h.launched(e.startTime + e.duration);
            }
          });
          o.observe({ entryTypes: ['navigation', 'render', 'script', 'loadPackage'] });
          obs = o;
        }
      } catch {
        // Older base libraries have no performance API.
      }
      // Everything else happens off the startup path.
      G.setTimeout(() => {
        host.getNetworkType?.({ success: (r) => (carrier = r.networkType || '') });
        packageStages(host, h, version());
      }, 0);
      return () => {
        host.offError?.(onError);
        host.offUnhandledRejection?.(onRejection);
        host.offAppShow?.(onShow);
        host.offAppHide?.(onHide);
        host.offNetworkStatusChange?.(onNet);
        obs?.disconnect?.();
      };
    },
    processStart: () => entries.find((e) => e.name === 'appLaunch')?.startTime,
    launchSpans: () => {
      const start = entries.find((e) => e.name === 'appLaunch')?.startTime;
      if (!start) return [];
      return entries
        .filter((e) => e.name !== 'appLaunch' && e.startTime >= start)
        .map((e) => ({ name: e.name.slice(0, 256) || 'entry', start_ms: Math.round(e.startTime - start), duration_ms: Math.max(0, Math.round(e.duration)) }));
    },
    // wx.request's profile has the TCP connect time (6.2b).
    probe: (url, timeoutMs) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        host.request({
          url,
          method: 'HEAD',
          enableProfile: true,
          timeout: timeoutMs,
          success: (r) => {
            const p = r.profile;
            resolve(p && p.connectEnd && p.connectStart != null && p.connectEnd >= p.connectStart ? p.connectEnd - p.connectStart : Date.now() - t0);
          },
          fail: reject,
        });
      }),
    survivesCrash: true,
    // No crypto.subtle in mini-programs: SHA-512 for the client-config signature.
    sha512,
  };
}

/** Update-manager stages, and `applied` when a downloaded update is now running. */
function packageStages(host: MiniProgramHost, h: Hooks, current: string): void {
  const patch = (v: string) => 'mp-from-' + v;
  h.storage.get('mp.pending').then((from) => {
    if (from && from !== current) {
      h.hotUpdate(patch(from), 'applied');
      h.storage.remove('mp.pending');
    }
  });
  const um = host.getUpdateManager?.();
  if (!um) return;
  um.onCheckForUpdate((r) => {
    if (r && r.hasUpdate) h.hotUpdate(patch(current), 'offered');
  });
  um.onUpdateReady(() => {
    h.hotUpdate(patch(current), 'downloaded');
    h.storage.set('mp.pending', current);
  });
  um.onUpdateFailed(() => h.hotUpdate(patch(current), 'failed', { errorCode: 'update_failed' }));
}
