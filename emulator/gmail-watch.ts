/**
 * Gmail push (GOOGLE.md "Push notifications"): `users.watch` and `users.stop`, the notifier
 * that publishes `{emailAddress, historyId}` to a watch's topic when the mailbox changes (at
 * most one notification per second per user, changes in between folded into the next), and
 * `POST /_admin/users/:email/messages` for mail arriving now (`POST /_admin/arrivals` for
 * several mailboxes at once), and
 * `GET /_admin/users/:email/arrivals?after=<historyId>` for the messages a mailbox received
 * since (id, subject, historyId): a cheap way for tests and benchmarks to see deliveries
 * without reading the whole mailbox (`POST /_admin/arrivals/since` with `{after: {email:
 * historyId}}` for several mailboxes in one call).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { badRequest, BadInput, GoogleError } from "./errors.ts";
import { adminError } from "./families.ts";
import type { FormValues } from "./form.ts";
import type { GmailCall, GmailRoute } from "./gmail-pipeline.ts";
import { runGmail } from "./gmail-pipeline.ts";
import { sendResult } from "./gmail-routes.ts";
import type { HistoryRecord, Mailbox } from "./mailbox.ts";
import { headerValue } from "./mime.ts";
import { ingest } from "./message-store.ts";
import { DEFAULT_NOTIFY_INTERVAL_MS, pubsubOf } from "./pubsub.ts";
import { SCOPE } from "./scopes.ts";
import type { EmulatorState } from "./state.ts";
import { INSERT_LIMIT } from "./uploads.ts";
import { object, reader, str, strList } from "./validation.ts";

/** A watch lasts 7 days. */
export const WATCH_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Units per call (GOOGLE.md). */
export const WATCH_COST = { watch: 100, stop: 50 } as const;
/** users.watch / users.stop accept these (GOOGLE.md "Scopes per method"). */
export const WATCH_SCOPES: readonly string[] = [SCOPE.mail, SCOPE.modify, SCOPE.readonly, SCOPE.metadata];
/** How often the notifier looks at watched mailboxes. */
const SCAN_MS = 25;

export interface Watch {
  topic: string;
  labelIds: string[];
  behavior: "INCLUDE" | "EXCLUDE";
  expiration: number;
  /** The historyId last published (or seen without a change the watch cares about). */
  announced: number;
  /** Real time of the last notification. */
  lastPublishAt: number;
}

const readWatch = reader<{ topicName: string; labelIds?: string[]; labelFilterAction?: string; labelFilterBehavior?: string }>(
  object({
    topicName: str,
    labelIds: strList(),
    labelFilterAction: { enum: ["include", "exclude"] },
    labelFilterBehavior: { enum: ["INCLUDE", "EXCLUDE"] },
  }),
);

const nonEmpty = { type: "string", minLength: 1 };
const readArrival = reader<{ raw?: string; labelIds?: string[]; messages?: Array<{ raw: string; labelIds?: string[] }> }>(
  object({
    raw: nonEmpty,
    labelIds: strList(),
    messages: { type: "array", minItems: 1, maxItems: 1000, items: object({ raw: nonEmpty, labelIds: strList() }, { required: ["raw"] }) },
  }),
  { style: "json" },
);

const readSince = reader<{ after: Record<string, string> }>(
  object({ after: { type: "object", minProperties: 1, maxProperties: 10_000, additionalProperties: { type: "string", pattern: "^[0-9]{1,15}$" } } }, { required: ["after"] }),
  { style: "json" },
);

/** What a mailbox received after a historyId, oldest first. */
function arrivalsAfter(user: Mailbox, after: number) {
  const messages = [];
  for (const m of user.messages.values()) {
    if (m.historyId > after) messages.push({ id: m.id, historyId: String(m.historyId), subject: headerValue(m.parsed.headers, "Subject") ?? "" });
  }
  messages.sort((a, b) => Number(a.historyId) - Number(b.historyId));
  return { historyId: String(user.historyId), messages };
}

const readArrivals = reader<{ messages: Array<{ email: string; raw: string; labelIds?: string[] }> }>(
  object(
    { messages: { type: "array", minItems: 1, maxItems: 10_000, items: object({ email: nonEmpty, raw: nonEmpty, labelIds: strList() }, { required: ["email", "raw"] }) } },
    { required: ["messages"] },
  ),
  { style: "json" },
);

/** The watches of one emulator instance and the notifier publishing for them. */
export class Watches {
  readonly byUser = new Map<string, Watch>();
  private scanner?: NodeJS.Timeout;

  constructor(private readonly state: EmulatorState) {}

