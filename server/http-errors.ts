/**
 * Maps every error that reaches Fastify onto the API's error shape: our own
 * ApiErrors as they are, Fastify's parsing and validation errors onto the
 * registry's 4xx codes, and anything else onto a 500 with no detail.
 */
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.ts";

const FASTIFY_CODES: Record<string, ApiError["code"]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "validation_failed",
  FST_ERR_CTP_EMPTY_TYPE: "unsupported_media_type",
};

export function toApiError(err: FastifyError | Error): ApiError | undefined {
  if (err instanceof ApiError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    const details = fe.validation.map((v) => ({
      field: `${fe.validationContext ?? "body"}${v.instancePath.replace(/\//g, ".")}`,
      message: v.message,
      ...(v.keyword === "additionalProperties" ? { unknownField: (v.params as any).additionalProperty } : {}),
    }));
    const first = details[0];
    const message = first
      ? first.unknownField
        ? `Unknown field "${first.unknownField}" in ${first.field}.`
        : `${first.field} ${first.message}.`
      : undefined;
    return new ApiError("validation_failed", message, details);
  }
  if (fe.code && FASTIFY_CODES[fe.code]) return new ApiError(FASTIFY_CODES[fe.code]!, undefined, undefined, { cause: err });
  if (err instanceof SyntaxError) return new ApiError("invalid_json", undefined, undefined, { cause: err });
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode === 404 ? "not_found" : fe.statusCode === 429 ? "rate_limited" : "validation_failed", undefined, undefined, { cause: err });
  }
  return undefined;
}

export function installErrorHandling(app: FastifyInstance): void {
  // Node no longer answers a Host-less HTTP/1.1 request with an empty 400 (`requireHostHeader:
  // false` in server/app.ts): it is answered here, in the API's shape.
  app.addHook("onRequest", async (request, reply) => {
    if (request.raw.httpVersion === "1.1" && !request.headers.host) {
      return reply.status(400).send(new ApiError("validation_failed", "The Host header is required.").toJSON());
    }
  });
  app.setErrorHandler((err, request, reply) => {
    const apiError = toApiError(err as FastifyError);
    if (apiError) {
      if (apiError.status >= 500) request.log.error({ err }, "request failed");
      return reply.status(apiError.status).send(apiError.toJSON());
    }
    request.log.error({ err }, "unhandled error");
    return reply.status(500).send(new ApiError("internal_error").toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const allow = allowedMethods(app, request.url);
    if (allow.length > 0) {
      return reply
        .status(405)
        .header("allow", allow.join(", "))
        .send(new ApiError("method_not_allowed", `${request.method} is not allowed here; use ${allow.join(", ")}.`).toJSON());
    }
    return reply.status(404).send(new ApiError("route_not_found", `No route ${request.method} ${pathOf(request.url)}.`).toJSON());
  });
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/**
 * The methods some route answers at `url`, asked of the app's own router. A match of the panel's
 * catch-all (`GET /*`, its wildcard covering the whole path) does not make a path known.
 */
function allowedMethods(app: FastifyInstance, url: string): string[] {
  const path = pathOf(url);
  return METHODS.filter((method) => {
    const found = app.findRoute({ method, url });
    if (!found) return false;
    const params = found.params as Record<string, string>;
    const keys = Object.keys(params);
    return !(keys.length === 1 && keys[0] === "*" && `/${params["*"]}` === safeDecode(path));
  });
}

function pathOf(url: string): string {
  const path = url.split("?")[0] ?? "";
  // An absolute-form request line (`GET http://host/path`).
  return path.startsWith("/") ? path : path.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "") || "/";
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Errors the router raises before a route runs: a malformed %-escape, an over-long parameter. */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const apiError = err.statusCode === 414 ? new ApiError("uri_too_long") : new ApiError("validation_failed", "The URL is not valid.");
  void reply.status(apiError.status).send(apiError.toJSON());
}

/**
 * Node's own client errors (a request line or header it cannot parse, headers over its limit, a
 * bad Content-Length, a timeout) in the API's error shape: written on the socket, then closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const apiError =
    err.code === "HPE_HEADER_OVERFLOW"
      ? new ApiError("headers_too_large")
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new ApiError("request_timeout")
        : new ApiError("validation_failed", "The HTTP request is malformed.");
  const body = JSON.stringify(apiError.toJSON());
  // As Node does by default: only when nothing of a response was written yet, then close.
  if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) {
    socket.write(
      `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
