/**
 * Maps every error that reaches Fastify onto the API's error shape: our own
 * ApiErrors as they are, Fastify's parsing and validation errors onto the
 * registry's 4xx codes, and anything else onto a 500 with no detail.
 */
import type { FastifyError, FastifyInstance } from "fastify";
import { ApiError } from "./errors.ts";

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
    reply.status(404).send(new ApiError("route_not_found", `No route ${request.method} ${request.url.split("?")[0]}.`).toJSON());
  });
}
