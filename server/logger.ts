/**
 * Pino options for the service. Secrets are removed by configuration: the
 * redaction paths below, and a request serializer that blanks OAuth query
 * parameters (code, state, tokens) out of logged URLs.
 */
import type { FastifyServerOptions } from "fastify";

const SENSITIVE_QUERY = /([?&](?:code|state|token|access_token|refresh_token|client_secret)=)[^&#]*/gi;

export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "*.clientSecret",
  "*.client_secret",
  "*.token",
  "*.accessToken",
  "*.refreshToken",
  "*.access_token",
  "*.refresh_token",
  "*.id_token",
  "*.code_verifier",
  "*.codeVerifier",
  "*.password",
  "err.config.data",
  "err.config.headers",
  "err.response.config",
  "err.response.request",
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
