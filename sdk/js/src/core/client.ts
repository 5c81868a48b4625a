/**
 * The platform-neutral client: sessions, crashes, cold start, perf samples,
 * network timings, hot-update stages and custom events, batched into a
 * persisted outbox and sent signed; client config verified with Ed25519.
 *
 * Startup cost (5.7c): `start()` only registers the runtime's handlers and
 * defers everything else (storage, device facts, sending, config) off the
 * startup path.
 */
import type { Adapter, CaughtError, Hooks, HttpResponse } from './adapter.js';
import { CONFIG_PATH, SIGNATURE_HEADER, compareVersions, inRollout, verifyConfig } from './config.js';
import type { ClientConfig, Emergency, Latest, MinVersion, Rollout, Site, SiteAddress } from './config.js';
import { DROP_REPORT, Outbox } from './queue.js';
import { scrub } from './scrub.js';
import { hashUserId, signedHeaders } from './sign.js';
import { firstFile, parseStack } from './stack.js';
import { dateOffset, postBatch } from './transport.js';
import type {
  Batch,
  Consent,
  CrashEvent,
  Device,
  Event,
  HotUpdateStage,
  Image,
  IpFamily,
  Network,
  Release,
  ServiceCategory,
  SessionStatus,
  Span,
  UpgradeOutcome,
} from './types.js';
import { G, asciiJson, bytesToLatin1, clip, errorText, label, latin1, toId, uint, uuid } from './util.js';

export interface ConsentChoice {
  /** Usage analytics at all (4.3.1). */
  analytics: boolean;
  /** Hardware / vendor device ids may be sent (4.3.6d). */
  deviceIds?: boolean;
}

export interface VitalsOptions {
  /** Collector base URL, e.g. `https://vitals.example.com` (no trailing slash). */
  endpoint: string;
  appId: string;
  /** Ingest key id and secret (`vitals keys create`). */
  keyId: string;
  secret: string;
  release: Release;
  /**
   * The user's consent, if already known at start. Until it is given (here
   * or with `setConsent`), nothing leaves the device: events wait in the
   * local queue.
   */
  consent?: ConsentChoice;
  /** Hash the user id on the device before it is sent (see `hashUserId`). */
  hashUserId?: boolean;
  /** A hardware / vendor id; sent only with `consent.deviceIds`. */
  deviceId?: string;
  /** Overrides of what the adapter detects (model, rooted, emulator…). */
  device?: Partial<Device>;
  /** Debug ids of bundles by file / URL as stack frames show them. */
  debugIds?: Record<string, string>;
  /** Extra patterns masked in crash messages, beyond ID card / phone / account numbers. */
  scrubPatterns?: RegExp[];
  /** Background time after which the session ends (default 30 000 ms). */
  sessionTimeoutMs?: number;
  /** Longest wait before queued events are sent (default 15 000 ms). */
  flushIntervalMs?: number;
  /** Events per batch (default 200, protocol maximum 1000). */
  maxBatchEvents?: number;
  /** JSON bytes per batch (default 512 KiB, protocol maximum 1 MiB). */
  maxBatchBytes?: number;
  /** Cap of the persisted queue; oldest events are dropped and counted (default 512 KiB). */
  maxQueueBytes?: number;
  /** CPU / memory sampling interval while in the foreground (default 60 000 ms; 0 = off). */
  perfIntervalMs?: number;
  requestTimeoutMs?: number;
  /** Language of the collector's error messages (`zh-CN`, `en`). */
  lang?: string;
  /** Unhandled errors end the session as crashed (default true). */
  unhandledIsFatal?: boolean;
  /** Client-config verification keys (Ed25519 public keys, hex or base64) and poll interval. */
  clientConfig?: { publicKeys: string[]; intervalMs?: number };
  onConfig?(c: ClientConfig): void;
  onEmergency?(e: Emergency): void;
  onMinVersion?(m: MinVersion & { current: string }): void;
  /** A newer version is out and the server asks this release to prompt (5.4b): show the prompt, report it with `upgradePrompt`. */
  onUpgrade?(l: Latest & { current: string }): void;
  onSites?(s: Site[]): void;
  onRollouts?(r: Rollout[]): void;
  onConfigRejected?(reason: string): void;
  /** Events the collector refused or the queue cap dropped. */
  onDrop?(info: { code: string; events: number }): void;
  /** Last look at (or veto of) every event. */
  beforeSend?(e: Event): Event | null;
  /** Log retries and internal failures to console.debug. */
  debug?: boolean;
  /** Device clock, Unix ms (tests). */
  now?(): number;
}

