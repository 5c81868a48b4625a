/**
 * JS stack traces to protocol frames (innermost first): V8 / Hermes / ArkTS
 * ("at fn (file:line:col)") and JavaScriptCore / Gecko ("fn@file:line:col").
 * Line and column are the bundle's own, for source-map symbolication.
 */
import type { Frame } from './types.js';
import { clip } from './util.js';

const V8 = /^\s*at (?:(.+?) \()?(?:address at )?(.+?):(\d+):(\d+)\)?\s*$/;
const JSC = /^\s*([^@]*)@(.+?):(\d+):(\d+)\s*$/;
const NOT_APP = /node_modules|^native|^internal[/:]|^node:|WAService|WAWebview|AFAppX|__dev__/;

export function parseStack(stack: string | undefined, maxFrames = 128): Frame[] {
  const frames: Frame[] = [];
  for (const line of (stack || '').split('\n')) {
    const m = V8.exec(line) || JSC.exec(line);
    if (!m) continue;
    const file = m[2];
    const f: Frame = { file: clip(file, 1024), line: +m[3], col: +m[4], in_app: !NOT_APP.test(file) };
    const fn = (m[1] || '').replace(/^async /, '').trim();
    if (fn) f.function = clip(fn, 1024);
    frames.push(f);
    if (frames.length >= maxFrames) break;
  }
  return frames;
}

/** The file of the first frame of a stack (where a debug-id snippet ran). */
export function firstFile(stack: string | undefined): string | undefined {
  return parseStack(stack, 1)[0]?.file;
}
