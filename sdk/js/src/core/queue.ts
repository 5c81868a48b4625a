/**
 * The outbox: events grouped into batches, persisted through the adapter's
 * storage, bounded in bytes (oldest events dropped first, and counted).
 * A batch keeps its id across retries; only removing events from it is
 * allowed (a resend of a subset is either the first stored copy or a
 * harmless duplicate of a stored one).
 */
import type { Event, Release } from './types.js';
import { asciiJson } from './util.js';

export interface Pending {
  /** batch_id */
  id: string;
  rel: Release;
  user?: string;
  ev: Event[];
  /** Sealed: no more events are added; ready to send. */
  s?: 1;
}

export interface QueueLimits {
  maxBatchEvents: number;
  maxBatchBytes: number;
  maxQueueBytes: number;
}

export function eventBytes(e: Event): number {
  return asciiJson(e).length + 1;
}

/** The SDK's own report of dropped events (a custom counter). */
export const DROP_REPORT = 'vitals.queue_dropped';

export class Outbox {
  batches: Pending[] = [];
  bytes = 0;
  /** Dropped events not yet reported to the collector. */
  dropped = 0;
  /** Events dropped by the cap since this outbox was created. */
  lost = 0;

  constructor(
    private lim_: QueueLimits,
    private newId_: () => string,
  ) {}

  /** Adds an event to the open batch for this context; returns whether a batch got sealed. */
  add(e: Event, rel: Release, user: string | undefined): boolean {
    let sealed = false;
    let open = this.batches[this.batches.length - 1];
    if (open && !open.s && (open.user !== user || open.rel.version !== rel.version || open.rel.build !== rel.build)) {
      open.s = 1;
      sealed = true;
    }
    if (!open || open.s) {
      open = { id: this.newId_(), rel, user, ev: [] };
      if (user === undefined) delete open.user;
      this.batches.push(open);
    }
    open.ev.push(e);
    this.bytes += eventBytes(e);
    if (open.ev.length >= this.lim_.maxBatchEvents || this.size_(open) >= this.lim_.maxBatchBytes) {
      open.s = 1;
      sealed = true;
    }
    this.trim();
    return sealed;
  }

  size_(b: Pending): number {
    let n = 0;
    for (const e of b.ev) n += eventBytes(e);
    return n;
  }

  seal(): void {
    const open = this.batches[this.batches.length - 1];
    if (open && open.ev.length) open.s = 1;
  }

  /** Drops the oldest events until the queue fits its byte cap. */
  trim(): void {
    while (this.bytes > this.lim_.maxQueueBytes && this.batches.length) {
      const b = this.batches[0];
      const e = b.ev.shift();
      if (e) {
        this.bytes -= eventBytes(e);
        // A dropped drop report hands its count back.
        const n = e.type === 'custom' && e.name === DROP_REPORT ? e.value : 1;
        this.dropped += n;
        this.lost += n;
      }
      if (!b.ev.length) this.batches.shift();
    }
  }

  /** Removes events matching `drop` everywhere (e.g. too old); returns how many. */
  prune(drop: (e: Event) => boolean): number {
    let n = 0;
    for (const b of this.batches) {
      const keep = b.ev.filter((e) => !drop(e));
      n += b.ev.length - keep.length;
      b.ev = keep;
    }
    this.batches = this.batches.filter((b) => b.ev.length);
    this.recount_();
    return n;
  }

  recount_(): void {
    this.bytes = 0;
    for (const b of this.batches) this.bytes += this.size_(b);
  }

  remove(b: Pending): void {
    this.batches = this.batches.filter((x) => x !== b);
    this.recount_();
  }

  /** Replaces a batch by others (split after 413, or minus a refused event). */
  replace(b: Pending, parts: Event[][]): void {
    const i = this.batches.indexOf(b);
    const repl = parts.filter((p) => p.length).map((ev): Pending => ({ ...b, id: this.newId_(), ev, s: 1 }));
    if (i >= 0) this.batches.splice(i, 1, ...repl);
    this.recount_();
  }

  count(): number {
    let n = 0;
    for (const b of this.batches) n += b.ev.length;
    return n;
  }

  serialize(): string {
    return asciiJson({ b: this.batches, d: this.dropped });
  }

  /** Merges a persisted queue in front of what is already here (events captured before it loaded). */
  load(text: string | null | undefined): void {
    if (!text) return;
    try {
      const q = JSON.parse(text) as { b?: Pending[]; d?: number };
      const old = (q.b || []).filter((b) => b && typeof b.id === 'string' && Array.isArray(b.ev) && b.ev.length);
      for (const b of old) b.s = 1;
      this.batches = old.concat(this.batches);
      this.dropped += q.d || 0;
    } catch {
      // A corrupt queue is dropped rather than blocking the SDK forever.
    }
    this.recount_();
    this.trim();
  }
}
