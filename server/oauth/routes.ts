/**
 * Save & authorize over HTTP: start an attempt, the fixed callback, test and
 * deauthorize a connection.
 */
import type { FastifyInstance } from "fastify";
import { errorResponses, idParams } from "../../schemas/common.ts";
import { authorizeResponse, callbackQuery, emptyBody, testResponse } from "../../schemas/oauth.ts";
import { connectionSchema } from "../../schemas/connections.ts";
import { ConnectorError } from "../../connector/errors.ts";
import type { ConnectionStore } from "../connections/connection-store.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { AuthorizationService } from "./authorization-service.ts";
import { ConnectionUnavailableError } from "./connection-errors.ts";
import { callbackPage } from "./callback-page.ts";

export interface OAuthRouteDeps {
  authorization: AuthorizationService;
  connections: ConnectionStore;
  gmail: GmailRunner;
  /** The service's own origin: the only one the callback page posts its result to. */
  origin: string;
}

type ById = { Params: { id: string } };

export async function oauthRoutes(app: FastifyInstance, deps: OAuthRouteDeps): Promise<void> {
  const tags = ["connections"];

  app.post<ById>(
    "/v1/connections/:id/authorize",
    { schema: { tags, params: idParams, body: { ...emptyBody, nullable: true }, response: { 200: authorizeResponse, ...errorResponses } } },
    async (request) => deps.authorization.start(request.account.id, request.params.id),
  );

  app.post<ById>(
    "/v1/connections/:id/deauthorize",
    {
      schema: {
        tags,
        description:
          "Revokes the grant at Google and sets the connection unauthorized. The local tokens are dropped whatever Google answers; when Google does not confirm, the answer's `revocation` says the grant may still be alive (retry with /revoke).",
        params: idParams,
        body: { ...emptyBody, nullable: true },
        response: { 200: connectionSchema, ...errorResponses },
      },
    },
    async (request) => {
      await deps.authorization.deauthorize(request.account.id, request.params.id);
      const connection = await deps.connections.get(request.account.id, request.params.id);
      if (connection.revocation) request.log.warn({ connectionId: connection.id, reason: connection.revocation.error.message }, "revocation not confirmed");
      return connection;
    },
  );

  app.post<ById>(
    "/v1/connections/:id/revoke",
    {
      schema: {
        tags,
        summary: "Retry revoke",
        description:
          "Sends a revocation Google did not confirm again. The answer's `revocation` is null once Google confirmed it, else the new failure. 409 when none is pending.",
        params: idParams,
        body: { ...emptyBody, nullable: true },
        response: { 200: connectionSchema, ...errorResponses },
      },
    },
    async (request) => {
      await deps.authorization.retryRevoke(request.account.id, request.params.id);
      return deps.connections.get(request.account.id, request.params.id);
    },
  );

  app.post<ById>(
    "/v1/connections/:id/test",
    { schema: { tags, params: idParams, body: { ...emptyBody, nullable: true }, response: { 200: testResponse, ...errorResponses } } },
    async (request) => {
      try {
        const profile = await deps.gmail.run(request.account.id, request.params.id, "getProfile", (g, options) =>
          g.users.getProfile({ userId: "me" }, options),
        );
        return { ok: true, email: profile.data.emailAddress };
      } catch (err) {
        if (err instanceof ConnectionUnavailableError || err instanceof ConnectorError) {
          request.log.info({ connectionId: request.params.id, code: err.code }, "connection test failed");
          return { ok: false, error: { code: err.code, message: err.message } };
        }
        throw err;
      }
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>(
    "/oauth2/callback",
    // Google's redirect carries no API token: the single-use state names the account and connection.
    { config: { public: true }, schema: { tags: ["oauth"], summary: "The fixed OAuth redirect URI (the state identifies the attempt)", querystring: callbackQuery } },
    async (request, reply) => {
      const result = await deps.authorization.complete(request.query);
      request.log.info({ connectionId: result.connectionId, ok: result.ok, code: result.error?.code }, "oauth callback");
      return reply
        .status(result.ok ? 200 : 400)
        .header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
        .type("text/html; charset=utf-8")
        .send(callbackPage(result, deps.origin));
    },
  );
}
