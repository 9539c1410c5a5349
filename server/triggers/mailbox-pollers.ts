/**
 * One poller per Gmail mailbox (SPEC §2 "Triggers": polling): every enabled Gmail-triggered
 * flow whose source connection reads the same address shares one timer, ticking at the
 * smallest `pollEvery` among them, so a mailbox costs one `history.list` per tick however many
 * flows read it. The timer is the ticker's (`mailbox:<address>`: a BullMQ job scheduler in queue
 * mode, so exactly one process gets each tick), the row in `gmail_pollers` its interval, last
 * fired tick (claimed in SQL: a tick delivered twice polls once) and next tick.
 */
import type { Db } from "../../core/store/db.ts";
import type { Ticker } from "./ticker.ts";
import type { MailTarget, TriggerStore } from "./trigger-store.ts";
import { durationMs, type GmailTrigger, type TimerSpec } from "./trigger.ts";

/** The ticker key of a mailbox's poller. */
export const MAILBOX_KEY = "mailbox:";
export const mailboxKey = (email: string) => `${MAILBOX_KEY}${email}`;
export const mailboxOf = (key: string) => (key.startsWith(MAILBOX_KEY) ? key.slice(MAILBOX_KEY.length) : undefined);

/** Enabled Gmail-triggered flows with their source's lower-cased address (any status: an offline source's poll fails and says so). */
export const GMAIL_FLOWS = `
  SELECT ft.flow_id, ft.account_id, ft.trigger, lower(c.email) AS email, c.id AS connection_id, c.status
  FROM flow_triggers ft
  JOIN flows f ON f.id = ft.flow_id
  JOIN connections c ON c.id = f.definition->'source'->>'connectionId' AND c.account_id = ft.account_id
  WHERE ft.enabled AND ft.trigger->>'type' = 'gmail' AND c.email IS NOT NULL`;

export interface MailboxPollersOptions {
  db: Db;
  store: TriggerStore;
  ticker: () => Ticker;
  /** A Gmail trigger's poll interval when it names none. */
  defaultPollEvery: string;
  now: () => number;
}

export class MailboxPollers {
  constructor(private readonly opts: MailboxPollersOptions) {}

  /**
   * Make the pollers match the flows, for `emails` (or every mailbox): a poller for each address
   * some enabled Gmail-triggered flow reads, at the smallest interval among them (a new one, or
   * one whose interval changed, is (re)armed: a new one looks at once), none for the others.
   */
  async sync(emails?: string[]): Promise<void> {
    const { db } = this.opts;
    const only = emails?.map((e) => e.toLowerCase());
    if (only && !only.length) return;
    const rows = await db.query<{ email: string; trigger: GmailTrigger }>(
      `SELECT g.email, g.trigger FROM (${GMAIL_FLOWS}) g ${only ? "WHERE g.email = ANY($1::text[])" : ""}`,
      only ? [only] : [],
    );
    const want = new Map<string, number>();
    for (const r of rows) {
      const every = durationMs(r.trigger.pollEvery ?? this.opts.defaultPollEvery);
      want.set(r.email, Math.min(every, want.get(r.email) ?? Infinity));
    }
    const have = await db.query<{ email: string; every_ms: string | number }>(
      `SELECT email, every_ms FROM gmail_pollers ${only ? "WHERE email = ANY($1::text[])" : ""}`,
      only ? [only] : [],
    );
    const now = this.opts.now();
    for (const h of have) {
      if (want.has(h.email)) continue;
      // Deleted first: a tick already queued finds no row and polls nothing.
      const gone = await db.query("DELETE FROM gmail_pollers WHERE email = $1 RETURNING email", [h.email]);
      if (gone.length) await this.opts.ticker().remove(mailboxKey(h.email));
    }
    for (const [email, everyMs] of want) {
      const current = have.find((h) => h.email === email);
      if (current && Number(current.every_ms) === everyMs) continue;
      // Claim the change: of two processes syncing at once, one (re)arms the timer.
      const changed = await db.query<{ last_tick_at: string | Date | null }>(
        `INSERT INTO gmail_pollers (email, every_ms) VALUES ($1, $2)
         ON CONFLICT (email) DO UPDATE SET every_ms = EXCLUDED.every_ms WHERE gmail_pollers.every_ms <> EXCLUDED.every_ms
         RETURNING last_tick_at`,
        [email, everyMs],
      );
      if (!changed.length) continue;
      const last = changed[0]!.last_tick_at;
      // A new poller looks at once (an interval fires when set, then every interval); a changed one keeps its last tick.
      const anchor = last ? new Date(last).getTime() : now - everyMs;
      const next = await this.opts.ticker().set(mailboxKey(email), { everyMs }, anchor);
      await this.setNextRun(email, next);
    }
  }

  /**
   * Record `tick` as the mailbox's and read the enabled Gmail-triggered flows reading it, in one
   * statement; undefined when the tick (or a later one) already was recorded, or the poller is gone.
   */
  claimTick(email: string, tick: number): Promise<MailTarget[] | undefined> {
    return this.opts.store.claimMailboxTick(email, tick);
  }

  async exists(email: string): Promise<boolean> {
    return (await this.opts.db.query("SELECT 1 FROM gmail_pollers WHERE email = $1", [email])).length > 0;
  }

  async setNextRun(email: string, at: number | undefined): Promise<void> {
    await this.opts.db.query("UPDATE gmail_pollers SET next_run_at = $2 WHERE email = $1", [email, at ? new Date(at).toISOString() : null]);
  }

  /** Every poller's timer, for the in-process ticker's start. */
  async timers(): Promise<Array<{ key: string; spec: TimerSpec; last: number | null }>> {
    const rows = await this.opts.db.query<{ email: string; every_ms: string | number; last_tick_at: string | Date | null }>("SELECT * FROM gmail_pollers");
    return rows.map((r) => ({ key: mailboxKey(r.email), spec: { everyMs: Number(r.every_ms) }, last: r.last_tick_at ? new Date(r.last_tick_at).getTime() : null }));
  }

  /** The address a flow's source connection reads, if known. */
  async emailOfFlow(flowId: string): Promise<string | undefined> {
    const rows = await this.opts.db.query<{ email: string | null }>(
      "SELECT lower(c.email) AS email FROM flows f JOIN connections c ON c.id = f.definition->'source'->>'connectionId' WHERE f.id = $1",
      [flowId],
    );
    return rows[0]?.email ?? undefined;
  }
}
