/**
 * Triggers assembled: flows that run by themselves on a schedule or when new
 * mail arrives (polling `history.list`). The ticker of the mode the service
 * runs in (in-process, or BullMQ job schedulers when `redisUrl` is set) fires
 * each tick once; the run starter folds a trigger that fires during a run into
 * one follow-up run. Routes call {@link Triggers.check} before saving a flow,
 * {@link Triggers.save} after, and {@link Triggers.view} to show it.
 */
import type { FastifyBaseLogger } from "fastify";
import type { ExportSpec } from "../../connector/gmail-export.ts";
import type { Db } from "../../core/store/db.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { ConnectionStore } from "../connections/connection-store.ts";
import type { Flows } from "../flows/index.ts";
import type { Flow } from "../flows/flow.ts";
import { CheckpointStore } from "../flows/checkpoints.ts";
import type { RunRow, TriggerState } from "../flows/run-store.ts";
import { BullTicker } from "./bull-ticker.ts";
import { GmailPoller } from "./gmail-poller.ts";
import { GmailPush } from "./gmail-push.ts";
import { MailboxPollers, mailboxOf } from "./mailbox-pollers.ts";
import { MemoryTicker } from "./memory-ticker.ts";
import { RunStarter } from "./run-starter.ts";
import type { Ticker } from "./ticker.ts";
import { exportForRun } from "./trigger-export.ts";
import { TriggerStore, type TriggerRow } from "./trigger-store.ts";
import { DEFAULT_POLL_EVERY, DEFAULT_PUSH_POLL_EVERY, MANUAL, checkTrigger, checkTriggerScopes, durationMs, timerOf, type RunTrigger, type Trigger } from "./trigger.ts";

/** How often every process looks for follow-up runs whose run ended elsewhere unnoticed. @defaultValue 5 s */
export const FOLLOW_UP_SWEEP_MS = 5_000;
/** How often the mailbox pollers are matched with the flows (a source authorized since, say). @defaultValue 30 s */
export const POLLER_SYNC_MS = 30_000;

export interface TriggersOptions {
  db: Db;
  flows: Flows;
  gmail: GmailRunner;
  connections: ConnectionStore;
  log: FastifyBaseLogger;
  /** Queue mode: ticks come from BullMQ job schedulers on this Redis. */
  redisUrl?: string;
  redisPrefix: string;
  /** The clock of the in-process ticker (tests inject one). @defaultValue Date.now */
  now?: () => number;
  /** The shortest schedule or poll interval accepted (tests shorten it). @defaultValue 1 minute */
  minIntervalMs?: number;
  /** Gmail push: the Pub/Sub topic watches publish to (config `gmailPush.topic`); unset, mail triggers poll. */
  pushTopic?: string;
  /** How often watches are reconciled and renewed (tests shorten it). @defaultValue 1 hour */
  watchReconcileMs?: number;
}

/** The trigger fields of a flow body. */
export interface TriggerInput {
  trigger?: Record<string, unknown>;
  enabled?: boolean;
  source?: { connectionId: string };
}

export interface FlowTriggerView {
  trigger: Trigger;
  enabled: boolean;
  nextRunAt: string | null;
  watch?: { mode: "poll" | "push"; expiresAt: string | null; lastNotificationAt: string | null; stoppedReason?: string; stoppedAt?: string };
}

