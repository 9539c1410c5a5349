/**
 * The messages an incremental run exports, kept in the database instead of memory (migration
 * 013): history.list's added ids a page at a time, in history order, deduplicated; marked when
 * the flow's query matches them; read back a page at a time from a sequence number a run's
 * position can hold. So an incremental export of any size runs in bounded memory and a run taken
 * over after a crash goes on from its last page.
 */
import type { Db } from "../../core/store/db.ts";

export interface Candidate {
  seq: number;
  id: string;
}

export class CandidateStore {
  constructor(private readonly db: Db) {}

  /** Forget a run's candidates (before collecting them again, and once the run has ended). */
  async clear(runId: string): Promise<void> {
    await this.db.query("DELETE FROM run_candidates WHERE run_id = $1", [runId]);
  }

  /** Append ids after `seq` (ids the run already holds are skipped); returns the seq to append after next. */
  async add(runId: string, seq: number, ids: string[]): Promise<number> {
    if (!ids.length) return seq;
    await this.db.query(
      `INSERT INTO run_candidates (run_id, seq, message_id)
       SELECT $1, $2::bigint + t.n, t.id FROM unnest($3::text[]) WITH ORDINALITY AS t(id, n)
       ON CONFLICT DO NOTHING`,
      [runId, seq, ids],
    );
    return seq + ids.length;
  }

  /** Mark those of `ids` the run holds as matching the flow's query. */
  async match(runId: string, ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.db.query("UPDATE run_candidates SET matched = true WHERE run_id = $1 AND message_id = ANY($2::text[])", [runId, ids]);
  }

  /** Up to `limit` candidates after `seq`, in order (only those matched when `matchedOnly`). */
  async after(runId: string, seq: number, limit: number, matchedOnly: boolean): Promise<Candidate[]> {
    const rows = await this.db.query<{ seq: string | number; message_id: string }>(
      `SELECT seq, message_id FROM run_candidates WHERE run_id = $1 AND seq > $2 AND (matched OR NOT $3::boolean)
        ORDER BY seq LIMIT ${Math.trunc(limit)}`,
      [runId, seq, matchedOnly],
    );
    return rows.map((r) => ({ seq: Number(r.seq), id: r.message_id }));
  }
}
