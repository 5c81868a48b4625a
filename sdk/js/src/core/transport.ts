/**
 * One signed POST of one batch, and what the client should do next
 * (docs/protocol.md sections 9 and 10).
 */
import type { Http, HttpResponse } from './adapter.js';
import { signedHeaders } from './sign.js';
import { fromUtf8 } from './util.js';

export const BATCH_PATH = '/api/v1/batch';

export type Outcome =
  | { k: 'ok' }
  /** Transient: back off at least `after` ms (Retry-After, else 0). */
  | { k: 'retry'; after: number; code: string }
  /** Drop the batch (400 that names no event, or unrecoverable). */
  | { k: 'drop'; code: string }
  /** Drop one event (400 naming events[i]) and resend the rest under a new id. */
  | { k: 'drop_event'; index: number; code: string }
  /** 413: split into smaller batches. */
  | { k: 'split'; code: string }
  /** 401 / 403: stop sending until the configuration changes. */
  | { k: 'halt'; code: string }
  /** 401 auth.stale_timestamp: the device clock is off; resend with this offset. */
  | { k: 'clock'; offset: number }
  /** 415: the collector refused the compression; resend uncompressed. */
  | { k: 'plain' };

export interface SendParams {
  http: Http;
  endpoint: string;
  keyId: string;
  secret: string;
  json: Uint8Array;
  gzip?: (b: Uint8Array) => Promise<Uint8Array>;
  /** Device time, ms. */
  now: () => number;
  /** Server time minus device time, ms (0 until measured). */
  offset: number;
  random?: (n: number) => Uint8Array;
  lang?: string;
  keepalive?: boolean;
  timeoutMs: number;
}

/** Server time minus device time, from a response's Date header (ms), if any. */
export function dateOffset(r: HttpResponse, localNow: number): number | undefined {
  const d = r.header('date');
  const t = d ? Date.parse(d) : NaN;
  return isNaN(t) ? undefined : t - localNow;
}

function errorOf(r: HttpResponse): { code: string; path?: string } {
  try {
    const e = JSON.parse(fromUtf8(r.body)).error;
    return { code: String(e.code || ''), path: e.path };
  } catch {
    return { code: 'http.' + r.status };
  }
}

export async function postBatch(p: SendParams): Promise<Outcome & { res?: HttpResponse }> {
  let body = p.json;
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (p.gzip && body.length > 1024) {
    try {
      body = await p.gzip(body);
      headers['Content-Encoding'] = 'gzip';
    } catch {
      body = p.json;
    }
  }
  if (p.lang) headers['Accept-Language'] = p.lang;
  // Sign last, over the bytes as sent.
  Object.assign(headers, signedHeaders(p.keyId, p.secret, 'POST', BATCH_PATH, body, (p.now() + p.offset) / 1000, p.random));
  let res: HttpResponse;
  try {
    res = await p.http({ url: p.endpoint + BATCH_PATH, method: 'POST', headers, body, timeoutMs: p.timeoutMs, keepalive: p.keepalive });
  } catch {
    return { k: 'retry', after: 0, code: 'transport' };
  }
  const s = res.status;
  if (s >= 200 && s < 300) return { k: 'ok', res };
  const ra = Number(res.header('retry-after'));
  const after = ra > 0 ? ra * 1000 : 0;
  if (s === 429 || s >= 500 || s === 408) return { k: 'retry', after, code: errorOf(res).code || 'http.' + s, res };
  const { code, path } = errorOf(res);
  if (s === 413) return { k: 'split', code, res };
  if (s === 415) return { k: 'plain', res };
  if (s === 401 && code === 'auth.stale_timestamp') {
    const off = dateOffset(res, p.now());
    if (off !== undefined) return { k: 'clock', offset: off, res };
  }
  if (s === 401 && code === 'auth.replayed_nonce') return { k: 'retry', after: 0, code, res };
  if (s === 401 || s === 403) return { k: 'halt', code, res };
  const m = /^events\[(\d+)\]/.exec(path || '');
  if (m) return { k: 'drop_event', index: +m[1], code, res };
  return { k: 'drop', code, res };
}
