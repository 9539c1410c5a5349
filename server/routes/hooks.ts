/**
 * `POST /hooks/gmail`: Cloud Pub/Sub push requests carrying Gmail notifications (SPEC §2
 * "Push endpoint"). Public (no API token; the push JWT is the credential). Only failures count
 * against the `/hooks/*` per-IP limit (a JWT that does not verify, a malformed body): Google
 * pushes every mailbox's notifications from a few addresses, so a verified push is never
 * throttled, while a forger gets 429 once over the limit. A JWT that does not verify answers 401 and nothing is
 * recorded; a body that is not a Pub/Sub push of a Gmail notification answers 400; the hint of
 * a watched address is persisted before the 204, and handled after it; an address no enabled
 * flow watches is acknowledged and dropped, its content not logged.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.ts";
import type { GmailPush } from "../triggers/gmail-push.ts";
import { hookFailureLimiter } from "../security.ts";
import { PushAuthError, PushVerifier, type PushAuthOptions } from "../triggers/push-auth.ts";

export interface HookRoutesOptions {
  push: GmailPush;
  auth: PushAuthOptions;
}

const pushBody = {
  type: "object",
  required: ["message"],
  properties: {
    message: {
      type: "object",
      required: ["data"],
      properties: {
        data: { type: "string", maxLength: 4096, pattern: "^[A-Za-z0-9+/_=-]*$" },
        messageId: { type: "string" },
        message_id: { type: "string" },
        publishTime: { type: "string" },
        publish_time: { type: "string" },
        attributes: { type: "object" },
      },
    },
    subscription: { type: "string" },
  },
} as const;

const bad = (message: string) => new ApiError("validation_failed", message, [{ field: "body.message.data", message }]);

/** The notification inside a push body, or a 400. */
export function notificationOf(data: string): { emailAddress: string; historyId: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data, "base64").toString("utf8"));
  } catch {
    throw bad("body.message.data is not base64 of a JSON object.");
  }
  const n = parsed as { emailAddress?: unknown; historyId?: unknown };
  if (!n || typeof n !== "object" || typeof n.emailAddress !== "string" || !/^[^@\s]{1,200}@[^@\s]{1,200}$/.test(n.emailAddress)) {
    throw bad("body.message.data must carry emailAddress, an email address.");
  }
  const h = n.historyId;
  const historyId = typeof h === "number" && Number.isSafeInteger(h) && h > 0 ? String(h) : typeof h === "string" && /^[1-9][0-9]{0,19}$/.test(h) ? h : undefined;
  if (!historyId) throw bad("body.message.data must carry historyId, a positive integer.");
  return { emailAddress: n.emailAddress, historyId };
}

export async function hookRoutes(app: FastifyInstance, opts: HookRoutesOptions): Promise<void> {
  const verifier = new PushVerifier(opts.auth);
  const countFailure = hookFailureLimiter(app);
  app.post(
    "/hooks/gmail",
    {
      config: { public: true, rateLimit: false },
      schema: { hide: true, body: pushBody },
      // Authentication before the body is looked at: a forged push learns nothing.
      onRequest: async (request) => {
        try {
          await verifier.verify(request.headers.authorization);
        } catch (err) {
          if (!(err instanceof PushAuthError)) throw err;
          request.log.warn({ reason: err.message }, "push rejected: its JWT did not verify");
          throw new ApiError("unauthorized", "The push request's JWT did not verify.");
        }
      },
      // Every refusal of the caller's making (401, 400, 413, 415) counts; over the limit it becomes the 429.
      errorHandler: async (err, request, reply) => {
        const status = err instanceof ApiError ? err.status : (err as { statusCode?: number }).statusCode;
        if (status !== undefined && status >= 400 && status < 500 && status !== 429) await countFailure(request, reply);
        throw err;
      },
    },
    async (request, reply) => {
      const { emailAddress, historyId } = notificationOf((request.body as { message: { data: string } }).message.data);
      if (await opts.push.receive(emailAddress, historyId)) {
        void opts.push.handle(emailAddress).catch((err) => request.log.warn({ err }, "push: handling the hint failed (the sweep retries)"));
      }
      return reply.status(204).send();
    },
  );
}
