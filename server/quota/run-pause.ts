/**
 * Runs paused by the daily units (SPEC §2 "Quota budget"): a run attempt that ended because its
 * iClient spent the day's units (`daily_quota_reached`, see failure-kind.ts `pausedUntil`) is not
 * retried with backoff. It is put back `queued`, its errors led by `daily_quota_reached` with the
 * time it resumes, and held off until the next UTC day: a timer on the quota clock queues it again
 * then (in this process), and the run's lease is set to expire at that time, so if this process
 * is gone by then, reconciliation (every minute, any process) queues it instead. Nothing is lost:
 * the records left undone wait in the run's deliveries ledger or position.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Db } from "../../core/store/db.ts";
import { pausedUntil } from "../flows/failure-kind.ts";
import type { QuotaClock } from "./budget.ts";

/** The lease owner a paused run is held under (no runner is ever named so). */
export const PAUSE_OWNER = "paused:daily_quota_reached";

export interface DailyPauseOptions {
  db: Db;
  /** The clock the daily units go by (the Gmail runner's). */
  clock: QuotaClock;
  log: FastifyBaseLogger;
  /** Queue the run again. */
  resume: (runId: string) => Promise<void>;
}

export class DailyQuotaPause {
  readonly #closing = new AbortController();

  constructor(private readonly opts: DailyPauseOptions) {}

  /**
   * Execute one attempt with `execute`; when it ends for the day's units, pause the run instead of
   * throwing (the queue then counts no failed attempt). Any other outcome passes through.
   */
  async run(runId: string, signal: AbortSignal, execute: (signal: AbortSignal) => Promise<void>): Promise<void> {
    try {
      await execute(signal);
    } catch (err) {
      const until = pausedUntil(err);
      if (!until || signal.aborted || this.#closing.signal.aborted) throw err;
      if (!(await this.#pause(runId, until))) throw err; // canceled or taken meanwhile: as before
      this.opts.log.warn({ runId, resumeAt: until.toISOString() }, "run paused: the iClient spent its Gmail units of today (daily_quota_reached)");
      void this.#resumeAt(runId, until);
    }
  }

  /** Stop the resume timers of this process (reconciliation resumes those runs later). */
  close(): void {
    this.#closing.abort();
  }

  async #pause(runId: string, until: Date): Promise<boolean> {
    const note = {
      code: "daily_quota_reached",
      message: `Paused: the iClient spent its Gmail quota units of today (UTC). The run resumes at ${until.toISOString()}.`,
      resumeAt: until.toISOString(),
    };
    // Only a run whose attempt gave its lease up (as a failed attempt does); its saved progress stays.
    const rows = await this.opts.db.query(
      `UPDATE flow_runs SET status = 'queued', lease_owner = $2, lease_expires_at = $3::timestamptz,
              errors = (SELECT COALESCE(jsonb_agg(e ORDER BY n), '[]'::jsonb)
                          FROM jsonb_array_elements(jsonb_build_array($4::jsonb) || COALESCE(errors, '[]'::jsonb)) WITH ORDINALITY AS t(e, n) WHERE n <= 100)
        WHERE id = $1 AND status IN ('queued', 'running') AND (lease_expires_at IS NULL OR lease_expires_at <= now())
        RETURNING 1`,
      [runId, PAUSE_OWNER, until.toISOString(), JSON.stringify(note)],
    );
    return rows.length > 0;
  }

  async #resumeAt(runId: string, until: Date): Promise<void> {
    const { clock, db, log } = this.opts;
    try {
      // The quota clock, not the database's: tests move it; in production both are the wall's.
      await clock.sleep(Math.max(0, until.getTime() - clock.now()), this.#closing.signal);
      await db.query("UPDATE flow_runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2", [runId, PAUSE_OWNER]);
      log.info({ runId }, "run resumed: a new UTC day");
      await this.opts.resume(runId);
    } catch (err) {
      if (!this.#closing.signal.aborted) log.warn({ err, runId }, "resuming a paused run failed: reconciliation will");
    }
  }
}
