/** Small helpers that every runtime can run (no TextEncoder, no DOM). */

/** The global object, typed only as far as the SDK reads it. */
export interface Globals {
  crypto?: { getRandomValues?(a: Uint8Array): Uint8Array };
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
  [key: string]: unknown;
}
export const G = globalThis as unknown as Globals;

/** UTF-8 bytes of a string (lone surrogates become U+FFFD, as TextEncoder does). */
export function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out.push(c);
      continue;
    }
    if (c >= 0xd800 && c < 0xe000) {
      const d = s.charCodeAt(i + 1);
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    }
    if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

/** Bytes of a string whose characters are all < 0x100 (our ASCII JSON). */
export function latin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** The inverse of latin1: one character per byte. */
export function bytesToLatin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, Array.from(b.subarray(i, i + 8192)));
  return s;
}

/** Decodes UTF-8 (for response bodies). */
export function fromUtf8(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i++];
    let cp: number;
    if (c < 0x80) cp = c;
    else if (c < 0xe0) cp = ((c & 31) << 6) | (b[i++] & 63);
    else if (c < 0xf0) cp = ((c & 15) << 12) | ((b[i++] & 63) << 6) | (b[i++] & 63);
    else cp = ((c & 7) << 18) | ((b[i++] & 63) << 12) | ((b[i++] & 63) << 6) | (b[i++] & 63);
    s += String.fromCodePoint(cp);
  }
  return s;
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

/** Decodes hex or (standard or URL-safe, padded or not) base64. */
export function decodeKey(s: string): Uint8Array {
  s = s.trim();
  if (/^(?:[0-9a-fA-F]{2})+$/.test(s) && (s.length === 64 || s.length === 128)) {
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
    return out;
  }
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const clean = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of clean) {
    const v = abc.indexOf(ch);
    if (v < 0) throw new Error('vitals: bad key encoding');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 255);
    }
  }
  return new Uint8Array(out);
}

let fallbackCounter = 0;
/** Random bytes: Web Crypto where the runtime has it, else the adapter's, else a
 * non-cryptographic mix (ids and nonces need uniqueness, not secrecy). */
export function randomBytes(n: number, source?: (n: number) => Uint8Array): Uint8Array {
  if (source) return source(n);
  const b = new Uint8Array(n);
  const c = G.crypto;
  if (c && c.getRandomValues) return c.getRandomValues(b);
  fallbackCounter++;
  for (let i = 0; i < n; i++) b[i] = (Math.random() * 256) ^ (Date.now() >> (i % 4) * 8) ^ (fallbackCounter >> (i % 3) * 8);
  return b;
}

/** A random UUID v4. */
export function uuid(source?: (n: number) => Uint8Array): string {
  const b = randomBytes(16, source);
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Truncates a string to at most `max` UTF-8 bytes without splitting a character. */
export function clip(s: unknown, max: number): string {
  let str = s == null ? '' : String(s);
  if (str.length * 3 <= max) return str;
  let bytes = 0;
  let i = 0;
  for (; i < str.length; i++) {
    const c = str.charCodeAt(i);
    const n = c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c < 0xdc00 ? 4 : c >= 0xdc00 && c < 0xe000 ? 0 : 3;
    if (bytes + n > max) break;
    bytes += n;
  }
  // Never end on a high surrogate.
  const last = str.charCodeAt(i - 1);
  if (last >= 0xd800 && last < 0xdc00) i--;
  return str.slice(0, i);
}

/** An identifier as the protocol allows it: [A-Za-z0-9._:-]{1,128}. */
export function toId(s: unknown, fallback = 'unknown'): string {
  const v = String(s == null ? '' : s).replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 128);
  return v || fallback;
}

/** A short label as the protocol takes it: no control or bidirectional characters, at most 256 UTF-8 bytes. */
export function label(s: unknown): string {
  return clip(String(s == null ? '' : s).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g, ''), 256);
}

/** A non-negative integer no larger than `max`. */
export function uint(n: unknown, max = 86_400_000): number {
  const v = Math.round(Number(n));
  return v > 0 ? Math.min(v, max) : 0;
}

/**
 * JSON with every non-ASCII character escaped (\uXXXX): the string then is
 * its own byte sequence, so what is signed is what every runtime's HTTP
 * client sends, whether it is handed a string or bytes.
 */
export function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4));
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
