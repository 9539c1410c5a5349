/**
 * Response headers and rate limits (@fastify/helmet, @fastify/rate-limit).
 *
 * One strict policy for everything the service itself serves: the panel's
 * code is its own bundled files only (no inline script), nothing may frame
 * it, no MIME sniffing, no Referer. Routes that serve other people's HTML get
 * their own policy, picked by path when each route is registered: the OAuth
 * callback page (its one inline script and style admitted by hash), /docs
 * (swagger-ui's bundle) and the sandbox's Google emulator (its consent page
 * keeps working; only framing is refused).
 *
 * Sign-in, the OAuth callback and push hooks are rate limited per client IP,
 * in Redis when the service runs as a cluster, answering 429 `rate_limited`
 * with Retry-After. A `/hooks/*` route that sets `config.rateLimit: false`
 * counts only what it calls {@link hookFailureLimiter} for (`/hooks/gmail`:
 * pushes that fail verification or are malformed), so a sender that proves
 * who it is (Google's Pub/Sub, pushing from few addresses) is never throttled.
 * Behind a reverse proxy the client IP comes from `X-Forwarded-For` only when
 * `TRUST_PROXY` says which proxies to believe (config `trustProxy`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import helmet, { type FastifyHelmetOptions } from "@fastify/helmet";
import rateLimit, { type RateLimitOptions } from "@fastify/rate-limit";
import type { Redis } from "ioredis";
import { createHash } from "node:crypto";
import { ApiError } from "../core/errors.ts";
import { SANDBOX_PREFIX } from "./config.ts";
import { CALLBACK_PAGE_HASHES } from "./oauth/callback-page.ts";

/** Sign-in attempts per client IP and minute. */
export const SESSION_RATE_LIMIT = { max: 10, timeWindow: 60_000 };
/** OAuth callback requests per client IP and minute. */
export const CALLBACK_RATE_LIMIT = { max: 60, timeWindow: 60_000 };
/** Push hook requests (`/hooks/*`) per client IP and minute; `/hooks/gmail` counts only its failures. */
export const HOOKS_RATE_LIMIT = { max: 600, timeWindow: 60_000 };

/**
 * The one inline style attribute the panel writes: the "Connecting to Google…"
 * line of the about:blank popup (web/src/oauth-popup.ts), which inherits the
 * panel's policy. Admitted by hash (`'unsafe-hashes'`), nothing else inline.
 */
const POPUP_STYLE_ATTRIBUTE = "font-family:system-ui,sans-serif;padding:2rem";

const sha256 = (s: string) => `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`;

type CspOptions = Exclude<FastifyHelmetOptions["contentSecurityPolicy"], boolean | undefined>;
type Directives = NonNullable<CspOptions["directives"]>;

const STRICT: Directives = {
  defaultSrc: ["'self'"],
  baseUri: ["'none'"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  imgSrc: ["'self'", "data:"],
  objectSrc: ["'none'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-hashes'", sha256(POPUP_STYLE_ATTRIBUTE)],
};

/** The OAuth callback page: its own script and style by hash. */
const CALLBACK: Directives = { ...STRICT, scriptSrc: [CALLBACK_PAGE_HASHES.script], styleSrc: [CALLBACK_PAGE_HASHES.style], connectSrc: ["'none'"] };

/** swagger-ui at /docs: its bundle from 'self'; it sets styles inline and shows data: images. */
const DOCS: Directives = { ...STRICT, styleSrc: ["'self'", "'unsafe-inline'"] };

// Exported by @fastify/helmet at run time, missing from its type declarations.
const { dangerouslyDisableDefaultSrc } = (helmet as unknown as { contentSecurityPolicy: { dangerouslyDisableDefaultSrc: symbol } }).contentSecurityPolicy;

/** The sandbox's Google emulator serves its own pages: only framing is refused. */
const SANDBOX: Directives = { defaultSrc: dangerouslyDisableDefaultSrc as Directives[string], frameAncestors: ["'none'"] };

export interface SecurityOptions {
  /** The service's public URL: https adds HSTS and `upgrade-insecure-requests`. */
  publicUrl: string;
  /** Keep rate-limit counters in Redis (queue mode, several processes). */
  redis?: Redis;
  redisPrefix?: string;
}

/** Register before any route: policies and limits are attached to routes as they are added. */
export async function installSecurity(app: FastifyInstance, opts: SecurityOptions): Promise<void> {
  const https = opts.publicUrl.startsWith("https:");
  const csp = (directives: Directives): CspOptions => ({
    useDefaults: false,
    directives: https ? { ...directives, upgradeInsecureRequests: [] } : directives,
  });

  // Runs before the two plugins' own onRoute hooks (registered below), so they see what it sets.
  app.addHook("onRoute", (route) => {
    const url = route.url ?? "";
    const limit = rateLimitFor(route.method, url);
    // A route that set `rateLimit: false` counts its own failures (hookFailureLimiter).
    if (limit && (route.config as { rateLimit?: unknown } | undefined)?.rateLimit === undefined) route.config = { ...route.config, rateLimit: limit } as typeof route.config;
    if (route.helmet !== undefined) return;
    if (url === "/oauth2/callback") {
      // `unsafe-none`: the popup came back from Google's origin and must still reach its opener.
      route.helmet = { contentSecurityPolicy: csp(CALLBACK), crossOriginOpenerPolicy: false };
    } else if (url === "/docs" || url.startsWith("/docs/")) {
      route.helmet = { contentSecurityPolicy: csp(DOCS) };
    } else if (url === SANDBOX_PREFIX || url.startsWith(`${SANDBOX_PREFIX}/`)) {
      route.helmet = { contentSecurityPolicy: csp(SANDBOX), crossOriginOpenerPolicy: false };
    }
  });

  const headers: FastifyHelmetOptions = {
    contentSecurityPolicy: csp(STRICT),
    // The panel opens the Google sign-in popup and must keep its handle on it.
    crossOriginOpenerPolicy: { policy: "same-origin-allow-popups" },
    frameguard: { action: "deny" },
    referrerPolicy: { policy: "no-referrer" },
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  };
  await app.register(helmet, headers);

  await app.register(rateLimit, {
    global: false,
    ...(opts.redis ? { redis: opts.redis, nameSpace: `${opts.redisPrefix ?? "mailbridge"}:ratelimit:` } : {}),
    errorResponseBuilder: (_request, context) =>
      new ApiError("rate_limited", `Too many requests: try again in ${Math.max(1, Math.ceil(context.ttl / 1000))} seconds.`),
  });
}

/**
 * The `/hooks/*` per-IP limit as a hook to call for a failed request only: it counts the
 * request and throws the 429 `rate_limited` (with Retry-After) once the address is over
 * {@link HOOKS_RATE_LIMIT}. Call it at most once per request.
 */
export function hookFailureLimiter(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const limit = app.rateLimit(HOOKS_RATE_LIMIT);
  return async (request, reply) => {
    await limit.call(app, request, reply);
  };
}

function rateLimitFor(method: RouteOptions["method"], url: string): RateLimitOptions | undefined {
  const methods = Array.isArray(method) ? method : [method];
  if (url === "/v1/session" && methods.includes("POST")) return SESSION_RATE_LIMIT;
  if (url === "/oauth2/callback") return CALLBACK_RATE_LIMIT;
  if (url.startsWith("/hooks/")) return HOOKS_RATE_LIMIT;
  return undefined;
}
