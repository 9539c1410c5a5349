/**
 * Starts trigger runs, exactly once: a trigger that fires while the flow has a
 * run queued or running folds into one follow-up run (the flow's
 * `pending_trigger`), started when that run ends. Never a pile of runs, never
 * a 409 lost. The run row and the flag change in one transaction; the partial
 * unique index on active runs decides who wins a race between processes.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Db, Queryable } from "../../core/store/db.ts";
import { newId } from "../../core/secrets.ts";
import type { RunQueue } from "../flows/run-queue.ts";
import type { RunTrigger } from "./trigger.ts";

/** Thrown inside a transaction to roll it back on purpose. */
class Rollback extends Error {}

async function insertRun(q: Queryable, accountId: string, flowId: string, trigger: RunTrigger): Promise<string | undefined> {
  const rows = await q.query<{ id: string }>(
    `INSERT INTO flow_runs (id, account_id, flow_id, trigger) VALUES ($1, $2, $3, $4)
     ON CONFLICT (flow_id) WHERE status IN ('queued', 'running') DO NOTHING RETURNING id`,
    [newId("run"), accountId, flowId, trigger],
  );
  return rows[0]?.id;
}

export class RunStarter {
  constructor(
    private readonly db: Db,
    private readonly queue: () => RunQueue,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** A trigger fired: start a run, or fold into the follow-up of the run in progress. Returns the run started, if any. */
  async fire(accountId: string, flowId: string, trigger: RunTrigger): Promise<string | undefined> {
    const runId = await this.db.tx(async (q) => {
      const id = await insertRun(q, accountId, flowId, trigger);
      if (!id) await q.query("UPDATE flow_triggers SET pending_trigger = $2 WHERE flow_id = $1 AND enabled", [flowId, trigger]);
      return id;
    });
    if (runId) {
      await this.queue().enqueue(runId);
      this.log.info({ flowId, runId, trigger }, "trigger started a run");
      return runId;
    }
    this.log.info({ flowId, trigger }, "trigger folded into a follow-up run");
    // The run in progress may have ended before the flag was committed, its own sweep seeing nothing.
    return this.followUp(flowId);
  }

  /** Start the flow's follow-up run when it has one pending and no run queued or running. */
  async followUp(flowId: string): Promise<string | undefined> {
    let started: { runId: string; trigger: RunTrigger } | undefined;
    try {
      started = await this.db.tx(async (q) => {
        const rows = await q.query<{ account_id: string; pending_trigger: RunTrigger }>(
          "SELECT account_id, pending_trigger FROM flow_triggers WHERE flow_id = $1 AND pending_trigger IS NOT NULL AND enabled FOR UPDATE",
          [flowId],
        );
        if (!rows[0]) return undefined;
        const runId = await insertRun(q, rows[0].account_id, flowId, rows[0].pending_trigger);
        if (!runId) throw new Rollback(); // a run is queued or running: the flag stays for its end
        await q.query("UPDATE flow_triggers SET pending_trigger = NULL WHERE flow_id = $1", [flowId]);
        return { runId, trigger: rows[0].pending_trigger };
      });
    } catch (err) {
      if (err instanceof Rollback) return undefined;
      throw err;
    }
    if (!started) return undefined;
    await this.queue().enqueue(started.runId);
    this.log.info({ flowId, ...started }, "follow-up run started");
    return started.runId;
  }
}