interface SessionState {
  id: string;
  start: number;
  /** Foreground ms before fgAt. */
  fg: number;
  fgAt: number;
  bgAt: number;
  last: number;
  rel: Release;
}

interface Picked {
  site: Site;
  address: SiteAddress;
  ms: number;
}

const DAY = 86_400_000;

/** Device facts within the protocol's limits (non-empty short texts, u32 screen, density 0–10). */
function cleanDevice(d: Partial<Device>): Device {
  const sc = d.screen || {};
  const out: Device = {
    model: clip(d.model, 256) || 'unknown',
    class: d.class || 'phone',
    os_version: clip(d.os_version, 256) || 'unknown',
    screen: { width: uint(sc.width, 4294967295), height: uint(sc.height, 4294967295), density: Math.min(Math.max(Number(sc.density) || 0, 0), 10) },
    abi: clip(d.abi, 256),
    rooted: !!d.rooted,
    emulator: !!d.emulator,
  };
  if (d.device_id) out.device_id = d.device_id;
  return out;
}

/** Lets a Node-like runtime exit while a timer is pending. */
function unref(h: unknown): unknown {
  const t = h as { unref?(): void };
  if (t && typeof t.unref === 'function') t.unref();
  return h;
}
const INTERNAL = 'vitals.';

export class Vitals {
  readonly adapter: Adapter;
  readonly options: VitalsOptions;
  readonly ready: Promise<void>;
  private q_: Outbox;
  private consent_?: Consent;
  private user_?: string;
  private installId_ = '';
  private device_?: Device;
  private loaded_ = false;
  private started_ = false;
  private closed_ = false;
  private s_?: SessionState;
  private off_?: () => void;
  private timers_: Record<string, unknown> = {};
  private attempt_ = 0;
  private retryAt_ = 0;
  private halted_ = '';
  private offset_ = 0;
  private plain_ = false;
  private sending_?: Promise<void>;
  private t0_ = 0;
  private marks_: [string, number][] = [];
  private coldDone_ = false;
  private cfg_?: ClientConfig;
  private cfgEtag_?: string;
  private resolveReady_!: () => void;
  private sent_ = 0;
  private unloading_ = false;

  constructor(options: VitalsOptions, adapter: Adapter) {
    this.options = options;
    this.adapter = adapter;
    this.q_ = new Outbox(
      {
        maxBatchEvents: Math.min(options.maxBatchEvents || 200, 1000),
        maxBatchBytes: Math.min(options.maxBatchBytes || 512 * 1024, 900 * 1024),
        maxQueueBytes: options.maxQueueBytes || 512 * 1024,
      },
      () => this.id_(),
    );
    if (options.consent) this.setConsent(options.consent);
    this.ready = new Promise((r) => (this.resolveReady_ = r));
  }

  // ---- lifecycle -------------------------------------------------------

  /** Registers the runtime handlers and defers the rest. Cheap: call it first thing. */
  start(): this {
    if (this.started_) return this;
    this.started_ = true;
    this.t0_ = this.now_();
    const hooks: Hooks = {
      error: (e) => this.onError_(e),
      foreground: () => this.foreground_(),
      background: () => this.background_(),
      terminate: () => this.terminate_(),
      online: () => {
        this.retryAt_ = 0;
        this.attempt_ = 0;
        this.flush();
      },
      launched: (end) => this.appReady(end),
      hotUpdate: (p, st, x) => this.hotUpdate(p, st, x),
      storage: {
        get: (k) => this.adapter.storage.get(this.key_(k)),
        set: (k, v) => this.adapter.storage.set(this.key_(k), v),
        remove: (k) => this.adapter.storage.remove(this.key_(k)),
      },
    };
    this.off_ = this.adapter.install(hooks);
    const d = this.adapter.defer || ((f: () => void) => G.setTimeout(f, 0));
    d(() => {
      this.init_().then(this.resolveReady_, (e) => {
        this.debug_('init', e);
        this.resolveReady_();
      });
    });
    return this;
  }

  private key_(k: string): string {
    return `vitals.${this.options.appId}.${k}`;
  }

