/**
 * The one place that reads `process.env`. Every variable of SPEC §1 is
 * validated at start-up with Ajv; every problem is listed at once, then a
 * frozen typed object is returned.
 */
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import path from "node:path";
import { REAL_GOOGLE, emulatorEndpoints, type GoogleEndpoints } from "../connector/endpoints.ts";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const DEFAULT_PORT = 3000;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_DATA_DIR = "./data";
/** Largest JSON body the API accepts (bytes). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_REDIS_PREFIX = "mailbridge";
export const SANDBOX_PREFIX = "/sandbox/google";
/** The Pub/Sub topic Gmail push uses in sandbox mode (the emulator's), unless GMAIL_PUSH_TOPIC names one. */
export const SANDBOX_PUSH_TOPIC = "projects/mailbridge-sandbox/topics/gmail";
/** Google's issuer identifier, in both forms its ID tokens carry (GOOGLE.md "Sign-in identity"). */
export const DEFAULT_GOOGLE_ISSUERS: readonly string[] = Object.freeze(["https://accounts.google.com", "accounts.google.com"]);
/** Google's signing keys as a JWKS. */
export const DEFAULT_GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v3/certs";
/** Gmail's per-user quota per project since 2026 (GOOGLE.md "Quota"). */
export const DEFAULT_GMAIL_USER_QUOTA_UNITS_PER_MINUTE = 6_000;
/** Gmail's per-project quota. */
export const DEFAULT_GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE = 1_200_000;
/** Google's daily billing threshold per project. */
export const DEFAULT_GMAIL_PROJECT_DAILY_UNITS = 80_000_000;

/** PostgreSQL connections one process keeps at most (`DATABASE_POOL_SIZE`). */
export const DEFAULT_DATABASE_POOL_SIZE = 10;
/** Runs executed at once per process (`RUN_CONCURRENCY`); each still waits for its connection's pool slots. */
export const DEFAULT_RUN_CONCURRENCY = 64;

export { REAL_GOOGLE, type GoogleEndpoints };

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  /** `${publicUrl}/oauth2/callback`, the fixed redirect URI of every connection. */
  callbackUrl: string;
  dataDir: string;
  /**
   * Where archives live (`ARCHIVE_DIR`); every process of a cluster must share it.
   * @defaultValue `${dataDir}/archives`
   */
  archiveDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  /** Prefix of every Redis key and channel; processes of one cluster share it. */
  redisPrefix: string;
  /** 32-byte key; when undefined one is generated into dataDir. */
  secretsKey?: Buffer;
  adminToken?: string;
  sandbox: boolean;
  google: GoogleEndpoints;
  /**
   * The issuer ID tokens, push JWTs and the callback's `iss` parameter (RFC 9207) must carry:
   * `GOOGLE_ISSUER`, or both forms Google uses.
   * @defaultValue {@link DEFAULT_GOOGLE_ISSUERS}
   */
  googleIssuers: readonly string[];
  /**
   * The issuer's signing keys (JWKS), `GOOGLE_CERTS_URL`.
   * @defaultValue {@link DEFAULT_GOOGLE_CERTS_URL}
   */
  googleCertsUrl: string;
  platformClient?: { clientId: string; clientSecret: string };
  logLevel: string;
  bodyLimit: number;
  /** Quota budgets of Gmail calls (SPEC §2 "Quota budget and transient errors"). */
  gmailQuota: { userUnitsPerMinute: number; projectUnitsPerMinute: number; projectDailyUnits: number };
  /**
   * Gmail push (SPEC §2 "Triggers"): the Pub/Sub topic `GMAIL_PUSH_TOPIC` (unset: mail triggers
   * poll), the `aud` push JWTs must carry (`GMAIL_PUSH_AUDIENCE`, default `${publicUrl}/hooks/gmail`)
   * and their `email` (`GMAIL_PUSH_SERVICE_ACCOUNT`, unset: any Google-signed).
   */
  gmailPush: { topic?: string; audience: string; serviceAccount?: string };
  /**
   * Which reverse proxies' `X-Forwarded-For` to believe for the client IP (per-IP rate limits),
   * Fastify's `trustProxy`: `TRUST_PROXY` = `true` (any), a hop count, or a comma-separated list
   * of proxy addresses/CIDRs.
   * @defaultValue false (the socket's address)
   */
  trustProxy: boolean | string | ((address: string, hop: number) => boolean);
  /**
   * Runs executed at once by this process (`RUN_CONCURRENCY`, 1–1000); each run's Gmail calls
   * still wait for a slot of its connection's pool, so a higher value never exceeds a pool's level.
   * @defaultValue {@link DEFAULT_RUN_CONCURRENCY}
   */
  runConcurrency: number;
  /**
   * PostgreSQL only: connections this process keeps at most (`DATABASE_POOL_SIZE`, 1–1000). Count
   * it against the server's `max_connections` times the processes of the cluster.
   * @defaultValue {@link DEFAULT_DATABASE_POOL_SIZE}
   */
  databasePoolSize: number;
}

