/**
 * Deliver once: one `flow_deliveries` row per (flow, destination id, source
 * message). A done row is never delivered again; a pending row means a runner
 * may have died between Google's answer and our record of it, so the message is
 * looked up in the destination mailbox (by its Message-ID) before deciding to
 * deliver. The destination id is the one the flow gives each destination, so
 * reordering destinations does not resend.
 *
 * A delivery is claimed in one statement that also checks the run's lease: the
 * claim carries the lease (fencing) token, and a runner whose lease expired or
 * was taken over gets no claim, so it stops before its next send.
 */
import type { Db } from "../../core/store/db.ts";
import { groupCommit } from "../../core/store/group-commit.ts";
import { deterministicMessageId } from "../../connector/mime.ts";
import { LeaseLostError } from "./failure-kind.ts";

export interface DeliveryKey {
  flowId: string;
  destinationId: string;
  sourceMessageId: string;
}

/** The run attempt a delivery is claimed for: its lease token must still be the run's, live for `marginMs` more. */
export interface Fence {
  runId: string;
  token: number;
  /** A claim needs at least this much lease left, so the send it allows ends before a takeover can start. */
  marginMs: number;
}

/** The Message-ID of the message a composing destination makes for a source message. */
export function deliveryMessageId(key: DeliveryKey): string {
  return deterministicMessageId([key.flowId, key.destinationId, key.sourceMessageId]);
}

export interface DeliverOnceOptions {
  /** Looks a message up in the destination mailbox by Message-ID; absent when a delivery cannot be found there. */
  find?: (rfc822MessageId: string) => Promise<string | undefined>;
  /** Makes the delivery; returns the destination's message id. */
  deliver: () => Promise<string>;
}

/** What a claim found. */
export interface DeliveryClaim {
  /** The row before the claim: absent for a first delivery. */
  previous?: { status: "pending" | "done"; destinationMessageId: string | null; rfc822MessageId: string | null };
}

interface ClaimRow {
  leased: boolean;
  status: "pending" | "done" | null;
  destination_message_id: string | null;
  rfc822_message_id: string | null;
}

export class DeliveryStore {
  /** Deliveries made at about the same time (any run's) are recorded in one statement. */
  private readonly recordDone = groupCommit<{ key: DeliveryKey; destinationMessageId: string }, void>(async (items) => {
    await this.db.query(
      `UPDATE flow_deliveries d SET status = 'done', destination_message_id = x.destination_message_id, updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(flow_id, destination_id, source_message_id, destination_message_id)
        WHERE d.flow_id = x.flow_id AND d.destination_id = x.destination_id AND d.source_message_id = x.source_message_id`,
      [items.map((i) => i.key.flowId), items.map((i) => i.key.destinationId), items.map((i) => i.key.sourceMessageId), items.map((i) => i.destinationMessageId)],
    );
    return items.map(() => undefined);
  });

  constructor(private readonly db: Db) {}

  /**
   * Claim a delivery for the fenced run attempt, in one statement: insert the pending row (or
   * take over a pending one left by an earlier attempt), only while the attempt's lease holds.
   * Throws {@link LeaseLostError} when it does not.
   */
  async claim(key: DeliveryKey, rfc822MessageId: string | undefined, fence: Fence): Promise<DeliveryClaim> {
    const row = await this.claimMany({ key, rfc822MessageId, fence });
    if (!row.leased) throw new LeaseLostError(fence.runId);
    return row.status
      ? { previous: { status: row.status, destinationMessageId: row.destination_message_id, rfc822MessageId: row.rfc822_message_id } }
      : {};
  }