  private async init_(): Promise<void> {
    const st = this.adapter.storage;
    const [install, queue, sess, cfg] = await Promise.all(
      ['install', 'queue', 'session', 'config'].map((k) => st.get(this.key_(k)).catch(() => null)),
    );
    this.installId_ = install && /^[A-Za-z0-9._:-]{1,128}$/.test(install) ? install : this.id_();
    if (this.installId_ !== install) await st.set(this.key_('install'), this.installId_).catch(() => {});
    let d: Partial<Device> = {};
    try {
      d = await this.adapter.device();
    } catch {
      // Unknown device facts are sent as "unknown".
    }
    this.device_ = cleanDevice({ ...d, ...this.options.device });
    // From here on the queue is the persisted one plus what came meanwhile, and batches can be built.
    this.q_.load(queue);
    this.loaded_ = true;
    // The previous run's session, if it never ended here.
    if (sess) {
      try {
        const p = JSON.parse(sess) as SessionState;
        this.s_ = p;
        if (p.bgAt) this.endSession_('ok', p.bgAt);
        else this.endSession_('abnormal', p.last);
      } catch {
        // Unreadable state: nothing to end.
      }
    }
    if (cfg) await this.loadConfig_(cfg);
    if (this.adapter.foreground() && !this.s_ && !this.closed_) {
      this.startSession();
      this.perfLoop_();
    }
    this.persist_();
    this.flush();
    this.pollConfig_();
  }

  /** Removes the handlers, persists and sends what is queued. */
  async close(): Promise<void> {
    this.closed_ = true;
    if (this.off_) this.off_();
    for (const k in this.timers_) this.clear_(k);
    await this.ready;
    await this.flush();
    await this.persist_();
  }

  // ---- public API ------------------------------------------------------

  /** Records the user's consent; queued events are sent from now on. */
  setConsent(c: ConsentChoice): void {
    this.consent_ = { analytics: !!c.analytics, device_ids: !!c.deviceIds };
    if (this.loaded_) this.schedule_(0);
  }

  /** The logged-in user (null on logout). Hashed first when `hashUserId` is set. */
  setUser(id: string | null | undefined): void {
    const o = this.options;
    this.user_ = id ? clip(o.hashUserId ? hashUserId(o.appId, id) : id, 256) : undefined;
  }

  /**
   * Reports a caught error (not fatal unless told). A fatal error is a crash,
   * a forced exit (the standard's 3.2), so it is never marked handled: the
   * collector refuses `handled` and `fatal` both true.
   */
  captureException(error: unknown, opts: { fatal?: boolean; handled?: boolean } = {}): void {
    const fatal = !!opts.fatal;
    this.add_(this.crash_(error, fatal, !fatal && opts.handled !== false));
  }

  /** Marks a point of the launch (a cold-start breakdown span ends here). */
  mark(name: string): void {
    if (!this.coldDone_) this.marks_.push([clip(name, 256) || 'mark', this.now_()]);
  }

  /** The first usable screen is shown: records the cold start (once per process). */
  appReady(at?: number): void {
    if (this.coldDone_) return;
    this.coldDone_ = true;
    const a = this.adapter;
    if (a.coldLaunch && !a.coldLaunch()) return;
    const now = Math.round(at || this.now_());
    const origin = a.processStart?.() || this.t0_;
    const spans: Span[] = (a.launchSpans?.() || []).slice(0, 256).map((x) => ({
      name: clip(x.name, 256) || 'span',
      start_ms: uint(x.start_ms, Number.MAX_SAFE_INTEGER),
      duration_ms: uint(x.duration_ms),
    }));
    let prev = origin;
    for (const [name, t] of this.marks_) {
      spans.push({ name, start_ms: uint(prev - origin), duration_ms: uint(t - prev) });
      prev = t;
    }
    this.add_({ type: 'cold_start', ts: now, duration_ms: uint(now - origin), spans });
  }

  /** Times a request to the institution's servers (5.3f) and records it. */
  async track<T>(
    opts: { category: ServiceCategory; site?: string; url?: string; ipFamily?: IpFamily },
    run: () => Promise<T>,
  ): Promise<T> {
    const t = this.now_();
    try {
      const r = await run();
      const x = r as unknown as { status?: number; statusCode?: number };
      this.request({ ...opts, latencyMs: this.now_() - t, status: x && (x.status || x.statusCode) || 200 });
      return r;
    } catch (e) {
      this.request({ ...opts, latencyMs: this.now_() - t, status: 0 });
      throw e;
    }
  }

