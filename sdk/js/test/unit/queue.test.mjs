import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from '../../dist/index.js';

const rel = { version: '1.0.0', build: '1' };
let n = 0;
const ids = () => `b${++n}`;
const ev = (i, pad = 0) => ({ type: 'custom', ts: 1_700_000_000_000 + i, name: 'x'.repeat(1 + pad), kind: 'counter', value: i });

test('seals batches by event count and by bytes', () => {
  const q = new Outbox({ maxBatchEvents: 3, maxBatchBytes: 1 << 20, maxQueueBytes: 1 << 20 }, ids);
  for (let i = 0; i < 7; i++) q.add(ev(i), rel, undefined);
  assert.deepEqual(q.batches.map((b) => [b.ev.length, !!b.s]), [[3, true], [3, true], [1, false]]);
  const q2 = new Outbox({ maxBatchEvents: 1000, maxBatchBytes: 500, maxQueueBytes: 1 << 20 }, ids);
  for (let i = 0; i < 5; i++) q2.add(ev(i, 200), rel, undefined);
  assert.ok(q2.batches.length >= 2);
  // a batch is sealed as soon as it reaches the byte bound
  for (const b of q2.batches.slice(0, -1)) assert.ok(b.s && JSON.stringify(b.ev).length >= 500 - 300);
});

test('a new user or release starts a new batch', () => {
  const q = new Outbox({ maxBatchEvents: 100, maxBatchBytes: 1 << 20, maxQueueBytes: 1 << 20 }, ids);
  q.add(ev(1), rel, undefined);
  q.add(ev(2), rel, 'u1');
  q.add(ev(3), { version: '1.0.1' }, 'u1');
  assert.equal(q.batches.length, 3);
  assert.equal(q.batches[1].user, 'u1');
  assert.equal('user' in q.batches[0], false);
});

test('over the byte cap the oldest events are dropped and counted', () => {
  const q = new Outbox({ maxBatchEvents: 10, maxBatchBytes: 1 << 20, maxQueueBytes: 2000 }, ids);
  for (let i = 0; i < 100; i++) q.add(ev(i), rel, undefined);
  assert.ok(q.bytes <= 2000);
  assert.equal(q.dropped + q.count(), 100);
  assert.ok(q.dropped > 0);
  // the newest survive
  assert.equal(q.batches.at(-1).ev.at(-1).value, 99);
  assert.ok(q.batches[0].ev[0].value >= q.dropped);
});

test('persists and reloads in front of events captured meanwhile', () => {
  const q = new Outbox({ maxBatchEvents: 2, maxBatchBytes: 1 << 20, maxQueueBytes: 1 << 20 }, ids);
  for (let i = 0; i < 3; i++) q.add(ev(i), rel, 'u');
  q.dropped = 4;
  const text = q.serialize();
  assert.match(text, /^[\x00-\x7f]*$/);
  const r = new Outbox({ maxBatchEvents: 2, maxBatchBytes: 1 << 20, maxQueueBytes: 1 << 20 }, ids);
  r.add(ev(9), rel, 'u');
  r.load(text);
  assert.deepEqual(r.batches.map((b) => b.ev.map((e) => e.value)), [[0, 1], [2], [9]]);
  assert.equal(r.batches[0].id, q.batches[0].id);
  assert.ok(r.batches[1].s, 'loaded batches are sealed');
  assert.equal(r.dropped, 4);
  r.load('{not json');
  assert.equal(r.count(), 4);
});

test('replace gives new ids; prune drops matching events', () => {
  const q = new Outbox({ maxBatchEvents: 10, maxBatchBytes: 1 << 20, maxQueueBytes: 1 << 20 }, ids);
  for (let i = 0; i < 4; i++) q.add(ev(i), rel, undefined);
  const b = q.batches[0];
  q.replace(b, [b.ev.slice(0, 2), b.ev.slice(2)]);
  assert.equal(q.batches.length, 2);
  assert.notEqual(q.batches[0].id, b.id);
  assert.equal(q.prune((e) => e.value % 2 === 0), 2);
  assert.deepEqual(q.batches.map((x) => x.ev.map((e) => e.value)), [[1], [3]]);
});