  /**
   * Claims made at about the same time (any run's) go in one statement, each checked against its
   * own run's lease. Two claims of one delivery never share a statement (the second would find the
   * first's row): they go one after the other.
   */
  private readonly claimMany = groupCommit<{ key: DeliveryKey; rfc822MessageId: string | undefined; fence: Fence }, ClaimRow>(async (items) => {
    const out: ClaimRow[] = new Array(items.length);
    let left = items.map((item, i) => ({ item, i }));
    while (left.length) {
      const seen = new Set<string>();
      const round: typeof left = [];
      const later: typeof left = [];
      for (const e of left) {
        const k = JSON.stringify([e.item.key.flowId, e.item.key.destinationId, e.item.key.sourceMessageId]);
        (seen.has(k) ? later : round).push(e);
        seen.add(k);
      }
      const col = <T>(f: (x: (typeof items)[number]) => T) => round.map((e) => f(e.item));
      const rows = await this.db.query<ClaimRow & { n: number }>(
        `WITH x AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[])
             WITH ORDINALITY AS x(flow_id, destination_id, source_message_id, rfc822_message_id, run_id, token, margin_ms, n)
         ), leased AS (
           SELECT x.* FROM x JOIN flow_runs r ON r.id = x.run_id AND r.status = 'running' AND r.lease_token = x.token
             AND r.lease_expires_at > now() + x.margin_ms * interval '1 millisecond'
         ), earlier AS (
           SELECT x.n, d.status, d.destination_message_id, d.rfc822_message_id FROM x JOIN flow_deliveries d
             ON d.flow_id = x.flow_id AND d.destination_id = x.destination_id AND d.source_message_id = x.source_message_id
         ), claimed AS (
           INSERT INTO flow_deliveries (flow_id, destination_id, source_message_id, status, rfc822_message_id, claim_token)
           SELECT flow_id, destination_id, source_message_id, 'pending', rfc822_message_id, token FROM leased
           ON CONFLICT (flow_id, destination_id, source_message_id)
             DO UPDATE SET claim_token = EXCLUDED.claim_token, updated_at = now() WHERE flow_deliveries.status = 'pending'
           RETURNING 1
         )
         SELECT x.n, EXISTS (SELECT 1 FROM leased l WHERE l.n = x.n) AS leased, e.status, e.destination_message_id, e.rfc822_message_id
           FROM x LEFT JOIN earlier e ON e.n = x.n`,
        [
          col((x) => x.key.flowId),
          col((x) => x.key.destinationId),
          col((x) => x.key.sourceMessageId),
          col((x) => x.rfc822MessageId ?? null),
          col((x) => x.fence.runId),
          col((x) => x.fence.token),
          col((x) => Math.round(x.fence.marginMs)),
        ],
      );
      for (const r of rows) out[round[Number(r.n) - 1]!.i] = r;
      left = later;
    }
    return out;
  });

  /** Of `sourceMessageIds`, those delivered (done) to every one of `destinationIds`. */
  async doneSources(flowId: string, destinationIds: string[], sourceMessageIds: string[]): Promise<Set<string>> {
    if (!destinationIds.length || !sourceMessageIds.length) return new Set();
    const rows = await this.db.query<{ source_message_id: string }>(
      `SELECT source_message_id FROM flow_deliveries
        WHERE flow_id = $1 AND destination_id = ANY($2::text[]) AND source_message_id = ANY($3::text[]) AND status = 'done'
        GROUP BY source_message_id HAVING count(*) = $4`,
      [flowId, destinationIds, sourceMessageIds, destinationIds.length],
    );
    return new Set(rows.map((r) => r.source_message_id));
  }

  /** Record a delivery made. Not fenced: what Google did is true whichever attempt did it. */
  async markDone(key: DeliveryKey, destinationMessageId: string): Promise<void> {
    await this.recordDone({ key, destinationMessageId });
  }

  /**
   * Deliver unless already delivered. Returns the destination message id and
   * whether this call made the delivery.
   */
  async deliverOnce(key: DeliveryKey, rfc822MessageId: string | undefined, fence: Fence, opts: DeliverOnceOptions): Promise<{ id: string; delivered: boolean }> {
    const { previous } = await this.claim(key, rfc822MessageId, fence);
    if (previous?.status === "done") return { id: previous.destinationMessageId ?? "", delivered: false };
    const sought = previous?.rfc822MessageId ?? rfc822MessageId;
    if (previous?.status === "pending" && opts.find && sought) {
      const found = await opts.find(sought);
      if (found) {
        await this.markDone(key, found);
        return { id: found, delivered: false };
      }
    }
    const id = await opts.deliver();
    await this.markDone(key, id);
    return { id, delivered: true };
  }
}
