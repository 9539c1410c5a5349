/**
 * `/v1/flows`, `/v1/runs` and `POST /v1/connections/:id/lookup`: flows with a
 * Gmail source and Gmail destinations, their runs, and finding messages.
 */
import type { FastifyInstance } from "fastify";
import { errorResponses } from "../../schemas/common.ts";
import { listQuery, resourceIdParams } from "../../schemas/connections.ts";
import { createFlowBody, flowPageSchema, flowSchema, lookupBody, lookupResult, runPageSchema, runSchema, updateFlowBody } from "../../schemas/flows.ts";
import { lookupMessages } from "../../connector/gmail-export.ts";
import { ConnectorError, GoogleApiError } from "../../connector/errors.ts";
import { ConnectionUnavailableError } from "../oauth/connection-errors.ts";
import { ApiError, ERROR_CODES, type ErrorCode } from "../../core/errors.ts";
import type { GmailRunner } from "../gmail-runner.ts";
import type { PageRequest } from "../../core/paging.ts";
import type { Flows } from "../flows/index.ts";
import type { TriggerInput, Triggers } from "../triggers/index.ts";
import type { FlowInput } from "../flows/flow.ts";
import { publicRun } from "../flows/run-store.ts";
import { isArchiveSource } from "../flows/flow.ts";
import { sendFile } from "../archives/file-response.ts";

/** A Gmail trigger watches the source mailbox: an archive source has none. */
function checkArchiveTrigger(body: Partial<FlowInput> & TriggerInput, current?: { source: FlowInput["source"] }): void {
  const source = body.source ?? current?.source;
  if (source && isArchiveSource(source) && (body.trigger as { type?: string } | undefined)?.type === "gmail") {
    throw new ApiError("validation_failed", "body.trigger a Gmail trigger needs a Google Mail source: an archive source has no mailbox to watch.", [
      { field: "body.trigger.type", message: "needs a Google Mail source" },
    ]);
  }
}

const bodyErrors = { ...errorResponses, 413: { $ref: "Error#" }, 415: { $ref: "Error#" } };
type Id = { Params: { id: string } };

/** A connector or connection error as the API reports it (409 for an unusable connection, 502 for Google). */
function toApi(err: unknown): unknown {
  if (err instanceof ConnectionUnavailableError || err instanceof ConnectorError) {
    const code = (err.code in ERROR_CODES ? err.code : err instanceof GoogleApiError ? "google_error" : "connection_offline") as ErrorCode;
    return new ApiError(code, err.message, err instanceof GoogleApiError ? { googleStatus: err.status, reason: err.reason } : undefined, { cause: err });
  }
  return err;
}

