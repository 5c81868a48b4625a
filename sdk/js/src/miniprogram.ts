/** Mini-program entry (WeChat `wx`, Alipay `my`): the core plus the mini-program adapter. */
import { Vitals } from './core/client.js';
import type { VitalsOptions } from './core/client.js';
import { createMiniProgramAdapter } from './adapters/miniprogram.js';
import type { MiniProgramAdapterOptions } from './adapters/miniprogram.js';

export * from './index.js';
export { createMiniProgramAdapter };
export type { MiniProgramAdapterOptions, MiniProgramHost } from './adapters/miniprogram.js';

/** Creates and starts the SDK; call it at the top of app.js, before App({...}). */
export function initMiniProgram(options: VitalsOptions, adapter: MiniProgramAdapterOptions = {}): Vitals {
  return new Vitals(options, createMiniProgramAdapter(adapter)).start();
}
