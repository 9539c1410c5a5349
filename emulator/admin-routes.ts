/**
 * `/_admin`: the contract any test uses to drive the emulator (SPEC §3). JSON in and out;
 * mistakes answer 400 `{error: {code, message}}`.
 */
import type { FastifyInstance } from "fastify";
import { GoogleError } from "./errors.ts";
import { headerValue } from "./mime.ts";
import { ingest } from "./message-store.ts";
import { generateMessages } from "./seed.ts";
import type { EmulatorState, Settings } from "./state.ts";
import { decodeRaw } from "./uploads.ts";

const MAX_GENERATE = 20_000;
/** Seeding carries whole mailboxes. */
const ADMIN_BODY_LIMIT = 100 * 1024 * 1024;

function invalid(message: string): GoogleError {
  return new GoogleError(400, { error: { code: "invalid_request", message } });
}

function object(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== "object" || Buffer.isBuffer(body) || Array.isArray(body)) throw invalid("Body must be a JSON object.");
  return body as Record<string, unknown>;
}

/** `raw` is base64url as in the Gmail API; a value with line breaks is taken as the message text itself. */
function rawBytes(value: unknown): Buffer {
  if (typeof value !== "string" || !value) throw invalid("messages[].raw must be a non-empty string.");
  return /^[A-Za-z0-9+/_=-]+$/.test(value) ? decodeRaw(value)! : Buffer.from(value, "utf8");
}

export function adminRoutes(app: FastifyInstance, state: EmulatorState): void {
  app.post("/_admin/clients", async (request, reply) => {
    const body = object(request.body);
    const { clientId, clientSecret, redirectUris, testing } = body;
    if (typeof clientId !== "string" || !clientId) throw invalid("clientId is required.");
    if (typeof clientSecret !== "string" || !clientSecret) throw invalid("clientSecret is required.");
    if (!Array.isArray(redirectUris) || !redirectUris.every((u) => typeof u === "string")) throw invalid("redirectUris must be an array of URLs.");
    if (testing !== undefined && typeof testing !== "boolean") throw invalid("testing must be a boolean.");
    state.clients.set(clientId, { clientId, clientSecret, redirectUris: redirectUris as string[], testing: testing ?? false });
    return reply.code(201).send({ clientId, redirectUris, testing: testing ?? false });
  });

  app.post("/_admin/users", { bodyLimit: ADMIN_BODY_LIMIT }, async (request, reply) => {
    const body = object(request.body);
    const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw invalid("email is required.");
    if (body.name !== undefined && typeof body.name !== "string") throw invalid("name must be a string.");
    const messages = body.messages ?? [];
    if (!Array.isArray(messages)) throw invalid("messages must be an array.");
    const generate = body.generate as { count?: unknown; attachments?: unknown } | undefined;
    if (generate !== undefined) {
      const count = generate?.count;
      if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > MAX_GENERATE) {
        throw invalid(`generate.count must be an integer 0..${MAX_GENERATE}.`);
      }
    }
    const user = state.mailbox(email, body.name as string | undefined);
    const now = state.now();
    for (const m of messages as Array<Record<string, unknown>>) {
      const labelIds = m.labelIds ?? ["INBOX"];
      if (!Array.isArray(labelIds)) throw invalid("messages[].labelIds must be an array.");
      const raw = rawBytes(m.raw);
      try {
        await ingest(user, raw, { labelIds: labelIds.map(String), internalDateSource: "dateHeader", now });
      } catch (err) {
        if (err instanceof GoogleError) throw invalid(`messages[]: ${JSON.stringify(err.body)}`);
        throw err;
      }
    }
    if (generate) await generateMessages(user, { count: generate.count as number, attachments: generate.attachments === true, now });
    return reply.code(201).send({
      email: user.email,
      name: user.name,
      messagesTotal: user.messages.size,
      threadsTotal: user.threadCount(),
      historyId: String(user.historyId),
    });
  });

  app.get<{ Params: { email: string } }>("/_admin/users/:email", async (request) => {
    const user = state.mailboxes.get(request.params.email.toLowerCase());
    if (!user) throw new GoogleError(404, { error: { code: "not_found", message: "No such user." } });
    return {
      email: user.email,
      name: user.name,
      historyId: String(user.historyId),
      labels: [...user.labels.values()],
      messages: [...user.messages.values()].map((m) => ({
        id: m.id,
        threadId: m.threadId,
        labelIds: m.labelIds,
        internalDate: String(m.internalDate),
        from: headerValue(m.parsed.headers, "From") ?? "",
        to: headerValue(m.parsed.headers, "To") ?? "",
        subject: headerValue(m.parsed.headers, "Subject") ?? "",
      })),
      drafts: [...user.drafts.values()],
    };
  });

  app.post<{ Params: { email: string } }>("/_admin/users/:email/revoke", async (request) => {
    const email = request.params.email.toLowerCase();
    const clientId = request.body && typeof request.body === "object" ? (request.body as { clientId?: unknown }).clientId : undefined;
    if (clientId !== undefined && typeof clientId !== "string") throw invalid("clientId must be a string.");
    let revoked = 0;
    for (const grant of state.grants.values()) {
      if (!grant.revoked && grant.email === email && (!clientId || grant.clientId === clientId)) {
        state.revokeGrant(grant);
        revoked += 1;
      }
    }
    return { revoked };
  });

  app.put("/_admin/settings", async (request) => {
    const body = object(request.body);
    const next: Settings = { ...state.settings };
    const num = (key: "accessTokenTtlSeconds" | "quotaUnitsPerMinute" | "latencyMs", min: number) => {
      const v = body[key];
      if (v === undefined) return;
      if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw invalid(`${key} must be a number >= ${min}.`);
      next[key] = v;
    };
    num("accessTokenTtlSeconds", 1);
    num("quotaUnitsPerMinute", 0);
    num("latencyMs", 0);
    if (body.faults !== undefined) {
      const f = body.faults as { status?: unknown; rate?: unknown } | null;
      if (f === null) next.faults = undefined;
      else if (typeof f?.status !== "number" || f.status < 400 || f.status > 599 || typeof f.rate !== "number" || f.rate < 0 || f.rate > 1) {
        throw invalid("faults must be {status: 400..599, rate: 0..1} or null.");
      } else next.faults = { status: f.status, rate: f.rate };
    }
    // A new quota starts a fresh window, so tests can reason from zero.
    if (body.quotaUnitsPerMinute !== undefined) state.quota.reset();
    state.settings = next;
    return state.settings;
  });

  app.get("/_admin/settings", async () => state.settings);

  app.get("/_admin/stats", async () => ({ users: Object.fromEntries(state.stats) }));

  app.post("/_admin/stats/reset", async () => {
    for (const s of state.stats.values()) Object.assign(s, { requests: 0, quotaUnits: 0, refreshes: 0, maxInFlight: s.inFlight });
    return {};
  });
}
