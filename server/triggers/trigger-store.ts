/**
 * `flow_triggers`: each flow's trigger, whether it is enabled, and the state
 * that makes it fire once per tick (the last tick fired, guarded in SQL so a
 * tick delivered twice fires once), the poller's history cursor and the watch
 * state. A flow without a row (made before triggers) is manual.
 */
import type { Db, Queryable } from "../../core/store/db.ts";
import { MAILBOX_KEY } from "./mailbox-pollers.ts";
import { MANUAL, type RunTrigger, type Trigger } from "./trigger.ts";
import { toFlow, type Flow } from "../flows/flow.ts";

/** A Gmail-triggered flow to look at history for: its trigger row, the flow, and its checkpoint (null: none yet). */
export interface MailTarget {
  row: TriggerRow;
  flow: Flow;
  checkpoint: string | null;
}

export interface TriggerRow {
  flowId: string;
  accountId: string;
  trigger: Trigger;
  enabled: boolean;
  lastTickAt: number | null;
  nextRunAt: string | null;
  pollHistoryId: string | null;
  lastNotificationAt: string | null;
  backfillAfter: string | null;
  pendingTrigger: RunTrigger | null;
}

const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);

function toRow(r: Record<string, any>): TriggerRow {
  return {
    flowId: r.flow_id,
    accountId: r.account_id,
    trigger: r.trigger,
    enabled: r.enabled,
    lastTickAt: r.last_tick_at ? new Date(r.last_tick_at).getTime() : null,
    // A Gmail trigger's next look is its mailbox poller's next tick.
    nextRunAt: iso(r.trigger?.type === "gmail" ? r.poller_next_run_at : r.next_run_at),
    pollHistoryId: r.poll_history_id ?? null,
    lastNotificationAt: iso(r.last_notification_at),
    backfillAfter: iso(r.backfill_after),
    pendingTrigger: r.pending_trigger ?? null,
  };
}

/**
 * The enabled Gmail-triggered flows reading the address `address` (an SQL expression) names,
 * through an online connection unless `anyStatus` (an SQL boolean), each with its flow's row
 * (`flow_*`) and checkpoint: rows for {@link toMailTarget}.
 */
export const mailTargetsQuery = (address: string, anyStatus: string) => `
  SELECT ft.*, f.name AS flow_name, f.definition AS flow_definition, f.created_at AS flow_created_at, f.updated_at AS flow_updated_at,
         cp.history_id AS checkpoint
  FROM connections c
  JOIN flows f ON f.definition->'source'->>'connectionId' = c.id AND f.account_id = c.account_id
  JOIN flow_triggers ft ON ft.flow_id = f.id AND ft.account_id = c.account_id
  LEFT JOIN flow_checkpoints cp ON cp.flow_id = f.id
  WHERE lower(c.email) = ${address} AND c.email IS NOT NULL AND (${anyStatus} OR c.status = 'online') AND ft.enabled AND ft.trigger->>'type' = 'gmail'`;

export function toMailTarget(r: Record<string, any>): MailTarget {
  return {
    row: toRow(r),
    flow: toFlow({ id: r.flow_id, name: r.flow_name, definition: r.flow_definition, created_at: r.flow_created_at, updated_at: r.flow_updated_at }),
    checkpoint: r.checkpoint ?? null,
  };
}

/** flow_triggers with the next tick of the poller of each Gmail trigger's mailbox. */
const WITH_POLLER = `
  SELECT ft.*, p.next_run_at AS poller_next_run_at FROM flow_triggers ft
  LEFT JOIN flows f ON f.id = ft.flow_id AND ft.trigger->>'type' = 'gmail'
  LEFT JOIN connections c ON c.id = f.definition->'source'->>'connectionId'
  LEFT JOIN gmail_pollers p ON p.email = lower(c.email)`;

export class TriggerStore {
  constructor(private readonly db: Db) {}

