/**
 * Executes one run: export from the source, deliver each record to every
 * destination, count and keep errors, and finish. Every error is classified
 * once (`failure-kind.ts`): a permanent error in a destination fails that
 * record and the run goes on; a permanent source error fails the run with its
 * code. A transient error fails nothing: the record is left, the attempt goes
 * on with the others, and then throws so the run queue retries the run with
 * backoff. The retry skips what the deliveries ledger says is done.
 *
 * One runner per run: each attempt claims the run under a lease it renews
 * with its progress; delivery claims carry the lease's token, and each
 * destination call checks the lease right before its request, so a runner
 * that lost its lease stops before its next send.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { FastifyBaseLogger } from "fastify";
import { fetchRaw, fetchRawRecord, fetchRecord, type ExportRecord, type ExportSpec, type GmailCaller } from "../../connector/gmail-export.ts";
import { GoogleApiError } from "../../connector/errors.ts";
import { failureKind, LeaseLostError, RunInterruptedError, RunLeasedError } from "./failure-kind.ts";
import type { Fence } from "./deliveries.ts";
import { COPYING_ACTIONS, IN_PLACE_ACTIONS, labelNames } from "../../connector/gmail-import.ts";
import type { ArchiveStore } from "../archives/archive-store.ts";
import { ArchiveSink } from "./archive-sink.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { CheckpointStore } from "./checkpoints.ts";
import type { DeliveryStore } from "./deliveries.ts";
import type { Lease, RunError, RunProgress, RunRow, RunStore, TriggerState } from "./run-store.ts";
import { MAX_RUN_ERRORS } from "./run-store.ts";
import type { CandidateStore } from "./run-candidates.ts";
import { openRunSource, resumeCounters, savePagePosition, type PageItem } from "./run-position.ts";
import { deliverRecord, destinationContexts } from "./record-delivery.ts";
import { workPage } from "./page-workers.ts";
import { isArchiveDestination, isArchiveSource, toFlow, type Flow } from "./flow.ts";

export interface FlowRunnerDeps {
  runs: RunStore;
  deliveries: DeliveryStore;
  checkpoints: CheckpointStore;
  /** An incremental run's messages to export, kept in the database. */
  candidates: CandidateStore;
  /** Archive files: an archive source reads one, an archive destination writes the run's. */
  archives: ArchiveStore;
  gmail: GmailRunner;
  log: FastifyBaseLogger;
  /** Records in progress at once per run (the pool still bounds requests in flight). @defaultValue 8 */
  recordConcurrency?: number;
  /**
   * How often a changed progress is saved (an unchanged one only when the lease wants renewing, a
   * quarter of the lease after the last renewal) and a cancel from another process noticed; at
   * most a quarter of the lease. @defaultValue {@link DEFAULT_PROGRESS_INTERVAL_MS}
   */
  progressIntervalMs?: number;
  /** How long a claim on a run holds without renewal (renewed with progress saves). @defaultValue {@link DEFAULT_RUN_LEASE_MS} */
  leaseMs?: number;
  /** This runner's name on its leases. @defaultValue host, pid and a random suffix */
  owner?: string;
  /**
   * What a run exports (triggers make a trigger-started run incremental); `claimed` holds the
   * flow's trigger state as the claim read it. @defaultValue the flow's source export
   */
  exportSpec?: (flow: Flow, run: RunRow, claimed: { triggerState?: TriggerState }) => Promise<ExportSpec>;
}

/** A source failure: it fails the whole run. */
class SourceFailure extends Error {
  constructor(override readonly cause: unknown) {
    super("source failed", { cause });
  }
}

/** The code and message of any error, for run errors. */
export function describeError(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" && /^[a-z][a-z0-9_]*$/.test(e.code) ? e.code : "internal_error";
  return { code, message: code === "internal_error" ? "Something went wrong on our side." : String(e.message ?? code) };
}

/**
 * A run's lease lasts this long past its last renewal (a progress save: at least every quarter of
 * it); a dead or frozen runner's run may be taken over after it. No longer than BullMQ's job lock,
 * so the worker a stalled job goes to can claim the run at once.
 */
