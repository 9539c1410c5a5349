/**
 * Flows assembled: the stores, the runner and the run queue of the mode the
 * service runs in (in-process, or BullMQ when `redisUrl` is set).
 */
import type { FastifyBaseLogger } from "fastify";
import type { Db } from "../../core/store/db.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import { BullRunQueue, type DEFAULT_LOCK_DURATION_MS, type DEFAULT_STALLED_INTERVAL_MS } from "./bull-run-queue.ts";
import { CheckpointStore } from "./checkpoints.ts";
import { CandidateStore } from "./run-candidates.ts";
import { DeliveryStore } from "./deliveries.ts";
import { FlowRunner, describeError, type DEFAULT_PROGRESS_INTERVAL_MS, type DEFAULT_RUN_LEASE_MS } from "./flow-runner.ts";
import { FlowStore } from "./flow-store.ts";
import { MemoryRunQueue } from "./memory-run-queue.ts";
import { RunInterruptedError } from "./failure-kind.ts";
import { DailyQuotaPause } from "../quota/run-pause.ts";
import { DEFAULT_RUN_RETRY, type DEFAULT_RUN_CONCURRENCY, type RunQueue, type RunRetryPolicy } from "./run-queue.ts";
import { RunStore, type RunRow, type TriggerState } from "./run-store.ts";
import type { Flow } from "./flow.ts";
import type { ExportSpec } from "../../connector/gmail-export.ts";
import type { ArchiveStore } from "../archives/archive-store.ts";

/** Knobs of the run level; every one has a default fit for production (tests shorten them). */
export interface FlowTuning {
  /** Retry of a run whose attempt failed transiently. @defaultValue {@link DEFAULT_RUN_RETRY} */
  retry?: Partial<RunRetryPolicy>;
  /** Runs executed at once by this process (config `runConcurrency`, default 64). @defaultValue {@link DEFAULT_RUN_CONCURRENCY} (4) */
  runConcurrency?: number;
  /** Records in progress at once per run. @defaultValue 8 */
  recordConcurrency?: number;
  /** How long a run's lease holds past its last renewal. @defaultValue {@link DEFAULT_RUN_LEASE_MS} (10 s) */
  leaseMs?: number;
  /** How often a running run's changed progress is saved. @defaultValue {@link DEFAULT_PROGRESS_INTERVAL_MS} (1 s) */
  progressIntervalMs?: number;
  /** Queue mode: BullMQ's job lock. @defaultValue {@link DEFAULT_LOCK_DURATION_MS} (10 s) */
  lockDurationMs?: number;
  /** Queue mode: how often BullMQ looks for stalled jobs. @defaultValue {@link DEFAULT_STALLED_INTERVAL_MS} (5 s) */
  stalledIntervalMs?: number;
  /** How often runs with no live job or lease are queued again. @defaultValue {@link DEFAULT_RECONCILE_INTERVAL_MS} (1 min) */
  reconcileIntervalMs?: number;
}

/** How often reconciliation looks for runs left behind. */
export const DEFAULT_RECONCILE_INTERVAL_MS = 60_000;

export interface FlowsOptions {
  db: Db;
  gmail: GmailRunner;
  /** Archive files: an archive source reads one, an archive destination writes the run's. */
  archives: ArchiveStore;
  log: FastifyBaseLogger;
  /** Queue mode: runs go through BullMQ on this Redis. */
  redisUrl?: string;
  redisPrefix: string;
  tuning?: FlowTuning;
  /** Where triggers plug in (server/triggers): what a run exports, and a run's execution ending. */
  hooks?: FlowHooks;
}

export interface FlowHooks {
  /**
   * The export a run makes (a trigger-started run is incremental); `claimed.triggerState` is the
   * flow's `flow_triggers` trigger and backfill start as the run's claim read them (no read of
   * its own needed). @defaultValue the flow's source export
   */
  exportSpec?: (flow: Flow, run: RunRow, claimed: { triggerState?: TriggerState }) => Promise<ExportSpec>;
  /** Called after each execution of a run here (finished, failed, or left for a retry). */
  runEnded?: (runId: string) => Promise<void>;
}