  /** Records a request timed elsewhere; status 0 = transport failure. */
  request(r: { category: ServiceCategory; site?: string; url?: string; latencyMs: number; status?: number; ipFamily?: IpFamily }): void {
    this.add_({
      type: 'network',
      ts: this.now_(),
      category: r.category,
      site: r.site ? toId(r.site) : '',
      latency_ms: uint(r.latencyMs),
      status: uint(r.status, 65535),
      ip_family: r.ipFamily || this.family_(r.url),
    });
  }

  /** One stage of a hot-update or mini-program package delivery (5.4d, 5.4e). */
  hotUpdate(patchId: string, stage: HotUpdateStage, extra: { packageBytes?: number; errorCode?: string } = {}): void {
    this.add_({
      type: 'hot_update',
      ts: this.now_(),
      patch_id: toId(patchId),
      stage,
      package_bytes: uint(extra.packageBytes, Number.MAX_SAFE_INTEGER),
      error_code: clip(extra.errorCode, 256),
    });
  }

  /**
   * An in-app prompt to upgrade (5.4b): `shown` when it appears, then the user's answer
   * (`accepted`, `declined`, `later`). The offered version defaults to the trusted config's
   * `latest.version`; with neither, nothing is recorded and it returns false.
   */
  upgradePrompt(outcome: UpgradeOutcome, opts: { targetVersion?: string; placement?: string } = {}): boolean {
    const target = label(opts.targetVersion || this.cfg_?.latest?.version);
    if (!target) return false;
    this.add_({ type: 'upgrade_prompt', ts: this.now_(), target_version: target, outcome, placement: label(opts.placement) });
    return true;
  }

  /** An install or update install (5.3a, 5.3b). */
  install(durationMs: number, packageBytes: number, abiSplit: { abi: string; bytes: number }[] = []): void {
    this.add_({
      type: 'install',
      ts: this.now_(),
      duration_ms: uint(durationMs),
      package_bytes: uint(packageBytes, Number.MAX_SAFE_INTEGER),
      abi_split: abiSplit.slice(0, 512).map((a) => ({ abi: clip(a.abi, 256) || 'unknown', bytes: uint(a.bytes, Number.MAX_SAFE_INTEGER) })),
    });
  }

  count(name: string, value = 1): void {
    this.custom_(name, 'counter', value);
  }

  timing(name: string, ms: number): void {
    this.custom_(name, 'timer', ms);
  }

  /** Sends what is queued now. */
  flush(opts: { keepalive?: boolean } = {}): Promise<void> {
    if (!this.loaded_) return this.started_ ? this.ready.then(() => (this.loaded_ ? this.flush(opts) : undefined)) : Promise.resolve();
    if (!this.sending_) {
      this.sending_ = this.drain_(!!opts.keepalive).finally(() => {
        this.sending_ = undefined;
      });
    }
    return this.sending_;
  }

  /** Starts a new session now (after a crash the runtime survived, or on the app's own signal). */
  startSession(): void {
    if (this.s_) this.endSession_('ok');
    const t = this.now_();
    this.s_ = { id: this.id_(), start: t, fg: 0, fgAt: t, bgAt: 0, last: t, rel: this.options.release };
    this.add_({ type: 'session', ts: t, session_id: this.s_.id, phase: 'start' });
    this.saveSession_();
  }

  get sessionId(): string | undefined {
    return this.s_?.id;
  }

  /** Queue and delivery figures. */
  stats(): { queued: number; dropped: number; sent: number; halted: string; installId: string } {
    return { queued: this.q_.count(), dropped: this.q_.lost, sent: this.sent_, halted: this.halted_, installId: this.installId_ };
  }

  /** The trusted client config, if any. */
  get config(): ClientConfig | undefined {
    return this.cfg_;
  }

  /** Whether this install is in rollout `id` of the trusted config. */
  isEnabled(id: string): boolean {
    const r = this.cfg_?.rollouts?.find((x) => x.id === id);
    return !!r && inRollout(r, this.installId_);
  }

  // ---- events ----------------------------------------------------------

  private custom_(name: string, kind: 'counter' | 'timer', value: number): void {
    if (isFinite(value)) this.add_({ type: 'custom', ts: this.now_(), name: clip(name, 256) || 'unnamed', kind, value });
  }

  private add_(e: Event | null, rel = this.options.release): void {
    if (this.closed_ && e?.type !== 'crash') return;
    if (e && this.options.beforeSend) e = this.options.beforeSend(e);
    if (!e) return;
    if (this.s_) this.s_.last = e.ts;
    const before = this.q_.lost;
    const sealed = this.q_.add(e, rel && rel.version ? rel : this.options.release, this.user_);
    if (this.q_.lost > before) this.options.onDrop?.({ code: 'queue.full', events: this.q_.lost - before });
    this.schedule_(sealed ? 0 : this.options.flushIntervalMs ?? 15_000);
    this.later_('persist', 1000, () => this.persist_());
  }

