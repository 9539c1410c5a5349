/**
 * Where a run is, and how a run taken over after a crash goes on from there (SPEC §2
 * "Archives"). A backup (a flow with an archive destination) and a restore (an archive source)
 * save their position after every page done whole: the source's next page (a listing's page
 * token, an incremental run's candidate seq, an archive's next byte), the archive destination's
 * size, and the progress. The next attempt starts its source there, truncates its archive back
 * to that size and counts on from that progress.
 */
import type { FastifyBaseLogger } from "fastify";
import { archiveRecord, type ExportSpec, type GmailCaller } from "../../connector/gmail-export.ts";
import type { ArchiveStore } from "../archives/archive-store.ts";
import type { ArchiveSink } from "./archive-sink.ts";
import { archivePages, openArchiveSource } from "./archive-source.ts";
import type { CheckpointStore } from "./checkpoints.ts";
import { planExport, type ExportPlan, type IdPage, type SourcePosition } from "./export-plan.ts";
import { isArchiveSource, withExportDefaults, type Flow } from "./flow.ts";
import type { CandidateStore } from "./run-candidates.ts";
import type { Lease, RunError, RunPosition, RunProgress, RunRow, RunStore } from "./run-store.ts";

/** One record of a page: a Gmail message id to fetch, or an archive's message already read. */
export type PageItem = NonNullable<IdPage["items"]>[number];

/** A run's source, opened at the run's position when it resumes. */
export interface RunSource {
  plan: ExportPlan;
  /** What each record is fetched as. */
  spec: ExportSpec;
  /** The run saves its position after each page (a backup or a restore). */
  resumable: boolean;
  /** The position this attempt resumes from (only when resumable). */
  from?: RunPosition;
}

export interface OpenSourceDeps {
  archives: ArchiveStore;
  checkpoints: Pick<CheckpointStore, "get">;
  candidates: CandidateStore;
  log: FastifyBaseLogger;
}

/** Open the run's source (an archive, or the Gmail export `src` calls) at the run's saved position. */
export async function openRunSource(run: RunRow, flow: Flow, src: GmailCaller, backup: boolean, deps: OpenSourceDeps): Promise<RunSource> {
  const from = run.position;
  if (isArchiveSource(flow.source)) {
    const archiveId = flow.source.archiveId!;
    const file = await openArchiveSource(deps.archives, run.accountId, archiveId);
    const plan: ExportPlan = { pages: archiveIdPages(file, archiveId, from), filterLabels: false, tolerateMissing: false, resumable: true };
    return { plan, spec: withExportDefaults({ format: "raw" }), resumable: true, from };
  }
  const spec = flow.source.export;
  // Only a backup resumes a Gmail export: other destinations skip what the deliveries ledger holds.
  // Only a backup resumes from stored candidates: other runs may hold a small collection in memory.
  const plan = await planExport(src, run.id, flow.id, spec, deps, backup ? from : undefined, { retried: run.attempts > 1, inMemory: !backup });
  const resumable = plan.resumable && backup;
  return { plan, spec, resumable, from: resumable ? from : undefined };
}

/** An attempt's counters, taken up from the position it resumes from. */
export function resumeCounters(source: RunSource, state: { progress: RunProgress; errors: RunError[] }, log: FastifyBaseLogger): void {
  const from = source.from;
  if (!from) return;
  state.progress = { ...from.progress };
  state.errors = [...from.errors];
  log.info({ position: { ...from, errors: from.errors.length } }, "run resumed from its last page");
}

/**
 * Save the position after a page done whole, with the archive flushed to disk first (its size
 * is what a resumed attempt truncates the file to). False when the lease no longer holds.
 */
export async function savePagePosition(
  runs: RunStore,
  lease: Lease,
  at: SourcePosition,
  state: { progress: RunProgress; errors: RunError[] },
  sink: ArchiveSink | undefined,
): Promise<boolean> {
  const position: RunPosition = { ...at, ...(sink ? await sink.checkpoint() : {}), progress: { ...state.progress }, errors: [...state.errors] };
  return runs.savePosition(lease, position);
}

/** An archive source's pages as the runner takes them. */
async function* archiveIdPages(file: string, archiveId: string, from?: RunPosition): AsyncGenerator<IdPage> {
  for await (const page of archivePages(file, archiveId, from)) {
    const items = page.messages.map(({ id, message }) => ({ id, record: () => archiveRecord(id, message) }));
    yield { items, ids: items.map((i) => i.id), position: page.position };
  }
}
