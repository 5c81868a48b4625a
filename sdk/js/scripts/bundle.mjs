// Builds the minified bundles apps load (dist/bundle/) with esbuild, after
// `tsc` has type-checked everything and emitted dist/ (ES modules + .d.ts).
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ENTRIES = [
  // name, entry, format, output
  ['core', 'src/index.ts', 'esm', 'dist/bundle/core.min.js'],
  ['browser', 'src/browser.ts', 'esm', 'dist/bundle/browser.min.js'],
  ['browser.iife', 'src/browser.ts', 'iife', 'dist/bundle/browser.iife.min.js'],
  ['react-native', 'src/react-native.ts', 'esm', 'dist/bundle/react-native.min.js'],
  // WeChat's npm build copies the directory named by package.json "miniprogram"; it is CommonJS.
  ['miniprogram', 'src/miniprogram.ts', 'cjs', 'dist/miniprogram/index.js'],
  ['harmony', 'src/harmony.ts', 'esm', 'dist/bundle/harmony.min.js'],
];

export async function bundle(name, entry, format, output) {
  const out = join(root, output);
  mkdirSync(dirname(out), { recursive: true });
  if (format === 'cjs') writeFileSync(join(dirname(out), 'package.json'), '{ "type": "commonjs" }\n');
  await build({
    entryPoints: [join(root, entry)],
    bundle: true,
    minify: true,
    format,
    globalName: format === 'iife' ? 'Vitals' : undefined,
    // ed25519 needs BigInt literals: ES2020 engines (iOS 14+, Hermes 0.70+, ArkTS, current WeChat / Alipay).
    target: 'es2020',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    external: ['@ohos.*'],
    sourcemap: true,
    legalComments: 'none',
    // Private members end in "_" (never persisted, never part of the API).
    mangleProps: /_$/,
    outfile: out,
    logLevel: 'warning',
  });
  const bytes = readFileSync(out);
  return { name, out, min: bytes.length, gz: gzipSync(bytes, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, entry, format, output] of ENTRIES) {
    const r = await bundle(name, entry, format, output);
    console.log(`${r.name.padEnd(14)} ${String(r.min).padStart(7)} B min  ${String(r.gz).padStart(6)} B min+gz`);
  }
}
