/**
 * Runs of flows: at most one queued or running per flow (a partial unique
 * index, so two processes cannot both start one), their progress and their
 * first {@link MAX_RUN_ERRORS} errors.
 */
import type { Db } from "../../core/store/db.ts";
import { isUniqueViolation } from "../../core/store/db.ts";
import { newId } from "../../core/secrets.ts";
import { ApiError, notFound } from "../../core/errors.ts";
import { pageFilter, pageLimit, toPage, type Page, type PageRequest } from "../../core/paging.ts";

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "canceled";
export interface RunProgress {
  exported: number;
  imported: number;
  failed: number;
}
export interface RunError {
  record?: string;
  destination?: number;
  code: string;
  message: string;
}
export interface Run {
  id: string;
  flowId: string;
  /** What started the run (SPEC §2 "Triggers"). */
  trigger: "manual" | "schedule" | "push" | "poll";
  status: RunStatus;
  progress: RunProgress;
  errors: RunError[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}
/**
 * Where a backup or restore run is, saved after each page it finished (SPEC §2 "Archives"): a
 * run taken over after a crash resumes from here instead of from the start.
 */
export interface RunPosition {
  /** Gmail source: the listing's next page, and the messages listed before it. */
  pageToken?: string;
  listed?: number;
  /** The source has no page left. */
  sourceDone?: boolean;
  /**
   * Incremental export: `history` reads the candidates collected from history.list (migration
   * 013) after `seq`; `resync` is a full listing. Both keep the historyId the next run starts from.
   */
  mode?: "history" | "resync";
  nextHistoryId?: string;
  seq?: number;
  /** Archive source: the byte offset and line number of the next message. */
  offset?: number;
  line?: number;
  /** Archive destination: the file's size and message count, and the dates seen, at this point. */
  archiveBytes?: number;
  archiveMessages?: number;
  firstDate?: number;
  lastDate?: number;
  progress: RunProgress;
  errors: RunError[];
}

/** What the worker needs besides the view. */
export interface RunRow extends Run {
  accountId: string;
  attempts: number;
  position?: RunPosition;
}

/** A run attempt's hold on its run: the fencing token every delivery claim carries. */
export interface Lease {
  runId: string;
  token: number;
  /** The attempt's number, from 1. */
  attempt: number;
}

/** A claimed run and what its attempt starts from ({@link RunStore.claimWithContext}). */
export interface RunClaim {
  lease: Lease;
  /** The run as claimed (running, its attempts counting this one). */
  run: RunRow;
  /** The flow's row (`flows.*`); absent when the flow is gone. */
  flowRow?: Record<string, any>;
  /** The Gmail address of each connection the flow uses, by connection id. */
  emails: Record<string, string | null>;
  /** The flow's history checkpoint (where an incremental run starts). */
  checkpoint?: string;
  /** The flow's trigger and backfill start (`flow_triggers`), for the export hook; absent when the flow has no row there. */
  triggerState?: TriggerState;
}

/** What a trigger-started run's export depends on, as `flow_triggers` holds it. */
export interface TriggerState {
  trigger: unknown;
  /** ISO 8601, or null. */
  backfillAfter: string | null;
}

/** Errors kept per run; the rest are only counted in `progress.failed`. */
export const MAX_RUN_ERRORS = 100;

const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);

