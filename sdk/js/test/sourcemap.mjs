// A minimal source-map v3 reader for the tests: maps a generated
// (line, column), 1-based as JS stacks print them, to the original
// source, line and column (1-based).
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function vlq(segment) {
  const out = [];
  let value = 0;
  let shift = 0;
  for (const ch of segment) {
    const d = B64.indexOf(ch);
    value += (d & 31) << shift;
    if (d & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

export function originalPosition(map, line, column) {
  let src = 0;
  let oLine = 0;
  let oCol = 0;
  let best;
  const lines = map.mappings.split(';');
  for (let l = 0; l < lines.length && l < line; l++) {
    let gCol = 0;
    for (const seg of lines[l].split(',')) {
      if (!seg) continue;
      const v = vlq(seg);
      gCol += v[0];
      if (v.length >= 4) {
        src += v[1];
        oLine += v[2];
        oCol += v[3];
        if (l === line - 1 && gCol <= column - 1) best = { source: map.sources[src], line: oLine + 1, column: oCol + 1 };
      }
    }
  }
  return best;
}
