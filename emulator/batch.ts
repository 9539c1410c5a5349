/**
 * The batch endpoint (`/batch/gmail/v1` and `/batch`): a `multipart/mixed` body of
 * `application/http` parts, each an inner request by path, answered in order as
 * `multipart/mixed` with `Content-ID: response-<id>`. Every inner call runs through the same
 * pipeline as a direct call, so each counts against quota.
 */
import { randomBytes } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { FastifyInstance } from "fastify";
import { apiError, BadInput, badRequest, GoogleError, notFound } from "./errors.ts";
import { parseForm } from "./form.ts";
import { matchRoute, runGmail, type GmailResult } from "./gmail-pipeline.ts";
import { gmailRoutes } from "./gmail-routes.ts";
import { splitMultipart } from "./multipart.ts";
import type { EmulatorState } from "./state.ts";

export const MAX_BATCH_CALLS = 100;

interface InnerRequest {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Reads one `application/http` part: request line, headers, blank line, body. */
function parseInner(bytes: Buffer): InnerRequest {
  const text = bytes.toString("latin1");
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  const bodyStart = split ? split.index + split[0].length : text.length;
  const [requestLine = "", ...lines] = head.split(/\r?\n/);
  const [method = "GET", target = "/"] = requestLine.trim().split(/\s+/);
  let url: URL;
  try {
    url = new URL(target, "http://batch.invalid");
  } catch {
    throw new BadInput(`Invalid request URL in batch part: ${target.slice(0, 100)}`, "badRequest");
  }
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { method, path: url.pathname, search: url.search, headers, body: bytes.subarray(Buffer.byteLength(text.slice(0, bodyStart), "latin1")) };
}

async function runInner(state: EmulatorState, prefix: string, inner: InnerRequest, authorization: string | undefined): Promise<GmailResult> {
  const path = prefix && inner.path.startsWith(`${prefix}/`) ? inner.path.slice(prefix.length) : inner.path;
  const fail = (err: GoogleError): GmailResult => ({ status: err.statusCode, body: err.body, headers: {} });
  if (path.startsWith("/upload/")) return fail(badRequest("Uploads are not supported in batch requests."));
  let match: ReturnType<typeof matchRoute>;
  try {
    match = matchRoute(gmailRoutes, inner.method, path);
  } catch (err) {
    if (err instanceof BadInput) return fail(badRequest(err.message, err.reason));
    throw err;
  }
  if (!match) return fail(notFound());
  let body: unknown;
  if (inner.body.length && inner.body.toString("utf8").trim()) {
    try {
      body = JSON.parse(inner.body.toString("utf8"));
    } catch {
      return fail(badRequest("Invalid JSON payload received."));
    }
  }
  return runGmail(state, match.route, {
    params: match.params,
    query: parseForm(inner.search.slice(1)),
    body,
    contentType: inner.headers["content-type"] ?? "application/json",
    authorization: inner.headers.authorization ?? authorization,
    upload: false,
  });
}

function responseId(contentId: string | undefined, index: number): string {
  if (!contentId) return `response-${index + 1}`;
  const wrapped = /^<(.*)>$/.exec(contentId);
  return wrapped ? `<response-${wrapped[1]}>` : `response-${contentId}`;
}

export function batchRoutes(app: FastifyInstance, state: EmulatorState, prefix: string): void {
  const handler = async (request: import("fastify").FastifyRequest, reply: import("fastify").FastifyReply) => {
    const contentType = request.headers["content-type"] ?? "";
    if (!/^multipart\/mixed/i.test(contentType) || !/boundary=/i.test(contentType)) {
      throw badRequest("Batch requests must be multipart/mixed with a boundary.");
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const parts = await splitMultipart(contentType, body);
    if (parts.length === 0) throw badRequest("Batch request contains no parts.");
    if (parts.length > MAX_BATCH_CALLS) throw apiError(400, `Too many requests in batch: at most ${MAX_BATCH_CALLS}.`, "batchSizeTooLarge");
    const boundary = `batch_${randomBytes(12).toString("base64url")}`;
    const chunks: string[] = [];
    for (const [index, part] of parts.entries()) {
      let result: GmailResult;
      try {
        result = await runInner(state, prefix, parseInner(part.body), request.headers.authorization);
      } catch (err) {
        if (!(err instanceof BadInput)) throw err;
        result = { status: 400, body: badRequest(err.message, err.reason).body, headers: {} };
      }
      const contentId = part.headers.find((h) => h.name.toLowerCase() === "content-id")?.value;
      const json = result.body === undefined ? "" : JSON.stringify(result.body);
      chunks.push(
        `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: ${responseId(contentId, index)}\r\n\r\n` +
          `HTTP/1.1 ${result.status} ${STATUS_CODES[result.status] ?? ""}\r\n` +
          (json ? `Content-Type: application/json; charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` : "") +
          `\r\n${json}\r\n`,
      );
    }
    chunks.push(`--${boundary}--\r\n`);
    return reply.type(`multipart/mixed; boundary=${boundary}`).send(chunks.join(""));
  };
  app.post("/batch/gmail/v1", handler);
  app.post("/batch", handler);
}
