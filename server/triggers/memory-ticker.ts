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
}

export class MemoryTicker implements Ticker {
  private readonly timers = new Map<string, { spec: TimerSpec; last: number; next?: number }>();
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
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
      const spec = timerOf(row.trigger);
      if (spec) this.timers.set(row.flowId, { spec, last: row.lastTickAt ?? this.now() });
    }
    await this.check();
  }

  /** Fire every due tick (at most one per flow), then sleep until the next. Tests call it after moving the clock. */
  check(): Promise<void> {
    this.checking ??= this.fireDue().finally(() => {
      this.checking = undefined;
      this.arm();
    });
    return this.checking;
  }

  private async fireDue(): Promise<void> {
    const now = this.now();
    await Promise.allSettled(
      [...this.timers].map(async ([flowId, entry]) => {
        const due = dueTick(entry.spec, entry.last, now);
        if (due !== undefined) {
          entry.last = due;
          try {
            await this.opts.onTick(flowId, due);
          } catch (err) {
            this.opts.log.warn({ err, flowId }, "trigger tick failed");
          }
        }
        const next = nextTick(entry.spec, entry.last);
        if (next !== entry.next && this.timers.get(flowId) === entry) {
          entry.next = next;
          await this.opts.store.setNextRun(flowId, next).catch((err) => this.opts.log.warn({ err, flowId }, "saving the next run time failed"));
        }
      }),
    );
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.closed || this.checking || !this.timers.size) return;
    const now = this.now();
    let earliest = Infinity;
    for (const e of this.timers.values()) earliest = Math.min(earliest, e.next ?? nextTick(e.spec, e.last));
    this.timer = setTimeout(() => void this.check(), Math.max(0, Math.min(earliest - now, MAX_SLEEP_MS)));
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.checking;
  }
}
