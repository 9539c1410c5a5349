import type { FastifyInstance } from "fastify";
import { Readable } from "node:stream";
import { errorResponses } from "../../schemas/common.ts";
import { listDescription, listQuery } from "../../schemas/connections.ts";
import { ARCHIVE_MEDIA_TYPES, UPLOAD_DESCRIPTION, archiveIdParams, archivePageSchema, archiveSchema, uploadBody, uploadQuery } from "../../schemas/archives.ts";
import { ApiError } from "../../core/errors.ts";
import type { PageRequest } from "../../core/paging.ts";
import type { ArchiveStore } from "./archive-store.ts";
import { sendFile } from "./file-response.ts";

const tags = ["archives"];
const MBOX = "application/mbox";

/** `/v1/archives`: mbox files uploaded to restore from (and, listed beside them, those runs wrote). */
export async function archiveRoutes(app: FastifyInstance, deps: { archives: ArchiveStore }): Promise<void> {
  const { archives } = deps;
  // In this plugin's scope only: the body stays a stream, read by the handler (never buffered).
  app.addContentTypeParser([...ARCHIVE_MEDIA_TYPES], (_request, payload, done) => done(null, payload));

  app.get<{ Querystring: PageRequest }>(
    "/v1/archives",
    { schema: { tags, summary: "List archives", description: listDescription, querystring: listQuery, response: { 200: archivePageSchema, ...errorResponses } } },
    async (request) => archives.list(request.account.id, request.query),
  );

  app.post<{ Querystring: { name?: string } }>(
    "/v1/archives",
    {
      schema: {
        tags,
        summary: "Upload an mbox archive (streamed)",
        description: UPLOAD_DESCRIPTION,
        consumes: [...ARCHIVE_MEDIA_TYPES],
        querystring: uploadQuery,
        body: uploadBody,
        response: { 201: archiveSchema, ...errorResponses, 413: { $ref: "Error#" }, 415: { $ref: "Error#" }, 507: { $ref: "Error#" } },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (!(body instanceof Readable)) throw new ApiError("unsupported_media_type", `Send the archive as ${ARCHIVE_MEDIA_TYPES.join(" or ")}.`);
      const length = request.headers["content-length"];
      const name = request.query.name ?? `upload-${new Date().toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-")}.mbox`;
      try {
        const archive = await archives.importUpload(request.account.id, body, { name, contentLength: length === undefined ? undefined : Number(length) });
        return reply.status(201).send(archive);
      } catch (err) {
        // The rest of the body is not read: close the connection after the answer.
        if (!body.readableEnded) reply.header("connection", "close");
        throw err;
      }
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/archives/:id",
    { schema: { tags, summary: "Get an archive", params: archiveIdParams, response: { 200: archiveSchema, ...errorResponses } } },
    async (request) => archives.get(request.account.id, request.params.id),
  );

  app.get<{ Params: { id: string } }>(
    "/v1/archives/:id/download",
    {
      schema: {
        tags,
        summary: "Download an archive (application/mbox)",
        description: "Streams the mbox file with Content-Length; resumable with Range (206, or 416 outside the file) and If-Range. 409 while a run is still writing it.",
        params: archiveIdParams,
        produces: [MBOX],
        response: { 200: { description: "The mbox file.", type: "string", format: "binary" }, 206: { description: "The requested range.", type: "string", format: "binary" }, ...errorResponses, 416: { $ref: "Error#" } },
      },
    },
    async (request, reply) => {
      const { archive, fileName } = await archives.file(request.account.id, request.params.id);
      if (archive.status !== "complete") throw new ApiError("conflict", `The archive is ${archive.status === "writing" ? "still being written" : "incomplete: its run failed"}.`);
      const downloadName = /\.mbox$/i.test(archive.name) ? archive.name : `${archive.name}.mbox`;
      return sendFile(request, reply, { root: archives.dir, fileName, contentType: MBOX, downloadName });
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/archives/:id",
    { schema: { tags, summary: "Delete an archive and its file", params: archiveIdParams, response: { 204: { type: "null", description: "Deleted." }, ...errorResponses } } },
    async (request, reply) => {
      await archives.delete(request.account.id, request.params.id);
      return reply.status(204).send();
    },
  );
}
