/** Browser / H5 entry: the core plus the browser adapter. */
import { Vitals } from './core/client.js';
import type { VitalsOptions } from './core/client.js';
import { createBrowserAdapter } from './adapters/browser.js';
import type { BrowserAdapterOptions } from './adapters/browser.js';

export * from './index.js';
export { createBrowserAdapter };
export type { BrowserAdapterOptions, BrowserEnv } from './adapters/browser.js';

/** Creates and starts the SDK in a page. Call it as early as possible: it only registers handlers. */
export function initBrowser(options: VitalsOptions, adapter: BrowserAdapterOptions = {}): Vitals {
  return new Vitals(options, createBrowserAdapter(adapter)).start();
}