export const DEFAULT_RUN_LEASE_MS = 10_000;
/**
 * A running run's progress is saved this often when it changed. Every save is a round trip per
 * running run: at 250 ms they were near one per message delivered under load, and a run shorter
 * than this saves none (its finish does).
 */
export const DEFAULT_PROGRESS_INTERVAL_MS = 1_000;
/**
 * A delivery claim needs this much lease left at most (a third of the lease when shorter), so a
 * send it allows is under way well before anyone may take the run over.
 */
const MAX_CLAIM_MARGIN_MS = 5_000;

export class FlowRunner {
  private readonly local = new Map<string, AbortController>();
  private readonly owner: string;
  constructor(private readonly deps: FlowRunnerDeps) {
    this.owner = deps.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  }

  /** Stop a run executing in this process at once (other processes notice at their next progress save). */
  cancelLocal(runId: string): void {
    this.local.get(runId)?.abort();
  }

  /** True while this runner executes the run. */
  isLocal(runId: string): boolean {
    return this.local.has(runId);
  }

  /**
   * Execute a queued run, or take up again a run whose lease lapsed (its runner died or froze).
   * The run is claimed under a lease this attempt renews with its progress; a run another runner
   * holds under a live lease is not taken over ({@link RunLeasedError}, retried later).
   * Resolves when the run finished (or was canceled, or is gone); throws a transient error to
   * have the run queue retry it. When `signal` aborts (shutdown), the lease is given up and the
   * run left for the queue to retry.
   */
  async execute(runId: string, signal?: AbortSignal): Promise<void> {
    if (this.local.has(runId)) throw new RunLeasedError(runId);
    const leaseMs = this.deps.leaseMs ?? DEFAULT_RUN_LEASE_MS;
    const claimedAt = performance.now();
    const claimed = await this.deps.runs.claimWithContext(runId, this.owner, leaseMs);
    if (claimed === undefined) return;
    if (claimed === "leased") throw new RunLeasedError(runId);
    const { lease, run } = claimed;
    const stop = new AbortController();
    this.local.set(runId, stop);
    const log = this.deps.log.child({ runId });
    try {
      if (!claimed.flowRow) return; // deleted with its runs meanwhile
      const context: ClaimContext = { emails: claimed.emails, checkpoint: claimed.checkpoint, triggerState: claimed.triggerState };
      await this.attempt(run, toFlow(claimed.flowRow), context, lease, claimedAt + leaseMs, stop, signal, log.child({ flowId: run.flowId }));
    } catch (err) {
      // Not finished here: give the lease up so the retry need not wait for it to lapse.
      await this.deps.runs.release(lease).catch(() => {});
      throw err;
    } finally {
      this.local.delete(runId);
    }
  }

