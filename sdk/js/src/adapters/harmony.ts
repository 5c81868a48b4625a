/**
 * HarmonyOS (ArkTS) adapter over the documented system APIs:
 * `@ohos.net.http` (requests, and connect timing for the site picker),
 * `@ohos.data.preferences` (storage), `@ohos.app.ability.errorManager`
 * (unhandled exceptions and rejections), the application context's
 * `applicationStateChange` (foreground / background), `@ohos.deviceInfo`,
 * `@ohos.display`, `@ohos.net.connection` (bearer and IP family),
 * `@ohos.hidebug` (PSS and CPU), `@ohos.process` / `@ohos.systemDateTime`
 * (process start for the cold start) and `cryptoFramework` (random).
 *
 * The modules are passed in (see `../harmony.ts`, which imports them), so
 * this file is plain TypeScript that the tests can drive with fakes typed
 * against the same stubs.
 */
import type common from '@ohos.app.ability.common';
import type connection from '@ohos.net.connection';
import type cryptoFramework from '@ohos.security.cryptoFramework';
import type deviceInfo from '@ohos.deviceInfo';
import type display from '@ohos.display';
import type errorManager from '@ohos.app.ability.errorManager';
import type hidebug from '@ohos.hidebug';
import type http from '@ohos.net.http';
import type preferences from '@ohos.data.preferences';
import type process from '@ohos.process';
import type systemDateTime from '@ohos.systemDateTime';
import { sha512 } from '@noble/hashes/sha2.js';
import type { Adapter, Hooks, Http, PerfSample, Storage } from '../core/adapter.js';
import type { Device, IpFamily, Network } from '../core/types.js';
import { bytesToLatin1, utf8 } from '../core/util.js';

export interface HarmonyModules {
  http: typeof http;
  preferences: typeof preferences;
  errorManager: typeof errorManager;
  deviceInfo: typeof deviceInfo;
  display?: typeof display;
  connection?: typeof connection;
  hidebug?: typeof hidebug;
  process?: typeof process;
  systemDateTime?: typeof systemDateTime;
  cryptoFramework?: typeof cryptoFramework;
}

/** Older preferences stores cap a string value at 8192 bytes: long values are chunked. */
const CHUNK = 8000;

export function preferencesStorage(m: HarmonyModules, context: common.Context, name = 'vitals'): Storage {
  let store: Promise<preferences.Preferences> | undefined;
  const p = () => (store = store || m.preferences.getPreferences(context, name));
  const read = async (k: string): Promise<string> => String(await (await p()).get(k, ''));
  return {
    async get(k) {
      const head = await read(k);
      const n = /^\u0000chunks:(\d+)$/.exec(head);
      if (!n) return head || null;
      let s = '';
      for (let i = 0; i < +n[1]; i++) s += await read(`${k}#${i}`);
      return s;
    },
    async set(k, v) {
      const ps = await p();
      if (v.length <= CHUNK) await ps.put(k, v);
      else {
        const n = Math.ceil(v.length / CHUNK);
        for (let i = 0; i < n; i++) await ps.put(`${k}#${i}`, v.slice(i * CHUNK, (i + 1) * CHUNK));
        await ps.put(k, `\u0000chunks:${n}`);
      }
      await ps.flush();
    },
    async remove(k) {
      const ps = await p();
      await ps.delete(k);
      await ps.flush();
    },
  };
}

