/**
 * Pino options for the service. Secrets are removed by configuration: the
 * redaction paths below, and a request serializer that blanks OAuth query
 * parameters (code, state, tokens) out of logged URLs.
 */
import type { FastifyServerOptions } from "fastify";
import { stdSerializers } from "pino";

type SerializedError = ReturnType<typeof stdSerializers.err>;

const SENSITIVE_QUERY = /([?&](?:code|state|token|access_token|refresh_token|client_secret)=)[^&#]*/gi;

/** Keys that hold secrets, redacted at the top level of a log line and one level down. */
const SECRET_KEYS = [
  "clientSecret",
  "client_secret",
  "token",
  "accessToken",
  "refreshToken",
  "access_token",
  "refresh_token",
  "id_token",
  "code_verifier",
  "codeVerifier",
  "password",
];

export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
  // Google client errors (gaxios) carry the request: its body holds secrets and tokens.
  ...["err", "err.cause", "err.cause.cause"].flatMap((e) => [
    `${e}.config.data`,
    `${e}.config.body`,
    `${e}.config.headers`,
    `${e}.config.url`,
    `${e}.response.config`,
    `${e}.response.request`,
  ]),
];

export function redactUrl(url: string): string {
  return url.replace(SENSITIVE_QUERY, "$1[redacted]");
}

/**
 * Fields of PostgreSQL errors (PGlite's and pg's) that carry the statement's parameter values or
 * row data: `params` (PGlite), `detail` ("Key (name)=(…) already exists"), `where` ("unnamed
 * portal parameter $1 = '…'"). The statement (`query`) and the SQLSTATE `code` stay.
 */
const SQL_VALUE_KEYS = ["params", "detail", "where", "internalQuery", "queryOptions", "hint"];

/** A PostgreSQL server error: a five-character SQLSTATE and the server's own report fields. */
function isDatabaseError(err: unknown): err is Error & { code: string } {
  const e = err as { code?: unknown; severity?: unknown; routine?: unknown } | null;
  return err instanceof Error && typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) && (e.severity !== undefined || e.routine !== undefined);
}

/** PostgreSQL quotes an offending value at the end of its message: `invalid input syntax for type integer: "…"`. */
const QUOTED_VALUE = /(: )".*"(?=\r?\n|$)/gm;

/**
 * The err serializer of the service: pino's, after removing the parameter values and row data
 * of any database error in the chain (the error itself, its causes, aggregated errors).
 */
export function serializeErr(err: Error): SerializedError {
  const chain: unknown[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  const out = stdSerializers.err(err);
  if (!chain.some(isDatabaseError) && !(err instanceof AggregateError)) return out;
  return scrubSql(out as unknown as Record<string, unknown>) as unknown as SerializedError;
}

function scrubSql(out: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(out)) {
    if (SQL_VALUE_KEYS.includes(k)) continue;
    if (k === "message" || k === "stack") copy[k] = typeof v === "string" ? v.replace(QUOTED_VALUE, '$1"[redacted]"') : v;
    else if (k === "aggregateErrors" && Array.isArray(v)) copy[k] = v.map((x) => (x && typeof x === "object" ? scrubSql(x as Record<string, unknown>) : x));
    else if (v && typeof v === "object" && (v as { stack?: unknown }).stack !== undefined) copy[k] = scrubSql(v as Record<string, unknown>);
    else copy[k] = v;
  }
  return copy;
}

export function loggerOptions(level: string): NonNullable<FastifyServerOptions["logger"]> {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: {
      req(req: any) {
        return { method: req.method, url: redactUrl(req.url ?? ""), remoteAddress: req.ip };
      },
      err: serializeErr,
    },
  };
}