  private async attempt(
    run: RunRow,
    flow: Flow,
    context: ClaimContext,
    lease: Lease,
    leaseDeadline: number,
    stop: AbortController,
    signal: AbortSignal | undefined,
    log: FastifyBaseLogger,
  ): Promise<void> {
    const leaseMs = this.deps.leaseMs ?? DEFAULT_RUN_LEASE_MS;
    const onShutdown = () => stop.abort();
    signal?.addEventListener("abort", onShutdown);
    const state: RunState = { progress: { exported: 0, imported: 0, failed: 0 }, errors: [], leaseLost: false, leaseDeadline };
    const renewEvery = leaseMs / 4;
    let saved = JSON.stringify([state.progress, 0]);
    let renewedAt = leaseDeadline - leaseMs;
    const flush = async (always = true) => {
      const sentAt = performance.now();
      const shown = JSON.stringify([state.progress, state.errors.length]);
      // Nothing new to show: only renew the lease (and so notice a cancel) once it wants renewing.
      if (!always && shown === saved && sentAt - renewedAt < renewEvery) return;
      const { status, leased } = await this.deps.runs.saveProgress(lease, leaseMs, state.progress, state.errors);
      saved = shown;
      if (leased) {
        state.leaseDeadline = Math.max(state.leaseDeadline, sentAt + leaseMs);
        renewedAt = Math.max(renewedAt, sentAt);
      }
      if (status === "running" && !leased) state.leaseLost = true;
      if (status !== "running" || !leased) stop.abort();
    };
    // Progress and lease renewal together; a renewal that keeps failing (the database away) lets the lease lapse.
    const every = Math.min(this.deps.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS, renewEvery);
    const timer = setInterval(() => void flush(false).catch((err) => log.warn({ err }, "saving progress failed")), every);
    log.info({ attempt: lease.attempt, leaseToken: lease.token }, "run started");
    try {
      if (this.deps.exportSpec && !isArchiveSource(flow.source)) flow = { ...flow, source: { ...flow.source, export: await this.deps.exportSpec(flow, run, { triggerState: context.triggerState }) } };
      const outcome = await this.exportAndDeliver(run, flow, context, lease, state, stop, log);
      clearInterval(timer);
      if (state.leaseLost) throw new LeaseLostError(run.id);
      if (stop.signal.aborted) {
        if (signal?.aborted) {
          await flush().catch(() => {});
          log.info({ progress: state.progress }, "run stopped by shutdown: it will be retried");
          throw new RunInterruptedError("The process shut down during the run: it will be retried.");
        }
        await flush().catch(() => {});
        if (state.leaseLost) throw new LeaseLostError(run.id);
        await state.sink?.finish("failed");
        log.info({ progress: state.progress }, "run stopped: canceled");
        await this.forgetCandidates(run.id, log);
        return;
      }
      if (outcome.deferred > 0) {
        await flush().catch(() => {});
        throw new RunInterruptedError(`${outcome.deferred} records met a transient failure: the run will be retried.`, { cause: outcome.transient });
      }
      if (state.sink) {
        const archive = await state.sink.finish("complete");
        log.info({ archiveId: archive.id, sizeBytes: archive.sizeBytes, messageCount: archive.messageCount }, "run archive complete");
      }
      // One statement: the run finished, the checkpoint moved past what it delivered, its candidates forgotten.
      await this.deps.runs.finish(lease, "succeeded", state.progress, state.errors, { checkpoint: outcome.nextHistoryId, clearCandidates: true });
      log.info({ progress: state.progress }, "run succeeded");
    } catch (err) {
      clearInterval(timer);
      const cause = err instanceof SourceFailure ? err.cause : err;
      if (failureKind(cause) === "transient") {
        // Left `writing`: the retry truncates it to the run's position and appends from there.
        await state.sink?.close();
        if (cause instanceof LeaseLostError) log.warn({ progress: state.progress }, "run lease lost: stopped before the next delivery");
        else if (!(cause instanceof RunInterruptedError && signal?.aborted)) {
          await flush().catch(() => {});
          log.warn({ err: cause, progress: state.progress }, "run interrupted by a transient failure: it will be retried");
        }
        throw cause;
      }
      const failure = describeError(cause);
      if (failure.code === "internal_error") log.error({ err: cause }, "run failed");
      else log.warn({ code: failure.code }, "run failed: permanent error");
      await state.sink?.finish("failed").catch((e) => log.warn({ err: e }, "recording the run's archive failed"));
      await this.deps.runs.finish(lease, "failed", state.progress, [failure, ...state.errors], { clearCandidates: true });
    } finally {
      clearInterval(timer);
      signal?.removeEventListener("abort", onShutdown);
    }
  }

  /** An ended run's incremental candidates are of no further use (a retried attempt keeps them). */
  private async forgetCandidates(runId: string, log: FastifyBaseLogger): Promise<void> {
    await this.deps.candidates.clear(runId).catch((err) => log.warn({ err }, "removing the run's candidates failed"));
  }

