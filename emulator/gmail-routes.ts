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
import { runGmail, type GmailResult, type GmailRoute } from "./gmail-pipeline.ts";
import type { FormValues } from "./form.ts";
import type { EmulatorState } from "./state.ts";
import { JSON_BODY_LIMIT, UPLOAD_BODY_LIMIT } from "./uploads.ts";

export const gmailRoutes: readonly GmailRoute[] = [
  ...messageReadRoutes,
  ...messageWriteRoutes,
  ...labelRoutes,
  ...draftRoutes,
  ...historyRoutes,
];

export function sendResult(reply: FastifyReply, result: GmailResult): FastifyReply {
  reply.code(result.status).headers(result.headers);
  if (result.body === undefined) return reply.send();
  return reply.type("application/json; charset=UTF-8").send(JSON.stringify(result.body));
}

export function registerGmail(app: FastifyInstance, state: EmulatorState): void {
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
      app.route({ method: route.method, url: `/upload${route.path}`, bodyLimit: UPLOAD_BODY_LIMIT, handler: handler(true) });
    }
  }
}
