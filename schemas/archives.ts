/**
 * Request and response shapes of `/v1/archives` (SPEC §2 "Archives"). The TypeScript type of an
 * archive is derived from its schema ({@link Archive}), so the server and the panel share one shape.
 */
import type { FromSchema } from "json-schema-to-ts";
import { idPattern, pageOf, resourceName } from "./connections.ts";

/** The media types an upload may be sent as. */
export const ARCHIVE_MEDIA_TYPES = ["application/mbox", "application/octet-stream"] as const;

export const archiveSchema = {
  type: "object",
  additionalProperties: false,
  required: ["id", "name", "origin", "runId", "status", "sizeBytes", "messageCount", "firstDate", "lastDate", "createdAt", "updatedAt"],
  properties: {
    id: { type: "string", pattern: idPattern },
    name: { type: "string" },
    origin: { type: "string", enum: ["upload", "run"], description: "upload: sent with POST /v1/archives; run: written by a flow run's archive destination." },
    runId: { type: ["string", "null"], description: "The run that wrote it (origin run)." },
    status: { type: "string", enum: ["writing", "complete", "failed"], description: "writing while a run appends to it; only a complete archive is downloaded or restored." },
    sizeBytes: { type: "integer" },
    messageCount: { type: "integer" },
    firstDate: { type: ["string", "null"], format: "date-time", description: "Earliest date of a From line." },
    lastDate: { type: ["string", "null"], format: "date-time", description: "Latest date of a From line." },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
} as const;

/** An mbox archive as the API shows it: uploaded, or written by a run's archive destination. */
export type Archive = FromSchema<typeof archiveSchema>;

export const archivePageSchema = pageOf(archiveSchema, "archives");

export const archiveIdParams = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", minLength: 1, maxLength: 64, pattern: idPattern } },
} as const;

export const uploadQuery = {
  type: "object",
  additionalProperties: false,
  properties: { name: { ...resourceName, description: "The archive's name, 1..100 characters (default: upload-<time>.mbox)." } },
} as const;

export const UPLOAD_DESCRIPTION =
  "The body is the mbox file itself (mboxrd, RFC 4155, as Google Takeout and Thunderbird write it), sent as application/mbox or application/octet-stream, up to 10 GiB. " +
  "It is streamed to disk and parsed on the way: a bad or truncated file answers 400 invalid_archive naming the line (details.line) and nothing is kept; " +
  "413 past 10 GiB; 507 insufficient_storage when the disk lacks the space (checked against Content-Length before anything is written, and while writing). " +
  "Each message's labels are read from X-Gmail-Labels and its date from its From line.";

/**
 * The upload's body in the OpenAPI document: the mbox bytes. No `type`, so validation lets
 * the stream through (the parser checks it); a JSON body still gets 415 from the handler.
 */
export const uploadBody = { format: "binary", description: "The mbox file (application/mbox or application/octet-stream)." } as const;
