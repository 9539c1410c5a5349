/**
 * Cloud Pub/Sub as Gmail push needs it (GOOGLE.md "Push notifications"): one push
 * subscription (`PUT /_admin/pubsub`), messages POSTed to its endpoint with an
 * `Authorization: Bearer` JWT signed RS256 by the emulator's own key, redelivered with
 * exponential backoff until a 2xx acknowledges them (at-least-once). The key's public half
 * is published at `/oauth2/v1/certs` (PEM by key id) and `/oauth2/v3/certs` (JWKS), as
 * Google publishes its own. One instance per emulator state, nothing module-level.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { adminError } from "./families.ts";
import type { EmulatorState } from "./state.ts";
import { object, reader } from "./validation.ts";

/** The issuer Google's push JWTs carry. */
export const ISSUER = "https://accounts.google.com";
export const DEFAULT_SERVICE_ACCOUNT = "pubsub-push@emulator.iam.gserviceaccount.com";
export const DEFAULT_ACK_DEADLINE_SECONDS = 10;
/** Pub/Sub's retry policy, shortened: the emulator is for tests and trials. */
export const DEFAULT_MIN_BACKOFF_MS = 1_000;
export const DEFAULT_MAX_BACKOFF_MS = 60_000;
/** Gmail publishes at most one notification per second per user. */
export const DEFAULT_NOTIFY_INTERVAL_MS = 1_000;
const TOKEN_TTL_S = 3600;
/**
 * Push requests outstanding at once per subscription; more wait their turn, as Pub/Sub's push
 * flow control holds back messages while the endpoint is slow (without it a slow endpoint
 * would have thousands of requests open at once).
 */
export const MAX_OUTSTANDING_PUSHES = 256;

export interface Subscription {
  topic: string;
  pushEndpoint: string;
  audience: string;
  serviceAccountEmail: string;
  ackDeadlineSeconds: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  notifyIntervalMs: number;
  name: string;
}

export interface PubSubCounts {
  published: number;
  /** POST attempts made to the push endpoint. */
  deliveries: number;
  /** Messages acknowledged by a 2xx. */
  acked: number;
  /** Attempts after the first (a message not acknowledged the first time). */
  redelivered: number;
  /** Messages published and not acknowledged yet. */
  pending: number;
}

const readSubscription = reader<{
  topic: string;
  pushEndpoint: string;
  audience?: string;
  serviceAccountEmail?: string;
  ackDeadlineSeconds?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  notifyIntervalMs?: number;
}>(
  object(
    {
      topic: { type: "string", pattern: "^projects/[^/]+/topics/[^/]+$" },
      pushEndpoint: { type: "string", format: "uri", pattern: "^https?://" },
      audience: { type: "string", minLength: 1 },
      serviceAccountEmail: { type: "string", pattern: "^[^@\\s]+@[^@\\s]+$" },
      ackDeadlineSeconds: { type: "integer", minimum: 10, maximum: 600 },
      minBackoffMs: { type: "integer", minimum: 0, maximum: 600_000 },
      maxBackoffMs: { type: "integer", minimum: 0, maximum: 600_000 },
      notifyIntervalMs: { type: "integer", minimum: 0, maximum: 60_000 },
    },
    { required: ["topic", "pushEndpoint"] },
  ),
  { style: "json" },
);

const b64url = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

