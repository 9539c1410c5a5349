import type { FastifyInstance } from "fastify";
import { errorResponses } from "../../schemas/common.ts";
import { applicationListSchema } from "../../schemas/applications.ts";
import { GMAIL_SCOPES, defaultScopes } from "../../connector/scopes.ts";

/** The application catalogue, built once from the connectors' scope lists. */
export const APPLICATIONS = Object.freeze([
  {
    id: "gmail",
    name: "Google Mail",
    scopes: GMAIL_SCOPES,
    defaultScopes,
    supports: { source: true, destination: true, lookup: true },
  },
  {
    // SPEC §2 "Archives": an mbox file, no OAuth and no connection.
    id: "archive",
    name: "Archive",
    scopes: [],
    defaultScopes: [],
    supports: { source: true, destination: true, lookup: false },
  },
]);

/** `GET /v1/applications`: what a connection can be made to, with each scope's sensitivity. */
export async function applicationRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    "/v1/applications",
    {
      schema: {
        tags: ["applications"],
        summary: "List the applications and their scope catalogues",
        response: { 200: applicationListSchema, ...errorResponses },
      },
    },
    async () => APPLICATIONS,
  );
}