export interface Triggers {
  store: TriggerStore;
  /** Gmail push: hints, watches. */
  push: GmailPush;
  starter: RunStarter;
  ticker: Ticker;
  /** 400 for a trigger that is not valid, or a Gmail trigger whose source cannot read history. */
  check(accountId: string, input: TriggerInput, current?: Flow): Promise<void>;
  /** After the flow was saved: store its trigger and (re)arm or stop its timer. */
  save(accountId: string, flow: Flow, input: TriggerInput, opts?: { sourceChanged?: boolean }): Promise<void>;
  view<F extends Flow>(flow: F): Promise<F & FlowTriggerView>;
  viewAll<F extends Flow>(flows: F[]): Promise<Array<F & FlowTriggerView>>;
  remove(flowId: string): Promise<void>;
  /** The flows' hook: what a run exports, by what started it (`claimed.triggerState`: the trigger row as the run's claim read it). */
  exportSpec(flow: Flow, run: RunRow, claimed?: { triggerState?: TriggerState }): Promise<ExportSpec>;
  /** A connection went offline, was deauthorized, deleted or authorized: watches and pollers follow now. */
  connectionChanged(connectionId: string): Promise<void>;
  /** The flows' hook: a run's execution ended here; start the flow's follow-up run if one is pending. */
  runEnded(runId: string): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const canonical = (t: Trigger) => JSON.stringify(Object.fromEntries(Object.entries(t).sort(([a], [b]) => a.localeCompare(b))));

interface PushView {
  expiresAt: string | null;
  /** The watch was stopped because of the source connection (offline, deauthorized, deleted). */
  stopped?: { reason: string; at: string };
}

function view(row: TriggerRow | undefined, push?: PushView): FlowTriggerView {
  const trigger = row?.trigger ?? MANUAL;
  const enabled = row?.enabled ?? true;
  return {
    trigger,
    enabled,
    nextRunAt: enabled && trigger.type !== "manual" ? (row?.nextRunAt ?? null) : null,
    ...(trigger.type === "gmail"
      ? {
          watch: {
            mode: push ? ("push" as const) : ("poll" as const),
            expiresAt: (enabled && push?.expiresAt) || null,
            lastNotificationAt: row?.lastNotificationAt ?? null,
            ...(enabled && push?.stopped && !push.expiresAt ? { stoppedReason: push.stopped.reason, stoppedAt: push.stopped.at } : {}),
          },
        }
      : {}),
  };
}

export function createTriggers(opts: TriggersOptions): Triggers {
  const now = opts.now ?? Date.now;
  const store = new TriggerStore(opts.db);
  const checkpoints = new CheckpointStore(opts.db);
  const starter = new RunStarter(opts.db, () => opts.flows.queue, opts.log);
  const poller = new GmailPoller({ gmail: opts.gmail, store, checkpoints, starter, log: opts.log, now });
  const push = new GmailPush({ db: opts.db, gmail: opts.gmail, flows: opts.flows, store, poller, log: opts.log, topic: opts.pushTopic, now, reconcileEveryMs: opts.watchReconcileMs });
  const defaultPollEvery = opts.pushTopic ? DEFAULT_PUSH_POLL_EVERY : DEFAULT_POLL_EVERY;
  const pollers = new MailboxPollers({ db: opts.db, store, ticker: () => ticker, defaultPollEvery, now });
  /** The push view of flows: their mailbox's watch expiry, when push is on. */
  const pushViews = async (flowIds: string[]): Promise<Map<string, PushView> | undefined> => {
    if (!push.enabled) return undefined;
    const rows = await opts.db.query<{ id: string; expires_at: string | Date | null; reason: string | null; stopped_at: string | Date | null }>(
      `SELECT f.id, w.expires_at, s.reason, s.stopped_at FROM flows f
       LEFT JOIN connections c ON c.id = f.definition->'source'->>'connectionId'
       LEFT JOIN gmail_watches w ON w.email = lower(c.email)
       LEFT JOIN gmail_watch_stops s ON s.connection_id = f.definition->'source'->>'connectionId'
       WHERE f.id = ANY($1::text[])`,
      [flowIds],
    );
    const iso = (v: string | Date) => new Date(v).toISOString();
    return new Map(
      rows.map((r) => [r.id, { expiresAt: r.expires_at ? iso(r.expires_at) : null, ...(r.reason && r.stopped_at ? { stopped: { reason: r.reason, at: iso(r.stopped_at) } } : {}) }]),
    );
  };
  const reconcile = async () => {
    if (push.enabled) await push.reconcile().catch((err) => opts.log.warn({ err }, "push: reconciling watches failed"));
  };

  const onTick = async (key: string, tick: number) => {
    const email = mailboxOf(key);
    if (email !== undefined) {
      // One look at the mailbox for every flow reading it; a poller no flow needs any more goes.
      const targets = await pollers.claimTick(email, tick);
      if (targets) await poller.pollMailbox(targets);
      else if (!(await pollers.exists(email))) await ticker.remove(key);
      return;
    }
    const flowId = key;
    const row = await store.claimTick(flowId, tick);
    if (!row || row.trigger.type !== "schedule") {
      // Fired already; or the flow is gone (its account deleted, say), disabled, or polls by mailbox now: then its timer goes too.
      const current = row ?? (await store.get(flowId));
      if (!current || !current.enabled || current.trigger.type !== "schedule") await ticker.remove(flowId);
      else opts.log.info({ flowId, tick: new Date(tick).toISOString() }, "tick already fired: skipped");
      return;
    }
    await starter.fire(row.accountId, flowId, "schedule");
  };
  const ticker: Ticker = opts.redisUrl
    ? new BullTicker({ redisUrl: opts.redisUrl, prefix: opts.redisPrefix, store, onTick, log: opts.log })
    : new MemoryTicker({ store, onTick, log: opts.log, now, defaultPollEvery, moreTimers: () => pollers.timers() });

  let sweeper: NodeJS.Timeout | undefined;
  let syncer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  const sweep = () => {
    sweeping ??= (async () => {
      for (const flowId of await starter.pendingFlows()) {
        if (starter.isClosed) return;
        await starter.followUp(flowId);
      }
    })().finally(() => (sweeping = undefined));
    return sweeping;
  };

  return {
    store,
    push,
    starter,
    ticker,

    async check(accountId, input, current) {
      const trigger = input.trigger ? checkTrigger(input.trigger, { minIntervalMs: opts.minIntervalMs }) : current && (await store.get(current.id))?.trigger;
      const sourceId = input.source?.connectionId ?? current?.source.connectionId;
      if (trigger?.type !== "gmail" || !sourceId || !(input.trigger || input.source)) return;
      const connection = await opts.connections.get(accountId, sourceId);
      checkTriggerScopes(trigger, connection.grantedScopes ?? connection.scopes ?? []);
    },

    async save(accountId, flow, input, saveOpts = {}) {
      const prev = await store.get(flow.id);
      const trigger = (input.trigger as Trigger | undefined) ?? prev?.trigger ?? MANUAL;
      const enabled = input.enabled ?? prev?.enabled ?? true;
      // jsonb keeps keys in its own order: compare canonically, or every save would re-anchor (and skip undelivered mail).
      const changed = !prev || canonical(trigger) !== canonical(prev.trigger) || enabled !== prev.enabled || !!saveOpts.sourceChanged;
      // A schedule ticks per flow; a Gmail trigger by its mailbox's poller (mailbox-pollers.ts).
      const spec = enabled && trigger.type === "schedule" ? timerOf(trigger, defaultPollEvery) : undefined;
      const t = now();
      // An interval fires when enabled, then every interval (as BullMQ's `every` schedulers do).
      const anchor = spec && "everyMs" in spec ? t - spec.everyMs : t;
      const gmail = enabled && changed && trigger.type === "gmail" ? trigger : undefined;
      const backfillAfter = gmail?.backfill ? t - durationMs(gmail.backfill) : undefined;
      await store.save({ flowId: flow.id, accountId, trigger, enabled }, { restart: changed, now: anchor, backfillAfter });
      if (gmail) {
        if (backfillAfter) await opts.db.query("DELETE FROM flow_checkpoints WHERE flow_id = $1", [flow.id]);
        else {
          try {
            await poller.anchor(accountId, flow);
          } catch (err) {
            // The first poll records it (the connection may be offline now).
            opts.log.warn({ err, flowId: flow.id }, "recording the mailbox's historyId failed");
            await opts.db.query("DELETE FROM flow_checkpoints WHERE flow_id = $1", [flow.id]);
          }
        }
      }
      const mailTrigger = trigger.type === "gmail" || prev?.trigger.type === "gmail" || !!saveOpts.sourceChanged;
      if (mailTrigger) await reconcile();
      if (!changed) return;
      if (mailTrigger) {
        // The source's mailbox (every mailbox when the source moved: the old one may have lost its last flow).
        const email = saveOpts.sourceChanged ? undefined : await pollers.emailOfFlow(flow.id);
        await pollers.sync(email ? [email] : undefined);
      }
      if (spec) {
        const next = await ticker.set(flow.id, spec, anchor);
        await store.setNextRun(flow.id, next);
      } else {
        await ticker.remove(flow.id);
        await store.setNextRun(flow.id, undefined);
      }
    },

    async view(flow) {
      return { ...flow, ...view(await store.get(flow.id), (await pushViews([flow.id]))?.get(flow.id)) };
    },

    async viewAll(flows) {
      const rows = await store.getMany(flows.map((f) => f.id));
      const watches = await pushViews(flows.map((f) => f.id));
      return flows.map((f) => ({ ...f, ...view(rows.get(f.id), watches?.get(f.id)) }));
    },

    async remove(flowId) {
      await ticker.remove(flowId);
      await reconcile(); // the flow's mailbox may have lost its last watcher
      await pollers.sync();
    },

    async exportSpec(flow, run, claimed) {
      const runTrigger = ((run as RunRow & { trigger?: RunTrigger }).trigger ?? "manual") as RunTrigger;
      if (runTrigger === "manual") return flow.source.export;
      // Read with the run's claim when the flows give it; else read here.
      const row = claimed?.triggerState ? { trigger: claimed.triggerState.trigger as Trigger, backfillAfter: claimed.triggerState.backfillAfter } : await store.exportState(flow.id);
      return exportForRun(flow, runTrigger, row?.trigger ?? MANUAL, row?.backfillAfter);
    },

    async connectionChanged(connectionId) {
      await push.connectionChanged(connectionId);
      await pollers.sync();
    },

    async runEnded(runId) {
      await starter.runEnded(runId);
    },

    async start() {
      await ticker.start();
      await pollers.sync();
      await push.start();
      await sweep();
      sweeper = setInterval(() => void sweep().catch((err) => opts.log.warn({ err }, "follow-up sweep failed")), FOLLOW_UP_SWEEP_MS);
      sweeper.unref();
      syncer = setInterval(() => void pollers.sync().catch((err) => opts.log.warn({ err }, "matching mailbox pollers with flows failed")), POLLER_SYNC_MS);
      syncer.unref();
    },

    async close() {
      clearInterval(sweeper);
      clearInterval(syncer);
      // No follow-up run starts once closing (the run queue closes next): their flags stay for the next start.
      starter.close();
      await sweeping?.catch(() => {});
      await push.close();
      await ticker.close();
    },
  };
}
