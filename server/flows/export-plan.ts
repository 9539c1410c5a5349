/**
 * Which source messages a run exports: by query and labels (full export), or
 * for an incremental flow the messages added since its checkpoint, falling back
 * to a full export (resync) when there is none or Google answers 404 for it.
 */
import type { FastifyBaseLogger } from "fastify";
import { addedSince, currentHistoryId, listMessageIds, listMessagePages, type ExportRecord, type ExportSpec, type GmailCaller } from "../../connector/gmail-export.ts";
import type { RunPosition } from "./run-store.ts";
import { GoogleApiError } from "../../connector/errors.ts";
import type { CheckpointStore } from "./checkpoints.ts";

/** A page of message ids, and (a full export) where the listing goes on after it. */
export interface IdPage {
  ids: string[];
  /** A source that reads its records itself (an archive): one per id. */
  items?: Array<{ id: string; record?: () => Promise<ExportRecord> }>;
  /** Where the source goes on after this page. */
  position?: Pick<RunPosition, "pageToken" | "listed" | "sourceDone" | "offset" | "line">;
}

export interface ExportPlan {
  /** Pages of message ids to export. */
  pages: AsyncIterable<IdPage>;
  /** Incremental only: records must be re-checked against `labelIds` (history lists every added message). */
  filterLabels: boolean;
  /** Incremental only: a message that vanished since it was added is skipped, not failed. */
  tolerateMissing: boolean;
  /** The checkpoint to save when the run succeeds. */
  nextHistoryId?: string;
  /** Pages carry positions a resumed run starts from (a full export). */
  resumable: boolean;
}

async function* once(ids: string[]): AsyncGenerator<IdPage> {
  for (let i = 0; i < ids.length; i += 500) yield { ids: ids.slice(i, i + 500) };
}

/** A full listing a page at a time, each page with the position after it; from `from` when a run resumes. */
async function* listing(src: GmailCaller, spec: ExportSpec, from?: RunPosition): AsyncGenerator<IdPage> {
  if (from?.sourceDone) return;
  for await (const page of listMessagePages(src, spec, { pageToken: from?.pageToken, listed: from?.listed })) {
    yield { ids: page.ids, position: { pageToken: page.nextPageToken, listed: page.listed, sourceDone: !page.nextPageToken } };
  }
}

/**
 * What to export. `from` (a full export resumed after a crash) starts the listing at the page
 * after the last one the run finished.
 */
export async function planExport(src: GmailCaller, flowId: string, spec: ExportSpec, checkpoints: CheckpointStore, log: FastifyBaseLogger, from?: RunPosition): Promise<ExportPlan> {
  if (!spec.incremental) return { pages: listing(src, spec, from), filterLabels: false, tolerateMissing: false, resumable: true };
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
      return { pages: once(ids.slice(0, spec.maxMessages)), filterLabels: true, tolerateMissing: true, nextHistoryId: added.historyId, resumable: false };
    } catch (err) {
      if (!(err instanceof GoogleApiError && err.status === 404)) throw err;
      log.warn({ startHistoryId: start }, "history checkpoint too old: full resync");
    }
  }
  // Read the historyId before listing, so what changes during this export is seen by the next run.
  const nextHistoryId = await currentHistoryId(src);
  return { pages: listing(src, spec), filterLabels: false, tolerateMissing: false, nextHistoryId, resumable: false };
}
