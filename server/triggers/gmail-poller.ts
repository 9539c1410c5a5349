/**
 * "When new mail arrives" without push: each tick of a mailbox's poller looks at
 * `history.list` once for every flow reading that mailbox, from the oldest of
 * their cursors (2 quota units when nothing changed), and starts an incremental
 * run of each flow whose trigger matches messages added past its own cursor. The poller never moves the flow's checkpoint past mail it
 * matches: only the run does, after delivering it. All calls go through the
 * GmailRunner choke point.
 */
import type { FastifyBaseLogger } from "fastify";
import { currentHistoryId, listMessageIds, type GmailCaller } from "../../connector/gmail-export.ts";
import { GoogleApiError } from "../../connector/errors.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { CheckpointStore } from "../flows/checkpoints.ts";
import type { Flow } from "../flows/flow.ts";
import type { TriggerRow, TriggerStore } from "./trigger-store.ts";
import type { RunStarter } from "./run-starter.ts";
import { triggerFilter } from "./trigger-export.ts";

const PAGE = 500;

export interface GmailPollerDeps {
  gmail: GmailRunner;
  store: TriggerStore;
  checkpoints: CheckpointStore;
  starter: RunStarter;
  log: FastifyBaseLogger;
  now: () => number;
}

const later = (a: string, b: string) => (BigInt(a) >= BigInt(b) ? a : b);

export class GmailPoller {
  constructor(private readonly deps: GmailPollerDeps) {}

  private caller(flow: Flow, accountId: string): GmailCaller {
    return (method, fn) => this.deps.gmail.run(accountId, flow.source.connectionId, method, fn);
  }

  /** Enabling: the mailbox's historyId now becomes the flow's checkpoint, so only mail arriving afterwards runs. */
  async anchor(accountId: string, flow: Flow): Promise<void> {
    await this.deps.checkpoints.save(flow.id, await currentHistoryId(this.caller(flow, accountId)));
  }

  /**
   * Look at history from the flow's cursor and run when mail it exports arrived. `via` says what
   * started the run (a tick's poll or a push); a push whose hint is not past the cursor (late,
   * repeated or out of order) costs nothing.
   */
  async poll(row: TriggerRow, flow: Flow, opts: PollOptions = {}): Promise<void> {
    await this.pollMailbox([{ row, flow }], opts);
  }

  /**
   * One look at a mailbox for every flow reading it: a single `history.list` from the oldest of
   * their cursors (2 units when nothing changed), through the first of their connections, then
   * each flow takes the history records past its own cursor and runs when mail it exports
   * arrived. A cursor Google no longer keeps (404) or a connection that cannot call falls back
   * to one look per flow, each through its own connection. Resolves to the number of flows whose
   * look failed (logged; with one flow, its failure is thrown).
   */
  async pollMailbox(targets: PollTarget[], opts: PollOptions = {}): Promise<number> {
    const via = opts.via ?? "poll";
    const { checkpoints, starter, log } = this.deps;
    let failed = 0;
    const looking: Array<PollTarget & { start: string; checkpoint: string }> = [];
    for (const t of targets) {
      const checkpoint = t.checkpoint !== undefined ? (t.checkpoint ?? undefined) : await checkpoints.get(t.flow.id);
      if (!checkpoint) {
        // A backfill's first run exports the recent past in full; otherwise enabling could not record the historyId: do it now.
        try {
          if (t.row.backfillAfter) await starter.fire(t.row.accountId, t.flow.id, via);
          else await this.anchor(t.row.accountId, t.flow);
        } catch (err) {
          if (targets.length === 1) throw err;
          log.warn({ err, flowId: t.flow.id }, "recording the mailbox's historyId failed");
          failed++;
        }
        continue;
      }
      const start = t.row.pollHistoryId ? later(t.row.pollHistoryId, checkpoint) : checkpoint;
      if (opts.hintHistoryId && BigInt(opts.hintHistoryId) <= BigInt(start)) continue;
      looking.push({ ...t, start, checkpoint });
    }
    if (!looking.length) return failed;
    const from = looking.reduce((a, t) => (BigInt(t.start) < BigInt(a) ? t.start : a), looking[0]!.start);
    const single = looking.length === 1 ? looking[0]! : undefined;
    let history: History;
    try {
      history = await this.history(this.caller(looking[0]!.flow, looking[0]!.row.accountId), from, single ? triggerFilter(single.flow, single.row.trigger).labelIds[0] : undefined);
    } catch (err) {
      if (single) {
        if (!(err instanceof GoogleApiError && err.status === 404)) throw err;
        // The cursor is older than the history Google keeps: the run resyncs (its deliveries ledger sends nothing twice).
        log.warn({ flowId: single.flow.id }, "poll cursor too old: starting a resync run");
        await starter.fire(single.row.accountId, single.flow.id, via);
        return failed;
      }
      log.info({ err }, "shared history look failed: looking once per flow");
      for (const t of looking) {
        await this.pollMailbox([{ row: t.row, flow: t.flow }], opts).catch((e) => {
          log.warn({ err: e, flowId: t.flow.id }, "looking at history failed");
          failed++;
        });
      }
      return failed;
    }
    for (const t of looking) {
      try {
        await this.settle(t, history, via);
      } catch (err) {
        if (single) throw err;
        log.warn({ err, flowId: t.flow.id }, "looking at history failed");
        failed++;
      }
    }
    return failed;
  }

