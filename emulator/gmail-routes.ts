/**
 * Registers the Gmail route table with Fastify: each method at `/gmail/v1/…`, and methods that
 * take a message also at `/upload/gmail/v1/…` with a larger body limit.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { draftRoutes } from "./gmail-drafts.ts";
import { historyRoutes } from "./gmail-history.ts";
import { labelRoutes } from "./gmail-labels.ts";
import { messageWriteRoutes } from "./gmail-message-writes.ts";
import { messageReadRoutes } from "./gmail-messages.ts";
import { threadRoutes } from "./gmail-threads.ts";
import { runGmail, type GmailResult, type GmailRoute } from "./gmail-pipeline.ts";
import { first, type FormValues } from "./form.ts";
import { ResumableUploads } from "./resumable.ts";
import type { EmulatorState } from "./state.ts";
import { JSON_BODY_LIMIT, UPLOAD_BODY_LIMIT } from "./uploads.ts";

export const gmailRoutes: readonly GmailRoute[] = [
  ...messageReadRoutes,
  ...messageWriteRoutes,
  ...labelRoutes,
  ...draftRoutes,
  ...historyRoutes,
  ...threadRoutes,
];

export function sendResult(reply: FastifyReply, result: GmailResult): FastifyReply {
  reply.code(result.status).headers(result.headers);
  if (result.body === undefined) return reply.send();
  return reply.type("application/json; charset=UTF-8").send(JSON.stringify(result.body));
}

export function registerGmail(app: FastifyInstance, state: EmulatorState): void {
  const resumable = new ResumableUploads(state);
  for (const route of gmailRoutes) {
    const handler = (upload: boolean) => async (request: FastifyRequest, reply: FastifyReply) =>
      sendResult(
        reply,
        await runGmail(state, route, {
          params: request.params as Record<string, string>,
          query: request.query as FormValues,
          body: request.body,
          contentType: request.headers["content-type"] ?? "",
          authorization: request.headers.authorization,
          upload,
        }),
      );
    app.route({ method: route.method, url: route.path, bodyLimit: route.uploadLimit ? JSON_BODY_LIMIT : undefined, handler: handler(false) });
    if (route.uploadLimit) {
      const upload = handler(true);
      app.route({
        method: route.method,
        url: `/upload${route.path}`,
        bodyLimit: UPLOAD_BODY_LIMIT,
        handler: async (request, reply) => {
          const query = request.query as FormValues;
          if (first(query.uploadType) !== "resumable") return upload(request, reply);
          // drafts.update opens its session with PUT, and its bytes come by PUT to the same path.
          return query.upload_id !== undefined ? resumable.put(request, reply) : resumable.start(route, request, reply);
        },
      });
      // The session URI of a POST method takes its bytes by PUT.
      if (route.method === "POST") {
        app.route({ method: "PUT", url: `/upload${route.path}`, bodyLimit: UPLOAD_BODY_LIMIT, handler: (request, reply) => resumable.put(request, reply) });
      }
    }
  }
}
