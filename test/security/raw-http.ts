/**
 * Raw HTTP/1.1 over a socket, for request lines and headers that fetch and
 * `app.inject` would normalise or refuse to send (absolute-form targets,
 * `/./`, missing Host, broken Content-Length).
 */
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Send `request` as-is and read the answer until the server closes the connection. */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", (err) => {
      clearTimeout(timer);
      // The server may reset after answering: what arrived still counts.
      if (chunks.length > 0) resolve(parse(Buffer.concat(chunks)));
      else reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(parse(Buffer.concat(chunks)));
      else reject(new Error("the server closed the connection without an answer"));
    });
    socket.write(request);
  });
}

function parse(buf: Buffer): RawResponse {
  const text = buf.toString("utf8");
  const end = text.indexOf("\r\n\r\n");
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = end === -1 ? "" : text.slice(end + 4);
  if (headers["transfer-encoding"] === "chunked") body = dechunk(body);
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0), headers, body };
}

function dechunk(s: string): string {
  let out = "";
  let rest = s;
  for (;;) {
    const i = rest.indexOf("\r\n");
    if (i === -1) return out;
    const size = parseInt(rest.slice(0, i), 16);
    if (!size) return out;
    out += rest.slice(i + 2, i + 2 + size);
    rest = rest.slice(i + 2 + size + 2);
  }
}

/** A complete request: the request line, headers (Host and Connection: close unless given) and body. */
export function httpRequest(method: string, target: string, headers: Record<string, string | undefined> = {}, body?: string): string {
  const all: Record<string, string | undefined> = { host: "localhost", connection: "close", ...headers };
  if (body !== undefined && all["content-length"] === undefined) all["content-length"] = String(Buffer.byteLength(body));
  const lines = Object.entries(all)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v}`);
  return `${method} ${target} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n${body ?? ""}`;
}
