/**
 * The ticker: the one seam through which timed triggers (schedules and Gmail
 * polls) fire. Two implementations, like the run queue: {@link MemoryTicker}
 * in single-process mode and {@link BullTicker} (BullMQ job schedulers) in
 * queue mode, where exactly one process of the cluster gets each tick.
 */
import type { TimerSpec } from "./trigger.ts";

/** Called once per tick of a flow's timer; `tick` is the tick's time (ms). */
export type TickHandler = (flowId: string, tick: number) => Promise<void>;

export interface Ticker {
  /** Tick `flowId` on `spec` (replacing its timer unless the same); `anchor` is the last tick. Returns the next tick's time. */
  set(flowId: string, spec: TimerSpec, anchor: number): Promise<number | undefined>;
  remove(flowId: string): Promise<void>;
  /** Begin ticking; a tick missed while no process ran fires once now. */
  start(): Promise<void>;
  close(): Promise<void>;
}
