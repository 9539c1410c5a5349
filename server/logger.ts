/**
 * Pino options for the service. Secrets are removed by configuration: the
 * redaction paths below, and a request serializer that blanks OAuth query
 * parameters (code, state, tokens) out of logged URLs.
 */
import type { FastifyServerOptions } from "fastify";

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

export function loggerOptions(level: string): NonNullable<FastifyServerOptions["logger"]> {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: {
      req(req: any) {
        return { method: req.method, url: redactUrl(req.url ?? ""), remoteAddress: req.ip };
      },
    },
  };
}
