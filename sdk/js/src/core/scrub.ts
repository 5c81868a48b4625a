/**
 * Masks sensitive numbers before a text leaves the device, with the same
 * rules the collector applies at the edge (collector/src/privacy.rs):
 * Chinese resident ID cards (18 characters, the last may be X), mainland
 * mobile numbers (11 digits, 13x–19x) and bank-card / fund-account numbers
 * (12–19 digits). A digit run glued to ASCII letters or '.' (a hex address,
 * an identifier, a version) is left alone. Works inside Chinese text.
 */

function mask(run: string, head: number, tail: number): string {
  return run.slice(0, head) + '*'.repeat(run.length - head - tail) + run.slice(run.length - tail);
}

function idCard(run: string): boolean {
  if (run.length !== 18 || run[0] === '0') return false;
  const y = +run.slice(6, 10);
  const m = +run.slice(10, 12);
  const d = +run.slice(12, 14);
  return y >= 1900 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

const glue = /[A-Za-z.]/;

export function scrub(text: string, extra?: RegExp[]): string {
  let out = text.replace(/\d+[Xx]?/g, (m: string, at: number, all: string) => {
    let run = m;
    let rest = '';
    // The X belongs to the run only after exactly 17 digits.
    if (/[Xx]$/.test(run) && run.length !== 18) {
      rest = run.slice(-1);
      run = run.slice(0, -1);
    }
    const before = all[at - 1] || '';
    const after = rest || all[at + m.length] || '';
    if (glue.test(before) || glue.test(after)) return m;
    const n = run.length;
    const masked =
      n === 18 && idCard(run)
        ? mask(run, 3, 4)
        : n === 11 && /^1[3-9]/.test(run)
          ? mask(run, 3, 4)
          : n >= 12 && n <= 19
            ? mask(run, 4, 4)
            : run;
    return masked + rest;
  });
  for (const re of extra || []) {
    out = out.replace(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'), (c) => '*'.repeat(c.length));
  }
  return out;
}