const url = { type: "string", format: "uri", pattern: "^https?://" };
const envSchema = {
  type: "object",
  properties: {
    PORT: { type: "integer", minimum: 0, maximum: 65535 },
    HOST: { type: "string", minLength: 1 },
    PUBLIC_URL: url,
    DATA_DIR: { type: "string", minLength: 1 },
    ARCHIVE_DIR: { type: "string", minLength: 1 },
    DATABASE_URL: { type: "string", pattern: "^postgres(ql)?://" },
    REDIS_URL: { type: "string", pattern: "^rediss?://" },
    REDIS_PREFIX: { type: "string", pattern: "^[A-Za-z0-9:_-]{1,64}$" },
    SECRETS_KEY: { type: "string", pattern: "^[A-Za-z0-9+/]{43}=$" },
    ADMIN_TOKEN: { type: "string", minLength: 16 },
    GOOGLE_SANDBOX: { type: "boolean" },
    GOOGLE_AUTH_URL: url,
    GOOGLE_TOKEN_URL: url,
    GOOGLE_REVOKE_URL: url,
    GOOGLE_USERINFO_URL: url,
    GMAIL_API_URL: url,
    GOOGLE_CERTS_URL: url,
    GOOGLE_ISSUER: { type: "string", minLength: 1, maxLength: 500 },
    GOOGLE_CLIENT_ID: { type: "string", minLength: 1 },
    GOOGLE_CLIENT_SECRET: { type: "string", minLength: 1 },
    GMAIL_USER_QUOTA_UNITS_PER_MINUTE: { type: "integer", minimum: 1 },
    GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE: { type: "integer", minimum: 1 },
    GMAIL_PROJECT_DAILY_UNITS: { type: "integer", minimum: 1 },
    GMAIL_PUSH_TOPIC: { type: "string", pattern: "^projects/[^/\\s]+/topics/[^/\\s]+$" },
    GMAIL_PUSH_AUDIENCE: { type: "string", minLength: 1, maxLength: 2000 },
    GMAIL_PUSH_SERVICE_ACCOUNT: { type: "string", pattern: "^[^@\\s]+@[^@\\s]+$" },
    TRUST_PROXY: { type: "string", pattern: "^(true|false|[0-9]{1,2}|[0-9A-Fa-f:./]+(\\s*,\\s*[0-9A-Fa-f:./]+)*)$" },
    RUN_CONCURRENCY: { type: "integer", minimum: 1, maximum: 1000 },
    DATABASE_POOL_SIZE: { type: "integer", minimum: 1, maximum: 1000 },
    LOG_LEVEL: { enum: ["fatal", "error", "warn", "info", "debug", "trace", "silent"] },
  },
  dependencies: {
    GOOGLE_CLIENT_ID: ["GOOGLE_CLIENT_SECRET"],
    GOOGLE_CLIENT_SECRET: ["GOOGLE_CLIENT_ID"],
  },
} as const;

const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true });
addFormats(ajv);
const validateEnv = ajv.compile(envSchema);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** `TRUST_PROXY` as Fastify's `trustProxy`: a boolean, a hop count, or the proxies' addresses. */
function trustProxyOf(value: string | undefined): Config["trustProxy"] {
  if (value === undefined || value === "false") return false;
  if (value === "true") return true;
  if (!/^[0-9]+$/.test(value)) return value.replace(/\s+/g, "");
  // A hop count as proxy-addr takes it (Fastify's types have no number): trust the nearest N.
  const hops = Number(value);
  return (_address, hop) => hop < hops;
}

/**
 * Validate the environment (and `--sandbox` in argv) into a frozen Config.
 * Empty strings count as unset.
 */