  set(email: string, watch: Watch): void {
    this.byUser.set(email, watch);
    if (!this.scanner) {
      this.scanner = setInterval(() => this.scan(), SCAN_MS);
      this.scanner.unref();
    }
  }

  delete(email: string): void {
    this.byUser.delete(email);
  }

  /** Publish for every watched mailbox that changed (as its labels filter says) and was not announced within the interval. */
  scan(): void {
    const pubsub = pubsubOf(this.state);
    const interval = pubsub.subscription?.notifyIntervalMs ?? DEFAULT_NOTIFY_INTERVAL_MS;
    const now = this.state.now();
    for (const [email, w] of this.byUser) {
      if (w.expiration <= now) {
        this.byUser.delete(email);
        continue;
      }
      const box = this.state.mailboxes.get(email);
      if (!box || box.historyId <= w.announced) continue;
      if (!relevant(box, w)) {
        w.announced = box.historyId;
        continue;
      }
      if (Date.now() - w.lastPublishAt < interval) continue; // folded into the next one
      w.announced = box.historyId;
      w.lastPublishAt = Date.now();
      pubsub.publish(w.topic, { emailAddress: box.email, historyId: box.historyId });
    }
  }

  close(): void {
    clearInterval(this.scanner);
    this.scanner = undefined;
  }
}

function labelsOf(r: HistoryRecord): string[] {
  const out: string[] = [];
  for (const f of ["messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"] as const) {
    for (const e of r[f] ?? []) out.push(...e.message.labelIds, ...("labelIds" in e ? (e.labelIds as string[]) : []));
  }
  return out;
}

/** Whether a change since the last notification concerns the watch's labels. */
function relevant(box: Mailbox, w: Watch): boolean {
  if (!w.labelIds.length) return true;
  return box.history
    .filter((r) => r.id > w.announced)
    .some((r) => {
      const labels = labelsOf(r);
      const hit = labels.some((l) => w.labelIds.includes(l));
      return w.behavior === "INCLUDE" ? hit : labels.some((l) => !w.labelIds.includes(l));
    });
}

const instances = new WeakMap<EmulatorState, Watches>();

export function watchesOf(state: EmulatorState): Watches {
  let w = instances.get(state);
  if (!w) {
    w = new Watches(state);
    instances.set(state, w);
  }
  return w;
}

function watch(call: GmailCall) {
  const body = readWatch(call.body ?? {});
  if (!body.topicName) throw badRequest("Invalid topicName does not match projects/SOME_PROJECT/topics/SOME_TOPIC");
  if (!/^projects\/[^/]+\/topics\/[^/]+$/.test(body.topicName)) {
    throw badRequest(`Invalid topicName does not match projects/SOME_PROJECT/topics/SOME_TOPIC`);
  }
  const labelIds = body.labelIds ?? [];
  for (const id of labelIds) if (!call.user.labels.has(id)) throw badRequest(`Invalid label: ${id}`);
  const behavior = (body.labelFilterBehavior ?? body.labelFilterAction?.toUpperCase() ?? "INCLUDE") as Watch["behavior"];
  const expiration = call.state.now() + WATCH_TTL_MS;
  const watches = watchesOf(call.state);
  const prev = watches.byUser.get(call.user.email);
  watches.set(call.user.email, {
    topic: body.topicName,
    labelIds,
    behavior,
    expiration,
    // Renewing keeps what was announced: nothing is published twice or skipped.
    announced: prev && prev.topic === body.topicName ? prev.announced : call.user.historyId,
    lastPublishAt: prev?.lastPublishAt ?? 0,
  });
  return { historyId: String(call.user.historyId), expiration: String(expiration) };
}

function stop(call: GmailCall) {
  watchesOf(call.state).delete(call.user.email);
  return undefined;
}

export const watchRoutes: GmailRoute[] = [
  { method: "POST", path: "/gmail/v1/users/:userId/watch", scopes: WATCH_SCOPES, cost: WATCH_COST.watch, body: (v) => readWatch(v ?? {}), handler: watch },
  { method: "POST", path: "/gmail/v1/users/:userId/stop", scopes: WATCH_SCOPES, cost: WATCH_COST.stop, handler: stop },
];

function rawBytes(value: string, at: string): Buffer {
  const bytes = /^[A-Za-z0-9+/_=-]+$/.test(value) ? Buffer.from(value, "base64") : Buffer.from(value, "utf8");
  if (bytes.length > INSERT_LIMIT) throw adminError(`${at} is larger than ${INSERT_LIMIT} bytes.`);
  return bytes;
}

