/**
 * Which source messages a run exports: by query and labels (full export), or for an incremental
 * flow the messages added since its checkpoint, falling back to a full export (resync) when there
 * is none or Google answers 404 for it. Every plan streams pages (bounded memory, no limit unless
 * `maxMessages` caps it) and every page carries the position a run taken over resumes from.
 */
import type { FastifyBaseLogger } from "fastify";
import { addedPages, currentHistoryId, listMessageIds, listMessagePages, type ExportRecord, type ExportSpec, type GmailCaller } from "../../connector/gmail-export.ts";
import type { RunPosition } from "./run-store.ts";
import { GoogleApiError } from "../../connector/errors.ts";
import type { CheckpointStore } from "./checkpoints.ts";
import type { CandidateStore } from "./run-candidates.ts";

/** Where a source goes on after a page. */
export type SourcePosition = Pick<RunPosition, "pageToken" | "listed" | "sourceDone" | "offset" | "line" | "mode" | "nextHistoryId" | "seq">;

/** A page of message ids, and where the source goes on after it. */
export interface IdPage {
  ids: string[];
  /** A source that reads its records itself (an archive): one per id. */
  items?: Array<{ id: string; record?: () => Promise<ExportRecord> }>;
  /** Where the source goes on after this page. */
  position?: SourcePosition;
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
  /** Pages carry positions a resumed run starts from. */
  resumable: boolean;
}

export interface PlanDeps {
  checkpoints: Pick<CheckpointStore, "get">;
  candidates: CandidateStore;
  log: FastifyBaseLogger;
}

/** Messages read back per page of an incremental run (Gmail's listing page size). */
const PAGE = 500;

/** A full listing a page at a time, each page with the position after it; from `from` when a run resumes. */
async function* listing(src: GmailCaller, spec: ExportSpec, from?: RunPosition, incremental?: Pick<RunPosition, "mode" | "nextHistoryId">): AsyncGenerator<IdPage> {
  if (from?.sourceDone) return;
  for await (const page of listMessagePages(src, spec, { pageToken: from?.pageToken, listed: from?.listed })) {
    yield { ids: page.ids, position: { ...incremental, pageToken: page.nextPageToken, listed: page.listed, sourceDone: !page.nextPageToken } };
  }
}

/** How an incremental run keeps its candidates. */
export interface CollectOptions {
  /** An earlier attempt of the run may have stored candidates: forget them first. */
  retried?: boolean;
  /**
   * Nothing resumes from stored candidates (only a backup saves positions): a collection that
   * fits one page ({@link PAGE} ids, as most trigger runs' handful) is held in memory, with no
   * round trip to the store. A larger one goes to the store, so memory stays bounded.
   */
  inMemory?: boolean;
}

/**
 * Collect the messages added since `start` (those the flow's query matches, when it has one):
 * into the run's candidates in the store, or held in memory (`held`) when they fit one page and
 * `inMemory` allows it. Returns the historyId the next run starts from.
 */
async function collect(src: GmailCaller, runId: string, spec: ExportSpec, start: string, candidates: CandidateStore, opts: CollectOptions): Promise<{ next: string; held?: string[] }> {
  if (opts.retried) await candidates.clear(runId);
  let seq = 0;
  let next = start;
  // Insertion-ordered and deduplicated, as the store's unique index keeps them.
  let held: Set<string> | undefined = opts.inMemory ? new Set() : undefined;
  for await (const page of addedPages(src, start, spec.labelIds?.[0])) {
    next = page.historyId;
    if (held && held.size + page.ids.length <= PAGE) {
      for (const id of page.ids) held.add(id);
      continue;
    }
    if (held) seq = await candidates.add(runId, seq, [...held]);
    held = undefined;
    seq = await candidates.add(runId, seq, page.ids);
  }
  // History cannot apply a query: list what the query matches and keep (or mark) those among the added.
  if (held) {
    if (!spec.query || !held.size) return { next, held: [...held] };
    const matched = new Set<string>();
    for await (const ids of listMessageIds(src, { query: spec.query, labelIds: spec.labelIds })) {
      for (const id of ids) if (held.has(id)) matched.add(id);
      if (matched.size === held.size) break;
    }
    return { next, held: [...held].filter((id) => matched.has(id)) };
  }
  if (spec.query && seq > 0) {
    for await (const ids of listMessageIds(src, { query: spec.query, labelIds: spec.labelIds })) await candidates.match(runId, ids);
  }
  return { next };
}

