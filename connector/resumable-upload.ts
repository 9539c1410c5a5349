/**
 * Resumable media uploads to Gmail (GOOGLE.md "Project quota and uploads"): `POST
 * …/upload/…?uploadType=resumable` with the JSON resource opens a session (its URI in `Location`),
 * then the bytes go in chunks with `Content-Range`. When a connection drops (or Google answers
 * 5xx) the upload asks Google where it stands (`Content-Range: bytes * /total`, no body) and goes
 * on from the offset Google reports, so a large message is never sent whole again and never
 * imported twice (a finished session answers the status query with the message).
 *
 * `@googleapis/gmail` cannot do this (its media uploads are `multipart` only, and gaxios has no
 * resumable support): this is the small glue, on the same authorized client as every other call.
 */
import type { gmail_v1 } from "@googleapis/gmail";
import type { GmailCallOptions } from "./gmail-client.ts";
import { ConnectorError, toConnectorError } from "./errors.ts";

/** Google's guidance: `media` and `multipart` for 5 MB or less, `resumable` above. */
export const RESUMABLE_THRESHOLD = 5 * 1024 * 1024;
/** Chunks must be multiples of 256 KiB (all but the last). */
export const CHUNK_GRANULE = 256 * 1024;
/** @defaultValue 8 MiB: a dropped connection costs at most this much sent again. */
export const DEFAULT_CHUNK_SIZE = 32 * CHUNK_GRANULE;
/** Interruptions in a row without progress before the upload gives up. */
export const MAX_STALLS = 5;
/** How long one request of the upload (a chunk, a status query) may take. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

export interface ResumableUpload {
  /** The method's upload path below the root URL, e.g. `upload/gmail/v1/users/me/messages/import`. */
  path: string;
  /** The method's query parameters (`uploadType` is added). */
  query?: Record<string, string>;
  /** The JSON resource sent when the session opens (labelIds, threadId, …). */
  metadata: Record<string, unknown>;
  media: Buffer;
  /** @defaultValue `message/rfc822` */
  mimeType?: string;
  /** @defaultValue {@link DEFAULT_CHUNK_SIZE} (rounded down to a multiple of 256 KiB) */
  chunkSize?: number;
  /** Waits between a dropped request and the status query; tests shorten it. @defaultValue 250 ms doubling to 8 s */
  backoffMs?: (stall: number) => number;
}

/** The upload session is gone at Google (expired or unknown): the upload must start over. */
export class UploadSessionLostError extends ConnectorError {
  readonly code = "upload_session_lost";
  constructor(options?: ErrorOptions) {
    super("Google no longer knows the resumable upload session; the upload starts over on the next attempt.", options);
    this.name = "UploadSessionLostError";
  }
}

interface Response<T> {
  status: number;
  data: T;
  headers: Headers | Record<string, unknown>;
}
interface Requester {
  request<T>(opts: Record<string, unknown>): Promise<Response<T>>;
}

type Step<T> = { done: T } | { offset: number };

/** Upload `upload.media` with a resumable session through the client's own authorization; returns the method's answer. */
export async function resumableUpload<T>(gmail: gmail_v1.Gmail, options: GmailCallOptions, upload: ResumableUpload): Promise<T> {
  const auth = gmail.context._options.auth as unknown as Requester | undefined;
  if (!auth || typeof auth.request !== "function") throw new Error("resumable upload: the Gmail client has no authorized transport");
  const total = upload.media.length;
  const mimeType = upload.mimeType ?? "message/rfc822";
  const chunk = Math.max(CHUNK_GRANULE, Math.floor((upload.chunkSize ?? DEFAULT_CHUNK_SIZE) / CHUNK_GRANULE) * CHUNK_GRANULE);
  const backoff = upload.backoffMs ?? ((n: number) => Math.min(8_000, 250 * 2 ** (n - 1)));
  const url = new URL(upload.path, options.rootUrl);
  for (const [k, v] of Object.entries({ ...upload.query, uploadType: "resumable" })) url.searchParams.set(k, v);

  let session: string;
  try {
    const opened = await auth.request<unknown>({
      url: url.toString(),
      method: "POST",
      headers: { "content-type": "application/json; charset=UTF-8", "x-upload-content-type": mimeType, "x-upload-content-length": String(total) },
      data: JSON.stringify(upload.metadata),
      timeout: DEFAULT_REQUEST_TIMEOUT_MS,
      retry: false,
    });
    const location = header(opened.headers, "location");
    if (!location) throw new Error("resumable upload: Google opened no session (no Location header)");
    session = location;
  } catch (err) {
    throw toConnectorError(err) ?? err;
  }

  /** One request on the session: 200/201 is the answer, 308 the offset Google holds. */
  const send = async (headers: Record<string, string>, data?: Buffer): Promise<Step<T>> => {
    const res = await auth.request<T>({
      url: session,
      method: "PUT",
      headers,
      data,
      timeout: DEFAULT_REQUEST_TIMEOUT_MS,
      retry: false,
      responseType: "json",
      validateStatus: (s: number) => s === 200 || s === 201 || s === 308,
    });
    if (res.status !== 308) return { done: res.data };
    // `Range: bytes=0-n` is what Google holds; none: nothing yet.
    const range = /bytes=0-(\d+)/.exec(header(res.headers, "range") ?? "");
    return { offset: range ? Number(range[1]) + 1 : 0 };
  };
  const put = (offset: number) => {
    const end = Math.min(offset + chunk, total);
    return send({ "content-type": mimeType, "content-range": `bytes ${offset}-${end - 1}/${total}` }, upload.media.subarray(offset, end));
  };
  const status = () => send({ "content-range": `bytes */${total}` });

  let offset = 0;
  let held = 0; // the most Google confirmed holding
  let stalls = 0;
  let ask = false; // the last request did not come back: ask where the upload stands
  for (;;) {
    let step: Step<T>;
    const asked = ask;
    try {
      step = asked ? await status() : await put(offset);
    } catch (err) {
      const status = (err as { response?: { status?: number } }).response?.status;
      if (status === 404 || status === 410) throw new UploadSessionLostError({ cause: err });
      if (!interrupted(status) || ++stalls > MAX_STALLS) throw toConnectorError(err) ?? err;
      ask = true;
      await new Promise((r) => setTimeout(r, backoff(stalls)));
      continue;
    }
    ask = false;
    if ("done" in step) return step.done;
    if (step.offset > total) throw new Error(`resumable upload: Google reports ${step.offset} of ${total} bytes`);
    if (step.offset > held) {
      held = step.offset;
      stalls = 0;
    } else if (!asked && ++stalls > MAX_STALLS) {
      throw new Error("resumable upload: Google accepted no more bytes");
    }
    offset = step.offset;
  }
}

/** No answer (a dropped connection, a timeout) or a 5xx: the bytes Google holds are asked for and the upload goes on. */
function interrupted(status: number | undefined): boolean {
  return status === undefined || status === 500 || status === 502 || status === 503 || status === 504;
}

function header(headers: Response<unknown>["headers"], name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === "string" ? v : undefined;
}