export function createHarmonyAdapter(m: HarmonyModules, context: common.Context): Adapter {
  const { http } = m;
  const request: Http = async (req) => {
    const h = http.createHttp();
    try {
      const method = req.method === 'POST' ? http.RequestMethod.POST : req.method === 'HEAD' ? http.RequestMethod.HEAD : http.RequestMethod.GET;
      const r = await h.request(req.url, {
        method,
        header: req.headers,
        // ASCII JSON (no gzip here): the string is the signed bytes.
        extraData: req.body ? bytesToLatin1(req.body) : undefined,
        expectDataType: http.HttpDataType.ARRAY_BUFFER,
        usingCache: false,
        connectTimeout: Math.min(req.timeoutMs, 10_000),
        readTimeout: req.timeoutMs,
      });
      const hs = (r.header || {}) as Record<string, unknown>;
      const lower: Record<string, string> = {};
      for (const k in hs) lower[k.toLowerCase()] = String(hs[k]);
      const res = r.result;
      const body = res instanceof ArrayBuffer ? new Uint8Array(res) : utf8(typeof res === 'string' ? res : JSON.stringify(res));
      return { status: r.responseCode, header: (n) => lower[n], body };
    } finally {
      h.destroy();
    }
  };

  const net = (): { carrier: string; family: IpFamily } => {
    const c = m.connection;
    if (!c) return { carrier: '', family: 'unknown' };
    try {
      const h = c.getDefaultNetSync();
      const bt = c.getNetCapabilitiesSync(h).bearerTypes || [];
      const carrier = bt.includes(c.NetBearType.BEARER_WIFI)
        ? 'wifi'
        : bt.includes(c.NetBearType.BEARER_CELLULAR)
          ? 'cellular'
          : bt.includes(c.NetBearType.BEARER_ETHERNET)
            ? 'ethernet'
            : '';
      let v4 = false;
      let v6 = false;
      for (const la of c.getConnectionPropertiesSync(h).linkAddresses || []) {
        const a = la.address;
        if (a.family === 2 || a.address.includes(':')) v6 = true;
        else v4 = true;
      }
      return { carrier, family: v4 && v6 ? 'dual' : v6 ? 'ipv6' : v4 ? 'ipv4' : 'unknown' };
    } catch {
      return { carrier: '', family: 'unknown' };
    }
  };

  let fg = true;
  const adapter: Adapter = {
    platform: 'harmonyos',
    // No crypto.subtle in ArkTS: SHA-512 for the client-config signature.
    sha512,
    http: request,
    storage: preferencesStorage(m, context),
    device(): Device {
      const di = m.deviceInfo;
      let screen = {};
      try {
        const d = m.display?.getDefaultDisplaySync();
        if (d) screen = { width: d.width, height: d.height, density: Math.min(d.densityPixels, 10) };
      } catch {
        // No display (service extension).
      }
      const type = di.deviceType;
      return {
        model: di.productModel || 'unknown',
        class: type === 'tablet' || type === '2in1' ? 'tablet' : type === 'phone' || type === 'default' ? 'phone' : 'other',
        os_version: di.distributionOSVersion || di.displayVersion || String(di.sdkApiVersion) || 'unknown',
        screen,
        abi: (di.abiList || '').split(',')[0] || '',
        emulator: /emulator/i.test(di.productModel || ''),
      };
    },
    network(): Network {
      const n = net();
      return { ip_family: n.family, carrier: n.carrier };
    },
    foreground: () => fg,
    install(h: Hooks) {
      const em = m.errorManager;
      const id = em.on('error', {
        onUnhandledException: (msg: string) => void h.error({ error: parseArkError(msg), fatal: true, mechanism: 'onUnhandledException' }),
      });
      const onRejection = (reason: unknown) => void h.error({ error: reason, fatal: false, mechanism: 'unhandledRejection' });
      try {
        em.on('unhandledRejection', onRejection);
      } catch {
        // Before API 12.
      }
      const app = context.getApplicationContext();
      const cb: common.ApplicationStateChangeCallback = {
        onApplicationForeground: () => {
          fg = true;
          h.foreground();
        },
        onApplicationBackground: () => {
          fg = false;
          h.background();
        },
      };
      app.on('applicationStateChange', cb);
      let nc: connection.NetConnection | undefined;
      try {
        nc = m.connection?.createNetConnection();
        nc?.on('netAvailable', () => h.online());
        nc?.register(() => {});
      } catch {
        nc = undefined;
      }
      return () => {
        em.off('error', id).catch(() => {});
        try {
          em.off('unhandledRejection', onRejection);
        } catch {
          // Before API 12.
        }
        app.off('applicationStateChange', cb);
        nc?.unregister(() => {});
      };
    },
    processStart(): number | undefined {
      try {
        const pr = m.process;
        const sd = m.systemDateTime;
        if (pr && sd) return Date.now() - (sd.getUptime(sd.TimeType.STARTUP) - pr.getStartRealtime());
        if (pr) return Date.now() - pr.uptime() * 1000;
      } catch {
        // Older API level.
      }
      return undefined;
    },
    sample(): PerfSample | undefined {
      const d = m.hidebug;
      if (!d) return undefined;
      const s: PerfSample = {};
      try {
        s.memory_mb = Math.round(Number(d.getPss()) / 102.4) / 10;
      } catch {
        // Not available.
      }
      try {
        s.cpu_pct = Math.round(d.getCpuUsage() * 1000) / 10;
      } catch {
        // Not available.
      }
      return s;
    },
    async probe(url, timeoutMs) {
      const t0 = Date.now();
      const h = http.createHttp();
      try {
        const r = await h.request(url, { method: http.RequestMethod.HEAD, connectTimeout: timeoutMs, readTimeout: timeoutMs, usingCache: false });
        const t = r.performanceTiming;
        return t && t.tcpTiming > 0 ? t.tcpTiming : Date.now() - t0;
      } finally {
        h.destroy();
      }
    },
  };
  const cf = m.cryptoFramework;
  if (cf) {
    const rnd = cf.createRandom();
    adapter.random = (n) => rnd.generateRandomSync(n).data;
  }
  return adapter;
}

/**
 * errorManager hands over text like
 * "Error name:TypeError\nError message:x is undefined\nStacktrace:\n    at f (entry/src/main/ets/pages/Index.ts:49:5)".
 */
export function parseArkError(msg: string): { name: string; message: string; stack: string } {
  const name = /Error name:\s*(.*)/.exec(msg);
  const message = /Error message:\s*(.*)/.exec(msg);
  const at = msg.indexOf('Stacktrace:');
  return {
    name: (name && name[1].trim()) || 'Error',
    message: message ? message[1].trim() : msg.split('\n')[0],
    stack: at >= 0 ? msg.slice(at + 11) : msg,
  };
}
