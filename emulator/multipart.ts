/**
 * Splits `multipart/*` request bodies (upload `multipart/related`, batch `multipart/mixed`)
 * with mailsplit, the same MIME splitter the message parser uses: the body is given the
 * request's Content-Type as a header block and each child's headers and raw bytes come back.
 */
import { Splitter } from "@zone-eu/mailsplit";
import type { MimeNode } from "@zone-eu/mailsplit";
import { BadInput } from "./errors.ts";
import { decodeBody } from "./mime.ts";

export interface BodyPart {
  headers: Array<{ name: string; value: string }>;
  contentType: string;
  body: Buffer;
}

export async function splitMultipart(contentType: string, body: Buffer): Promise<BodyPart[]> {
  const splitter = new Splitter({ ignoreEmbedded: true });
  const parts: Array<{ node: MimeNode; chunks: Buffer[] }> = [];
  splitter.on("data", (chunk) => {
    if (chunk.type === "node") {
      if (!chunk.root) parts.push({ node: chunk, chunks: [] });
    } else if (chunk.type === "body") {
      const owner = parts.find((p) => p.node === chunk.node);
      owner?.chunks.push(chunk.value);
    }
  });
  const done = new Promise<void>((resolve, reject) => {
    (splitter as NodeJS.EventEmitter).once("end", () => resolve());
    (splitter as NodeJS.EventEmitter).once("error", reject);
  });
  splitter.write(Buffer.from(`Content-Type: ${contentType.replace(/[\r\n]/g, " ")}\r\n\r\n`));
  splitter.end(body);
  try {
    await done;
    return await children(parts);
  } catch (err) {
    // mailsplit's limits (header size, number of parts): the body is not a multipart we read.
    throw new BadInput(`Invalid multipart body: ${(err as Error).message}.`);
  }
}

async function children(parts: Array<{ node: MimeNode; chunks: Buffer[] }>): Promise<BodyPart[]> {
  const direct = parts.filter(({ node }) => node.parentNode && (node.parentNode as MimeNode).root);
  return Promise.all(
    direct.map(async ({ node, chunks }) => ({
      headers: node.headers
        ? node.headers.getList().map(({ line }) => {
            const colon = line.indexOf(":");
            return { name: line.slice(0, colon).trim(), value: line.slice(colon + 1).replace(/\r?\n(?=[ \t])/g, "").trim() };
          })
        : [],
      contentType: node.contentType || "text/plain",
      // Honour a Content-Transfer-Encoding on the part, if the client used one.
      body: node.encoding && node.encoding !== "7bit" && node.encoding !== "8bit" && node.encoding !== "binary"
        ? await decodeBody(node, chunks)
        : Buffer.concat(chunks),
    })),
  );
}
