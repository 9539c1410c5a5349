/**
 * Executes one run: export from the source, deliver each record to every
 * destination, count and keep errors, and finish. A record that fails in a
 * destination is counted and the run goes on; a source error fails the run
 * with that error's code. Rate limits never surface here: the choke point
 * pauses and retries them.
 */
import type { FastifyBaseLogger } from "fastify";
import { fetchRaw, fetchRecord, type ExportRecord, type GmailCaller } from "../../connector/gmail-export.ts";
import { GoogleApiError } from "../../connector/errors.ts";
import { COPYING_ACTIONS } from "../../connector/gmail-import.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { ConnectionStore } from "../connections/connection-store.ts";
import type { CheckpointStore } from "./checkpoints.ts";
import type { DeliveryStore } from "./deliveries.ts";
import type { FlowStore } from "./flow-store.ts";
import type { RunError, RunProgress, RunStore } from "./run-store.ts";
import { MAX_RUN_ERRORS } from "./run-store.ts";
import { planExport } from "./export-plan.ts";
import { deliverRecord, type DestinationContext } from "./record-delivery.ts";
import type { Flow } from "./flow.ts";

export interface FlowRunnerDeps {
  flows: FlowStore;
  runs: RunStore;
  deliveries: DeliveryStore;
  checkpoints: CheckpointStore;
  connections: ConnectionStore;
  gmail: GmailRunner;
  log: FastifyBaseLogger;
  /** Records in progress at once per run (the pool still bounds requests in flight). @defaultValue 8 */
  recordConcurrency?: number;
  /** How often progress is saved and a cancel from another process noticed. @defaultValue 250 ms */
  progressIntervalMs?: number;
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

export class FlowRunner {
  private readonly local = new Map<string, AbortController>();
  constructor(private readonly deps: FlowRunnerDeps) {}

  /** Stop a run executing in this process at once (other processes notice at their next progress save). */
  cancelLocal(runId: string): void {
    this.local.get(runId)?.abort();
  }

  /**
   * Execute a queued run, or take up again a run left running by a process that died.
   * When `signal` aborts (shutdown), the run is left as it is for the queue to retry.
   */
  async execute(runId: string, signal?: AbortSignal): Promise<void> {
    const run = await this.deps.runs.find(runId);
    if (!run || !(await this.deps.runs.start(runId))) return;
    const log = this.deps.log.child({ runId, flowId: run.flowId });
    let flow: Flow;
    try {
      flow = await this.deps.flows.get(run.accountId, run.flowId);
    } catch {
      return; // deleted with its runs meanwhile
    }
    const stop = new AbortController();
    this.local.set(runId, stop);
    const onShutdown = () => stop.abort();
    signal?.addEventListener("abort", onShutdown);
    const state = { progress: { exported: 0, imported: 0, failed: 0 } as RunProgress, errors: [] as RunError[] };
    const flush = async () => {
      const status = await this.deps.runs.saveProgress(runId, state.progress, state.errors);
      if (status !== "running") stop.abort();
    };
    const timer = setInterval(() => void flush().catch((err) => log.warn({ err }, "saving progress failed")), this.deps.progressIntervalMs ?? 250);
    log.info({ attempt: run.attempts + 1 }, "run started");
    try {
      const nextHistoryId = await this.exportAndDeliver(run.accountId, flow, state, stop.signal, log);
      clearInterval(timer);
      if (stop.signal.aborted) {
        await flush();
        log.info({ progress: state.progress, shutdown: signal?.aborted ?? false }, "run stopped");
        return;
      }
      if (nextHistoryId) await this.deps.checkpoints.save(flow.id, nextHistoryId);
      await this.deps.runs.finish(runId, "succeeded", state.progress, state.errors);
      log.info({ progress: state.progress }, "run succeeded");
    } catch (err) {
      clearInterval(timer);
      if (signal?.aborted) return;
      const cause = err instanceof SourceFailure ? err.cause : err;
      const failure = describeError(cause);
      if (failure.code === "internal_error") log.error({ err: cause }, "run failed");
      else log.warn({ code: failure.code }, "run failed: source error");
      await this.deps.runs.finish(runId, "failed", state.progress, [failure, ...state.errors]);
    } finally {
      clearInterval(timer);
      signal?.removeEventListener("abort", onShutdown);
      this.local.delete(runId);
    }
  }

