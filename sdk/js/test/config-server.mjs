// A stand-in for the collector's client-config endpoint as docs/sdk-js.md
// specifies it (the server side is not built yet): Ed25519 over the exact
// body bytes in X-Vitals-Signature-Ed25519, ETag / If-None-Match → 304.
import * as ed from '@noble/ed25519';
import { createHash } from 'node:crypto';

export async function keypair(seedByte = 7) {
  const secretKey = new Uint8Array(32).fill(seedByte);
  const publicKey = await ed.getPublicKeyAsync(secretKey);
  return { secretKey, publicKey, publicHex: Buffer.from(publicKey).toString('hex'), publicB64: Buffer.from(publicKey).toString('base64') };
}

export function configBody(over = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    v: 1,
    app_id: 'zq-securities',
    seq: 1,
    issued_at: now,
    expires_at: now + 86400,
    emergency: { action: 'notice', message: { 'zh-CN': '系统维护中', en: 'Maintenance' } },
    min_version: { version: '5.3.0', action: 'block', url: 'https://example.com/update' },
    sites: [
      {
        id: 'sh-trade-1',
        category: 'trade',
        addresses: [
          { url: 'https://203.0.113.10', family: 'ipv4' },
          { url: 'https://[2001:db8::10]', family: 'ipv6' },
        ],
        probe: '/healthz',
      },
      { id: 'sz-trade-2', category: 'trade', addresses: [{ url: 'https://198.51.100.20', family: 'ipv4' }] },
      { id: 'sh-quote-1', category: 'quote', addresses: [{ url: 'https://203.0.113.30', family: 'ipv4' }] },
    ],
    rollouts: [
      { id: 'all', percent: 100 },
      { id: 'none', percent: 0 },
      { id: 'half', percent: 50, value: { kline: 'v2' } },
    ],
    future_field: 'clients ignore fields they do not know',
    ...over,
  };
}

/** Signs a body; `encoding` 'base64' or 'hex'. Returns { bytes, signature, etag }. */
export async function signed(kp, body, encoding = 'base64') {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const sig = Buffer.from(await ed.signAsync(bytes, kp.secretKey));
  return { bytes, signature: sig.toString(encoding), etag: '"' + createHash('sha256').update(bytes).digest('hex').slice(0, 16) + '"' };
}