  /** One flow's share of a look at history: run for what it exports, or move its cursors on. */
  private async settle(t: PollTarget & { start: string; checkpoint: string }, history: History, via: "poll" | "push"): Promise<void> {
    const { store, starter } = this.deps;
    const { row, flow, start, checkpoint } = t;
    const after = BigInt(start);
    const added = new Map<string, string[]>();
    for (const r of history.records) if (r.id === undefined || BigInt(r.id) > after) for (const m of r.added) added.set(m.id, m.labelIds);
    const filter = triggerFilter(flow, row.trigger);
    let matching = [...added].filter(([, labelIds]) => filter.labelIds.every((l) => labelIds.includes(l))).map(([id]) => id);
    if (matching.length && filter.query) {
      const hits = new Set<string>();
      const call = this.caller(flow, row.accountId);
      for await (const page of listMessageIds(call, { query: filter.query, labelIds: filter.labelIds, maxMessages: PAGE })) for (const id of page) hits.add(id);
      matching = matching.filter((id) => hits.has(id));
    }
    const historyId = history.historyId;
    if (matching.length) {
      // The cursor moves with the run (or the follow-up flag), in one statement: never past mail no run will export.
      await starter.fire(row.accountId, flow.id, via, { historyId, at: this.deps.now() }); // new mail seen: the watch's last notification
      return;
    }
    if (historyId === start) return; // nothing happened since: nothing to write
    await store.setPollCursor(flow.id, historyId, false, this.deps.now());
    // Nothing the flow would export arrived since its checkpoint: keep the checkpoint young, or Google forgets it.
    // Compare and set: a run that saved a later checkpoint meanwhile keeps it.
    if (start === checkpoint && historyId !== checkpoint) await store.advanceCheckpoint(flow.id, checkpoint, historyId);
  }

  private async history(call: GmailCaller, startHistoryId: string, labelId?: string): Promise<History> {
    const records: History["records"] = [];
    let pageToken: string | undefined;
    let historyId = startHistoryId;
    do {
      const res = await call("history.list", (g, options) =>
        g.users.history.list({ userId: "me", startHistoryId, historyTypes: ["messageAdded"], labelId, maxResults: PAGE, pageToken }, options),
      );
      for (const h of res.data.history ?? []) {
        const added = (h.messagesAdded ?? []).flatMap((a) => (a.message?.id ? [{ id: a.message.id, labelIds: a.message.labelIds ?? [] }] : []));
        if (added.length) records.push({ id: h.id ?? undefined, added });
      }
      historyId = String(res.data.historyId ?? historyId);
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken);
    return { records, historyId };
  }
}

/** A flow to look at history for, with its trigger row. */
export interface PollTarget {
  row: TriggerRow;
  flow: Flow;
  /** The flow's checkpoint when read with the row (null: it has none); absent, it is read here. */
  checkpoint?: string | null;
}

export interface PollOptions {
  via?: "poll" | "push";
  /** A push's historyId: flows whose cursor is already there skip the look. */
  hintHistoryId?: string;
}

/** What `history.list` said: the records that added messages (with their own historyId), and the mailbox's historyId now. */
interface History {
  records: Array<{ id?: string; added: Array<{ id: string; labelIds: string[] }> }>;
  historyId: string;
}