  private crash_(error: unknown, fatal: boolean, handled: boolean): CrashEvent {
    const o = this.options;
    let type = 'Error';
    let message = '';
    let stack: string | undefined;
    const e = error as { name?: unknown; message?: unknown; stack?: unknown } | null;
    if (e && typeof e === 'object' && ('message' in e || 'stack' in e)) {
      type = String(e.name || 'Error');
      message = String(e.message ?? '');
      stack = typeof e.stack === 'string' ? e.stack : undefined;
    } else if (typeof error === 'string') {
      // Mini-program onError hands over "message\nstack" as one string.
      const m = /^\s*([A-Z]\w*(?:Error|Exception)): ?(.*)$/m.exec(error);
      if (m) [, type, message] = m;
      else message = error.trim().split('\n')[0];
      stack = error;
    } else {
      message = errorText(error);
    }
    const frames = parseStack(stack);
    const ids: Record<string, string> = { ...o.debugIds };
    // Registered by the snippet scripts/debug-id.mjs appends to each bundle.
    const reg = G.__vitalsDebugIds as Record<string, string> | undefined;
    for (const k in reg || {}) {
      const f = firstFile(k);
      if (f && reg) ids[f] = reg[k];
    }
    const images: Image[] = [];
    for (const f of frames) {
      const id = f.file && ids[f.file];
      if (id && f.file && !images.some((i) => i.name === f.file)) images.push({ debug_id: clip(id, 256), name: f.file, arch: 'js' });
    }
    const ev: CrashEvent = {
      type: 'crash',
      ts: this.now_(),
      crash_id: this.id_(),
      exception_type: clip(type, 256) || 'Error',
      message: clip(scrub(message, o.scrubPatterns), 8192),
      fatal,
      handled,
      threads: [{ id: 0, name: 'js', crashed: true, frames }],
      images,
    };
    if (this.s_) ev.session_id = this.s_.id;
    return ev;
  }

  private async onError_(c: CaughtError): Promise<void> {
    const fatal = c.fatal && this.options.unhandledIsFatal !== false;
    this.add_(this.crash_(c.error, fatal, false));
    if (fatal) {
      this.endSession_('crashed');
      this.q_.seal();
      await Promise.all([this.persist_(), this.flush({ keepalive: true })]);
    }
  }

  // ---- sessions --------------------------------------------------------

  private endSession_(status: SessionStatus, at?: number): void {
    const s = this.s_;
    if (!s) return;
    this.s_ = undefined;
    const end = at || s.bgAt || this.now_();
    const fg = s.fg + (s.fgAt && !s.bgAt ? end - s.fgAt : 0);
    this.add_(
      { type: 'session', ts: end, session_id: s.id, phase: 'end', status, duration_ms: uint(end - s.start), foreground_ms: uint(fg) },
      s.rel,
    );
    this.saveSession_();
  }

  private saveSession_(): void {
    if (!this.loaded_) return;
    const st = this.adapter.storage;
    (this.s_ ? st.set(this.key_('session'), JSON.stringify(this.s_)) : st.remove(this.key_('session'))).catch(() => {});
  }

  private foreground_(): void {
    this.unloading_ = false;
    const s = this.s_;
    const now = this.now_();
    if (s && s.bgAt) {
      if (now - s.bgAt >= (this.options.sessionTimeoutMs ?? 30_000)) {
        this.endSession_('ok');
        this.startSession();
      } else {
        s.fgAt = now;
        s.bgAt = 0;
        this.saveSession_();
      }
    } else if (!s && this.loaded_ && !this.closed_) {
      this.startSession();
    }
    this.perfLoop_();
  }

  private background_(): void {
    const s = this.s_;
    const now = this.now_();
    if (s && !s.bgAt) {
      s.fg += now - s.fgAt;
      s.fgAt = 0;
      s.bgAt = now;
      s.last = now;
      this.saveSession_();
      this.later_('session', this.options.sessionTimeoutMs ?? 30_000, () => {
        if (this.s_ === s && s.bgAt) {
          this.endSession_('ok');
          this.flush();
        }
      });
    }
    this.clear_('perf');
    this.coldDone_ = true;
    this.q_.seal();
    this.persist_();
    this.flush();
  }

