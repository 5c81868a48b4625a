// 5.4b: the in-app upgrade prompt. The client config tells the app when
// this release should prompt (`latest.prompt`, a newer `latest.version`);
// the app shows its prompt and reports it with `upgradePrompt`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vitals } from '../../dist/index.js';
import { accepted, baseOptions, fakeAdapter, response, sentEvents } from '../helpers.mjs';
import { keypair, configBody, signed } from '../config-server.mjs';

const kp = await keypair(7);

/** A started client whose client-config endpoint serves `body`, and what its callbacks got. */
async function withConfig(body) {
  const doc = await signed(kp, body);
  const a = fakeAdapter({
    respond: (req) =>
      req.url.includes('/api/v1/client-config')
        ? response(200, doc.bytes, { etag: doc.etag, 'x-vitals-signature-ed25519': doc.signature })
        : accepted(req),
  });
  const upgrades = [];
  const v = new Vitals(
    baseOptions({ clientConfig: { publicKeys: [kp.publicHex], intervalMs: 3_600_000 }, onUpgrade: (l) => upgrades.push(l) }),
    a,
  ).start();
  await v.ready;
  await v.refreshConfig();
  return { a, v, upgrades };
}

const prompts = (a) =>
  sentEvents(a)
    .filter((e) => e.type === 'upgrade_prompt')
    .map(({ _batch, ts, ...e }) => {
      assert.ok(Number.isInteger(ts));
      return e;
    });

test('upgradePrompt sends the protocol event: the offered version, the outcome, the placement', async () => {
  const a = fakeAdapter();
  const v = new Vitals(baseOptions(), a).start();
  await v.ready;
  assert.equal(v.upgradePrompt('shown', { targetVersion: '5.3.0', placement: 'home' }), true);
  assert.equal(v.upgradePrompt('accepted', { targetVersion: '5.3.0' }), true);
  assert.equal(v.upgradePrompt('later', { targetVersion: '5.3.0', placement: 'trade\n\u202eboard' }), true);
  v.upgradePrompt('declined', { targetVersion: '5.3.0' });
  await v.flush();
  assert.deepEqual(prompts(a), [
    { type: 'upgrade_prompt', target_version: '5.3.0', outcome: 'shown', placement: 'home' },
    { type: 'upgrade_prompt', target_version: '5.3.0', outcome: 'accepted', placement: '' },
    // Control and bidirectional characters, which the collector refuses in labels, are dropped.
    { type: 'upgrade_prompt', target_version: '5.3.0', outcome: 'later', placement: 'tradeboard' },
    { type: 'upgrade_prompt', target_version: '5.3.0', outcome: 'declined', placement: '' },
  ]);
  await v.close();
});

test('without a target and without a trusted config nothing is recorded', async () => {
  const a = fakeAdapter();
  const v = new Vitals(baseOptions(), a).start();
  await v.ready;
  assert.equal(v.upgradePrompt('shown'), false);
  assert.equal(v.upgradePrompt('shown', { targetVersion: '\n' }), false);
  v.count('x');
  await v.flush();
  assert.deepEqual(prompts(a), []);
  assert.ok(sentEvents(a).some((e) => e.type === 'custom'), 'the batch was sent');
  await v.close();
});

test('a config with a newer latest version and prompt: onUpgrade, and the prompt offers that version', async () => {
  const latest = { version: '5.3.0', build: '530001', notes: { 'zh-CN': '新功能', en: 'New' }, url: 'https://example.com/app', prompt: true };
  const { a, v, upgrades } = await withConfig(configBody({ latest }));
  assert.deepEqual(upgrades, [{ ...latest, current: '5.2.0' }]);
  assert.deepEqual(v.config.latest, latest);
  assert.equal(v.upgradePrompt('shown', { placement: 'home' }), true);
  await v.flush();
  assert.deepEqual(prompts(a), [{ type: 'upgrade_prompt', target_version: '5.3.0', outcome: 'shown', placement: 'home' }]);
  await v.close();
});

test('no onUpgrade when the server does not ask to prompt or the release is not older', async () => {
  for (const latest of [
    { version: '5.3.0', prompt: false },
    { version: '5.2.0', prompt: true },
    { version: '5.1.9', prompt: true },
    null,
  ]) {
    const { v, upgrades } = await withConfig(configBody({ latest }));
    assert.deepEqual(upgrades, [], JSON.stringify(latest));
    await v.close();
  }
});
