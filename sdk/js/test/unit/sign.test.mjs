import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sign, canonical, bodyDigest, signedHeaders, hashUserId, utf8 } from '../../dist/index.js';

const body = new TextEncoder().encode('{"v":1}');

test('known-answer vector of docs/protocol.md section 7', () => {
  assert.equal(bodyDigest(body), 'afbf9d0f3560b0fd7795e81c42a0a79ee6b6fc67e064f77826aee642cad28d91');
  assert.equal(
    canonical('POST', '/api/v1/batch', 1732850000, '0123456789abcdef', body),
    'VITALS-HMAC-SHA256\nPOST\n/api/v1/batch\n1732850000\n0123456789abcdef\nafbf9d0f3560b0fd7795e81c42a0a79ee6b6fc67e064f77826aee642cad28d91',
  );
  assert.equal(
    sign('secret', 'POST', '/api/v1/batch', 1732850000, '0123456789abcdef', body),
    '12f0332f1465c16953659d126e0f21ebb8fbf97cc85e51b5782dac09b236dfd4',
  );
});

test('canonical string upper-cases the method, as protocol/src/sign.rs does', () => {
  assert.equal(
    canonical('post', '/p', 5, 'abc', new Uint8Array()),
    'VITALS-HMAC-SHA256\nPOST\n/p\n5\nabc\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
});

test('signed headers: integer seconds, fresh 32-hex nonce per request', () => {
  const a = signedHeaders('key-1', 'secret', 'POST', '/api/v1/batch', body, 1732850000.987);
  const b = signedHeaders('key-1', 'secret', 'POST', '/api/v1/batch', body, 1732850000.987);
  assert.equal(a['X-Vitals-Key'], 'key-1');
  assert.equal(a['X-Vitals-Timestamp'], '1732850000');
  assert.match(a['X-Vitals-Nonce'], /^[0-9a-f]{32}$/);
  assert.notEqual(a['X-Vitals-Nonce'], b['X-Vitals-Nonce']);
  assert.equal(a['X-Vitals-Signature'], sign('secret', 'POST', '/api/v1/batch', 1732850000, a['X-Vitals-Nonce'], body));
});

test('a non-ASCII secret is used as its UTF-8 bytes', async () => {
  const { createHmac } = await import('node:crypto');
  const c = canonical('POST', '/api/v1/batch', 1, '0123456789abcdef', body);
  assert.equal(sign('密钥', 'POST', '/api/v1/batch', 1, '0123456789abcdef', body), createHmac('sha256', Buffer.from('密钥')).update(c).digest('hex'));
});

test('utf8 matches TextEncoder, surrogates included', () => {
  for (const s of ['', 'abc', '中文', '😀x', '\ud800', 'é\u07ff\u0800\uffff']) {
    assert.deepEqual([...utf8(s)], [...new TextEncoder().encode(s)], s);
  }
});

test('on-device user id hash is stable, per app, 32 hex', () => {
  const h = hashUserId('app-a', 'C00012345');
  assert.match(h, /^[0-9a-f]{32}$/);
  assert.equal(h, hashUserId('app-a', 'C00012345'));
  assert.notEqual(h, hashUserId('app-b', 'C00012345'));
  assert.notEqual(h, hashUserId('app-a', 'C00012346'));
});
