import type { FastifyInstance } from "fastify";
import { errorResponses } from "../../schemas/common.ts";
import {
  connectionPageSchema,
  connectionSchema,
  createConnectionBody,
  listDescription,
  listQuery,
  resourceIdParams,
  updateConnectionBody,
} from "../../schemas/connections.ts";
import type { ConnectionStore } from "../connections/connection-store.ts";
import type { CreateConnectionInput, UpdateConnectionInput } from "../connections/connection.ts";
import type { PageRequest } from "../../core/paging.ts";
import type { Revocation } from "../connections/revocation.ts";

const tags = ["connections"];
/** DELETE's answer when the connection is gone but Google did not confirm the revocation. */
const deletedWithRevocation = {
  type: "object",
  additionalProperties: false,
  required: ["id", "deleted", "revocation"],
  description: "Deleted here; the grant may still be alive at Google.",
  properties: {
    id: { type: "string" },
    deleted: { type: "boolean", enum: [true] },
    revocation: { ...connectionSchema.properties.revocation, type: "object" },
  },
} as const;
const bodyErrors = { ...errorResponses, 413: { $ref: "Error#" }, 415: { $ref: "Error#" } };

/** `/v1/connections`: named Gmail connections with their scopes, iClient and concurrency. */
export interface ConnectionRouteDeps {
  connections: ConnectionStore;
  /**
   * Deletes a connection; by default the store's delete. The app passes one that also revokes its
   * grant at Google and answers the revocation Google did not confirm, if any.
   */
  remove?: (accountId: string, id: string) => Promise<Revocation | null | void>;
}

export async function connectionRoutes(app: FastifyInstance, deps: ConnectionRouteDeps): Promise<void> {
  const { connections } = deps;
  const remove = deps.remove ?? ((accountId: string, id: string) => connections.delete(accountId, id));

  app.get<{ Querystring: PageRequest }>(
    "/v1/connections",
    { schema: { tags, summary: "List connections", description: listDescription, querystring: listQuery, response: { 200: connectionPageSchema, ...errorResponses } } },
    async (request) => connections.list(request.account.id, request.query),
  );

  app.post<{ Body: CreateConnectionInput }>(
    "/v1/connections",
    {
      schema: {
        tags,
        summary: "Create a connection (status unauthorized until authorized)",
        description:
          "iClientId is required unless a platform iClient is configured (400 iclient_required). A connection that sets borrowConcurrencyFrom may not set concurrencyLevel (400 invalid_borrowing); another account's iClient or lender answers 404.",
        body: createConnectionBody,
        response: { 201: connectionSchema, ...bodyErrors },
      },
    },
    async (request, reply) => reply.status(201).send(await connections.create(request.account.id, request.body)),
  );

  app.get<{ Params: { id: string } }>(
    "/v1/connections/:id",
    { schema: { tags, summary: "Get a connection", params: resourceIdParams, response: { 200: connectionSchema, ...errorResponses } } },
    async (request) => connections.get(request.account.id, request.params.id),
  );

  app.patch<{ Params: { id: string }; Body: UpdateConnectionInput }>(
    "/v1/connections/:id",
    {
      schema: {
        tags,
        summary: "Change a connection",
        description: "A borrowing chain that leads back to the connection answers 400 invalid_borrowing.",
        params: resourceIdParams,
        body: updateConnectionBody,
        response: { 200: connectionSchema, ...bodyErrors },
      },
    },
    async (request) => connections.update(request.account.id, request.params.id, request.body),
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/connections/:id",
    {
      schema: {
        tags,
        summary: "Delete a connection",
        description:
          "Refused with 409 in_use while other connections borrow from it or a flow uses it; details.connections and details.flows name them. An authorized connection's grant is revoked at Google after it is deleted: 204 when Google confirmed it (or there was nothing to revoke). When Google did not confirm, the connection and its tokens are deleted all the same, and the answer is 200 with `revocation: {status: \"failed\", at, error}`: the grant may still be alive at Google, and with the connection gone there is no Retry revoke; the Google account's owner can remove the app at https://myaccount.google.com/permissions.",
        params: resourceIdParams,
        response: { 200: deletedWithRevocation, 204: { type: "null", description: "Deleted (and revoked at Google when authorized)." }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const revocation = await remove(request.account.id, request.params.id);
      if (!revocation) return reply.status(204).send();
      request.log.warn({ connectionId: request.params.id, reason: revocation.error.message }, "deleted connection: revocation not confirmed");
      return reply.status(200).send({ id: request.params.id, deleted: true, revocation });
    },
  );
}