  private terminate_(): void {
    // Everything sent from now on must outlive the page.
    this.unloading_ = true;
    if (this.s_ && !this.s_.bgAt) this.background_();
    this.q_.seal();
    this.persist_();
    this.flush({ keepalive: true });
  }

  private perfLoop_(): void {
    const every = this.options.perfIntervalMs ?? 60_000;
    const sample = this.adapter.sample;
    if (!every || !sample || this.closed_) return;
    this.later_('perf', every, async () => {
      try {
        const p = await sample.call(this.adapter);
        if (p && (p.cpu_pct != null || p.memory_mb != null)) {
          const ev: Event = { type: 'perf', ts: this.now_() };
          if (p.cpu_pct != null) ev.cpu_pct = Math.min(Math.max(p.cpu_pct, 0), 6400);
          if (p.memory_mb != null) ev.memory_mb = Math.min(Math.max(p.memory_mb, 0), 1048576);
          this.add_(ev);
        }
      } catch {
        // Sampling is best effort.
      }
      if (this.adapter.foreground()) this.perfLoop_();
    });
  }

  // ---- sending ---------------------------------------------------------

  private async drain_(keepalive: boolean): Promise<void> {
    await this.persistDone_;
    if (!this.consent_ || this.halted_) return;
    const now = this.now_();
    if (this.q_.dropped) {
      const n = this.q_.dropped;
      this.q_.dropped = 0;
      this.q_.add({ type: 'custom', ts: now, name: DROP_REPORT, kind: 'counter', value: n }, this.options.release, this.user_);
    }
    this.q_.seal();
    const dropped = this.q_.prune((e) => e.ts < now + this.offset_ - 29 * DAY);
    if (dropped) this.options.onDrop?.({ code: 'validate.too_old', events: dropped });
    let clockTries = 0;
    while (this.q_.batches.length && !this.halted_ && this.consent_) {
      if (this.retryAt_ > this.now_()) {
        this.schedule_(this.retryAt_ - this.now_());
        break;
      }
      const b = this.q_.batches[0];
      const events = this.consent_.analytics ? b.ev : b.ev.filter((e) => e.type !== 'custom' || e.name.startsWith(INTERNAL));
      if (!events.length) {
        this.q_.remove(b);
        continue;
      }
      const body = await this.body_(b.id, b.rel, b.user, events);
      const r = await postBatch({
        http: this.adapter.http,
        endpoint: this.options.endpoint,
        keyId: this.options.keyId,
        secret: this.options.secret,
        json: latin1(asciiJson(body)),
        gzip: this.plain_ ? undefined : this.adapter.gzip,
        now: () => this.now_(),
        offset: this.offset_,
        random: this.adapter.random,
        lang: this.options.lang,
        keepalive: keepalive || this.unloading_,
        timeoutMs: this.options.requestTimeoutMs || 30_000,
      });
      if (r.res) this.clock_(r.res);
      switch (r.k) {
        case 'ok':
          this.q_.remove(b);
          this.sent_ += events.length;
          this.attempt_ = 0;
          break;
        case 'retry': {
          const base = Math.min(300_000, 2000 * 2 ** this.attempt_++);
          const delay = Math.max(r.after, base / 2 + (Math.random() * base) / 2);
          this.retryAt_ = this.now_() + delay;
          this.schedule_(delay);
          this.debug_('retry', r.code);
          await this.persist_();
          return;
        }
        case 'drop':
          this.q_.remove(b);
          this.options.onDrop?.({ code: r.code, events: events.length });
          break;
        case 'drop_event': {
          const bad = events[r.index];
          this.q_.replace(b, bad ? [b.ev.filter((e) => e !== bad)] : []);
          this.options.onDrop?.({ code: r.code, events: bad ? 1 : events.length });
          break;
        }
        case 'split': {
          if (b.ev.length < 2) {
            this.q_.remove(b);
            this.options.onDrop?.({ code: r.code, events: b.ev.length });
          } else {
            const h = b.ev.length >> 1;
            this.q_.replace(b, [b.ev.slice(0, h), b.ev.slice(h)]);
          }
          break;
        }
        case 'plain':
          if (this.plain_) {
            this.q_.remove(b);
            this.options.onDrop?.({ code: 'request.bad_encoding', events: events.length });
          }
          this.plain_ = true;
          break;
        case 'clock':
          this.offset_ = r.offset;
          if (++clockTries > 1) this.halted_ = 'auth.stale_timestamp';
          break;
        case 'halt':
          this.halted_ = r.code;
          this.options.onDrop?.({ code: r.code, events: 0 });
          break;
      }
    }
    await this.persist_();
  }