export function loadConfig(env: Env = process.env, argv: string[] = process.argv.slice(2)): Readonly<Config> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(envSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  if (argv.includes("--sandbox")) raw.GOOGLE_SANDBOX = "true";
  if (!validateEnv(raw)) {
    const problems = (validateEnv.errors ?? []).map((e) => {
      const name = e.instancePath.replace(/^\//, "") || String(e.params.missingProperty ?? "");
      return `${name} ${e.message}`;
    });
    throw new ConfigError(problems);
  }
  const v = raw as Record<string, any>;
  const port: number = v.PORT ?? DEFAULT_PORT;
  const publicUrl = String(v.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, "");
  const sandbox = v.GOOGLE_SANDBOX === true;
  const base = sandbox ? emulatorEndpoints(`${publicUrl}${SANDBOX_PREFIX}`) : REAL_GOOGLE;
  const gmailUrl: string = v.GMAIL_API_URL ?? base.gmailUrl;
  const config: Config = {
    port,
    host: v.HOST ?? DEFAULT_HOST,
    publicUrl,
    callbackUrl: `${publicUrl}/oauth2/callback`,
    dataDir: path.resolve(v.DATA_DIR ?? DEFAULT_DATA_DIR),
    archiveDir: path.resolve(v.ARCHIVE_DIR ?? path.join(v.DATA_DIR ?? DEFAULT_DATA_DIR, "archives")),
    databaseUrl: v.DATABASE_URL,
    redisUrl: v.REDIS_URL,
    redisPrefix: v.REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX,
    secretsKey: v.SECRETS_KEY ? Buffer.from(v.SECRETS_KEY, "base64") : undefined,
    adminToken: v.ADMIN_TOKEN,
    sandbox,
    google: Object.freeze({
      authUrl: v.GOOGLE_AUTH_URL ?? base.authUrl,
      tokenUrl: v.GOOGLE_TOKEN_URL ?? base.tokenUrl,
      revokeUrl: v.GOOGLE_REVOKE_URL ?? base.revokeUrl,
      userinfoUrl: v.GOOGLE_USERINFO_URL ?? base.userinfoUrl,
      gmailUrl: gmailUrl.endsWith("/") ? gmailUrl : `${gmailUrl}/`,
    }),
    googleIssuers: Object.freeze(v.GOOGLE_ISSUER ? [v.GOOGLE_ISSUER] : [...DEFAULT_GOOGLE_ISSUERS]),
    googleCertsUrl: v.GOOGLE_CERTS_URL ?? (sandbox ? `${publicUrl}${SANDBOX_PREFIX}/oauth2/v3/certs` : DEFAULT_GOOGLE_CERTS_URL),
    platformClient: v.GOOGLE_CLIENT_ID
      ? Object.freeze({ clientId: v.GOOGLE_CLIENT_ID, clientSecret: v.GOOGLE_CLIENT_SECRET })
      : undefined,
    logLevel: v.LOG_LEVEL ?? "info",
    trustProxy: trustProxyOf(v.TRUST_PROXY),
    runConcurrency: v.RUN_CONCURRENCY ?? DEFAULT_RUN_CONCURRENCY,
    databasePoolSize: v.DATABASE_POOL_SIZE ?? DEFAULT_DATABASE_POOL_SIZE,
    bodyLimit: DEFAULT_BODY_LIMIT,
    gmailPush: Object.freeze({ topic: v.GMAIL_PUSH_TOPIC ?? (sandbox ? SANDBOX_PUSH_TOPIC : undefined), audience: v.GMAIL_PUSH_AUDIENCE ?? `${publicUrl}/hooks/gmail`, serviceAccount: v.GMAIL_PUSH_SERVICE_ACCOUNT }),
    gmailQuota: Object.freeze({
      userUnitsPerMinute: v.GMAIL_USER_QUOTA_UNITS_PER_MINUTE ?? DEFAULT_GMAIL_USER_QUOTA_UNITS_PER_MINUTE,
      projectUnitsPerMinute: v.GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE ?? DEFAULT_GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE,
      projectDailyUnits: v.GMAIL_PROJECT_DAILY_UNITS ?? DEFAULT_GMAIL_PROJECT_DAILY_UNITS,
    }),
  };
  return Object.freeze(config);
}