  private async exportAndDeliver(run: RunRow, flow: Flow, context: ClaimContext, lease: Lease, state: RunState, stopper: AbortController, log: FastifyBaseLogger): Promise<AttemptOutcome> {
    const accountId = run.accountId;
    const stop = stopper.signal;
    const leaseMs = this.deps.leaseMs ?? DEFAULT_RUN_LEASE_MS;
    const fence: Fence = { runId: lease.runId, token: lease.token, marginMs: Math.min(MAX_CLAIM_MARGIN_MS, leaseMs / 3) };
    const { gmail, deliveries, archives, runs } = this.deps;
    const fromArchive = isArchiveSource(flow.source);
    const sourceId = fromArchive ? undefined : flow.source.connectionId;
    const srcRaw: GmailCaller = (method, fn) => gmail.run(accountId, sourceId!, method, fn);
    const src: GmailCaller = async (method, fn) => {
      try {
        return await srcRaw(method, fn);
      } catch (err) {
        throw new SourceFailure(err);
      }
    };
    // Checked inside the pool slot, right before the request: a runner frozen (SIGSTOP) while it
    // waited for the slot finds its lease lapsed on the monotonic clock, with no database round trip.
    const fenced = (connectionId: string): GmailCaller => (method, fn) =>
      gmail.run(accountId, connectionId, method, (g, options) => {
        if (performance.now() > state.leaseDeadline - fence.marginMs) throw new LeaseLostError(lease.runId);
        return fn(g, options);
      });
    // The addresses came with the claim (the flow's connections: flow_connections keeps them in step).
    const dests = await destinationContexts(flow, sourceId, async (id) => context.emails[id], fenced);
    const archiveIndex = flow.destinations.findIndex(isArchiveDestination);
    // A backup or restore saves its position after every page and resumes from it (SPEC §2 "Archives").
    // The checkpoint came with the claim: only this run of the flow may move it meanwhile.
    const checkpoints = { get: async (flowId: string) => (flowId === flow.id ? context.checkpoint : this.deps.checkpoints.get(flowId)) };
    const source = await openRunSource(run, flow, srcRaw, archiveIndex >= 0, { ...this.deps, checkpoints });
    const { plan, spec, resumable } = source;
    resumeCounters(source, state, log);
    if (archiveIndex >= 0) {
      const userLabels = await labelNames(src);
      const name = `${flow.name} ${new Date().toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-")}.mbox`;
      state.sink = await ArchiveSink.open(archives, accountId, run.id, name, userLabels, source.from);
    }
    const sink = state.sink;
    // Copies (insert, import) and a backup need each message's bytes, labels and date, and a copy
    // its Message-ID for the ledger: one raw fetch, nothing parsed, instead of metadata then raw.
    const rawOnly = (!!sink || dests.length > 0) && dests.every((d) => COPYING_ACTIONS.includes(d.spec.import.action));
    const addError = (e: RunError) => {
      if (state.errors.length < MAX_RUN_ERRORS) state.errors.push(e);
    };
    const outcome: AttemptOutcome = { nextHistoryId: plan.nextHistoryId, deferred: 0 };
    // Transient failures in a row with no success between: Google (or our store) is down, end the attempt early.
    let streak = 0;
    const width = this.deps.recordConcurrency ?? 8;
    const defer = (err: unknown) => {
      outcome.transient ??= err;
      outcome.deferred += 1;
      streak += 1;
    };
    // A record every destination of which holds in the ledger is not fetched again (a retried attempt);
    // an archive destination keeps no ledger (its file is truncated to the run's position instead).
    const ledgered = !sink && !plan.filterLabels && dests.every((d) => !IN_PLACE_ACTIONS.includes(d.spec.import.action));

    const one = async (item: PageItem, done: boolean) => {
      const id = item.id;
      if (done) {
        state.progress.exported += 1;
        state.progress.imported += 1;
        return;
      }
      let record: ExportRecord;
      try {
        record = item.record ? await item.record() : rawOnly ? await fetchRawRecord(src, id, { messageId: dests.length > 0 }) : await fetchRecord(src, id, spec);
      } catch (err) {
        const cause = err instanceof SourceFailure ? err.cause : err;
        if (cause instanceof GoogleApiError && cause.status === 404) {
          // Gone between listing and fetching: not exported by an incremental run, a failed record otherwise.
          if (plan.tolerateMissing) return;
          state.progress.failed += 1;
          addError({ record: id, ...describeError(cause) });
          return;
        }
        if (failureKind(cause) === "permanent") throw err instanceof SourceFailure ? err : new SourceFailure(err);
        return defer(cause);
      }
      if (plan.filterLabels && !(spec.labelIds ?? []).every((l) => record.labelIds.includes(l))) return;
      state.progress.exported += 1;
      let raw: Promise<Buffer> | undefined;
      const rawOnce = () => (raw ??= record.raw ? Promise.resolve(record.raw) : fetchRaw(src, id));
      let failed = false;
      let deferred: unknown;
      if (sink) {
        try {
          const bytes = await rawOnce();
          // Fenced like a destination call: once another runner may hold the run (and truncate the
          // file to its position), this one appends nothing more.
          if (performance.now() > state.leaseDeadline - fence.marginMs) {
            state.leaseLost = true;
            stopper.abort();
            return;
          }
          await sink.write(record, bytes);
        } catch (err) {
          const cause = err instanceof SourceFailure ? err.cause : err;
          // A failed write leaves the file unusable past the last page: the attempt ends and is retried.
          if (failureKind(cause) === "permanent" && err instanceof SourceFailure) throw err;
          state.progress.exported -= 1;
          outcome.transient ??= cause;
          outcome.deferred += 1;
          streak = 2 * width;
          return;
        }
      }
      for (const dest of dests) {
        if (stop.aborted) return;
        try {
          await deliverRecord(deliveries, flow.id, fence, dest, record, rawOnce);
        } catch (err) {
          if (err instanceof LeaseLostError) {
            // Another runner may hold the run now: no further send from this one.
            state.leaseLost = true;
            stopper.abort();
            return;
          }
          const cause = err instanceof SourceFailure ? err.cause : err;
          if (failureKind(cause) === "transient") deferred ??= cause;
          else if (err instanceof SourceFailure) throw err;
          else {
            failed = true;
            addError({ record: id, destination: dest.index, ...describeError(cause) });
          }
        }
      }
      // A record left for the retry is counted by the attempt that finishes it.
      if (deferred !== undefined) {
        state.progress.exported -= 1;
        return defer(deferred);
      }
      streak = 0;
      if (failed) state.progress.failed += 1;
      else state.progress.imported += 1;
    };

    for await (const page of plan.pages) {
      const items: PageItem[] = page.items ?? page.ids.map((id) => ({ id }));
      const done = ledgered ? await deliveries.doneSources(flow.id, dests.map((d) => d.spec.id), items.map((i) => i.id)) : new Set<string>();
      const { started } = await workPage(items, width, () => !stop.aborted && streak < 2 * width, (item) => one(item, done.has(item.id)));
      if (stop.aborted) break;
      if (streak >= 2 * width) {
        outcome.deferred += items.length - started; // not tried
        break;
      }
      // Only a page done whole moves the position: a record left for the retry stays ahead of it.
      if (resumable && page.position && outcome.deferred === 0) {
        if (!(await savePagePosition(runs, lease, page.position, state, sink))) {
          state.leaseLost = true;
          stopper.abort();
          break;
        }
      }
    }
    return outcome;
  }
}

/** What the claim read besides the run and its flow. */
interface ClaimContext {
  /** The Gmail address of each connection the flow uses, by connection id. */
  emails: Record<string, string | null>;
  /** The flow's history checkpoint. */
  checkpoint?: string;
  /** The flow's trigger state, for the export hook. */
  triggerState?: TriggerState;
}

interface RunState {
  progress: RunProgress;
  errors: RunError[];
  /** The attempt's lease lapsed or was taken over. */
  leaseLost: boolean;
  /**
   * When the lease lapses at the latest, on this process's monotonic clock (`performance.now()`,
   * which keeps counting while the process is stopped): measured from before the claim or renewal
   * that set it, so it is never later than the database's expiry.
   */
  leaseDeadline: number;
  /** The run's archive destination, once opened. */
  sink?: ArchiveSink;
}

/** What one attempt did besides counting. */
interface AttemptOutcome {
  /** The checkpoint to save when the run succeeds. */
  nextHistoryId?: string;
  /** Records left for a retry by a transient failure. */
  deferred: number;
  /** The first transient failure. */
  transient?: unknown;
}
