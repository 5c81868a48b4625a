/** React Native entry: the core plus the React Native adapter. */
import { Vitals } from './core/client.js';
import type { VitalsOptions } from './core/client.js';
import { createReactNativeAdapter } from './adapters/react-native.js';
import type { ReactNativeDeps } from './adapters/react-native.js';

export * from './index.js';
export { createReactNativeAdapter };
export type { ReactNativeDeps };

/** Creates and starts the SDK; call it in index.js before AppRegistry.registerComponent. */
export function initReactNative(options: VitalsOptions, deps: ReactNativeDeps): Vitals {
  return new Vitals(options, createReactNativeAdapter(deps)).start();
}