  async get(flowId: string, q: Queryable = this.db): Promise<TriggerRow | undefined> {
    const rows = await q.query(`${WITH_POLLER} WHERE ft.flow_id = $1`, [flowId]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** What a trigger run's export depends on: the trigger, and a backfill's start (one cheap read per run). */
  async exportState(flowId: string): Promise<{ trigger: Trigger; backfillAfter: string | null } | undefined> {
    const [r] = await this.db.query<{ trigger: Trigger; backfill_after: unknown }>("SELECT trigger, backfill_after FROM flow_triggers WHERE flow_id = $1", [flowId]);
    return r && { trigger: r.trigger, backfillAfter: iso(r.backfill_after) };
  }

  async getMany(flowIds: string[]): Promise<Map<string, TriggerRow>> {
    if (!flowIds.length) return new Map();
    const rows = await this.db.query(`${WITH_POLLER} WHERE ft.flow_id = ANY($1::text[])`, [flowIds]);
    return new Map(rows.map((r) => [r.flow_id as string, toRow(r)]));
  }

  /**
   * Save a flow's trigger. `restart` (a new timer, or enabled again) anchors the
   * timer at `now` and forgets the poll cursor; disabling drops a pending follow-up.
   */
  async save(row: { flowId: string; accountId: string; trigger: Trigger; enabled: boolean }, opts: { restart: boolean; now: number; backfillAfter?: number }): Promise<void> {
    await this.db.query(
      `INSERT INTO flow_triggers (flow_id, account_id, trigger, enabled, last_tick_at, backfill_after)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6)
       ON CONFLICT (flow_id) DO UPDATE SET trigger = EXCLUDED.trigger, enabled = EXCLUDED.enabled,
         last_tick_at = CASE WHEN $7::boolean THEN EXCLUDED.last_tick_at ELSE flow_triggers.last_tick_at END,
         poll_history_id = CASE WHEN $7::boolean THEN NULL ELSE flow_triggers.poll_history_id END,
         backfill_after = CASE WHEN $7::boolean THEN EXCLUDED.backfill_after ELSE flow_triggers.backfill_after END,
         next_run_at = CASE WHEN EXCLUDED.enabled THEN flow_triggers.next_run_at END,
         pending_trigger = CASE WHEN EXCLUDED.enabled THEN flow_triggers.pending_trigger END,
         updated_at = now()`,
      [
        row.flowId,
        row.accountId,
        JSON.stringify(row.trigger ?? MANUAL),
        row.enabled,
        new Date(opts.now).toISOString(),
        opts.backfillAfter ? new Date(opts.backfillAfter).toISOString() : null,
        opts.restart,
      ],
    );
  }

  /** The enabled Gmail-triggered flows reading `address` through an online connection, with their flows and checkpoints, in one query (each push pass asks). */
  async readingAddress(address: string): Promise<MailTarget[]> {
    const rows = await this.db.query(`${mailTargetsQuery("$1", "false")} ORDER BY ft.flow_id`, [address]);
    return rows.map(toMailTarget);
  }

  /**
   * Record `tick` as the tick of the mailbox's poller and read the flows reading the mailbox (any
   * connection status: an offline source's poll fails and says so), in one statement; undefined
   * when the tick (or a later one) already was recorded, or the poller is gone.
   */
  async claimMailboxTick(email: string, tick: number): Promise<MailTarget[] | undefined> {
    const rows = await this.db.query(
      `WITH claimed AS (
         UPDATE gmail_pollers SET last_tick_at = $2 WHERE email = $1 AND (last_tick_at IS NULL OR last_tick_at < $2) RETURNING email
       )
       SELECT t.* FROM claimed LEFT JOIN (${mailTargetsQuery("$1", "true")}) t ON true ORDER BY t.flow_id`,
      [email, new Date(tick).toISOString()],
    );
    return rows.length ? rows.filter((r) => r.flow_id).map(toMailTarget) : undefined;
  }

  /** Enabled schedules, for the in-process ticker (Gmail triggers tick by mailbox: mailbox-pollers.ts). */
  async timed(): Promise<TriggerRow[]> {
    const rows = await this.db.query("SELECT * FROM flow_triggers WHERE enabled AND trigger->>'type' = 'schedule'");
    return rows.map(toRow);
  }

  /**
   * Record `tick` as fired; false when it (or a later one) already was, or the
   * trigger is gone or disabled: a tick delivered twice fires once.
   */
  async claimTick(flowId: string, tick: number): Promise<TriggerRow | undefined> {
    const rows = await this.db.query(
      `UPDATE flow_triggers SET last_tick_at = $2 WHERE flow_id = $1 AND enabled AND (last_tick_at IS NULL OR last_tick_at < $2) RETURNING *`,
      [flowId, new Date(tick).toISOString()],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** The next tick of a ticker key: a flow's schedule, or a mailbox's poller (`mailbox:<address>`). */
  async setNextRun(flowId: string, at: number | undefined): Promise<void> {
    if (flowId.startsWith(MAILBOX_KEY)) {
      await this.db.query("UPDATE gmail_pollers SET next_run_at = $2 WHERE email = $1", [flowId.slice(MAILBOX_KEY.length), at ? new Date(at).toISOString() : null]);
      return;
    }
    await this.db.query("UPDATE flow_triggers SET next_run_at = $2 WHERE flow_id = $1", [flowId, at ? new Date(at).toISOString() : null]);
  }

  /** The poller looked up to `historyId`; `sawMail` when it found new mail (the watch's last notification). */
  async setPollCursor(flowId: string, historyId: string, sawMail: boolean, now: number): Promise<void> {
    await this.db.query(
      `UPDATE flow_triggers SET poll_history_id = $2, last_notification_at = CASE WHEN $3::boolean THEN $4::timestamptz ELSE last_notification_at END WHERE flow_id = $1`,
      [flowId, historyId, sawMail, new Date(now).toISOString()],
    );
  }

  /** Move the flow's checkpoint from `from` to `to`, unless a run moved it meanwhile (compare and set). */
  async advanceCheckpoint(flowId: string, from: string, to: string): Promise<boolean> {
    const rows = await this.db.query("UPDATE flow_checkpoints SET history_id = $3, updated_at = now() WHERE flow_id = $1 AND history_id = $2 RETURNING flow_id", [flowId, from, to]);
    return rows.length > 0;
  }
}
