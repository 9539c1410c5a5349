/**
 * Deliver once: one `flow_deliveries` row per (flow, destination index, source
 * message). A done row is never delivered again; a pending row means a process
 * may have died between Google's answer and our record of it, so the message is
 * looked up in the destination mailbox (by its deterministic Message-ID) before
 * deciding to deliver.
 */
import type { Db } from "../store/db.ts";
import { deterministicMessageId } from "../../connector/mime.ts";

export interface DeliveryKey {
  flowId: string;
  destinationIndex: number;
  sourceMessageId: string;
}

/** The Message-ID of the message a composing destination makes for a source message. */
export function deliveryMessageId(key: DeliveryKey): string {
  return deterministicMessageId([key.flowId, String(key.destinationIndex), key.sourceMessageId]);
}

export interface DeliverOnceOptions {
  /** Looks the message up in the destination mailbox; absent when the delivery cannot be found there. */
  find?: () => Promise<string | undefined>;
  /** Makes the delivery; returns the destination's message id. */
  deliver: () => Promise<string>;
}

export class DeliveryStore {
  constructor(private readonly db: Db) {}

  async status(key: DeliveryKey): Promise<{ status: "pending" | "done"; destinationMessageId: string | null } | undefined> {
    const rows = await this.db.query(
      "SELECT status, destination_message_id FROM flow_deliveries WHERE flow_id = $1 AND destination_index = $2 AND source_message_id = $3",
      [key.flowId, key.destinationIndex, key.sourceMessageId],
    );
    return rows[0] ? { status: rows[0].status, destinationMessageId: rows[0].destination_message_id } : undefined;
  }

  /** Of `sourceMessageIds`, those delivered (done) to every one of `destinationIndexes`. */
  async doneSources(flowId: string, destinationIndexes: number[], sourceMessageIds: string[]): Promise<Set<string>> {
    if (!destinationIndexes.length || !sourceMessageIds.length) return new Set();
    const rows = await this.db.query<{ source_message_id: string }>(
      `SELECT source_message_id FROM flow_deliveries
        WHERE flow_id = $1 AND destination_index = ANY($2::int[]) AND source_message_id = ANY($3::text[]) AND status = 'done'
        GROUP BY source_message_id HAVING count(*) = $4`,
      [flowId, destinationIndexes, sourceMessageIds, destinationIndexes.length],
    );
    return new Set(rows.map((r) => r.source_message_id));
  }

  async markPending(key: DeliveryKey, rfc822MessageId: string | undefined): Promise<void> {
    await this.db.query(
      `INSERT INTO flow_deliveries (flow_id, destination_index, source_message_id, status, rfc822_message_id)
       VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT (flow_id, destination_index, source_message_id) DO NOTHING`,
      [key.flowId, key.destinationIndex, key.sourceMessageId, rfc822MessageId ?? null],
    );
  }

  async markDone(key: DeliveryKey, destinationMessageId: string): Promise<void> {
    await this.db.query(
      `UPDATE flow_deliveries SET status = 'done', destination_message_id = $4, updated_at = now()
        WHERE flow_id = $1 AND destination_index = $2 AND source_message_id = $3`,
      [key.flowId, key.destinationIndex, key.sourceMessageId, destinationMessageId],
    );
  }

  /**
   * Deliver unless already delivered. Returns the destination message id and
   * whether this call made the delivery.
   */
  async deliverOnce(key: DeliveryKey, rfc822MessageId: string | undefined, opts: DeliverOnceOptions): Promise<{ id: string; delivered: boolean }> {
    const row = await this.status(key);
    if (row?.status === "done") return { id: row.destinationMessageId ?? "", delivered: false };
    if (row?.status === "pending" && opts.find) {
      const found = await opts.find();
      if (found) {
        await this.markDone(key, found);
        return { id: found, delivered: false };
      }
    }
    if (!row) await this.markPending(key, rfc822MessageId);
    const id = await opts.deliver();
    await this.markDone(key, id);
    return { id, delivered: true };
  }
}
