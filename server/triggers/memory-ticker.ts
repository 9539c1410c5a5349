/**
 * The in-process ticker (single-process mode). It keeps each enabled flow's
 * timer and last tick in memory, backed by `flow_triggers.last_tick_at`: at
 * start a flow whose ticks were missed while the process was down fires once
 * (the latest missed tick), not once per missed tick. One timer sleeps until
 * the earliest next tick.
 */
import type { FastifyBaseLogger } from "fastify";
import type { TriggerStore } from "./trigger-store.ts";
import { dueTick, nextTick, timerOf, type TimerSpec } from "./trigger.ts";
import type { TickHandler, Ticker } from "./ticker.ts";

/** The longest the timer sleeps, so a changed wall clock is noticed. @defaultValue 60 s */
export const MAX_SLEEP_MS = 60_000;

export interface MemoryTickerOptions {
  store: TriggerStore;
  onTick: TickHandler;
  log: FastifyBaseLogger;
  /** The clock (tests inject one). @defaultValue Date.now */
  now?: () => number;
  /** A Gmail trigger's poll interval when it names none. @defaultValue {@link DEFAULT_POLL_EVERY} (10m with push) */
  defaultPollEvery?: string;
  /** Timers kept outside `flow_triggers` (the mailbox pollers), armed at start with their last tick. */
  moreTimers?: () => Promise<Array<{ key: string; spec: TimerSpec; last: number | null }>>;
}

export class MemoryTicker implements Ticker {
  private readonly timers = new Map<string, { spec: TimerSpec; last: number; next?: number }>();
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Map<string, Promise<void>>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly opts: MemoryTickerOptions) {
    this.now = opts.now ?? Date.now;
  }

  async set(flowId: string, spec: TimerSpec, anchor: number): Promise<number | undefined> {
    const entry = { spec, last: anchor, next: nextTick(spec, anchor) };
    this.timers.set(flowId, entry);
    await this.opts.store.setNextRun(flowId, entry.next);
    this.arm();
    return entry.next;
  }

  async remove(flowId: string): Promise<void> {
    this.timers.delete(flowId);
  }

  async start(): Promise<void> {
    for (const row of await this.opts.store.timed()) {
      const spec = timerOf(row.trigger, this.opts.defaultPollEvery);
      if (spec) this.timers.set(row.flowId, { spec, last: row.lastTickAt ?? this.now() });
    }
    for (const t of (await this.opts.moreTimers?.()) ?? []) this.timers.set(t.key, { spec: t.spec, last: t.last ?? this.now() - ("everyMs" in t.spec ? t.spec.everyMs : 0) });
    await this.check();
  }

  /**
   * Fire every due tick (at most one per flow), then sleep until the next. Tests call it after
   * moving the clock; it resolves when every due tick has been handled. A flow whose tick is
   * still being handled (a slow poll) is not fired again meanwhile, and holds up no other.
   */
  async check(): Promise<void> {
    const now = this.now();
    const started: Promise<void>[] = [...this.inFlight.values()]; // resolves once every due tick is handled
    for (const [flowId, entry] of this.timers) {
      if (this.inFlight.has(flowId)) continue;
      const due = dueTick(entry.spec, entry.last, now);
      if (due === undefined) continue;
      entry.last = due;
      const done = this.fire(flowId, entry, due).finally(() => {
        this.inFlight.delete(flowId);
        this.arm(); // its next tick counts again
      });
      this.inFlight.set(flowId, done);
      started.push(done);
    }
    this.arm();
    await Promise.allSettled(started);
  }

  private async fire(flowId: string, entry: { spec: TimerSpec; last: number; next?: number }, tick: number): Promise<void> {
    try {
      await this.opts.onTick(flowId, tick);
    } catch (err) {
      this.opts.log.warn({ err, flowId }, "trigger tick failed");
    }
    const next = nextTick(entry.spec, entry.last);
    if (next !== entry.next && this.timers.get(flowId) === entry) {
      entry.next = next;
      await this.opts.store.setNextRun(flowId, next).catch((err) => this.opts.log.warn({ err, flowId }, "saving the next run time failed"));
    }
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.closed || !this.timers.size) return;
    const now = this.now();
    let earliest = Infinity;
    for (const [flowId, e] of this.timers) if (!this.inFlight.has(flowId)) earliest = Math.min(earliest, nextTick(e.spec, e.last));
    if (earliest === Infinity) return; // every flow is being handled: each re-arms when done
    this.timer = setTimeout(() => void this.check(), Math.max(0, Math.min(earliest - now, MAX_SLEEP_MS)));
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
