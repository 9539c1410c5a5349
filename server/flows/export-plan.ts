/**
 * Which source messages a run exports: by query and labels (full export), or
 * for an incremental flow the messages added since its checkpoint, falling back
 * to a full export (resync) when there is none or Google answers 404 for it.
 */
import type { FastifyBaseLogger } from "fastify";
import { addedSince, currentHistoryId, listMessageIds, type ExportSpec, type GmailCaller } from "../../connector/gmail-export.ts";
import { GoogleApiError } from "../../connector/errors.ts";
import type { CheckpointStore } from "./checkpoints.ts";

export interface ExportPlan {
  /** Pages of message ids to export. */
  pages: AsyncIterable<string[]>;
  /** Incremental only: records must be re-checked against `labelIds` (history lists every added message). */
  filterLabels: boolean;
  /** Incremental only: a message that vanished since it was added is skipped, not failed. */
  tolerateMissing: boolean;
  /** The checkpoint to save when the run succeeds. */
  nextHistoryId?: string;
}

async function* once(ids: string[]): AsyncGenerator<string[]> {
  for (let i = 0; i < ids.length; i += 500) yield ids.slice(i, i + 500);
}

export async function planExport(src: GmailCaller, flowId: string, spec: ExportSpec, checkpoints: CheckpointStore, log: FastifyBaseLogger): Promise<ExportPlan> {
  if (!spec.incremental) return { pages: listMessageIds(src, spec), filterLabels: false, tolerateMissing: false };
  const start = await checkpoints.get(flowId);
  if (start) {
    try {
      const added = await addedSince(src, start, spec.labelIds?.[0]);
      let ids = added.ids;
      if (spec.query) {
        // History cannot apply a query: keep the added messages the query matches.
        const matching = new Set<string>();
        for await (const page of listMessageIds(src, { query: spec.query, labelIds: spec.labelIds, maxMessages: 10_000 })) for (const id of page) matching.add(id);
        ids = ids.filter((id) => matching.has(id));
      }
      return { pages: once(ids.slice(0, spec.maxMessages)), filterLabels: true, tolerateMissing: true, nextHistoryId: added.historyId };
    } catch (err) {
      if (!(err instanceof GoogleApiError && err.status === 404)) throw err;
      log.warn({ startHistoryId: start }, "history checkpoint too old: full resync");
    }
  }
  // Read the historyId before listing, so what changes during this export is seen by the next run.
  const nextHistoryId = await currentHistoryId(src);
  return { pages: listMessageIds(src, spec), filterLabels: false, tolerateMissing: false, nextHistoryId };
}
