/**
 * Starts trigger runs, exactly once: a trigger that fires while the flow has a
 * run queued or running folds into one follow-up run (the flow's
 * `pending_trigger`), started when that run ends. Never a pile of runs, never
 * a 409 lost. The run row and the flag change in one statement (data-modifying
 * CTEs: one round trip, one transaction); the partial unique index on active
 * runs (`flow_runs_one_active`) decides who wins a race between processes.
 */
import type { FastifyBaseLogger } from "fastify";
import { isUniqueViolation, type Db } from "../../core/store/db.ts";
import { newId } from "../../core/secrets.ts";
import type { RunQueue } from "../flows/run-queue.ts";
import type { RunTrigger } from "./trigger.ts";

const ACTIVE = "status IN ('queued', 'running')";

/**
 * Insert the run, or (a run is queued or running) set the follow-up flag; with a cursor, also
 * record that the poller looked up to it (the cursor moves with the run, never before it). The
 * trigger row is locked before the run is inserted, as the follow-up does: the same order, no
 * deadlock between a fire and a follow-up.
 */
const FIRE = `
  WITH lock AS (
    SELECT flow_id FROM flow_triggers WHERE flow_id = $3 FOR UPDATE
  ), ins AS (
    INSERT INTO flow_runs (id, account_id, flow_id, trigger) SELECT $1, $2, $3, $4 FROM (SELECT count(*) FROM lock) l
    ON CONFLICT (flow_id) WHERE ${ACTIVE} DO NOTHING RETURNING id
  ), upd AS (
    UPDATE flow_triggers SET
      pending_trigger = CASE WHEN enabled AND NOT EXISTS (SELECT 1 FROM ins) THEN $4 ELSE pending_trigger END,
      poll_history_id = COALESCE($5::text, poll_history_id),
      last_notification_at = CASE WHEN $5::text IS NULL THEN last_notification_at ELSE $6::timestamptz END
    WHERE flow_id = $3 AND ((enabled AND NOT EXISTS (SELECT 1 FROM ins)) OR $5::text IS NOT NULL)
    RETURNING 1
  )
  SELECT (SELECT id FROM ins) AS id`;

/**
 * Start the follow-up: the flag is read locked (its newest value) and cleared in the statement
 * that inserts the run, with no ON CONFLICT: when a run became active meanwhile the unique
 * violation rolls the whole statement back and the flag stays for that run's end.
 */
const FOLLOW_UP = `
  WITH old AS (
    SELECT account_id, pending_trigger FROM flow_triggers
    WHERE flow_id = $1 AND pending_trigger IS NOT NULL AND enabled
      AND NOT EXISTS (SELECT 1 FROM flow_runs WHERE flow_id = $1 AND ${ACTIVE})
    FOR UPDATE
  ), cleared AS (
    UPDATE flow_triggers ft SET pending_trigger = NULL FROM old WHERE ft.flow_id = $1 RETURNING old.account_id, old.pending_trigger
  )
  INSERT INTO flow_runs (id, account_id, flow_id, trigger) SELECT $2, account_id, $1, pending_trigger FROM cleared RETURNING id, trigger`;

/**
 * A run ended: a failed one lets the poller look again from the checkpoint (its cursor goes), a
 * successful one ends a backfill; and the follow-up starts when one is pending (`$3`), as in
 * {@link FOLLOW_UP}. Nothing for a run still queued or running (left for a retry).
 */