  private async body_(id: string, rel: Release, user: string | undefined, events: Event[]): Promise<Batch> {
    const c = this.consent_ as Consent;
    const device = { ...(this.device_ as Device) };
    const did = this.options.deviceId;
    if (c.device_ids && did) device.device_id = clip(did, 256);
    else delete device.device_id;
    const b: Batch = {
      v: 1,
      batch_id: id,
      app_id: this.options.appId,
      release: { version: clip(rel.version, 256) || '0', build: clip(rel.build, 256) },
      platform: this.adapter.platform,
      device,
      network: await this.network_(),
      install_id: this.installId_,
      consent: c,
      sent_at: this.now_(),
      events,
    };
    if (user && c.analytics) b.user_id = user;
    // Shift device time to server time when the clock is known to be off.
    if (Math.abs(this.offset_) > 60_000) b.events = events.map((e) => ({ ...e, ts: e.ts + this.offset_ }));
    return b;
  }

  private async network_(): Promise<Network> {
    try {
      const n = await this.adapter.network?.();
      if (n) return { ip_family: n.ip_family || 'unknown', carrier: clip(n.carrier, 256) };
    } catch {
      // Unknown network.
    }
    return { ip_family: 'unknown', carrier: '' };
  }

  private clock_(r: HttpResponse): void {
    const off = dateOffset(r, this.now_());
    if (off !== undefined) this.offset_ = Math.abs(off) > 60_000 ? off : 0;
  }

  private persistDone_: Promise<void> = Promise.resolve();

  /** Writes the queue (and, through saveSession, the session) to storage. */
  private persist_(): Promise<void> {
    if (!this.loaded_) return this.persistDone_;
    this.clear_('persist');
    const text = this.q_.serialize();
    this.saveSession_();
    this.persistDone_ = this.persistDone_
      .then(() => this.adapter.storage.set(this.key_('queue'), text))
      .catch((e) => this.debug_('persist', e));
    return this.persistDone_;
  }

  private schedule_(ms: number): void {
    if (!this.loaded_ || this.closed_) return;
    const at = this.now_() + ms;
    const t = this.timers_.flush as { at?: number } | undefined;
    if (t && (t as { at: number }).at <= at) return;
    this.clear_('flush');
    const h = unref(
      G.setTimeout(() => {
        delete this.timers_.flush;
        this.flush();
      }, Math.max(ms, 0)),
    );
    this.timers_.flush = { h, at };
  }

  private later_(name: string, ms: number, fn: () => void): void {
    this.clear_(name);
    this.timers_[name] = {
      h: unref(
        G.setTimeout(() => {
          delete this.timers_[name];
          fn();
        }, ms),
      ),
    };
  }

  private clear_(name: string): void {
    const t = this.timers_[name] as { h: unknown } | undefined;
    if (t) G.clearTimeout(t.h);
    delete this.timers_[name];
  }

  // ---- client config ---------------------------------------------------

  private async loadConfig_(text: string): Promise<void> {
    try {
      const c = JSON.parse(text) as { b: string; s: string; e?: string };
      this.cfgEtag_ = c.e;
      await this.acceptConfig_(latin1(c.b), c.s, false);
    } catch (e) {
      this.cfgEtag_ = undefined;
      this.options.onConfigRejected?.(errorText(e));
    }
  }

  private async acceptConfig_(body: Uint8Array, sig: string | undefined, fresh: boolean): Promise<ClientConfig> {
    const o = this.options;
    const c = await verifyConfig(
      body,
      sig,
      o.clientConfig?.publicKeys || [],
      o.appId,
      this.now_() + this.offset_,
      fresh ? this.cfg_?.seq : 0,
      this.adapter.sha512?.bind(this.adapter),
    );
    this.cfg_ = c;
    o.onConfig?.(c);
    if (c.emergency && c.emergency.action !== 'none') o.onEmergency?.(c.emergency);
    const mv = c.min_version;
    const cur = o.release;
    if (mv && (compareVersions(cur.version, mv.version) || compareVersions(cur.build || '0', mv.build || '0')) < 0) {
      o.onMinVersion?.({ ...mv, current: cur.version });
    }
    const up = c.latest;
    if (up && up.prompt && compareVersions(cur.version, up.version) < 0) o.onUpgrade?.({ ...up, current: cur.version });
    if (c.sites) o.onSites?.(c.sites);
    if (c.rollouts) o.onRollouts?.(c.rollouts);
    return c;
  }

