/** What a runtime adapter gives the platform-neutral core. */
import type { Device, HotUpdateStage, IpFamily, Network, Platform, Span } from './types.js';

export interface HttpRequest {
  url: string;
  method: 'GET' | 'POST' | 'HEAD';
  headers: Record<string, string>;
  /** Exact bytes to send. */
  body?: Uint8Array;
  timeoutMs: number;
  /** Outlive the page (browser unload); ignored where meaningless. */
  keepalive?: boolean;
}

export interface HttpResponse {
  status: number;
  /** A response header by lower-case name. */
  header(name: string): string | undefined;
  /** Exact body bytes. */
  body: Uint8Array;
}

/** Rejects (throws) on transport failure: no connection, DNS, TLS, timeout. */
export type Http = (req: HttpRequest) => Promise<HttpResponse>;

/** Durable key/value strings (localStorage, wx storage, preferences, AsyncStorage). */
export interface Storage {
  get(key: string): Promise<string | null | undefined>;
  set(key: string, value: string): Promise<void>;
  remove(key: string): Promise<void>;
}

export interface CaughtError {
  error: unknown;
  fatal: boolean;
  /** Where it was caught: `onerror`, `unhandledrejection`, `global_handler`… */
  mechanism: string;
}

/** Callbacks the core gives an adapter to wire to the runtime. */
export interface Hooks {
  /** Records the error; for a fatal one, resolves once it is persisted and a send was tried. */
  error(e: CaughtError): Promise<void>;
  foreground(): void;
  background(): void;
  /** The page or process is going away now (flush synchronously if possible). */
  terminate(): void;
  /** Connectivity came back. */
  online(): void;
  /** The runtime measured the launch itself: the first screen was ready at `endMs` (Unix ms). */
  launched(endMs?: number): void;
  /** A package-delivery stage the runtime reported (mini-program update manager). */
  hotUpdate(patchId: string, stage: HotUpdateStage, extra?: { packageBytes?: number; errorCode?: string }): void;
  /** The adapter's own durable state (namespaced per app). */
  storage: Storage;
}

export interface PerfSample {
  cpu_pct?: number;
  memory_mb?: number;
}

export interface Adapter {
  platform: Platform;
  http: Http;
  storage: Storage;
  /** Device facts (model, OS, screen…); asked once, after startup. */
  device(): Promise<Device> | Device;
  /** Network at send time. */
  network?(): Promise<Network> | Network;
  /** Registers runtime handlers; returns a function that removes them. Must be cheap. */
  install(hooks: Hooks): () => void;
  /** Whether the app is in the foreground right now. */
  foreground(): boolean;
  /** gzip, where the runtime has it. */
  gzip?(data: Uint8Array): Promise<Uint8Array>;
  /** SHA-512 for Ed25519 client-config checks, where the runtime has no crypto.subtle. */
  sha512?(m: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** Cryptographic random bytes, where the runtime has no Web Crypto. */
  random?(n: number): Uint8Array;
  /** When the process / page started, Unix ms (cold-start origin). */
  processStart?(): number | undefined;
  /** Launch breakdown the runtime measured itself, offsets from processStart. */
  launchSpans?(): Span[];
  /** False when this launch is not a cold start (bfcache, warm resume). */
  coldLaunch?(): boolean;
  /** A CPU / memory sample, where the runtime exposes one. */
  sample?(): PerfSample | undefined | Promise<PerfSample | undefined>;
  /** Connect time to a URL in ms (6.2b site picker); default: time of a HEAD request. */
  probe?(url: string, timeoutMs: number): Promise<number>;
  /** Defers work off the startup path. */
  defer?(fn: () => void): void;
  /** Whether the runtime keeps running after an unhandled error (browser, mini-program). */
  survivesCrash?: boolean;
  /** Family of the connection to a host, when the runtime can tell. */
  ipFamily?(url: string): IpFamily;
}
