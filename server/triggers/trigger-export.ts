/**
 * What a trigger-started run exports: incremental from the flow's checkpoint
 * (SPEC §2), and for a Gmail trigger only mail its labels and query match as
 * well as the source's own export settings, so the poller fires exactly when
 * the run has something to export. A backfill's first run adds `after:`.
 */
import type { ExportSpec } from "../../connector/gmail-export.ts";
import type { Flow } from "../flows/flow.ts";
import type { RunTrigger, Trigger } from "./trigger.ts";

export function triggerFilter(flow: Flow, trigger: Trigger): { labelIds: string[]; query: string } {
  const spec = flow.source.export;
  const own: { labelIds?: string[]; query?: string } = trigger.type === "gmail" ? trigger : {};
  const labelIds = [...new Set([...(spec.labelIds ?? []), ...(own.labelIds ?? [])])];
  const query = [spec.query, own.query].filter((q) => q?.trim()).map((q) => (spec.query && own.query ? `(${q})` : q)).join(" ");
  return { labelIds, query };
}

export function exportForRun(flow: Flow, runTrigger: RunTrigger, trigger: Trigger, backfillAfter?: string | null): ExportSpec {
  const spec = flow.source.export;
  if (runTrigger === "manual") return spec;
  const { labelIds, query } = triggerFilter(flow, trigger);
  const after = backfillAfter ? `after:${Math.floor(new Date(backfillAfter).getTime() / 1000)}` : "";
  const q = [query, after].filter(Boolean).join(" ");
  return { ...spec, incremental: true, ...(labelIds.length ? { labelIds } : {}), ...(q ? { query: q } : {}) };
}
