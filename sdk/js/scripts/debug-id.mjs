#!/usr/bin/env node
// vitals-debug-id: gives a built JS bundle and its source map a shared
// debug id, so a crash's frames can be symbolicated with exactly the map of
// the bundle that ran.
//
//   vitals-debug-id dist/app.min.js [dist/app.min.js.map]
//
// - The id is a UUID derived from the SHA-256 of the source map, so the same
//   build always gets the same id.
// - The map gets a "debugId" field (the TC39 source-map proposal's name).
// - The bundle gets, appended (no existing line or column moves), a snippet
//   that registers the id under the bundle's own stack location in
//   globalThis.__vitalsDebugIds, which the SDK reads when it reports a
//   crash, and a `//# debugId=` comment.
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function debugIdFor(mapText) {
  const h = createHash('sha256').update(mapText).digest('hex');
  const v = ((parseInt(h[16], 16) & 3) | 8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${v}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function snippet(id) {
  return (
    `\n;(function(){try{var g=typeof globalThis!=="undefined"?globalThis:this,s=new Error().stack;` +
    `if(s){(g.__vitalsDebugIds=g.__vitalsDebugIds||{})[s]=${JSON.stringify(id)}}}catch(e){}})();\n//# debugId=${id}\n`
  );
}

/** Injects a debug id into bundle + map (in place); returns the id. Idempotent. */
export function inject(bundlePath, mapPath = bundlePath + '.map') {
  const mapText = readFileSync(mapPath, 'utf8');
  const map = JSON.parse(mapText);
  const code = readFileSync(bundlePath, 'utf8');
  const existing = /\/\/# debugId=([0-9a-f-]{36})/.exec(code);
  if (existing && map.debugId === existing[1]) return existing[1];
  delete map.debugId;
  const id = debugIdFor(JSON.stringify(map));
  map.debugId = id;
  writeFileSync(mapPath, JSON.stringify(map));
  writeFileSync(bundlePath, code.replace(/\s*$/, '') + snippet(id));
  return id;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const [bundle, map] = process.argv.slice(2);
  if (!bundle) {
    console.error('usage: vitals-debug-id BUNDLE.js [BUNDLE.js.map]');
    process.exit(2);
  }
  console.log(inject(bundle, map));
}