/** Candidates held in memory, in pages (no position: nothing resumes from them). */
async function* heldPages(ids: string[], spec: ExportSpec): AsyncGenerator<IdPage> {
  const max = spec.maxMessages ?? Infinity;
  const kept = ids.slice(0, Math.min(ids.length, max));
  for (let i = 0; i < kept.length; i += PAGE) yield { ids: kept.slice(i, i + PAGE) };
}

/** The collected candidates a page at a time, from the position a resumed run saved. */
async function* candidatePages(runId: string, spec: ExportSpec, candidates: CandidateStore, nextHistoryId: string, from?: RunPosition): AsyncGenerator<IdPage> {
  const max = spec.maxMessages ?? Infinity;
  let seq = from?.seq ?? 0;
  let listed = from?.listed ?? 0;
  const at = (sourceDone: boolean): SourcePosition => ({ mode: "history", nextHistoryId, seq, listed, sourceDone });
  // Collected: a run taken over from here on reads the candidates instead of history again.
  if (!from) yield { ids: [], position: at(false) };
  if (from?.sourceDone) return;
  while (listed < max) {
    const rows = await candidates.after(runId, seq, Math.min(PAGE, max - listed), !!spec.query);
    if (!rows.length) break;
    seq = rows[rows.length - 1]!.seq;
    listed += rows.length;
    yield { ids: rows.map((r) => r.id), position: at(listed >= max) };
  }
}

/**
 * What to export. `from` (a run taken over after a crash) starts at the page after the last one
 * the run finished: the listing's next page, or for an incremental run its collected candidates
 * from the saved seq (a resync's listing keeps the historyId read before it began).
 */
export async function planExport(src: GmailCaller, runId: string, flowId: string, spec: ExportSpec, deps: PlanDeps, from?: RunPosition, opts: CollectOptions = {}): Promise<ExportPlan> {
  if (!spec.incremental) return { pages: listing(src, spec, from), filterLabels: false, tolerateMissing: false, resumable: true };
  const { candidates } = deps;
  if (from?.mode === "history" && from.nextHistoryId) {
    return { pages: candidatePages(runId, spec, candidates, from.nextHistoryId, from), filterLabels: true, tolerateMissing: true, nextHistoryId: from.nextHistoryId, resumable: true };
  }
  if (from?.mode === "resync" && from.nextHistoryId) {
    const resync = { mode: "resync" as const, nextHistoryId: from.nextHistoryId };
    return { pages: listing(src, spec, from, resync), filterLabels: false, tolerateMissing: false, nextHistoryId: from.nextHistoryId, resumable: true };
  }
  const start = await deps.checkpoints.get(flowId);
  if (start) {
    try {
      const { next: nextHistoryId, held } = await collect(src, runId, spec, start, candidates, opts);
      if (held) return { pages: heldPages(held, spec), filterLabels: true, tolerateMissing: true, nextHistoryId, resumable: false };
      return { pages: candidatePages(runId, spec, candidates, nextHistoryId), filterLabels: true, tolerateMissing: true, nextHistoryId, resumable: true };
    } catch (err) {
      if (!(err instanceof GoogleApiError && err.status === 404)) throw err;
      deps.log.warn({ startHistoryId: start }, "history checkpoint too old: full resync");
    }
  }
  // Read the historyId before listing, so what changes during this export is seen by the next run.
  const nextHistoryId = await currentHistoryId(src);
  return { pages: listing(src, spec, undefined, { mode: "resync", nextHistoryId }), filterLabels: false, tolerateMissing: false, nextHistoryId, resumable: true };
}
