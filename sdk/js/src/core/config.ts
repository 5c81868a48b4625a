/**
 * Client config: a JSON document the collector signs with Ed25519. The SDK
 * trusts it only when the signature over the exact body bytes verifies
 * with one of the public keys built into the app, the body names this app,
 * it has not expired, and its `seq` is not lower than the last one trusted
 * (an old signed config cannot be replayed). See docs/sdk-js.md.
 *
 *   GET <endpoint>/api/v1/client-config?app=…&platform=…&version=…&build=…
 *   (signed like ingest: method GET, that path, digest of the empty body;
 *    If-None-Match: <ETag> → 304 Not Modified)
 *   200: body = the JSON below, exact bytes signed;
 *        X-Vitals-Signature-Ed25519: signature, base64 (88 chars) or hex (128)
 *        ETag: "…"
 */
import { hashes, verifyAsync } from '@noble/ed25519';
import { sha256 } from '@noble/hashes/sha2.js';
import type { IpFamily, ServiceCategory } from './types.js';
import { decodeKey, fromUtf8, utf8 } from './util.js';

/** noble's default: crypto.subtle (browsers in secure contexts, Node). */
const subtleSha512 = hashes.sha512Async;

export const CONFIG_PATH = '/api/v1/client-config';
export const SIGNATURE_HEADER = 'x-vitals-signature-ed25519';

/** A text shown to the user, plain or per language (`zh-CN`, `en`). */
export type Text = string | Record<string, string>;

export interface Emergency {
  /** `none`, `notice` (show the message), `degrade` (turn off `features`), `block` (stop use, e.g. during an incident). */
  action: 'none' | 'notice' | 'degrade' | 'block';
  message?: Text;
  url?: string;
  features?: string[];
}

export interface MinVersion {
  version: string;
  build?: string;
  /** `warn`: suggest an update; `block`: this version may not be used. */
  action: 'warn' | 'block';
  message?: Text;
  url?: string;
}

/** The newest version of this platform (5.4a, 5.4b). */
export interface Latest {
  version: string;
  build?: string;
  notes?: Text;
  /** Store or download page. */
  url?: string;
  /** The server asks this release to prompt its users to upgrade: it is older than `version`. */
  prompt?: boolean;
}

export interface SiteAddress {
  /** Base URL, e.g. `https://203.0.113.10:443` or `https://[2001:db8::10]`. */
  url: string;
  family: IpFamily;
}

export interface Site {
  /** The `site` id network events carry. */
  id: string;
  category: ServiceCategory;
  addresses: SiteAddress[];
  /** Path probed by the fastest-site picker (default `/`). */
  probe?: string;
}

export interface Rollout {
  id: string;
  /** 0–100: share of installs that get it, bucketed by install id. */
  percent: number;
  value?: unknown;
}

export interface ClientConfig {
  v: 1;
  app_id: string;
  /** Increases with every change; a lower one than already trusted is refused. */
  seq: number;
  /** Unix seconds. */
  issued_at: number;
  /** Unix seconds; an expired config is refused. */
  expires_at: number;
  emergency?: Emergency | null;
  min_version?: MinVersion | null;
  latest?: Latest | null;
  sites?: Site[];
  rollouts?: Rollout[];
}

/**
 * Verifies a signed config; resolves to it, or rejects with the reason
 * (`config.unsigned`, `config.bad_signature`, `config.malformed`,
 * `config.wrong_app`, `config.expired`, `config.rollback`). `sha512` is the
 * runtime's SHA-512 where there is no crypto.subtle.
 */
export async function verifyConfig(
  body: Uint8Array,
  signature: string | undefined,
  publicKeys: string[],
  appId: string,
  nowMs: number,
  minSeq = 0,
  sha512?: (m: Uint8Array) => Uint8Array | Promise<Uint8Array>,
): Promise<ClientConfig> {
  if (!signature) throw new Error('config.unsigned');
  hashes.sha512Async = sha512 ? async (m) => (await sha512(m)) as Awaited<ReturnType<typeof subtleSha512>> : subtleSha512;
  let ok = false;
  try {
    const sig = decodeKey(signature);
    for (const k of publicKeys) if (sig.length === 64 && !ok) ok = await verifyAsync(sig, body, decodeKey(k)).catch(() => false);
  } catch {
    ok = false;
  }
  if (!ok) throw new Error('config.bad_signature');
  let c: ClientConfig;
  try {
    c = JSON.parse(fromUtf8(body));
  } catch {
    throw new Error('config.malformed');
  }
  if (!c || c.v !== 1 || typeof c.seq !== 'number') throw new Error('config.malformed');
  if (c.app_id !== appId) throw new Error('config.wrong_app');
  if (!(c.expires_at * 1000 > nowMs)) throw new Error('config.expired');
  if (c.seq < minSeq) throw new Error('config.rollback');
  return c;
}

/** Compares dotted versions numerically (`5.10.0` > `5.9.1`); returns <0, 0, >0. */
export function compareVersions(a: string, b: string): number {
  const x = a.split(/[.+-]/);
  const y = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] || '0';
    const q = y[i] || '0';
    const d = /^\d+$/.test(p) && /^\d+$/.test(q) ? +p - +q : p < q ? -1 : p > q ? 1 : 0;
    if (d) return d;
  }
  return 0;
}

/** Whether this install is inside a rollout: sha256(id ":" install_id) → bucket 0–9999. */
export function inRollout(r: Rollout, installId: string): boolean {
  const h = sha256(utf8(r.id + ':' + installId));
  const bucket = ((h[0] << 8) | h[1]) % 10000;
  return bucket < Math.round((r.percent || 0) * 100);
}
