/**
 * MIME parsing for the `full` payload, attachments, snippet and search fields.
 *
 * The tree comes from @zone-eu/mailsplit, mailparser's own low-level splitter (it emits one
 * node per MIME part with its parent link and raw body chunks); transfer decoding uses the
 * node's own decoder and header words are decoded with libmime. Nothing here splits MIME by hand.
 */
import { Splitter } from "@zone-eu/mailsplit";
import type { MimeNode } from "@zone-eu/mailsplit";
import libmime from "libmime";
import { BadInput } from "./errors.ts";

/**
 * How deep multiparts may nest. Real mail nests a handful of levels (mixed > alternative >
 * related); the limit keeps every walk of the tree far from the stack's end.
 */
export const MAX_MIME_DEPTH = 100;

export interface Header {
  name: string;
  value: string;
}

/** One part as Gmail shows it, before its attachment ids are assigned. */
export interface ParsedPart {
  partId: string;
  mimeType: string;
  filename: string;
  headers: Header[];
  /** Decoded body bytes (leaves only). */
  data?: Buffer;
  isAttachment: boolean;
  parts?: ParsedPart[];
}

export interface ParsedMessage {
  payload: ParsedPart;
  /** Headers of the top-level message. */
  headers: Header[];
  snippet: string;
  /** Plain text of the body, for free-text search. */
  text: string;
  /** Some part has an attachmentId (named or not), as `has:attachment` counts them. */
  hasAttachment: boolean;
  attachmentNames: string[];
}

function headerList(node: MimeNode): Header[] {
  if (!node.headers) return [];
  return node.headers.getList().map(({ line }) => {
    const colon = line.indexOf(":");
    const name = colon < 0 ? line.trim() : line.slice(0, colon).trim();
    const rawValue = colon < 0 ? "" : line.slice(colon + 1).replace(/\r?\n(?=[ \t])/g, "").trim();
    let value = rawValue;
    try {
      value = libmime.decodeWords(rawValue);
    } catch {
      // An undecodable encoded-word is shown as sent, as Gmail does.
    }
    return { name, value };
  });
}

export async function decodeBody(node: MimeNode, chunks: Buffer[]): Promise<Buffer> {
  const decoder = node.getDecoder();
  const out: Buffer[] = [];
  decoder.on("data", (chunk: Buffer) => out.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    decoder.once("end", () => resolve());
    decoder.once("error", reject);
  });
  for (const chunk of chunks) decoder.write(chunk);
  decoder.end();
  await done;
  return Buffer.concat(out);
}

export function decodeText(data: Buffer, charset: string | false): string {
  try {
    return new TextDecoder(charset || "utf-8").decode(data);
  } catch {
    return new TextDecoder("utf-8").decode(data);
  }
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function stripHtml(html: string): string {
  return html
    .replace(/<(style|script)[^>]*>[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">");
}

/** Splits the message with mailsplit and collects each node's raw body. */
async function split(raw: Buffer): Promise<Array<{ node: MimeNode; chunks: Buffer[] }>> {
  const splitter = new Splitter({ ignoreEmbedded: true });
  const nodes: Array<{ node: MimeNode; chunks: Buffer[] }> = [];
  const byNode = new Map<MimeNode, Buffer[]>();
  splitter.on("data", (chunk) => {
    if (chunk.type === "node") {
      const chunks: Buffer[] = [];
      byNode.set(chunk, chunks);
      nodes.push({ node: chunk, chunks });
    } else if (chunk.type === "body") {
      byNode.get(chunk.node)?.push(chunk.value);
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      (splitter as NodeJS.EventEmitter).once("end", () => resolve());
      (splitter as NodeJS.EventEmitter).once("error", reject);
      splitter.end(raw);
    });
  } catch (err) {
    // mailsplit's limits: a header block over 1 MB, too many parts.
    throw new BadInput(`Invalid message: ${(err as Error).message}.`);
  }
  return nodes;
}

/**
 * Parses RFC 5322 bytes into Gmail's part tree plus the fields search needs. A message it cannot
 * read is the sender's mistake: {@link BadInput}, never a crash.
 */
export async function parseMessage(raw: Buffer): Promise<ParsedMessage> {
  try {
    return await parseTree(raw);
  } catch (err) {
    if (err instanceof BadInput) throw err;
    throw new BadInput(`Invalid message: ${(err as Error).message}.`);
  }
}

async function parseTree(raw: Buffer): Promise<ParsedMessage> {
  const nodes = await split(raw);
  const parts = new Map<MimeNode, ParsedPart>();
  const depths = new Map<MimeNode, number>();
  let root: ParsedPart | undefined;
  const texts: Array<{ mimeType: string; text: string }> = [];
  const attachmentNames: string[] = [];
  let hasAttachment = false;
  for (const { node, chunks } of nodes) {
    const parent = node.parentNode ? parts.get(node.parentNode as MimeNode) : undefined;
    const depth = node.parentNode ? (depths.get(node.parentNode as MimeNode) ?? 0) + 1 : 0;
    if (depth > MAX_MIME_DEPTH) throw new BadInput(`Invalid message: MIME parts nested more than ${MAX_MIME_DEPTH} levels deep.`);
    depths.set(node, depth);
    const index = parent?.parts?.length ?? 0;
    const mimeType = node.contentType || "text/plain";
    const filename = node.filename || "";
    const part: ParsedPart = {
      partId: parent ? (parent.partId ? `${parent.partId}.${index}` : String(index)) : "",
      mimeType,
      filename,
      headers: headerList(node),
      isAttachment: false,
    };
    if (node.multipart) {
      part.parts = [];
    } else {
      part.data = await decodeBody(node, chunks);
      part.isAttachment = filename !== "" || !mimeType.startsWith("text/");
      if (filename) attachmentNames.push(filename);
      hasAttachment ||= part.isAttachment;
      if (!part.isAttachment && (mimeType === "text/plain" || mimeType === "text/html")) {
        texts.push({ mimeType, text: decodeText(part.data, node.charset) });
      }
    }
    parts.set(node, part);
    if (parent) parent.parts!.push(part);
    else root ??= part;
  }
  if (!root) throw new BadInput("Invalid message: no MIME content.");
  const plain = texts.find((t) => t.mimeType === "text/plain")?.text;
  const html = texts.find((t) => t.mimeType === "text/html")?.text;
  const text = (plain ?? (html ? stripHtml(html) : "")).replace(/\s+/g, " ").trim();
  return {
    payload: root,
    headers: root.headers,
    snippet: escapeHtml(text.slice(0, 200)),
    text,
    hasAttachment,
    attachmentNames,
  };
}

/** First value of a header, case-insensitive. */
export function headerValue(headers: Header[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find((h) => h.name.toLowerCase() === lower)?.value;
}
