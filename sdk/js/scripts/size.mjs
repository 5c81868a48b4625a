// Size budget (5.7c): the core bundle, minified and gzipped, must stay within 15 KB.
import { bundle, ENTRIES } from './bundle.mjs';

const LIMIT = 15 * 1024;
let failed = false;
for (const [name, entry, format, output] of ENTRIES) {
  const r = await bundle(name, entry, format, output);
  const kb = (r.gz / 1024).toFixed(2);
  if (name === 'core') {
    const ok = r.gz <= LIMIT;
    console.log(`core bundle: ${r.min} B minified, ${r.gz} B (${kb} KB) minified+gzipped; budget ${LIMIT} B: ${ok ? 'ok' : 'OVER BUDGET'}`);
    if (!ok) failed = true;
  } else {
    console.log(`  ${name}: ${r.gz} B (${kb} KB) minified+gzipped (core + adapter)`);
  }
}
process.exit(failed ? 1 : 0);