export interface Flows {
  flows: FlowStore;
  runs: RunStore;
  runner: FlowRunner;
  queue: RunQueue;
  /**
   * Queue again every run that is queued, or running with no live lease, and that the queue
   * does not hold (a run left by a stopped process; a job Redis lost). Idempotent.
   */
  reconcile(): Promise<void>;
  /** Reconcile now, then every `reconcileIntervalMs` until `close`. */
  recover(): Promise<void>;
  close(): Promise<void>;
}

export function createFlows(opts: FlowsOptions): Flows {
  const tuning = opts.tuning ?? {};
  const retry: RunRetryPolicy = { ...DEFAULT_RUN_RETRY, ...tuning.retry };
  const flows = new FlowStore(opts.db);
  const runs = new RunStore(opts.db);
  const candidates = new CandidateStore(opts.db);
  const runner = new FlowRunner({
    runs,
    deliveries: new DeliveryStore(opts.db),
    checkpoints: new CheckpointStore(opts.db),
    candidates,
    archives: opts.archives,
    gmail: opts.gmail,
    log: opts.log,
    recordConcurrency: tuning.recordConcurrency,
    leaseMs: tuning.leaseMs,
    progressIntervalMs: tuning.progressIntervalMs,
    exportSpec: opts.hooks?.exportSpec,
  });
  const ended = (runId: string) => opts.hooks?.runEnded?.(runId).catch((err) => opts.log.warn({ err, runId }, "run end hook failed"));
  // A run that ran out of its iClient's daily units pauses until the next UTC day (server/quota/run-pause.ts).
  const dailyPause = new DailyQuotaPause({ db: opts.db, clock: opts.gmail.clock, log: opts.log, resume: (runId) => queue.enqueue(runId) });
  const process = (runId: string, signal: AbortSignal) => dailyPause.run(runId, signal, (s) => runner.execute(runId, s)).finally(() => ended(runId));
  // A run that failed for good leaves its archive failed, not `writing` for ever.
  const failRunArchive = async (runId: string) => {
    const run = await runs.find(runId);
    if (run?.status !== "failed") return;
    const archive = await opts.archives.forRun(run.accountId, runId);
    if (archive?.status !== "writing") return;
    const at = run.position;
    await opts.archives.finishRunArchive(run.accountId, archive.id, { status: "failed", sizeBytes: at?.archiveBytes ?? 0, messageCount: at?.archiveMessages ?? 0 });
  };
  // The attempts are spent: the run fails with the error behind its last interruption.
  const failRun = async (runId: string, err: unknown) => {
    const cause = err instanceof RunInterruptedError && err.cause !== undefined ? err.cause : err;
    opts.log.error({ err: cause, runId }, "run failed: its attempts are spent");
    await runs.fail(runId, describeError(cause));
    await failRunArchive(runId).catch((e) => opts.log.warn({ err: e, runId }, "recording the run's archive failed"));
    await candidates.clear(runId).catch((e) => opts.log.warn({ err: e, runId }, "removing the run's candidates failed"));
    await ended(runId);
  };
  const queue: RunQueue = opts.redisUrl
    ? new BullRunQueue(process, {
        redisUrl: opts.redisUrl,
        prefix: opts.redisPrefix,
        log: opts.log,
        retry,
        concurrency: tuning.runConcurrency,
        lockDurationMs: tuning.lockDurationMs,
        stalledIntervalMs: tuning.stalledIntervalMs,
        onFinalFailure: failRun,
      })
    : new MemoryRunQueue(process, {
        retry,
        concurrency: tuning.runConcurrency,
        onFinalFailure: failRun,
        onRetry: (runId, err, delayMs) => opts.log.warn({ err, runId, delayMs }, "run attempt failed: it will be retried"),
      });
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const reconcile = async () => {
    for (const id of await runs.orphans()) {
      if (closed) return;
      if (!runner.isLocal(id)) await queue.enqueue(id);
    }
  };
  return {
    flows,
    runs,
    runner,
    queue,
    reconcile,
    async recover() {
      if (closed || timer) return;
      await reconcile().catch((err) => opts.log.warn({ err }, "reconciling runs failed"));
      timer = setInterval(
        () => void reconcile().catch((err) => opts.log.warn({ err }, "reconciling runs failed")),
        tuning.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
      );
      timer.unref();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      dailyPause.close();
      await queue.close();
    },
  };
}
