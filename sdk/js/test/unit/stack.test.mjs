import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStack } from '../../dist/index.js';

test('V8 / Chrome / Android WebView', () => {
  const f = parseStack(`TypeError: x is undefined
    at placeOrder (https://h5.example.com/static/app.3f9c.js:1:23456)
    at async submit (https://h5.example.com/static/app.3f9c.js:2:10)
    at https://h5.example.com/static/vendor.js:7:8
    at new Promise (<anonymous>)
    at Object.<anonymous> (/srv/node_modules/lib/index.js:3:4)`);
  assert.deepEqual(f[0], { file: 'https://h5.example.com/static/app.3f9c.js', line: 1, col: 23456, in_app: true, function: 'placeOrder' });
  assert.equal(f[1].function, 'submit');
  assert.equal(f[2].function, undefined);
  assert.equal(f[2].file, 'https://h5.example.com/static/vendor.js');
  assert.equal(f.length, 4);
  assert.equal(f[3].in_app, false);
});

test('JavaScriptCore / Safari / WeChat on iOS', () => {
  const f = parseStack(`placeOrder@https://h5.example.com/app.js:1:200
@https://h5.example.com/app.js:1:50
global code@https://h5.example.com/app.js:3:1
[native code]`);
  assert.equal(f.length, 3);
  assert.deepEqual(f[0], { file: 'https://h5.example.com/app.js', line: 1, col: 200, in_app: true, function: 'placeOrder' });
  assert.equal(f[1].function, undefined);
  assert.equal(f[2].function, 'global code');
});

test('Hermes (React Native) with "address at"', () => {
  const f = parseStack(`Error: boom
    at onPress (address at index.android.bundle:1:98765)
    at anonymous (http://10.0.2.2:8081/index.bundle?platform=android:120:33)`);
  assert.deepEqual(f[0], { file: 'index.android.bundle', line: 1, col: 98765, in_app: true, function: 'onPress' });
  assert.equal(f[1].file, 'http://10.0.2.2:8081/index.bundle?platform=android');
  assert.equal(f[1].line, 120);
});

test('ArkTS and mini-program frames', () => {
  const ark = parseStack('    at anonymous (entry/src/main/ets/pages/Index.ts:49:5)');
  assert.deepEqual(ark[0], { file: 'entry/src/main/ets/pages/Index.ts', line: 49, col: 5, in_app: true, function: 'anonymous' });
  const mp = parseStack(`TypeError: Cannot read property 'a' of undefined
    at Ve.onLoad (appservice/pages/index/index.js:12:7)
    at WAService.js:2:1234`);
  assert.equal(mp[0].file, 'appservice/pages/index/index.js');
  assert.equal(mp[1].in_app, false);
});

test('frame count is capped', () => {
  const s = Array.from({ length: 300 }, (_, i) => `    at f${i} (a.js:${i + 1}:1)`).join('\n');
  assert.equal(parseStack(s).length, 128);
  assert.equal(parseStack(undefined).length, 0);
});
