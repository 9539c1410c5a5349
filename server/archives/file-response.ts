/**
 * Send a file as a download with `Content-Length`, `Accept-Ranges`, `ETag` and
 * `Last-Modified`, resumable with `Range` (206; 416 with `Content-Range: bytes
 * *\/size` when the range is outside the file) and `If-Range`, through
 * @fastify/send. Errors are answered in the API's error shape. Used for
 * `GET /v1/archives/:id/download` and, next, `GET /v1/runs/:id/archive`.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import send from "@fastify/send";
import { ApiError } from "../../core/errors.ts";

export interface SendFileOptions {
  /** The directory the file is in. */
  root: string;
  /** The file's name inside `root` (a name the service made, never the caller's). */
  fileName: string;
  contentType: string;
  /** The name offered to the browser in `Content-Disposition: attachment`. */
  downloadName: string;
}

/** `attachment` with an ASCII fallback and the RFC 8187 UTF-8 form of the name. */
export function attachmentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

export async function sendFile(request: FastifyRequest, reply: FastifyReply, opts: SendFileOptions): Promise<FastifyReply> {
  const result = await send(request.raw, `/${encodeURIComponent(opts.fileName)}`, {
    root: opts.root,
    dotfiles: "deny",
    index: false,
    extensions: false,
    cacheControl: false,
    contentType: false,
  });
  if (result.type !== "file") {
    result.stream.destroy();
    if (result.statusCode === 416) {
      reply.header("content-range", result.headers["Content-Range"] ?? result.headers["content-range"]);
      throw new ApiError("range_not_satisfiable");
    }
    if (result.statusCode === 412) {
      return reply.status(412).send({ error: { code: "precondition_failed", message: "The file changed since the version the request names." } });
    }
    if (result.statusCode === 404 || result.type === "directory") throw new ApiError("not_found", "The archive's file is missing.");
    throw new ApiError("internal_error", undefined, undefined, { cause: result.type === "error" ? result.metadata.error : undefined });
  }
  return reply
    .status(result.statusCode)
    .headers(result.headers)
    .header("content-type", opts.contentType)
    .header("content-disposition", attachmentDisposition(opts.downloadName))
    .header("cache-control", "private, no-cache")
    .send(result.stream);
}
