/** The historyId an incremental flow's next run starts from, saved only after a run succeeded. */
import type { Db } from "../../core/store/db.ts";

export class CheckpointStore {
  constructor(private readonly db: Db) {}

  async get(flowId: string): Promise<string | undefined> {
    return (await this.db.query<{ history_id: string }>("SELECT history_id FROM flow_checkpoints WHERE flow_id = $1", [flowId]))[0]?.history_id;
  }

  async save(flowId: string, historyId: string): Promise<void> {
    await this.db.query(
      `INSERT INTO flow_checkpoints (flow_id, history_id) VALUES ($1, $2)
       ON CONFLICT (flow_id) DO UPDATE SET history_id = EXCLUDED.history_id, updated_at = now()`,
      [flowId, historyId],
    );
  }
}
