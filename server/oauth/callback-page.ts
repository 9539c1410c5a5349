/**
 * The page the OAuth popup lands on. It posts the result to its opener, at
 * the service's own origin only, then closes; with no opener it shows the
 * result and a link back to the resources panel.
 *
 * Its script and style never change: the result travels in a JSON data block
 * the script reads, so the Content-Security-Policy admits them by hash
 * ({@link CALLBACK_PAGE_HASHES}) and no other inline code can run.
 */
import { createHash } from "node:crypto";

export interface CallbackResult {
  ok: boolean;
  connectionId: string | null;
  email?: string;
  missingScopes?: string[];
  error?: { code: string; message: string };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** JSON safe to embed in a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028|\u2029/g, "");

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:3rem auto;max-width:32rem;padding:0 1rem;color:#1f2933}
h1{font-size:1.3rem}.err{color:#b42318}`;

const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById("mailbridge-oauth-result").textContent);
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage(data.message, data.origin);
    window.close();
  }
})();
`;

const sha256 = (s: string) => `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`;

/** CSP sources (`'sha256-…'`) of the page's one inline script and one inline style. */
export const CALLBACK_PAGE_HASHES = Object.freeze({ script: sha256(SCRIPT), style: sha256(STYLE) });

export function callbackPage(result: CallbackResult, origin: string): string {
  const title = result.ok ? "Connection authorized" : "Authorization failed";
  const lines = result.ok
    ? [`The connection is online${result.email ? ` as ${result.email}` : ""}.`]
    : [result.error?.message ?? "Something went wrong."];
  if (result.missingScopes?.length) {
    lines.push(`Google did not grant these scopes: ${result.missingScopes.join(", ")}.`);
  }
  const message = { type: "mailbridge:oauth", ...result };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body><main>
<h1 class="${result.ok ? "" : "err"}">${escapeHtml(title)}</h1>
${lines.map((l) => `<p>${escapeHtml(l)}</p>`).join("\n")}
<p><a href="${escapeHtml(origin)}/">Back to Mailbridge</a></p>
</main>
<script type="application/json" id="mailbridge-oauth-result">${scriptJson({ message, origin })}</script>
<script>${SCRIPT}</script>
</body></html>`;
}
