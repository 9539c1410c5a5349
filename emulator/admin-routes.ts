/**
 * `/_admin`: the contract any test uses to drive the emulator (SPEC §3). JSON in and out;
 * mistakes answer 400 `{error: {code, message}}`.
 */
import type { FastifyInstance } from "fastify";
import { BadInput, GoogleError } from "./errors.ts";
import { adminError } from "./families.ts";
import { headerValue } from "./mime.ts";
import { ingest } from "./message-store.ts";
import { generateMessages } from "./seed.ts";
import type { EmulatorState, Settings } from "./state.ts";
import { INSERT_LIMIT } from "./uploads.ts";
import { object, reader, shown, str, strList } from "./validation.ts";

const MAX_GENERATE = 20_000;
/** Seeding carries whole mailboxes. */
const ADMIN_BODY_LIMIT = 100 * 1024 * 1024;
/** A latency above ten minutes would only hang the caller. */
const MAX_LATENCY_MS = 600_000;

const json = { style: "json" } as const;
const nonEmpty = { type: "string", minLength: 1 };

const readClient = reader<{ clientId: string; clientSecret: string; redirectUris: string[]; testing?: boolean }>(
  object(
    {
      clientId: nonEmpty,
      clientSecret: nonEmpty,
      redirectUris: { type: "array", items: { type: "string", format: "uri" } },
      testing: { type: "boolean" },
    },
    { required: ["clientId", "clientSecret", "redirectUris"] },
  ),
  json,
);

interface SeedMessage {
  raw: string;
  labelIds?: string[];
}

const readUser = reader<{ email: string; name?: string; messages?: SeedMessage[]; generate?: { count: number; attachments?: boolean } }>(
  object(
    {
      email: str,
      name: str,
      messages: { type: "array", items: object({ raw: nonEmpty, labelIds: strList() }, { required: ["raw"] }) },
      generate: object({ count: { type: "integer", minimum: 0, maximum: MAX_GENERATE }, attachments: { type: "boolean" } }, { required: ["count"] }),
    },
    { required: ["email"] },
  ),
  json,
);

const readSettings = reader<{
  accessTokenTtlSeconds?: number;
  quotaUnitsPerMinute?: number;
  latencyMs?: number;
  faults?: { status: number; rate: number } | null;
  rotateRefreshTokens?: boolean;
}>(
  object(
    {
      accessTokenTtlSeconds: { type: "number", minimum: 1 },
      quotaUnitsPerMinute: { type: "number", minimum: 0 },
      latencyMs: { type: "number", minimum: 0, maximum: MAX_LATENCY_MS },
      faults: {
        type: ["object", "null"],
        properties: { status: { type: "integer", minimum: 400, maximum: 599 }, rate: { type: "number", minimum: 0, maximum: 1 } },
        required: ["status", "rate"],
        additionalProperties: false,
      },
      rotateRefreshTokens: { type: "boolean" },
    },
  ),
  json,
);

const readRevoke = reader<{ clientId?: string }>(object({ clientId: str }), json);

/** No body reads as an empty object. */
const bodyOf = (body: unknown) => (body === undefined || body === null ? {} : body);

/**
 * A redirect URI the authorization endpoint can redirect to: absolute, parseable by the WHATWG
 * URL parser, without a fragment (RFC 6749 §3.1.2).
 */
function checkRedirectUri(uri: string, index: number): void {
  if (!URL.canParse(uri) || uri.includes("#")) throw adminError(`Invalid value at 'redirectUris[${index}]' (URL), ${shown(uri)}`);
}

/** `raw` is base64url as in the Gmail API; a value with line breaks is taken as the message text itself. */
function rawBytes(value: string): Buffer {
  const bytes = /^[A-Za-z0-9+/_=-]+$/.test(value) ? Buffer.from(value, "base64") : Buffer.from(value, "utf8");
  if (bytes.length > INSERT_LIMIT) throw adminError(`messages[].raw is larger than ${INSERT_LIMIT} bytes.`);
  return bytes;
}

export function adminRoutes(app: FastifyInstance, state: EmulatorState): void {
  app.post("/_admin/clients", async (request, reply) => {
    const { clientId, clientSecret, redirectUris, testing = false } = readClient(bodyOf(request.body));
    redirectUris.forEach(checkRedirectUri);
    state.clients.set(clientId, { clientId, clientSecret, redirectUris, testing });
    return reply.code(201).send({ clientId, redirectUris, testing });
  });

  app.post("/_admin/users", { bodyLimit: ADMIN_BODY_LIMIT }, async (request, reply) => {
    const body = readUser(bodyOf(request.body));
    const email = body.email.trim().toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw adminError("email is required.");
    const raws = (body.messages ?? []).map((m) => rawBytes(m.raw));
    const user = state.mailbox(email, body.name);
    const now = state.now();
    for (const [i, m] of (body.messages ?? []).entries()) {
      try {
        await ingest(user, raws[i], { labelIds: m.labelIds ?? ["INBOX"], internalDateSource: "dateHeader", now });
      } catch (err) {
        if (err instanceof GoogleError) throw adminError(`messages[${i}]: ${JSON.stringify(err.body)}`);
        if (err instanceof BadInput) throw adminError(`messages[${i}]: ${err.message}`);
        throw err;
      }
    }
    if (body.generate) await generateMessages(user, { count: body.generate.count, attachments: body.generate.attachments === true, now });
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
    if (!user) throw adminError("No such user.", 404);
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
    const { clientId } = readRevoke(bodyOf(request.body));
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
    const body = readSettings(bodyOf(request.body));
    const next: Settings = { ...state.settings };
    if (body.accessTokenTtlSeconds !== undefined) next.accessTokenTtlSeconds = body.accessTokenTtlSeconds;
    if (body.quotaUnitsPerMinute !== undefined) next.quotaUnitsPerMinute = body.quotaUnitsPerMinute;
    if (body.latencyMs !== undefined) next.latencyMs = body.latencyMs;
    if (body.rotateRefreshTokens !== undefined) next.rotateRefreshTokens = body.rotateRefreshTokens;
    if (body.faults !== undefined) next.faults = body.faults === null ? undefined : { status: body.faults.status, rate: body.faults.rate };
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
