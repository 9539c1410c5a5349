/** Helpers of the trigger suites: a movable clock, waiting for a state, and a flow's runs. */
import type { FlowWorld } from "../flows/support.ts";
import type { MemoryTicker } from "../../server/triggers/memory-ticker.ts";
import type { FastifyInstance } from "fastify";

export interface Clock {
  t: number;
  now: () => number;
  advance(ms: number): void;
}

export function clock(start: number): Clock {
  const c: Clock = { t: start, now: () => c.t, advance: (ms) => void (c.t += ms) };
  return c;
}

/** Wait until `fn` returns a truthy value (checked every 20 ms), or fail after `ms`. */
export async function until<T>(fn: () => Promise<T>, what: string, ms = 20_000): Promise<Exclude<T, false | null | undefined | 0 | "">> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as Exclude<T, false | null | undefined | 0 | "">;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface RunView {
  id: string;
  trigger: string;
  status: string;
  progress: { exported: number; imported: number; failed: number };
  createdAt: string;
  finishedAt: string | null;
}

/** Every run of a flow, oldest first. */
export async function runsOf(w: FlowWorld, flowId: string, a = w.a): Promise<RunView[]> {
  const all: RunView[] = [];
  let cursor: string | undefined;
  do {
    const page = (await a.get(`/v1/flows/${flowId}/runs?limit=100${cursor ? `&cursor=${cursor}` : ""}`)).json();
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

export const settled = (runs: RunView[]) => runs.every((r) => r.status !== "queued" && r.status !== "running");

/** The in-process ticker of an app (single-process mode), to fire due ticks after moving the clock. */
export const ticker = (app: FastifyInstance) => app.triggers.ticker as MemoryTicker;
