/**
 * "When new mail arrives" without push: each tick of a Gmail trigger looks at
 * `history.list` from where the poller last looked (2 quota units when nothing
 * changed) and starts an incremental run when messages the trigger matches
 * were added. The poller never moves the flow's checkpoint past mail it
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
  async poll(row: TriggerRow, flow: Flow, opts: { via?: "poll" | "push"; hintHistoryId?: string } = {}): Promise<void> {
    const via = opts.via ?? "poll";
    const { store, checkpoints, starter, log } = this.deps;
    const call = this.caller(flow, row.accountId);
    const checkpoint = await checkpoints.get(flow.id);
    if (!checkpoint) {
      // A backfill's first run exports the recent past in full; otherwise enabling could not record the historyId: do it now.
      if (row.backfillAfter) await starter.fire(row.accountId, flow.id, via);
      else await this.anchor(row.accountId, flow);
      return;
    }
    const start = row.pollHistoryId ? later(row.pollHistoryId, checkpoint) : checkpoint;
    if (opts.hintHistoryId && BigInt(opts.hintHistoryId) <= BigInt(start)) return;
    const filter = triggerFilter(flow, row.trigger);
    let added: Array<{ id: string; labelIds: string[] }>;
    let historyId: string;
    try {
      ({ added, historyId } = await this.history(call, start, filter.labelIds[0]));
    } catch (err) {
      if (!(err instanceof GoogleApiError && err.status === 404)) throw err;
      // The cursor is older than the history Google keeps: the run resyncs (its deliveries ledger sends nothing twice).
      log.warn({ flowId: flow.id }, "poll cursor too old: starting a resync run");
      await starter.fire(row.accountId, flow.id, via);
      return;
    }
    let matching = added.filter((m) => filter.labelIds.every((l) => m.labelIds.includes(l)));
    if (matching.length && filter.query) {
      const hits = new Set<string>();
      for await (const page of listMessageIds(call, { query: filter.query, labelIds: filter.labelIds, maxMessages: PAGE })) for (const id of page) hits.add(id);
      matching = matching.filter((m) => hits.has(m.id));
    }
    if (matching.length) {
      // Start (or fold into a follow-up) before moving the cursor: a crash in between polls again, never misses.
      await starter.fire(row.accountId, flow.id, via);
      await store.setPollCursor(flow.id, historyId, via === "poll", this.deps.now());
      return;
    }
    await store.setPollCursor(flow.id, historyId, false, this.deps.now());
    // Nothing the flow would export arrived since its checkpoint: keep the checkpoint young, or Google forgets it.
    // Compare and set: a run that saved a later checkpoint meanwhile keeps it.
    if (start === checkpoint && historyId !== checkpoint) await store.advanceCheckpoint(flow.id, checkpoint, historyId);
  }

  private async history(call: GmailCaller, startHistoryId: string, labelId?: string) {
    const added = new Map<string, string[]>();
    let pageToken: string | undefined;
    let historyId = startHistoryId;
    do {
      const res = await call("history.list", (g, options) =>
        g.users.history.list({ userId: "me", startHistoryId, historyTypes: ["messageAdded"], labelId, maxResults: PAGE, pageToken }, options),
      );
      for (const h of res.data.history ?? []) for (const a of h.messagesAdded ?? []) if (a.message?.id) added.set(a.message.id, a.message.labelIds ?? []);
      historyId = String(res.data.historyId ?? historyId);
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken);
    return { added: [...added].map(([id, labelIds]) => ({ id, labelIds })), historyId };
  }
}