export async function flowRoutes(app: FastifyInstance, deps: { flows: Flows; gmail: GmailRunner; triggers: Triggers }): Promise<void> {
  const { triggers } = deps;
  const { flows, runs, queue, runner } = deps.flows;
  const tags = ["flows"];

  app.get<{ Querystring: PageRequest }>(
    "/v1/flows",
    { schema: { tags, summary: "List flows", querystring: listQuery, response: { 200: flowPageSchema, ...errorResponses } } },
    async (request) => {
      const page = await flows.list(request.account.id, request.query);
      return { ...page, items: await triggers.viewAll(page.items) };
    },
  );

  app.post<{ Body: FlowInput }>(
    "/v1/flows",
    {
      schema: {
        tags,
        summary: "Create a flow",
        description:
          "Every connection must be the account's own Google Mail connection (404 otherwise). addLabels, removeLabels and trash act on the source's own messages, so their destination must be the source connection (400).",
        body: createFlowBody,
        response: { 201: flowSchema, ...bodyErrors },
      },
    },
    async (request, reply) => {
      const body = request.body as FlowInput & TriggerInput;
      checkArchiveTrigger(body);
      await triggers.check(request.account.id, body);
      const flow = await flows.create(request.account.id, body);
      await triggers.save(request.account.id, flow, body);
      return reply.status(201).send(await triggers.view(flow));
    },
  );

  app.get<Id>("/v1/flows/:id", { schema: { tags, summary: "Get a flow", params: resourceIdParams, response: { 200: flowSchema, ...errorResponses } } }, async (request) =>
    triggers.view(await flows.get(request.account.id, request.params.id)),
  );

  app.patch<Id & { Body: Partial<FlowInput> }>(
    "/v1/flows/:id",
    { schema: { tags, summary: "Change a flow", params: resourceIdParams, body: updateFlowBody, response: { 200: flowSchema, ...bodyErrors } } },
    async (request) => {
      const body = request.body as Partial<FlowInput> & TriggerInput;
      const current = await flows.get(request.account.id, request.params.id);
      checkArchiveTrigger(body, current);
      await triggers.check(request.account.id, body, current);
      const flow = await flows.update(request.account.id, request.params.id, body);
      await triggers.save(request.account.id, flow, body, { sourceChanged: flow.source.connectionId !== current.source.connectionId });
      return triggers.view(flow);
    },
  );

  app.delete<Id>(
    "/v1/flows/:id",
    { schema: { tags, summary: "Delete a flow (and its runs)", params: resourceIdParams, response: { 204: { type: "null", description: "Deleted." }, ...errorResponses } } },
    async (request, reply) => {
      await flows.delete(request.account.id, request.params.id);
      await triggers.remove(request.params.id);
      return reply.status(204).send();
    },
  );

  app.post<Id>(
    "/v1/flows/:id/run",
    {
      schema: {
        tags,
        summary: "Run a flow",
        description: "409 while another run of the flow is queued or running.",
        params: resourceIdParams,
        response: { 202: { type: "object", required: ["runId"], properties: { runId: { type: "string" } } }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const flow = await flows.get(request.account.id, request.params.id);
      const run = await runs.create(request.account.id, flow.id);
      await queue.enqueue(run.id);
      return reply.status(202).send({ runId: run.id });
    },
  );

  app.get<Id & { Querystring: PageRequest }>(
    "/v1/flows/:id/runs",
    { schema: { tags, summary: "List a flow's runs", params: resourceIdParams, querystring: listQuery, response: { 200: runPageSchema, ...errorResponses } } },
    async (request) => {
      await flows.get(request.account.id, request.params.id);
      return runs.listForFlow(request.account.id, request.params.id, request.query);
    },
  );

  app.get<Id>("/v1/runs/:id", { schema: { tags, summary: "Get a run", params: resourceIdParams, response: { 200: runSchema, ...errorResponses } } }, async (request) =>
    publicRun(await runs.get(request.account.id, request.params.id)),
  );

  app.get<Id>(
    "/v1/runs/:id/archive",
    {
      schema: {
        tags,
        summary: "Download the archive a run wrote (application/mbox)",
        description:
          "The mboxrd file of a run with an archive destination, streamed with Content-Length; resumable with Range (206, or 416 outside the file) and If-Range. 404 when the run wrote none; 409 while the run still writes it or when it failed.",
        params: resourceIdParams,
        produces: ["application/mbox"],
        response: {
          200: { description: "The mbox file.", type: "string", format: "binary" },
          206: { description: "The requested range.", type: "string", format: "binary" },
          ...errorResponses,
          416: { $ref: "Error#" },
        },
      },
    },
    async (request, reply) => {
      const { archives } = app;
      const run = await runs.get(request.account.id, request.params.id);
      const archive = await archives.forRun(request.account.id, run.id);
      if (!archive) throw new ApiError("not_found", "This run wrote no archive.");
      if (archive.status !== "complete") throw new ApiError("conflict", `The run's archive is ${archive.status === "writing" ? "still being written" : "incomplete: its run failed"}.`);
      const { fileName } = await archives.file(request.account.id, archive.id);
      const downloadName = /\.mbox$/i.test(archive.name) ? archive.name : `${archive.name}.mbox`;
      return sendFile(request, reply, { root: archives.dir, fileName, contentType: "application/mbox", downloadName });
    },
  );

  app.post<Id>(
    "/v1/runs/:id/cancel",
    {
      schema: {
        tags,
        summary: "Cancel a queued or running run",
        description: "Records already delivered stay delivered. 409 run_not_active when the run has already succeeded or failed.",
        params: resourceIdParams,
        response: { 200: runSchema, ...errorResponses },
      },
    },
    async (request) => {
      const run = await runs.cancel(request.account.id, request.params.id);
      runner.cancelLocal(run.id);
      return publicRun(run);
    },
  );

  app.post<Id & { Body: { query: string; maxResults: number } }>(
    "/v1/connections/:id/lookup",
    {
      schema: {
        tags,
        summary: "Find messages by a Gmail query",
        params: resourceIdParams,
        body: lookupBody,
        response: { 200: lookupResult, ...bodyErrors, 403: { $ref: "Error#" }, 502: { $ref: "Error#" } },
      },
    },
    async (request) => {
      const { id } = request.params;
      try {
        const messages = await lookupMessages((method, fn) => deps.gmail.run(request.account.id, id, method, fn), request.body.query, request.body.maxResults);
        return { messages };
      } catch (err) {
        throw toApi(err);
      }
    },
  );
}