export class PubSub {
  readonly kid = randomBytes(20).toString("hex");
  private readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  subscription?: Subscription;
  readonly counts: PubSubCounts = { published: 0, deliveries: 0, acked: 0, redelivered: 0, pending: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  private seq = 0;
  private closed = false;
  private token?: { sub: Subscription; jwt: string; until: number };
  private outstanding = 0;
  private readonly waiting: Array<() => void> = [];

  constructor() {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.privateKey = createPrivateKey(pair.privateKey.export({ type: "pkcs8", format: "pem" }));
    this.publicKey = pair.publicKey;
  }

  /** A JWT signed RS256 with the emulator's key (push JWTs and ID tokens alike). */
  signJwt(claims: Record<string, unknown>): string {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url({ alg: "RS256", kid: this.kid, typ: "JWT" });
    const body = b64url({ iat: now, exp: now + TOKEN_TTL_S, ...claims });
    const signature = sign("RSA-SHA256", Buffer.from(`${head}.${body}`), this.privateKey).toString("base64url");
    return `${head}.${body}.${signature}`;
  }

  jwks() {
    return { keys: [{ ...this.publicKey.export({ format: "jwk" }), kid: this.kid, alg: "RS256", use: "sig" }] };
  }

  pems(): Record<string, string> {
    return { [this.kid]: this.publicKey.export({ type: "spki", format: "pem" }).toString() };
  }

  /** Publish `data` on `topic`: POSTed to the subscription's endpoint when it is on that topic, else dropped as Pub/Sub does. */
  publish(topic: string, data: unknown): void {
    const sub = this.subscription;
    if (!sub || sub.topic !== topic || this.closed) return;
    this.counts.published += 1;
    this.counts.pending += 1;
    const messageId = String(Date.now() * 1000 + (++this.seq % 1000));
    const publishTime = new Date().toISOString();
    const message = { data: b64url(data), messageId, message_id: messageId, publishTime, publish_time: publishTime, attributes: {} };
    void this.deliver(sub, { message, subscription: sub.name }, 0);
  }

  /**
   * The push JWT of a subscription, signed once and reused while it has more than half its
   * hour left (as a token source caches its OIDC token): an RSA signature per push would cost
   * more than the push at a thousand mailboxes.
   */
  private pushToken(sub: Subscription): string {
    const now = Date.now();
    if (this.token && this.token.sub === sub && this.token.until > now) return this.token.jwt;
    const jwt = this.signJwt({ iss: ISSUER, aud: sub.audience, azp: sub.serviceAccountEmail, email: sub.serviceAccountEmail, email_verified: true, sub: "1" + String(hash(sub.serviceAccountEmail)).padStart(20, "0") });
    this.token = { sub, jwt, until: now + (TOKEN_TTL_S * 1000) / 2 };
    return jwt;
  }

  private async deliver(sub: Subscription, body: unknown, attempt: number): Promise<void> {
    if (this.closed) return;
    if (this.outstanding >= MAX_OUTSTANDING_PUSHES) await new Promise<void>((r) => this.waiting.push(r));
    if (this.closed) return;
    this.outstanding += 1;
    this.counts.deliveries += 1;
    if (attempt > 0) this.counts.redelivered += 1;
    const token = this.pushToken(sub);
    const abort = new AbortController();
    this.inFlight.add(abort);
    const deadline = setTimeout(() => abort.abort(), sub.ackDeadlineSeconds * 1000);
    let ok = false;
    try {
      const res = await fetch(sub.pushEndpoint, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "user-agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)" },
        body: JSON.stringify(body),
        signal: abort.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      ok = res.status >= 200 && res.status < 300;
    } catch {
      ok = false;
    } finally {
      clearTimeout(deadline);
      this.inFlight.delete(abort);
      this.outstanding -= 1;
      this.waiting.shift()?.();
    }
    if (ok) {
      this.counts.acked += 1;
      this.counts.pending -= 1;
      return;
    }
    if (this.closed) return;
    const wait = Math.min(sub.maxBackoffMs, sub.minBackoffMs * 2 ** Math.min(attempt, 20));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.deliver(sub, body, attempt + 1);
    }, wait);
    timer.unref();
    this.timers.add(timer);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const a of this.inFlight) a.abort();
    for (const w of this.waiting.splice(0)) w();
  }
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

const instances = new WeakMap<EmulatorState, PubSub>();

/** The Pub/Sub (and signing key) of one emulator instance. */
export function pubsubOf(state: EmulatorState): PubSub {
  let p = instances.get(state);
  if (!p) {
    p = new PubSub();
    instances.set(state, p);
  }
  return p;
}

/** The signing keys' routes and `/_admin/pubsub`. */
export function pubsubRoutes(app: FastifyInstance, state: EmulatorState): void {
  const pubsub = pubsubOf(state);
  app.addHook("onClose", async () => pubsub.close());
  const cacheable = "public, max-age=21600, must-revalidate, no-transform";
  app.get("/oauth2/v1/certs", async (_req, reply) => reply.header("cache-control", cacheable).send(pubsub.pems()));
  app.get("/oauth2/v3/certs", async (_req, reply) => reply.header("cache-control", cacheable).send(pubsub.jwks()));

  app.put("/_admin/pubsub", async (request) => {
    const body = readSubscription(request.body ?? {});
    const [, project] = body.topic.split("/");
    const minBackoffMs = body.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS;
    const maxBackoffMs = body.maxBackoffMs ?? Math.max(minBackoffMs, DEFAULT_MAX_BACKOFF_MS);
    if (maxBackoffMs < minBackoffMs) throw adminError("maxBackoffMs must not be below minBackoffMs.");
    pubsub.subscription = {
      topic: body.topic,
      pushEndpoint: body.pushEndpoint,
      audience: body.audience ?? body.pushEndpoint,
      serviceAccountEmail: body.serviceAccountEmail ?? DEFAULT_SERVICE_ACCOUNT,
      ackDeadlineSeconds: body.ackDeadlineSeconds ?? DEFAULT_ACK_DEADLINE_SECONDS,
      minBackoffMs,
      maxBackoffMs,
      notifyIntervalMs: body.notifyIntervalMs ?? DEFAULT_NOTIFY_INTERVAL_MS,
      name: `projects/${project}/subscriptions/mailbridge-push`,
    };
    return { subscription: pubsub.subscription };
  });

  app.get("/_admin/pubsub", async () => ({ ...pubsub.counts, subscription: pubsub.subscription ?? null }));
}
