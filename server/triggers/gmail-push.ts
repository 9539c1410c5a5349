/**
 * Gmail push (SPEC §2 "Triggers", GOOGLE.md "Push notifications"). With a topic configured:
 * one `users.watch` per Gmail mailbox, shared by every enabled Gmail-triggered flow on it,
 * renewed once a day (a watch lasts 7 days) and stopped when the last such flow goes (disabled,
 * deleted, or its connection offline or deauthorized). A push notification's hint
 * `{emailAddress, historyId}` is persisted before the push is acknowledged, then handled per
 * mailbox: a burst folds into one look at `history.list` shared by the mailbox's flows, each
 * taking what is past its own cursor (the notification only says "something changed"), which starts a `push` run through the same
 * starter as polls. A hint left by a crash, or by a look that failed, is handled at the next start or sweep.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Db } from "../../core/store/db.ts";
import { groupCommit } from "../../core/store/group-commit.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { Flows } from "../flows/index.ts";
import type { GmailPoller } from "./gmail-poller.ts";
import { mailTargetsQuery, toMailTarget, type MailTarget, type TriggerStore } from "./trigger-store.ts";

/** Watches are renewed once a day (Google's advice), well before their 7 days run out. */
export const WATCH_RENEW_MS = 24 * 60 * 60 * 1000;
/** How often every process reconciles watches with the flows (renewals, stops for offline connections). */
export const WATCH_RECONCILE_MS = 60 * 60 * 1000;
/** How often left-over hints (a crash between the 204 and the run, another process's, a look at history that failed) are handled. */
export const HINT_SWEEP_MS = 30_000;

export interface GmailPushOptions {
  db: Db;
  gmail: GmailRunner;
  flows: Flows;
  store: TriggerStore;
  poller: GmailPoller;
  log: FastifyBaseLogger;
  /** `projects/P/topics/T`; unset: no watches (hints are still taken, for flows already watched elsewhere). */
  topic?: string;
  now: () => number;
  /** @defaultValue {@link WATCH_RECONCILE_MS} */
  reconcileEveryMs?: number;
}

/** Enabled Gmail-triggered flows whose source connection is online, with the source's lower-cased address. */
const WATCHED = `
  SELECT ft.*, lower(c.email) AS source_email, c.id AS source_connection_id
  FROM flow_triggers ft
  JOIN flows f ON f.id = ft.flow_id
  JOIN connections c ON c.id = f.definition->'source'->>'connectionId' AND c.account_id = ft.account_id
  WHERE ft.enabled AND ft.trigger->>'type' = 'gmail' AND c.status = 'online' AND c.email IS NOT NULL`;

/** A mailbox's stored hint: the newest historyId notified, and its sequence number. */
interface Hint {
  history_id: string;
  seq: string;
}

interface WatchRow {
  email: string;
  account_id: string;
  connection_id: string;
  renewed_at: string | Date;
}

export class GmailPush {
  private readonly running = new Map<string, { dirty: boolean; done: Promise<void> }>();
  /**
   * The hint each mailbox's last {@link receive} here wrote, until its pass takes it; with the
   * mailbox's flows read in the same statement when no pass of the mailbox ran meanwhile (a pass
   * moves cursors: flows read during one are read again).
   */
  private readonly received = new Map<string, { hint: Hint; targets?: MailTarget[] }>();
  /** Passes started, per mailbox. */
  private readonly passes = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private reconciling?: Promise<void>;
  private reconcileAgain = false;

  constructor(private readonly opts: GmailPushOptions) {}

  get enabled(): boolean {
    return !!this.opts.topic;
  }

  /**
   * Persist a notification's hint, in one statement (a push is acknowledged only after it, and
   * a thousand mailboxes push a thousand times a second); false (nothing written) when the
   * address is not watched (watches follow the flows and their connections: reconcile). The
   * newest historyId is kept, and a sequence number says a hint came meanwhile. The hint as
   * written, and the flows reading the mailbox (read in the same statement), are remembered for
   * {@link handle}, which then need not read them again.
   */
  async receive(email: string, historyId: string): Promise<boolean> {
    const address = email.toLowerCase();
    const passes = this.passes.get(address) ?? 0;
    const idle = !this.running.has(address);
    const got = await this.writeHint({ address, historyId });
    if (!got) return false;
    const untouched = idle && !this.running.has(address) && (this.passes.get(address) ?? 0) === passes;
    this.received.set(address, { hint: got.hint, targets: untouched ? got.targets : undefined });
    return true;
  }

