/** Pieces several adapters share. */
import type { Storage } from '../core/adapter.js';
import type { DeviceClass, Platform } from '../core/types.js';

/** A Storage over a synchronous string store (localStorage, wx.*StorageSync). */
export function syncStorage(s: {
  getItem(k: string): string | null | undefined;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}): Storage {
  return {
    get: async (k) => s.getItem(k),
    set: async (k, v) => s.setItem(k, v),
    remove: async (k) => s.removeItem(k),
  };
}

/** In-memory storage, when the runtime has none (nothing survives a restart). */
export function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return syncStorage({ getItem: (k) => m.get(k), setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) });
}

export interface UaFacts {
  platform: Platform;
  class: DeviceClass;
  model: string;
  os_version: string;
}

/** Platform, class, model and OS version from a user agent (H5 pages, WebViews). */
export function parseUserAgent(ua: string): UaFacts {
  let m: RegExpExecArray | null;
  if ((m = /(?:OpenHarmony|HarmonyOS)[ /]?([\d.]+)?/.exec(ua))) {
    const model = /;\s*([^;)]+?)\s*(?:Build|\))/.exec(ua.slice(ua.indexOf(m[0])));
    return { platform: 'harmonyos', class: /Tablet/.test(ua) ? 'tablet' : 'phone', model: clean(model?.[1]) || 'HarmonyOS', os_version: m[1] || 'unknown' };
  }
  if ((m = /iPad.*? OS (\d+[_\d]*)/.exec(ua)) || (/Macintosh/.test(ua) && /Mobile\//.test(ua))) {
    return { platform: 'ipados', class: 'tablet', model: 'iPad', os_version: (m?.[1] || 'unknown').replace(/_/g, '.') };
  }
  if ((m = /(iPhone|iPod).*? OS (\d+[_\d]*)/.exec(ua))) {
    return { platform: 'ios', class: 'phone', model: m[1], os_version: m[2].replace(/_/g, '.') };
  }
  if ((m = /Android ([\d.]+)(?:;\s*([^;)]+?))?\s*(?:Build\/[^;)]*)?[;)]/.exec(ua))) {
    const tablet = !/Mobile/.test(ua);
    return { platform: tablet ? 'android_tablet' : 'android', class: tablet ? 'tablet' : 'phone', model: clean(m[2]) || 'Android', os_version: m[1] };
  }
  const os = /(Windows NT|Mac OS X|CrOS|Linux)[ _]?([\d._]*)/.exec(ua);
  return { platform: 'android', class: 'other', model: os ? os[1] : 'browser', os_version: (os?.[2] || 'unknown').replace(/_/g, '.') || 'unknown' };
}

function clean(s: string | undefined): string {
  const v = (s || '').trim();
  return /^(?:K|wv|Linux|U|Mobile)$/.test(v) ? '' : v;
}
