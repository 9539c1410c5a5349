/**
 * Resumable uploads (GOOGLE.md "Project quota and uploads"): `POST …?uploadType=resumable` with
 * the JSON resource and `X-Upload-Content-Type`/`X-Upload-Content-Length` opens a session and
 * answers 200 with its URI in `Location`; `PUT` to that URI sends the bytes, whole or in chunks
 * with `Content-Range: bytes a-b/total`; each incomplete chunk answers `308 Resume Incomplete`
 * with `Range: bytes=0-n`, and `Content-Range: bytes * /total` with no body asks where the upload
 * stands. The last byte runs the method itself, through the same pipeline as any call; the
 * session then keeps that answer, so a client whose connection dropped before it read it learns
 * the outcome from a status query (as at Google) instead of uploading the message a second time.
 */
import { randomBytes } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { bearer } from "./auth.ts";
import { apiError, BadInput, GoogleError, notFound, uploadTooLarge } from "./errors.ts";
import { first, type FormValues } from "./form.ts";
import { jsonBody, mayCall, runGmail, type GmailResult, type GmailRoute } from "./gmail-pipeline.ts";
import type { EmulatorState } from "./state.ts";

/** Google keeps an unfinished session for a week. */
export const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** The resource and bytes of a finished session, handed to the method as its upload. */
export class ResumableBody {
  constructor(
    readonly metadata: unknown,
    readonly raw: Buffer,
  ) {}
}

interface Session {
  route: GmailRoute;
  params: Record<string, string>;
  query: FormValues;
  authorization: string | undefined;
  contentType: string;
  metadata: unknown;
  total?: number;
  chunks: Buffer[];
  received: number;
  expiresAt: number;
  /** The method's answer once the last byte arrived; every later request on the session gets it again. */
  done?: GmailResult;
}

function result(reply: FastifyReply, r: GmailResult): FastifyReply {
  reply.code(r.status).headers(r.headers);
  if (r.body === undefined) return reply.send();
  return reply.type("application/json; charset=UTF-8").send(JSON.stringify(r.body));
}

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof GoogleError) return result(reply, { status: err.statusCode, body: err.body, headers: err.headers });
  if (err instanceof BadInput) return result(reply, { status: err.statusCode, body: apiError(err.statusCode, err.message, err.reason).body, headers: {} });
  throw err;
}

function length(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new BadInput(`Invalid X-Upload-Content-Length: ${text.slice(0, 40)}`);
  return n;
}

/** `bytes a-b/total`, `bytes a-b/*` or `bytes * /total`. */
function contentRange(header: string | undefined): { start?: number; end?: number; total?: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(header.trim());
  if (!m) throw new BadInput(`Invalid Content-Range: ${header.slice(0, 60)}`);
  const num = (s: string | undefined) => (s === undefined || s === "*" ? undefined : Number(s));
  const range = { start: num(m[1]), end: num(m[2]), total: num(m[3]) };
  if (range.start !== undefined && range.end! < range.start) throw new BadInput(`Invalid Content-Range: ${header.slice(0, 60)}`);
  return range;
}

/** The resumable side of the `/upload` routes of one emulator: its sessions live here. */
export class ResumableUploads {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly state: EmulatorState) {}

  /** Opens a session: the caller and the resource are checked now, the method runs at the last byte. */
  start(route: GmailRoute, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    try {
      const params = request.params as Record<string, string>;
      mayCall(route, params, bearer(this.state, request.headers.authorization));
      const metadata = route.body ? route.body(jsonBody(request.body)) : {};
      const total = length(request.headers["x-upload-content-length"]);
      const limit = route.uploadLimit ?? 0;
      if (total !== undefined && total > limit) throw uploadTooLarge(limit);
      this.prune();
      const id = `ADPycd${randomBytes(24).toString("base64url")}`;
      const { uploadType: _, ...query } = request.query as FormValues;
      this.sessions.set(id, {
        route,
        params,
        query,
        authorization: request.headers.authorization,
        contentType: first(request.headers["x-upload-content-type"]) ?? "message/rfc822",
        metadata,
        total,
        chunks: [],
        received: 0,
        expiresAt: this.state.now() + SESSION_TTL_MS,
      });
      const [path, search = ""] = request.url.split("?");
      const location = new URLSearchParams(search);
      location.set("upload_id", id);
      return reply.code(200).header("location", `${request.protocol}://${request.host}${path}?${location}`).header("x-guploader-uploadid", id).send();
    } catch (err) {
      return fail(reply, err);
    }
  }

  /** Takes the bytes of a session, whole or one chunk at a time. */
  async put(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    try {
      const id = first((request.query as FormValues).upload_id) ?? "";
      const session = this.sessions.get(id);
      if (!session || this.state.now() > session.expiresAt) throw notFound();
      if (session.done) return result(reply, session.done);
      const body = request.body;
      if (body !== undefined && body !== null && !Buffer.isBuffer(body)) {
        throw new BadInput("Send the bytes of a resumable upload with the media's Content-Type, not as JSON or a form.");
      }
      const bytes = body ?? Buffer.alloc(0);
      const range = contentRange(request.headers["content-range"]);
      const total = range ? range.total : session.received + bytes.length;
      if (total !== undefined && session.total !== undefined && total !== session.total) {
        throw new BadInput(`Content-Range total ${total} does not match X-Upload-Content-Length ${session.total}.`);
      }
      session.total = total ?? session.total;
      const limit = session.route.uploadLimit ?? 0;
      if (session.total !== undefined && session.total > limit) throw uploadTooLarge(limit);
      if (range?.start !== undefined) {
        if (range.start !== session.received) {
          throw new BadInput(`Invalid request. The Content-Range offset ${range.start} does not match the ${session.received} bytes already received.`);
        }
        if (range.end! - range.start + 1 !== bytes.length) throw new BadInput("Content-Range does not match the length of the body.");
      } else if (range && bytes.length > 0) {
        throw new BadInput("A status query (bytes */total) carries no body.");
      }
      if (bytes.length) {
        session.chunks.push(bytes);
        session.received += bytes.length;
      }
      if (session.total !== undefined && session.received > session.total) throw new BadInput("More bytes than the declared total.");
      if (session.total === undefined || session.received < session.total) {
        reply.code(308);
        if (session.received > 0) reply.header("range", `bytes=0-${session.received - 1}`);
        return reply.send();
      }
      const raw = Buffer.concat(session.chunks);
      session.chunks = [];
      const answer = await runGmail(this.state, session.route, {
        params: session.params,
        query: { ...session.query, uploadType: "resumable" },
        body: new ResumableBody(session.metadata, raw),
        contentType: session.contentType,
        // A fresher token on the last chunk wins; the session's own otherwise.
        authorization: request.headers.authorization ?? session.authorization,
        upload: true,
      });
      if (answer.status >= 200 && answer.status < 300) {
        session.done = answer;
      } else {
        // A refusal (quota, a fault): the last chunk is not kept, so the client resumes by sending it again.
        session.received -= bytes.length;
        session.chunks = [raw.subarray(0, session.received)];
      }
      return result(reply, answer);
    } catch (err) {
      return fail(reply, err);
    }
  }

  private prune(): void {
    const now = this.state.now();
    for (const [id, s] of this.sessions) if (now > s.expiresAt) this.sessions.delete(id);
  }
}
