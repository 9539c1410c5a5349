/**
 * Every answer the emulator gives to a request it cannot serve is Google's body for that
 * endpoint family; only an injected fault (`/_admin/settings` `faults`) or a bug answers 5xx.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { apiError, BadInput, GoogleError, notFound, uploadTooLarge } from "./errors.ts";
import { adminError, familyOf, renderBadInput } from "./families.ts";

function send(reply: FastifyReply, google: GoogleError): FastifyReply {
  reply.code(google.statusCode).headers(google.headers);
  if (typeof google.body === "string") return reply.type("text/html; charset=UTF-8").send(google.body);
  return reply.type("application/json; charset=UTF-8").send(JSON.stringify(google.body));
}

/** The request's path below the emulator's mount point. */
function localPath(request: FastifyRequest, prefix: string): string {
  const url = request.url;
  return prefix && url.startsWith(prefix) ? url.slice(prefix.length) || "/" : url;
}

/** Google's body for any error thrown while serving `request`. */
export function toGoogle(err: unknown, request: FastifyRequest, prefix: string): GoogleError | undefined {
  if (err instanceof GoogleError) return err;
  const family = familyOf(localPath(request, prefix));
  if (err instanceof BadInput) return renderBadInput(family, err);
  const e = err as Partial<FastifyError>;
  if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    const limit = request.routeOptions.bodyLimit ?? 0;
    return family === "gmail" ? uploadTooLarge(limit) : renderBadInput(family, new BadInput(`Request payload size exceeds the limit: ${limit} bytes.`, "uploadTooLarge", 413));
  }
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return renderBadInput(family, new BadInput(e.message ?? "Bad Request", "badRequest", e.statusCode));
  }
  return undefined;
}

export function installErrorHandling(app: FastifyInstance): void {
  const prefix = app.prefix;
  app.setErrorHandler((err, request, reply) => {
    const google = toGoogle(err, request, prefix);
    if (google) return send(reply, google);
    request.log.error({ err }, "emulator error");
    return send(reply, apiError(500, "Internal error encountered.", "backendError"));
  });
  app.setNotFoundHandler((request, reply) =>
    send(reply, familyOf(localPath(request, prefix)) === "admin" ? adminError("No such admin route.", 404) : notFound()),
  );
}

/**
 * Fastify's `frameworkErrors` for the standalone emulator: a path with a bad percent-escape or
 * an over-long parameter is answered before routing, so it gets the family's 400 here.
 * (Mounted in a service, the service's own `frameworkErrors` answers those.)
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const family = familyOf(request.url);
  const status = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : 400;
  void send(reply, renderBadInput(family, new BadInput(err.code === "FST_ERR_BAD_URL" ? "Invalid request path." : err.message, "badRequest", status)));
}