  /**
   * Hints arriving together (a thousand mailboxes push a thousand times a second) are written in
   * one statement, each with its mailbox's flows; two for one mailbox fold into one write.
   */
  private readonly writeHint = groupCommit<{ address: string; historyId: string }, { hint: Hint; targets: MailTarget[] } | undefined>(async (items) => {
    const newest = new Map<string, string>();
    for (const { address, historyId } of items) {
      const had = newest.get(address);
      if (had === undefined || BigInt(historyId) > BigInt(had)) newest.set(address, historyId);
    }
    const rows = await this.opts.db.query<Record<string, any> & { hint_email: string; hint_history_id: string; hint_seq: string }>(
      `WITH x AS (SELECT * FROM unnest($1::text[], $2::text[]) AS x(email, history_id)),
       hint AS (
         INSERT INTO gmail_push_hints (email, history_id)
         SELECT x.email, x.history_id FROM x WHERE EXISTS (SELECT 1 FROM gmail_watches w WHERE w.email = x.email)
         ON CONFLICT (email) DO UPDATE SET
           history_id = CASE WHEN EXCLUDED.history_id::numeric > gmail_push_hints.history_id::numeric THEN EXCLUDED.history_id ELSE gmail_push_hints.history_id END,
           seq = gmail_push_hints.seq + 1, received_at = now()
         RETURNING email, history_id, seq
       )
       SELECT hint.email AS hint_email, hint.history_id AS hint_history_id, hint.seq AS hint_seq, t.*
         FROM hint LEFT JOIN LATERAL (${mailTargetsQuery("hint.email", "false")}) t ON true
        ORDER BY hint.email, t.flow_id`,
      [[...newest.keys()], [...newest.values()]],
    );
    const byAddress = new Map<string, { hint: Hint; targets: MailTarget[] }>();
    for (const r of rows) {
      let got = byAddress.get(r.hint_email);
      if (!got) byAddress.set(r.hint_email, (got = { hint: { history_id: r.hint_history_id, seq: r.hint_seq }, targets: [] }));
      if (r.flow_id) got.targets.push(toMailTarget(r));
    }
    return items.map((i) => byAddress.get(i.address));
  });