  private async exportAndDeliver(
    accountId: string,
    flow: Flow,
    state: { progress: RunProgress; errors: RunError[] },
    stop: AbortSignal,
    log: FastifyBaseLogger,
  ): Promise<string | undefined> {
    const { gmail, connections, deliveries, checkpoints } = this.deps;
    const sourceId = flow.source.connectionId;
    const srcRaw: GmailCaller = (method, fn) => gmail.run(accountId, sourceId, method, fn);
    const src: GmailCaller = async (method, fn) => {
      try {
        return await srcRaw(method, fn);
      } catch (err) {
        throw new SourceFailure(err);
      }
    };
    const sourceEmail = (await connections.get(accountId, sourceId)).email;
    const dests: DestinationContext[] = await Promise.all(
      flow.destinations.map(async (spec, index) => {
        const email = (await connections.get(accountId, spec.connectionId)).email ?? "";
        const call: GmailCaller = (method, fn) => gmail.run(accountId, spec.connectionId, method, fn);
        return { index, spec, call, email, sameMailbox: spec.connectionId === sourceId || (!!email && email === sourceEmail) };
      }),
    );
    const spec = flow.source.export;
    const needsRaw = dests.some((d) => COPYING_ACTIONS.includes(d.spec.import.action));
    const plan = await planExport(srcRaw, flow.id, spec, checkpoints, log);
    const addError = (e: RunError) => {
      if (state.errors.length < MAX_RUN_ERRORS) state.errors.push(e);
    };

    const one = async (id: string) => {
      let record: ExportRecord;
      try {
        record = await fetchRecord(src, id, spec);
      } catch (err) {
        const cause = err instanceof SourceFailure ? err.cause : err;
        if (cause instanceof GoogleApiError && cause.status === 404) {
          // Gone between listing and fetching: not exported by an incremental run, a failed record otherwise.
          if (plan.tolerateMissing) return;
          state.progress.failed += 1;
          addError({ record: id, ...describeError(cause) });
          return;
        }
        throw err;
      }
      if (plan.filterLabels && !(spec.labelIds ?? []).every((l) => record.labelIds.includes(l))) return;
      state.progress.exported += 1;
      let raw: Promise<Buffer> | undefined;
      const rawOnce = () => (raw ??= record.raw ? Promise.resolve(record.raw) : fetchRaw(src, id));
      if (needsRaw && !record.raw) await rawOnce();
      let failed = false;
      for (const dest of dests) {
        if (stop.aborted) return;
        try {
          await deliverRecord(deliveries, flow.id, dest, record, rawOnce);
        } catch (err) {
          if (err instanceof SourceFailure) throw err;
          failed = true;
          addError({ record: id, destination: dest.index, ...describeError(err) });
        }
      }
      if (failed) state.progress.failed += 1;
      else state.progress.imported += 1;
    };

    const width = this.deps.recordConcurrency ?? 8;
    for await (const page of plan.pages) {
      let next = 0;
      let halt = false;
      const worker = async () => {
        try {
          while (next < page.length && !stop.aborted && !halt) await one(page[next++]!);
        } catch (err) {
          halt = true; // a source failure: the other workers stop too
          throw err;
        }
      };
      // allSettled, then rethrow: no worker is left running when the run finishes.
      const results = await Promise.allSettled(Array.from({ length: Math.min(width, page.length) }, worker));
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (rejected) throw rejected.reason;
      if (stop.aborted) break;
    }
    return plan.nextHistoryId;
  }
}
