/**
 * Getting the message bytes out of a call: JSON `raw` (base64url), or the `/upload` forms
 * `uploadType=media` (the body is the message), `uploadType=multipart` (JSON metadata, then
 * the message) and a finished `uploadType=resumable` session (resumable.ts).
 */
import { badRequest, uploadTooLarge } from "./errors.ts";
import { first } from "./form.ts";
import type { GmailCall } from "./gmail-pipeline.ts";
import { splitMultipart } from "./multipart.ts";
import { ResumableBody } from "./resumable.ts";

export const MB = 1024 * 1024;
/** 35 MB for send and drafts, 50 MB for insert and import (GOOGLE.md "Messages"). */
export const SEND_LIMIT = 35 * MB;
export const INSERT_LIMIT = 50 * MB;
/** Request body limits: the upload itself plus room for multipart framing, or base64 in JSON. */
export const UPLOAD_BODY_LIMIT = INSERT_LIMIT + MB;
export const JSON_BODY_LIMIT = Math.ceil((INSERT_LIMIT * 4) / 3) + MB;

export interface Upload {
  /** The JSON resource (Message or Draft) sent with the call. */
  metadata: Record<string, unknown>;
  /** The message bytes, if any were sent. */
  raw?: Buffer;
}

export function decodeRaw(value: unknown): Buffer | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  // Node's base64 decoder reads both the standard and the URL-safe alphabet, padded or not.
  return Buffer.from(value, "base64");
}

function objectOf(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Buffer.isBuffer(value) ? (value as Record<string, unknown>) : {};
}

/**
 * Reads the upload. `messageOf` picks the Message out of the resource (the resource itself for
 * messages, `.message` for drafts).
 */
export async function readUpload(
  call: GmailCall,
  messageOf: (resource: Record<string, unknown>) => Record<string, unknown>,
  limit: number,
): Promise<Upload> {
  let upload: Upload;
  if (!call.upload) {
    const metadata = objectOf(call.body);
    upload = { metadata, raw: decodeRaw(messageOf(metadata).raw) };
  } else {
    const uploadType = first(call.query.uploadType) ?? "media";
    if (call.body instanceof ResumableBody) {
      // A finished resumable session: its resource was checked when it was opened.
      const upload = { metadata: objectOf(call.body.metadata), raw: call.body.raw };
      if (upload.raw.length > limit) throw uploadTooLarge(limit);
      return upload;
    }
    const body = Buffer.isBuffer(call.body) ? call.body : Buffer.from(typeof call.body === "string" ? call.body : "");
    if (uploadType === "media") {
      upload = { metadata: {}, raw: body };
    } else if (uploadType === "multipart") {
      const [meta, media] = await splitMultipart(call.contentType, body);
      if (!meta || !media) throw badRequest("Multipart upload needs a metadata part and a media part.");
      let parsed: unknown;
      try {
        parsed = JSON.parse(meta.body.toString("utf8") || "{}");
      } catch {
        throw badRequest("Invalid JSON payload received in the metadata part.");
      }
      upload = { metadata: objectOf(call.route.body ? call.route.body(parsed) : parsed), raw: media.body };
    } else {
      throw badRequest(`Invalid upload type: ${uploadType}. Use media, multipart or resumable.`);
    }
  }
  if (upload.raw && upload.raw.length > limit) throw uploadTooLarge(limit);
  return upload;
}

export function requireRaw(upload: Upload): Buffer {
  if (!upload.raw || upload.raw.length === 0) {
    throw badRequest("'raw' RFC822 payload message string or uploading message via /upload/* URL required", "invalidArgument");
  }
  return upload.raw;
}