function toRun(row: Record<string, any>): RunRow {
  return {
    id: row.id,
    flowId: row.flow_id,
    trigger: row.trigger ?? "manual",
    status: row.status,
    progress: row.progress,
    errors: row.errors,
    createdAt: iso(row.created_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    accountId: row.account_id,
    attempts: row.attempts,
    position: row.position ?? undefined,
  };
}

export function publicRun(run: RunRow): Run {
  const { accountId: _a, attempts: _n, position: _p, ...view } = run;
  return view;
}

export class RunStore {
  constructor(private readonly db: Db) {}

  /** A new queued run; 409 while another run of the flow is queued or running. */
  async create(accountId: string, flowId: string): Promise<RunRow> {
    try {
      const rows = await this.db.query("INSERT INTO flow_runs (id, account_id, flow_id) VALUES ($1, $2, $3) RETURNING *", [newId("run"), accountId, flowId]);
      return toRun(rows[0]!);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError("conflict", "The flow already has a run queued or running.", undefined, { cause: err });
      throw err;
    }
  }

  async get(accountId: string, id: string): Promise<RunRow> {
    const rows = await this.db.query("SELECT * FROM flow_runs WHERE id = $1 AND account_id = $2", [id, accountId]);
    if (!rows[0]) throw notFound("Run");
    return toRun(rows[0]);
  }

  /** The run for a worker (any account), or undefined when it was deleted with its flow. */
  async find(id: string): Promise<RunRow | undefined> {
    const rows = await this.db.query("SELECT * FROM flow_runs WHERE id = $1", [id]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  async listForFlow(accountId: string, flowId: string, page: PageRequest = {}): Promise<Page<Run>> {
    const limit = pageLimit(page);
    const filter = pageFilter(page, 3);
    const rows = await this.db.query(
      `SELECT * FROM flow_runs WHERE account_id = $1 AND flow_id = $2${filter.sql} ORDER BY created_at, id LIMIT ${limit + 1}`,
      [accountId, flowId, ...filter.params],
    );
    return toPage(rows as any[], limit, (r) => publicRun(toRun(r)));
  }

  /**
   * Claim a run for one attempt: mark it running under a new lease held by `owner` for
   * `leaseMs`, with a new lease (fencing) token. A run still leased to another owner is not
   * taken over before its lease expires. Returns the lease, `"leased"` when another runner holds
   * the run, or undefined when the run is finished or gone.
   */
  async claim(id: string, owner: string, leaseMs: number): Promise<Lease | "leased" | undefined> {
    const claimed = await this.claimWithContext(id, owner, leaseMs);
    return typeof claimed === "object" ? claimed.lease : claimed;
  }

  /**
   * {@link claim}, and in the same statement what the attempt starts from: the run, its flow's
   * row, the Gmail address of each connection the flow uses, its history checkpoint and its
   * trigger's state (one round trip where a claim, a read of the run, of the flow, of each
   * connection, of the checkpoint and of the trigger took six or more).
   */
  async claimWithContext(id: string, owner: string, leaseMs: number): Promise<RunClaim | "leased" | undefined> {
    const rows = await this.db.query(
      `WITH claimed AS (
         UPDATE flow_runs SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now()),
                progress = '{"exported": 0, "imported": 0, "failed": 0}'::jsonb, errors = '[]'::jsonb,
                lease_owner = $2, lease_token = lease_token + 1, lease_expires_at = now() + $3::int * interval '1 millisecond'
          WHERE id = $1 AND status IN ('queued', 'running') AND (lease_expires_at IS NULL OR lease_expires_at <= now() OR lease_owner = $2)
          RETURNING *
       )
       SELECT (SELECT status FROM flow_runs WHERE id = $1) AS status_before, c.*,
              to_jsonb(f) AS flow_row,
              (SELECT jsonb_object_agg(cn.id, cn.email) FROM flow_connections fc JOIN connections cn ON cn.id = fc.connection_id
                WHERE fc.flow_id = c.flow_id) AS connection_emails,
              cp.history_id AS checkpoint,
              ft.trigger AS trigger_def, ft.backfill_after AS trigger_backfill_after, ft.flow_id IS NOT NULL AS has_trigger
         FROM (SELECT 1) AS one
         LEFT JOIN claimed AS c ON true
         LEFT JOIN flows AS f ON f.id = c.flow_id AND f.account_id = c.account_id
         LEFT JOIN flow_checkpoints AS cp ON cp.flow_id = c.flow_id
         LEFT JOIN flow_triggers AS ft ON ft.flow_id = c.flow_id`,
      [id, owner, Math.round(leaseMs)],
    );
    const row = rows[0]!;
    // The subquery reads the run as it was before the claim (the statement's snapshot).
    if (!row.id) return row.status_before === "queued" || row.status_before === "running" ? "leased" : undefined;
    const run = toRun(row);
    return {
      lease: { runId: id, token: Number(row.lease_token), attempt: run.attempts },
      run,
      flowRow: row.flow_row ?? undefined,
      emails: row.connection_emails ?? {},
      checkpoint: row.checkpoint ?? undefined,
      triggerState: row.has_trigger ? { trigger: row.trigger_def, backfillAfter: iso(row.trigger_backfill_after) } : undefined,
    };
  }

  /**
   * Save progress and renew the lease, while the lease is the attempt's and live. Returns the
   * run's status (a cancel from any process shows here) and whether the lease still holds.
   */
  async saveProgress(lease: Lease, leaseMs: number, progress: RunProgress, errors: RunError[]): Promise<{ status: RunStatus | undefined; leased: boolean }> {
    const rows = await this.db.query<{ status: RunStatus; leased: boolean }>(
      `UPDATE flow_runs SET
              progress = CASE WHEN status = 'running' AND lease_token = $4 THEN $2::jsonb ELSE progress END,
              errors = CASE WHEN status = 'running' AND lease_token = $4 THEN $3::jsonb ELSE errors END,
              lease_expires_at = CASE WHEN status = 'running' AND lease_token = $4 AND lease_expires_at > now()
                                      THEN now() + $5::int * interval '1 millisecond' ELSE lease_expires_at END
        WHERE id = $1 RETURNING status, (lease_token = $4 AND lease_expires_at > now()) AS leased`,
      [lease.runId, JSON.stringify(progress), JSON.stringify(errors.slice(0, MAX_RUN_ERRORS)), lease.token, Math.round(leaseMs)],
    );
    return { status: rows[0]?.status, leased: rows[0]?.leased === true };
  }

  /**
   * Save the run's position (with its progress) under the attempt's live lease; false when the
   * lease no longer holds (the position stays the one the run's current holder saved).
   */
  async savePosition(lease: Lease, position: RunPosition): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE flow_runs SET position = $3::jsonb, progress = $4::jsonb
        WHERE id = $1 AND status = 'running' AND lease_token = $2 AND lease_expires_at > now() RETURNING 1`,
      [lease.runId, lease.token, JSON.stringify({ ...position, errors: position.errors.slice(0, MAX_RUN_ERRORS) }), JSON.stringify(position.progress)],
    );
    return rows.length > 0;
  }

  /** Give the lease up at once (an attempt that ends without finishing the run), so a retry need not wait for it. */
  async release(lease: Lease): Promise<void> {
    await this.db.query("UPDATE flow_runs SET lease_expires_at = now() WHERE id = $1 AND lease_token = $2 AND lease_expires_at > now()", [lease.runId, lease.token]);
  }

  /**
   * Finish a running run under the attempt's lease (a canceled one stays canceled; a run taken
   * over is not touched). In the same statement, when the finish applies: save the flow's
   * history `checkpoint` (where its next incremental run starts), and with `clearCandidates`
   * forget the run's incremental candidates (also when the run was canceled meanwhile, never
   * while another runner holds it).
   */
  async finish(
    lease: Lease,
    status: "succeeded" | "failed",
    progress: RunProgress,
    errors: RunError[],
    after: { checkpoint?: string; clearCandidates?: boolean } = {},
  ): Promise<void> {
    await this.db.query(
      `WITH fin AS (
         UPDATE flow_runs SET status = $2, progress = $3::jsonb, errors = $4::jsonb, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
          WHERE id = $1 AND status IN ('queued', 'running') AND lease_token = $5
          RETURNING flow_id
       ), checkpoint AS (
         INSERT INTO flow_checkpoints (flow_id, history_id) SELECT flow_id, $6::text FROM fin WHERE $6::text IS NOT NULL
         ON CONFLICT (flow_id) DO UPDATE SET history_id = EXCLUDED.history_id, updated_at = now()
       ), forgotten AS (
         DELETE FROM run_candidates WHERE run_id = $1 AND $7::boolean
            AND (EXISTS (SELECT 1 FROM fin) OR NOT EXISTS (SELECT 1 FROM flow_runs WHERE id = $1 AND status IN ('queued', 'running')))
       )
       SELECT count(*) AS finished FROM fin`,
      [lease.runId, status, JSON.stringify(progress), JSON.stringify(errors.slice(0, MAX_RUN_ERRORS)), lease.token, after.checkpoint ?? null, after.clearCandidates === true],
    );
  }

  /**
   * Fail an unfinished run whose attempts are spent, with `error` first, keeping the progress and
   * errors its last attempt saved. A run another runner holds under a live lease is left to it.
   */
  async fail(id: string, error: RunError): Promise<void> {
    await this.db.query(
      `UPDATE flow_runs SET status = 'failed', finished_at = now(),
              errors = (SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(jsonb_build_array($2::jsonb) || errors) WITH ORDINALITY AS t(e, n) WHERE n <= ${MAX_RUN_ERRORS})
        WHERE id = $1 AND status IN ('queued', 'running') AND (lease_expires_at IS NULL OR lease_expires_at <= now())`,
      [id, JSON.stringify(error)],
    );
  }

  /** Cancel a queued or running run; 409 when it has already finished. */
  async cancel(accountId: string, id: string): Promise<RunRow> {
    const rows = await this.db.query(
      "UPDATE flow_runs SET status = 'canceled', finished_at = now() WHERE id = $1 AND account_id = $2 AND status IN ('queued', 'running') RETURNING *",
      [id, accountId],
    );
    if (rows[0]) return toRun(rows[0]);
    const run = await this.get(accountId, id);
    if (run.status === "canceled") return run;
    throw new ApiError("run_not_active", `The run has already ${run.status}.`);
  }

  /**
   * Runs queued, or running with no live lease: those a stopped or lost runner may have left.
   * Reconciliation queues them again (the queue ignores the ones it already holds).
   */
  async orphans(limit = 1000): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM flow_runs WHERE status IN ('queued', 'running') AND (lease_expires_at IS NULL OR lease_expires_at <= now())
        ORDER BY created_at LIMIT ${Math.trunc(limit)}`,
    );
    return rows.map((r) => r.id);
  }
}
