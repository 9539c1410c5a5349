import type { FastifyInstance } from "fastify";
import { errorResponses } from "../../schemas/common.ts";
import { listDescription, listQuery, resourceIdParams } from "../../schemas/connections.ts";
import { createIClientBody, iClientPageSchema, iClientSchema, updateIClientBody } from "../../schemas/iclients.ts";
import type { IClientStore } from "../../iclients/iclient-store.ts";
import type { CreateIClientInput, IClient, UpdateIClientInput } from "../../iclients/iclient.ts";
import { DAILY_WARNING_SHARE } from "../quota/daily.ts";
import type { PageRequest } from "../../core/paging.ts";

const tags = ["iclients"];
const bodyErrors = { ...errorResponses, 413: { $ref: "Error#" }, 415: { $ref: "Error#" } };

/** The day's Gmail units of an iClient (GmailRunner.dailyUsage). */
export type DailyUsage = (iClientId: string) => Promise<{ today: number; dailyLimit: number }>;

/** `/v1/iclients`: OAuth clients shared by connections. The secret is write-only. */
export async function iClientRoutes(app: FastifyInstance, deps: { iclients: IClientStore; usage?: DailyUsage }): Promise<void> {
  const { iclients } = deps;
  /** The iClient with its units of today (SPEC §2 "Quota budget"): a warning from 90 %. */
  const withUsage = async (ic: IClient) => {
    if (!deps.usage) return ic;
    const { today, dailyLimit } = await deps.usage(ic.id);
    return { ...ic, usage: { today, dailyLimit, warning: today >= dailyLimit * DAILY_WARNING_SHARE } };
  };

  app.get<{ Querystring: PageRequest }>(
    "/v1/iclients",
    { schema: { tags, summary: "List iClients", description: listDescription, querystring: listQuery, response: { 200: iClientPageSchema, ...errorResponses } } },
    async (request) => {
      const page = await iclients.list(request.account.id, request.query);
      return { ...page, items: await Promise.all(page.items.map(withUsage)) };
    },
  );

  app.post<{ Body: CreateIClientInput }>(
    "/v1/iclients",
    { schema: { tags, summary: "Create an iClient from clientId and clientSecret, or from Google's client JSON", body: createIClientBody, response: { 201: iClientSchema, ...bodyErrors } } },
    async (request, reply) => reply.status(201).send(await withUsage(await iclients.create(request.account.id, request.body))),
  );

  app.get<{ Params: { id: string } }>(
    "/v1/iclients/:id",
    { schema: { tags, summary: "Get an iClient", params: resourceIdParams, response: { 200: iClientSchema, ...errorResponses } } },
    async (request) => withUsage(await iclients.get(request.account.id, request.params.id)),
  );

  app.patch<{ Params: { id: string }; Body: UpdateIClientInput }>(
    "/v1/iclients/:id",
    { schema: { tags, summary: "Rename, rotate the secret or change the client id", params: resourceIdParams, body: updateIClientBody, response: { 200: iClientSchema, ...bodyErrors } } },
    async (request) => withUsage(await iclients.update(request.account.id, request.params.id, request.body)),
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/iclients/:id",
    {
      schema: {
        tags,
        summary: "Delete an iClient",
        description: "Refused with 409 in_use, listing the connections in details.connections, while connections use it.",
        params: resourceIdParams,
        response: { 204: { type: "null", description: "Deleted." }, ...errorResponses },
      },
    },
    async (request, reply) => {
      await iclients.delete(request.account.id, request.params.id);
      return reply.status(204).send();
    },
  );
}
