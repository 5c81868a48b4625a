import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scrub } from '../../dist/index.js';

// The same cases as collector/src/privacy.rs, so device and edge agree.
test('masks ID cards, phones and accounts inside Chinese text', () => {
  assert.equal(
    scrub('用户身份证11010519491231002X手机13812345678卡号6222020200112233445'),
    '用户身份证110***********002X手机138****5678卡号6222***********3445',
  );
});

test('leaves short numbers, versions and addresses', () => {
  assert.equal(scrub('code 404 at 0x7fff5fbff8c8 v17.1.2'), 'code 404 at 0x7fff5fbff8c8 v17.1.2');
  assert.equal(scrub('n=10000000000'), 'n=10000000000');
  assert.equal(scrub('pc 0x1000123456789 lr 0x1000123456780'), 'pc 0x1000123456789 lr 0x1000123456780');
  assert.equal(scrub('order 2024112900001 done'), 'order 2024*****0001 done');
});

test('an X after a run that is not 17 digits glues it', () => {
  assert.equal(scrub('id 1381234567X'), 'id 1381234567X');
  assert.equal(scrub('tel:13812345678.'), 'tel:13812345678.');
});

test('extra patterns are masked whole', () => {
  assert.equal(scrub('for acct-ABC1234 failed', [/acct-[A-Z]{3}\d{4}/]), 'for ************ failed');
});