const RUN_ENDED = `
  WITH r AS (
    SELECT flow_id, status FROM flow_runs WHERE id = $1 AND NOT ${ACTIVE}
  ), old AS (
    SELECT ft.flow_id, ft.account_id, ft.pending_trigger, r.status,
      $3::boolean AND ft.pending_trigger IS NOT NULL AND ft.enabled
        AND NOT EXISTS (SELECT 1 FROM flow_runs a WHERE a.flow_id = ft.flow_id AND a.${ACTIVE}) AS follow
    FROM flow_triggers ft JOIN r ON r.flow_id = ft.flow_id
    FOR UPDATE OF ft
  ), upd AS (
    UPDATE flow_triggers ft SET
      backfill_after = CASE WHEN old.status = 'succeeded' THEN NULL ELSE ft.backfill_after END,
      poll_history_id = CASE WHEN old.status = 'succeeded' THEN ft.poll_history_id END,
      pending_trigger = CASE WHEN old.follow THEN NULL ELSE ft.pending_trigger END
    FROM old WHERE ft.flow_id = old.flow_id
    RETURNING old.flow_id, old.account_id, old.pending_trigger, old.follow
  ), ins AS (
    INSERT INTO flow_runs (id, account_id, flow_id, trigger) SELECT $2, account_id, flow_id, pending_trigger FROM upd WHERE follow RETURNING id, flow_id, trigger
  )
  SELECT upd.flow_id, ins.id, ins.trigger FROM upd LEFT JOIN ins ON true`;

export class RunStarter {
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly queue: () => RunQueue,
    private readonly log: FastifyBaseLogger,
  ) {}

  /**
   * A trigger fired: start a run, or fold into the follow-up of the run in progress. Returns the
   * run started, if any. `cursor`: the poller's look that fired it, recorded with the run.
   */
  async fire(accountId: string, flowId: string, trigger: RunTrigger, cursor?: { historyId: string; at: number }): Promise<string | undefined> {
    const [row] = await this.db.query<{ id: string | null }>(FIRE, [
      newId("run"),
      accountId,
      flowId,
      trigger,
      cursor?.historyId ?? null,
      cursor ? new Date(cursor.at).toISOString() : null,
    ]);
    const runId = row?.id ?? undefined;
    if (runId) {
      await this.queue().enqueue(runId);
      this.log.info({ flowId, runId, trigger }, "trigger started a run");
      return runId;
    }
    // No follow-up check here: the run in progress has not ended for this statement, and its end
    // (RUN_ENDED) locks the trigger row this statement held, so it sees the flag once committed.
    this.log.info({ flowId, trigger }, "trigger folded into a follow-up run");
    return undefined;
  }

  /** Start the flow's follow-up run when it has one pending and no run queued or running. */
  async followUp(flowId: string): Promise<string | undefined> {
    if (this.closed) return undefined; // the flag stays for the next start's sweep
    let rows: Array<{ id: string; trigger: RunTrigger }>;
    try {
      rows = await this.db.query(FOLLOW_UP, [flowId, newId("run")]);
    } catch (err) {
      if (isUniqueViolation(err)) return undefined; // a run became active: the flag stays for its end
      throw err;
    }
    return this.started(flowId, rows[0]);
  }

  /**
   * The flows' hook: a run's execution ended here. Its trigger's state follows (cursor, backfill)
   * and the follow-up run starts if one is pending, in one statement. Once closing, no follow-up
   * starts (the flag stays for the next start).
   */
  async runEnded(runId: string): Promise<string | undefined> {
    let rows: Array<{ flow_id: string; id: string | null; trigger: RunTrigger | null }>;
    try {
      rows = await this.db.query(RUN_ENDED, [runId, newId("run"), !this.closed]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // A run became active meanwhile: the state follows alone, the flag stays for that run's end.
      rows = await this.db.query(RUN_ENDED, [runId, newId("run"), false]);
    }
    const row = rows[0];
    return row?.id ? this.started(row.flow_id, { id: row.id, trigger: row.trigger! }) : undefined;
  }

  /** Flows with a follow-up pending and no run queued or running, for the sweep. */
  async pendingFlows(): Promise<string[]> {
    const rows = await this.db.query<{ flow_id: string }>(
      `SELECT flow_id FROM flow_triggers ft WHERE pending_trigger IS NOT NULL AND enabled
       AND NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.flow_id = ft.flow_id AND r.${ACTIVE})`,
    );
    return rows.map((r) => r.flow_id);
  }

  /** Closing: no follow-up run starts any more (flags stay for the next start). */
  close(): void {
    this.closed = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private async started(flowId: string, run: { id: string; trigger: RunTrigger } | undefined): Promise<string | undefined> {
    if (!run) return undefined;
    await this.queue().enqueue(run.id);
    this.log.info({ flowId, runId: run.id, trigger: run.trigger }, "follow-up run started");
    return run.id;
  }
}
