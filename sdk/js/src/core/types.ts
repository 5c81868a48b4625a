/**
 * Wire types of the vitals protocol v1 (docs/protocol.md), mirrored from the
 * Rust crate `vitals-protocol`. The server refuses unknown fields, so these
 * types are closed: never add a field that protocol/src does not have.
 */

export type Platform = 'ios' | 'ipados' | 'android' | 'android_tablet' | 'harmonyos' | 'miniprogram';
export type DeviceClass = 'phone' | 'tablet' | 'other';
export type IpFamily = 'unknown' | 'ipv4' | 'ipv6' | 'dual';
export type ServiceCategory = 'trade' | 'quote' | 'bus' | 'other';
export type HotUpdateStage = 'offered' | 'downloaded' | 'applied' | 'failed' | 'rolled_back';
export type SessionStatus = 'ok' | 'crashed' | 'abnormal';
export type UpgradeOutcome = 'shown' | 'accepted' | 'declined' | 'later';

export interface Release {
  version: string;
  build?: string;
}

export interface Screen {
  width?: number;
  height?: number;
  density?: number;
}

export interface Device {
  model: string;
  class?: DeviceClass;
  os_version: string;
  screen?: Screen;
  abi?: string;
  rooted?: boolean;
  emulator?: boolean;
  device_id?: string;
}

export interface Network {
  ip_family?: IpFamily;
  carrier?: string;
}

export interface Consent {
  analytics: boolean;
  device_ids: boolean;
}

export interface Frame {
  addr?: string;
  function?: string;
  module?: string;
  file?: string;
  line?: number;
  col?: number;
  in_app?: boolean;
}

export interface Thread {
  id?: number;
  name?: string;
  crashed?: boolean;
  frames?: Frame[];
}

export interface Image {
  debug_id?: string;
  code_id?: string;
  name?: string;
  base?: string;
  size?: number;
  arch?: string;
}

export interface Span {
  name: string;
  start_ms?: number;
  duration_ms: number;
}

export interface SessionEvent {
  type: 'session';
  ts: number;
  session_id: string;
  phase: 'start' | 'end';
  status?: SessionStatus;
  duration_ms?: number;
  foreground_ms?: number;
}

export interface CrashEvent {
  type: 'crash';
  ts: number;
  crash_id: string;
  session_id?: string;
  exception_type: string;
  message?: string;
  fatal?: boolean;
  handled?: boolean;
  threads?: Thread[];
  images?: Image[];
  raw?: string;
}

export interface ColdStartEvent {
  type: 'cold_start';
  ts: number;
  duration_ms: number;
  spans?: Span[];
}

export interface PerfEvent {
  type: 'perf';
  ts: number;
  cpu_pct?: number;
  memory_mb?: number;
}

export interface InstallEvent {
  type: 'install';
  ts: number;
  duration_ms: number;
  package_bytes: number;
  abi_split?: { abi: string; bytes: number }[];
}

export interface NetworkEvent {
  type: 'network';
  ts: number;
  category: ServiceCategory;
  site?: string;
  latency_ms: number;
  status?: number;
  ip_family?: IpFamily;
}

export interface HotUpdateEvent {
  type: 'hot_update';
  ts: number;
  patch_id: string;
  stage: HotUpdateStage;
  package_bytes?: number;
  error_code?: string;
}

export interface UpgradePromptEvent {
  type: 'upgrade_prompt';
  ts: number;
  target_version: string;
  outcome: UpgradeOutcome;
  placement?: string;
}

export interface CustomEvent {
  type: 'custom';
  ts: number;
  name: string;
  kind?: 'counter' | 'timer';
  value: number;
}

export type Event =
  | SessionEvent
  | CrashEvent
  | ColdStartEvent
  | PerfEvent
  | InstallEvent
  | NetworkEvent
  | HotUpdateEvent
  | UpgradePromptEvent
  | CustomEvent;

export type EventKind = Event['type'];

export interface Batch {
  v: 1;
  batch_id: string;
  app_id: string;
  release: Release;
  platform: Platform;
  device: Device;
  network?: Network;
  install_id: string;
  user_id?: string;
  consent?: Consent;
  sent_at?: number;
  events: Event[];
}