/** users.watch / users.stop, and mail arriving now through the admin API. */
export function watchRoutesPlugin(app: FastifyInstance, state: EmulatorState): void {
  const watches = watchesOf(state);
  app.addHook("onClose", async () => watches.close());
  for (const route of watchRoutes) {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request: FastifyRequest, reply: FastifyReply) =>
        sendResult(
          reply,
          await runGmail(state, route, {
            params: request.params as Record<string, string>,
            query: request.query as FormValues,
            body: request.body,
            contentType: request.headers["content-type"] ?? "",
            authorization: request.headers.authorization,
            upload: false,
          }),
        ),
    });
  }

  app.post<{ Params: { email: string } }>("/_admin/users/:email/messages", { bodyLimit: 100 * 1024 * 1024 }, async (request, reply) => {
    const user = state.mailboxes.get(request.params.email.toLowerCase());
    if (!user) throw adminError("No such user.", 404);
    const body = readArrival(request.body ?? {});
    if ((body.raw === undefined) === (body.messages === undefined)) throw adminError("Give either raw or messages.");
    if (body.messages && body.labelIds) throw adminError("labelIds goes with raw; give each message its own.");
    const items = body.messages ?? [{ raw: body.raw!, labelIds: body.labelIds }];
    const raws = items.map((m, i) => rawBytes(m.raw, body.messages ? `messages[${i}].raw` : "raw"));
    const ids: string[] = [];
    const now = state.now();
    for (const [i, m] of items.entries()) {
      try {
        ids.push((await ingest(user, raws[i]!, { labelIds: m.labelIds ?? ["INBOX", "UNREAD"], internalDate: now, now })).id);
      } catch (err) {
        const at = body.messages ? `messages[${i}]` : "raw";
        if (err instanceof GoogleError) throw adminError(`${at}: ${JSON.stringify(err.body)}`);
        if (err instanceof BadInput) throw adminError(`${at}: ${err.message}`);
        throw err;
      }
    }
    watches.scan(); // announced now, unless the user was notified less than a second ago
    return reply.code(201).send({ ids, historyId: String(user.historyId) });
  });

  // Mail arriving in several mailboxes at once (benchmarks: a thousand mailboxes a second).
  app.post("/_admin/arrivals", { bodyLimit: 100 * 1024 * 1024 }, async (request, reply) => {
    const body = readArrivals(request.body ?? {});
    const now = state.now();
    const ids: string[] = [];
    for (const [i, m] of body.messages.entries()) {
      const user = state.mailboxes.get(m.email.toLowerCase());
      if (!user) throw adminError(`messages[${i}].email: no such user.`, 404);
      try {
        ids.push((await ingest(user, rawBytes(m.raw, `messages[${i}].raw`), { labelIds: m.labelIds ?? ["INBOX", "UNREAD"], internalDate: now, now })).id);
      } catch (err) {
        if (err instanceof GoogleError) throw adminError(`messages[${i}]: ${JSON.stringify(err.body)}`);
        if (err instanceof BadInput) throw adminError(`messages[${i}]: ${err.message}`);
        throw err;
      }
    }
    watches.scan();
    return reply.code(201).send({ ids });
  });

  app.get<{ Params: { email: string }; Querystring: { after?: string } }>("/_admin/users/:email/arrivals", async (request) => {
    const user = state.mailboxes.get(request.params.email.toLowerCase());
    if (!user) throw adminError("No such user.", 404);
    const after = Number(request.query.after ?? 0);
    if (!Number.isSafeInteger(after) || after < 0) throw adminError("after must be a historyId.");
    return arrivalsAfter(user, after);
  });

  // The mailbox's watch as Google holds it (tests: is every mailbox that should be watched watched?).
  app.get<{ Params: { email: string } }>("/_admin/users/:email/watch", async (request) => {
    const email = request.params.email.toLowerCase();
    if (!state.mailboxes.has(email)) throw adminError("No such user.", 404);
    const w = watches.byUser.get(email);
    return { watch: w ? { topicName: w.topic, labelIds: w.labelIds, expiration: String(w.expiration) } : null };
  });

  app.post("/_admin/arrivals/since", async (request) => {
    const { after } = readSince(request.body ?? {});
    const users: Record<string, ReturnType<typeof arrivalsAfter>> = {};
    for (const [email, historyId] of Object.entries(after)) {
      const user = state.mailboxes.get(email.toLowerCase());
      if (!user) throw adminError(`after.${email}: no such user.`, 404);
      users[email] = arrivalsAfter(user, Number(historyId));
    }
    return { users };
  });
}
