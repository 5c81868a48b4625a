/**
 * HarmonyOS (ArkTS) entry. Call `initHarmony` first thing in your
 * AbilityStage's onCreate():
 *
 *   import AbilityStage from '@ohos.app.ability.AbilityStage';
 *   import { initHarmony } from '@vitals/sdk/harmony';
 *   export default class AppStage extends AbilityStage {
 *     onCreate() { initHarmony(OPTIONS, this.context); }
 *   }
 *
 * and `vitals.mark('window_stage')` in UIAbility.onWindowStageCreate,
 * `vitals.appReady()` in the loadContent callback of the first page.
 */
import type common from '@ohos.app.ability.common';
import connection from '@ohos.net.connection';
import cryptoFramework from '@ohos.security.cryptoFramework';
import deviceInfo from '@ohos.deviceInfo';
import display from '@ohos.display';
import errorManager from '@ohos.app.ability.errorManager';
import hidebug from '@ohos.hidebug';
import http from '@ohos.net.http';
import preferences from '@ohos.data.preferences';
import process from '@ohos.process';
import systemDateTime from '@ohos.systemDateTime';
import { Vitals } from './core/client.js';
import type { VitalsOptions } from './core/client.js';
import { createHarmonyAdapter, preferencesStorage } from './adapters/harmony.js';
import type { HarmonyModules } from './adapters/harmony.js';

export * from './index.js';
export { createHarmonyAdapter, preferencesStorage };
export type { HarmonyModules };

export const harmonyModules: HarmonyModules = {
  http,
  preferences,
  errorManager,
  deviceInfo,
  display,
  connection,
  hidebug,
  process,
  systemDateTime,
  cryptoFramework,
};

/** Creates and starts the SDK from AbilityStage.onCreate (marks `ability_stage` for the cold start). */
export function initHarmony(options: VitalsOptions, context: common.Context): Vitals {
  const v = new Vitals(options, createHarmonyAdapter(harmonyModules, context)).start();
  v.mark('ability_stage');
  return v;
}