  /**
   * Handle the mailbox's hint: each watching flow looks at history from its cursor and runs
   * (or folds into a follow-up) when mail it exports arrived. Hints arriving meanwhile fold into
   * one more pass. The hint is cleared only after, and only if no newer one came. Once closing,
   * nothing starts: the hint stays for the next start.
   */
  handle(email: string): Promise<void> {
    const address = email.toLowerCase();
    if (this.closed) return Promise.resolve();
    const current = this.running.get(address);
    if (current) {
      current.dirty = true;
      return current.done;
    }
    const entry = { dirty: false, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        let next: Hint | undefined;
        for (let first = true; ; first = false) {
          entry.dirty = false;
          // The hint this process just wrote, else the newer one the last pass's clearing found, else the stored one.
          const fresh = this.received.get(address);
          this.received.delete(address);
          const hint = fresh?.hint ?? next ?? (await this.stored(address));
          // The flows read with the hint serve the first pass only: a pass since may have moved their cursors.
          next = hint && (await this.pass(address, hint, first ? fresh?.targets : undefined));
          if ((!next && !entry.dirty) || this.closed) break;
        }
      } finally {
        this.running.delete(address);
      }
    })();
    this.running.set(address, entry);
    return entry.done;
  }

  private async stored(address: string): Promise<Hint | undefined> {
    return (await this.opts.db.query<Hint>("SELECT history_id, seq FROM gmail_push_hints WHERE email = $1", [address]))[0];
  }

  /**
   * Clear the hint handled, unless a newer one came meanwhile; that one is returned (as far as
   * this statement sees it), in the same round trip.
   */
  private clear(address: string, hint: Hint): Promise<Hint | undefined> {
    return this.clearHint({ address, seq: hint.seq });
  }

  /** Hints handled at about the same time are cleared in one statement (one pass per mailbox at a time: no address twice). */
  private readonly clearHint = groupCommit<{ address: string; seq: string }, Hint | undefined>(async (items) => {
    const rows = await this.opts.db.query<Hint & { email: string }>(
      `WITH x AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS x(email, seq)),
       cleared AS (DELETE FROM gmail_push_hints h USING x WHERE h.email = x.email AND h.seq = x.seq)
       SELECT h.email, h.history_id, h.seq FROM gmail_push_hints h JOIN x ON h.email = x.email AND h.seq <> x.seq`,
      [items.map((i) => i.address), items.map((i) => i.seq)],
    );
    const newer = new Map(rows.map((r) => [r.email, { history_id: r.history_id, seq: r.seq }]));
    return items.map((i) => newer.get(i.address));
  });

  /** One look for the mailbox's flows at `hint`; returns a newer hint to handle, if one came. */
  private async pass(address: string, hint: Hint, known?: MailTarget[]): Promise<Hint | undefined> {
    const { log, poller } = this.opts;
    this.passes.set(address, (this.passes.get(address) ?? 0) + 1);
    const targets = known ?? (await this.opts.store.readingAddress(address));
    if (!targets.length) {
      // Watched, and no flow reads it any more (its connection went offline behind our back, say): stop it now.
      const next = await this.clear(address, hint);
      await this.reconcile();
      return next;
    }
    let failed: number;
    try {
      // One history.list for every flow on the mailbox. A flow with a follow-up run pending needs
      // no look: that run exports everything past its checkpoint.
      failed = await poller.pollMailbox(targets.filter((t) => !t.row.pendingTrigger), { via: "push", hintHistoryId: hint.history_id });
    } catch (err) {
      log.warn({ err }, "push: looking at history failed");
      failed = 1;
    }
    // A look failed: the hint stays for the hint sweep to try again (once per sweep, or with the
    // next push), not for the safety-net poll minutes later.
    if (failed) return undefined;
    return this.clear(address, hint);
  }

  /** Every hint still stored (a crash after the 204, a process that went away, a look at history that failed). */
  async sweepHints(): Promise<void> {
    const hints = await this.opts.db.query<{ email: string }>("SELECT email FROM gmail_push_hints");
    await Promise.all(hints.map((h) => this.handle(h.email)));
  }

  /**
   * Make the watches match the flows: watch each mailbox some enabled Gmail-triggered flow reads
   * through an online connection (renewing those renewed more than a day ago, and moving a watch
   * whose connection no longer qualifies), stop the others. Claims in SQL so that two processes
   * never both call Google for one mailbox.
   */
  reconcile(): Promise<void> {
    if (!this.opts.topic) return Promise.resolve();
    // One at a time in this process, and the calls made during one fold into one more: two
    // concurrent ones could reach Google out of order (a stop after a watch that followed it).
    this.reconcileAgain = true;
    this.reconciling ??= (async () => {
      try {
        while (this.reconcileAgain) {
          this.reconcileAgain = false;
          await this.reconcileOnce();
        }
      } finally {
        this.reconcileAgain = false;
        this.reconciling = undefined;
      }
    })();
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    const { db, log } = this.opts;
    const now = this.opts.now();
    // The watches first, then the flows wanting them: a watch seen here was made for a flow the
    // later read sees (read the other way round, a watch just made for a flow just enabled looks stale).
    const watches = new Map((await db.query<WatchRow>("SELECT * FROM gmail_watches")).map((w) => [w.email, w]));
    const wanted = await db.query<{ email: string; connection_ids: string[]; account_ids: string[] }>(
      `SELECT w.source_email AS email, array_agg(w.source_connection_id ORDER BY w.source_connection_id) AS connection_ids,
              array_agg(w.account_id ORDER BY w.source_connection_id) AS account_ids
       FROM (${WATCHED}) w GROUP BY w.source_email`,
    );
    for (const want of wanted) {
      const have = watches.get(want.email);
      watches.delete(want.email);
      const usable = have && want.connection_ids.includes(have.connection_id);
      if (usable && new Date(have.renewed_at).getTime() > now - WATCH_RENEW_MS) continue;
      const i = usable ? want.connection_ids.indexOf(have.connection_id) : 0;
      const connectionId = want.connection_ids[i]!;
      const accountId = want.account_ids[i]!;
      try {
        await this.watch(want.email, accountId, connectionId, have, now);
      } catch (err) {
        log.warn({ err, connectionId }, "users.watch failed: the mailbox is polled until the next try");
      }
    }
    for (const stale of watches.values()) await this.stop(stale);
  }

  /**
   * A connection changed status (offline, deauthorized, deleted, authorized again): its
   * mailbox's watch is stopped or started now, not at the next hourly reconcile.
   */
  async connectionChanged(connectionId: string): Promise<void> {
    if (!this.opts.topic) return;
    this.opts.log.info({ connectionId }, "push: a connection changed: reconciling watches");
    await this.reconcile();
  }

  private async watch(email: string, accountId: string, connectionId: string, have: WatchRow | undefined, now: number): Promise<void> {
    const { db, gmail, log } = this.opts;
    const stamp = new Date(now).toISOString();
    // Claim: a row inserted, or one whose renewal time we are the first to move.
    const claimed = have
      ? await db.query("UPDATE gmail_watches SET renewed_at = $2 WHERE email = $1 AND renewed_at = $3 RETURNING email", [email, stamp, new Date(have.renewed_at).toISOString()])
      : await db.query(
          "INSERT INTO gmail_watches (email, account_id, connection_id, topic, expires_at, renewed_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (email) DO NOTHING RETURNING email",
          [email, accountId, connectionId, this.opts.topic, stamp],
        );
    if (!claimed.length) return;
    try {
      const res = await gmail.run(accountId, connectionId, "users.watch", (g, options) => g.users.watch({ userId: "me", requestBody: { topicName: this.opts.topic } }, options));
      const expires = Number(res.data.expiration);
      await db.query(
        "UPDATE gmail_watches SET account_id = $2, connection_id = $3, topic = $4, history_id = $5, expires_at = $6, renewed_at = $7 WHERE email = $1",
        [email, accountId, connectionId, this.opts.topic, res.data.historyId ? String(res.data.historyId) : null, new Date(Number.isFinite(expires) ? expires : now).toISOString(), stamp],
      );
      await db.query("DELETE FROM gmail_watch_stops WHERE connection_id = $1 OR email = $2", [connectionId, email]);
      log.info({ connectionId, expiresAt: new Date(expires).toISOString() }, have ? "Gmail watch renewed" : "Gmail watch started");
    } catch (err) {
      // Not watched: the next reconcile tries again (a new row goes; a renewal is due again).
      if (have) await db.query("UPDATE gmail_watches SET renewed_at = $2 WHERE email = $1", [email, new Date(0).toISOString()]);
      else await db.query("DELETE FROM gmail_watches WHERE email = $1", [email]);
      throw err;
    }
  }

  private async stop(w: WatchRow): Promise<void> {
    const { db, gmail, log } = this.opts;
    const gone = await db.query("DELETE FROM gmail_watches WHERE email = $1 AND connection_id = $2 RETURNING email", [w.email, w.connection_id]);
    if (!gone.length) return;
    // Why, when it is the connection's doing (flows still read through it): their watch state says so.
    const [con] = await db.query<{ status: string }>("SELECT status FROM connections WHERE id = $1", [w.connection_id]);
    const reason = !con ? "connection_deleted" : con.status === "offline" ? "connection_offline" : con.status === "unauthorized" ? "connection_deauthorized" : undefined;
    if (reason) {
      await db.query(
        `INSERT INTO gmail_watch_stops (connection_id, email, reason, stopped_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (connection_id) DO UPDATE SET email = EXCLUDED.email, reason = EXCLUDED.reason, stopped_at = EXCLUDED.stopped_at`,
        [w.connection_id, w.email, reason, new Date(this.opts.now()).toISOString()],
      );
    }
    try {
      await gmail.run(w.account_id, w.connection_id, "users.stop", (g, options) => g.users.stop({ userId: "me" }, options));
      log.info({ connectionId: w.connection_id, reason }, "Gmail watch stopped");
    } catch (err) {
      // An offline or deleted connection cannot stop it: Google ends it within 7 days, and no flow listens.
      log.info({ err, connectionId: w.connection_id, reason }, "users.stop failed: the watch runs out by itself (no flow listens)");
    }
  }

  /** The watch of a mailbox, for the flow view. */
  async watchOf(connectionEmails: string[]): Promise<Map<string, { expiresAt: string }>> {
    if (!connectionEmails.length) return new Map();
    const rows = await this.opts.db.query<{ email: string; expires_at: string | Date }>("SELECT email, expires_at FROM gmail_watches WHERE email = ANY($1::text[])", [connectionEmails]);
    return new Map(rows.map((r) => [r.email, { expiresAt: new Date(r.expires_at).toISOString() }]));
  }

  async start(): Promise<void> {
    await this.sweepHints().catch((err) => this.opts.log.warn({ err }, "push: handling left-over hints failed"));
    await this.reconcile().catch((err) => this.opts.log.warn({ err }, "push: reconciling watches failed"));
    const every = (ms: number, fn: () => Promise<void>, what: string) => {
      const t = setInterval(() => void fn().catch((err) => this.opts.log.warn({ err }, what)), ms);
      t.unref();
      this.timers.push(t);
    };
    every(HINT_SWEEP_MS, () => this.sweepHints(), "push: handling left-over hints failed");
    if (this.opts.topic) every(this.opts.reconcileEveryMs ?? WATCH_RECONCILE_MS, () => this.reconcile(), "push: reconciling watches failed");
  }

  async close(): Promise<void> {
    this.closed = true;
    this.received.clear();
    this.passes.clear();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }
}
