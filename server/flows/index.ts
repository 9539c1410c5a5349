/**
 * Flows assembled: the stores, the runner and the run queue of the mode the
 * service runs in (in-process, or BullMQ when `redisUrl` is set).
 */
import type { FastifyBaseLogger } from "fastify";
import type { Db } from "../store/db.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { ConnectionStore } from "../connections/connection-store.ts";
import { BullRunQueue } from "./bull-run-queue.ts";
import { CheckpointStore } from "./checkpoints.ts";
import { DeliveryStore } from "./deliveries.ts";
import { FlowRunner, describeError } from "./flow-runner.ts";
import { FlowStore } from "./flow-store.ts";
import { MemoryRunQueue } from "./memory-run-queue.ts";
import type { RunQueue } from "./run-queue.ts";
import { RunStore } from "./run-store.ts";

export interface FlowsOptions {
  db: Db;
  gmail: GmailRunner;
  connections: ConnectionStore;
  log: FastifyBaseLogger;
  /** Queue mode: runs go through BullMQ on this Redis. */
  redisUrl?: string;
  redisPrefix: string;
}

export interface Flows {
  flows: FlowStore;
  runs: RunStore;
  runner: FlowRunner;
  queue: RunQueue;
  /** Take up runs a stopped process left (single-process mode; BullMQ keeps its own jobs). */
  recover(): Promise<void>;
  close(): Promise<void>;
}

export function createFlows(opts: FlowsOptions): Flows {
  const flows = new FlowStore(opts.db);
  const runs = new RunStore(opts.db);
  const runner = new FlowRunner({
    flows,
    runs,
    deliveries: new DeliveryStore(opts.db),
    checkpoints: new CheckpointStore(opts.db),
    connections: opts.connections,
    gmail: opts.gmail,
    log: opts.log,
  });
  const process = (runId: string, signal: AbortSignal) => runner.execute(runId, signal);
  const failRun = async (runId: string, err: unknown) => {
    opts.log.error({ err, runId }, "run failed");
    await runs.finish(runId, "failed", { exported: 0, imported: 0, failed: 0 }, [describeError(err)]);
  };
  const queue: RunQueue = opts.redisUrl
    ? new BullRunQueue(process, { redisUrl: opts.redisUrl, prefix: opts.redisPrefix, log: opts.log, onFinalFailure: failRun })
    : new MemoryRunQueue(process, undefined, (err, runId) => void failRun(runId, err).catch(() => {}));
  return {
    flows,
    runs,
    runner,
    queue,
    async recover() {
      if (opts.redisUrl) return;
      for (const id of await runs.unfinished()) await queue.enqueue(id);
    },
    close: () => queue.close(),
  };
}