  private configing_?: Promise<ClientConfig | undefined>;

  /** Fetches the client config now; resolves to the trusted config (new or kept). Concurrent calls share one request. */
  refreshConfig(): Promise<ClientConfig | undefined> {
    if (!this.configing_) {
      this.configing_ = this.fetchConfig_().finally(() => {
        this.configing_ = undefined;
      });
    }
    return this.configing_;
  }

  private async fetchConfig_(): Promise<ClientConfig | undefined> {
    const o = this.options;
    if (!o.clientConfig) return this.cfg_;
    await this.ready;
    const rel = o.release;
    const q = `?app=${encodeURIComponent(o.appId)}&platform=${this.adapter.platform}&version=${encodeURIComponent(rel.version)}&build=${encodeURIComponent(rel.build || '')}`;
    const empty = new Uint8Array(0);
    const headers = signedHeaders(o.keyId, o.secret, 'GET', CONFIG_PATH, empty, (this.now_() + this.offset_) / 1000, this.adapter.random);
    if (this.cfgEtag_ && this.cfg_) headers['If-None-Match'] = this.cfgEtag_;
    let r: HttpResponse;
    try {
      r = await this.adapter.http({ url: o.endpoint + CONFIG_PATH + q, method: 'GET', headers, timeoutMs: o.requestTimeoutMs || 30_000 });
    } catch {
      return this.cfg_;
    }
    this.clock_(r);
    if (r.status === 304 || r.status < 200 || r.status >= 300) return this.cfg_;
    const sig = r.header(SIGNATURE_HEADER);
    try {
      await this.acceptConfig_(r.body, sig, true);
    } catch (e) {
      o.onConfigRejected?.(errorText(e));
      return this.cfg_;
    }
    this.cfgEtag_ = r.header('etag');
    // Stored with its signature and checked again when loaded.
    const b = bytesToLatin1(r.body);
    await this.adapter.storage.set(this.key_('config'), JSON.stringify({ b, s: sig, e: this.cfgEtag_ })).catch(() => {});
    return this.cfg_;
  }

  private pollConfig_(): void {
    const cc = this.options.clientConfig;
    if (!cc || this.closed_) return;
    this.refreshConfig().finally(() => this.later_('config', cc.intervalMs || 3_600_000, () => this.pollConfig_()));
  }

  /**
   * The fastest address of the trusted config's sites for a category (6.2b):
   * measures the connect time to every IPv4 and IPv6 address and picks the
   * lowest. Resolves undefined when none answers.
   */
  async pickSite(category: ServiceCategory, timeoutMs = 3000): Promise<Picked | undefined> {
    const a = this.adapter;
    const probe =
      a.probe?.bind(a) ||
      (async (url: string, t: number) => {
        const t0 = this.now_();
        await a.http({ url, method: 'HEAD', headers: {}, timeoutMs: t });
        return this.now_() - t0;
      });
    const tries = (this.cfg_?.sites || [])
      .filter((s) => s.category === category)
      .flatMap((site) => (site.addresses || []).map((address) => ({ site, address })));
    const res = await Promise.all(
      tries.map((c) =>
        probe(c.address.url.replace(/\/$/, '') + (c.site.probe || '/'), timeoutMs).then(
          (ms): Picked => ({ ...c, ms }),
          () => undefined,
        ),
      ),
    );
    let best: Picked | undefined;
    for (const p of res) if (p && (!best || p.ms < best.ms)) best = p;
    return best;
  }

  // ---- helpers ---------------------------------------------------------

  private now_(): number {
    return Math.round(this.options.now ? this.options.now() : Date.now());
  }

  private id_(): string {
    return uuid(this.adapter.random);
  }

  private family_(url?: string): IpFamily {
    if (!url) return 'unknown';
    const host = (/^[a-z]+:\/\/([^/?#]+)/i.exec(url) || [])[1] || '';
    if (host[0] === '[') return 'ipv6';
    if (/^\d+\.\d+\.\d+\.\d+(:\d+)?$/.test(host)) return 'ipv4';
    return this.adapter.ipFamily?.(url) || 'unknown';
  }

  private debug_(what: string, e: unknown): void {
    const c = G.console as { debug?(...a: unknown[]): void } | undefined;
    if (this.options.debug) c?.debug?.('[vitals]', what, errorText(e));
  }
}

