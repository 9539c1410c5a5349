/**
 * Runs of flows: at most one queued or running per flow (a partial unique
 * index, so two processes cannot both start one), their progress and their
 * first {@link MAX_RUN_ERRORS} errors.
 */
import type { Db } from "../store/db.ts";
import { isUniqueViolation } from "../store/db.ts";
import { newId } from "../secrets.ts";
import { ApiError, notFound } from "../errors.ts";
import { pageFilter, pageLimit, toPage, type Page, type PageRequest } from "../connections/paging.ts";

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
/** What the worker needs besides the view. */
export interface RunRow extends Run {
  accountId: string;
  attempts: number;
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
  };
}

export function publicRun(run: RunRow): Run {
  const { accountId: _a, attempts: _n, ...view } = run;
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

  /** Mark a queued (or, on a retry after a crash, running) run as running; false when it is finished or gone. */
  async start(id: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE flow_runs SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now()),
              progress = '{"exported": 0, "imported": 0, "failed": 0}'::jsonb, errors = '[]'::jsonb
        WHERE id = $1 AND status IN ('queued', 'running') RETURNING id`,
      [id],
    );
    return rows.length > 0;
  }

  /** Save progress; returns the run's status now (a cancel from any process shows here). */
  async saveProgress(id: string, progress: RunProgress, errors: RunError[]): Promise<RunStatus | undefined> {
    const rows = await this.db.query<{ status: RunStatus }>(
      `UPDATE flow_runs SET progress = CASE WHEN status = 'running' THEN $2::jsonb ELSE progress END,
              errors = CASE WHEN status = 'running' THEN $3::jsonb ELSE errors END
        WHERE id = $1 RETURNING status`,
      [id, JSON.stringify(progress), JSON.stringify(errors.slice(0, MAX_RUN_ERRORS))],
    );
    return rows[0]?.status;
  }

  /** Finish a running run (a canceled one stays canceled). */
  async finish(id: string, status: "succeeded" | "failed", progress: RunProgress, errors: RunError[]): Promise<void> {
    await this.db.query(
      `UPDATE flow_runs SET status = $2, progress = $3::jsonb, errors = $4::jsonb, finished_at = now()
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [id, status, JSON.stringify(progress), JSON.stringify(errors.slice(0, MAX_RUN_ERRORS))],
    );
  }

  /** Fail an unfinished run with `error` first, keeping the progress and errors its last attempt saved. */
  async fail(id: string, error: RunError): Promise<void> {
    await this.db.query(
      `UPDATE flow_runs SET status = 'failed', finished_at = now(),
              errors = (SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(jsonb_build_array($2::jsonb) || errors) WITH ORDINALITY AS t(e, n) WHERE n <= ${MAX_RUN_ERRORS})
        WHERE id = $1 AND status IN ('queued', 'running')`,
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

  /** Runs left queued or running (by a process that stopped): the in-process queue takes them up again at start. */
  async unfinished(): Promise<string[]> {
    return (await this.db.query<{ id: string }>("SELECT id FROM flow_runs WHERE status IN ('queued', 'running') ORDER BY created_at")).map((r) => r.id);
  }
}
