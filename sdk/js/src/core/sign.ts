/**
 * Request signing, docs/protocol.md section 7: HMAC-SHA256 over
 *
 *   VITALS-HMAC-SHA256\n<METHOD>\n<path>\n<timestamp>\n<nonce>\n<hex sha256(body as sent)>
 *
 * keyed with the ingest key's secret taken as its UTF-8 bytes.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex, latin1, randomBytes, utf8 } from './util.js';

export const SCHEME = 'VITALS-HMAC-SHA256';

export function bodyDigest(body: Uint8Array): string {
  return hex(sha256(body));
}

/** The canonical string that is signed. */
export function canonical(method: string, path: string, timestamp: number, nonce: string, body: Uint8Array): string {
  return [SCHEME, method.toUpperCase(), path, String(timestamp), nonce, bodyDigest(body)].join('\n');
}

/** Lowercase hex HMAC-SHA256 signature of a request. */
export function sign(secret: string, method: string, path: string, timestamp: number, nonce: string, body: Uint8Array): string {
  return hex(hmac(sha256, utf8(secret), latin1(canonical(method, path, timestamp, nonce, body))));
}

/** 32 lowercase hex digits from 16 random bytes. */
export function nonce(source?: (n: number) => Uint8Array): string {
  return hex(randomBytes(16, source));
}

/** The four signing headers for a request; `nowSec` is Unix seconds (integer). */
export function signedHeaders(
  keyId: string,
  secret: string,
  method: string,
  path: string,
  body: Uint8Array,
  nowSec: number,
  random?: (n: number) => Uint8Array,
): Record<string, string> {
  const ts = Math.floor(nowSec);
  const n = nonce(random);
  return {
    'X-Vitals-Key': keyId,
    'X-Vitals-Timestamp': String(ts),
    'X-Vitals-Nonce': n,
    'X-Vitals-Signature': sign(secret, method, path, ts, n, body),
  };
}

/**
 * A user id hashed on the device (when the app sets `hashUserId`): hex of the
 * first 16 bytes of HMAC-SHA256(key = "vitals-user-hash:" + appId, userId).
 * The collector pseudonymises it again with its secret, so what is stored
 * is never the plain id; a back office computes the same value for erasure
 * requests with this function.
 */
export function hashUserId(appId: string, userId: string): string {
  return hex(hmac(sha256, utf8('vitals-user-hash:' + appId), utf8(userId)).slice(0, 16));
}
