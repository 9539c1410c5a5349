/**
 * The HTML of the consent screen and of Google's own error page.
 *
 * Form actions are relative (`auth/decision` from `…/o/oauth2/v2/auth`) so the page works both
 * at the emulator's root and mounted under a prefix such as `/sandbox/google`.
 */

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#202124}
fieldset{border:1px solid #dadce0;border-radius:8px;margin:1rem 0}
label{display:block;margin:.4rem 0}
.scope{word-break:break-all}
.error{color:#d93025}
button{margin-right:.5rem;padding:.5rem 1.2rem}
</style>
</head>
<body>
${body}
</body>
</html>`;
}

export interface ConsentView {
  clientId: string;
  /** Every original query parameter, sent back as hidden fields. */
  params: Array<[string, string]>;
  scopes: string[];
  email: string;
  error?: string;
}

export function consentPage(view: ConsentView): string {
  const hidden = view.params
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join("\n");
  const scopes = view.scopes
    .map(
      (scope, i) =>
        `<label class="scope"><input type="checkbox" id="scope-${i}" name="granted_scope" value="${escapeHtml(scope)}" checked> ${escapeHtml(scope)}</label>`,
    )
    .join("\n");
  const error = view.error ? `<p class="error" role="alert">${escapeHtml(view.error)}</p>` : "";
  return page(
    "Sign in - Google Accounts",
    `<h1>Google emulator</h1>
<p>The application <strong>${escapeHtml(view.clientId)}</strong> wants to access your Google Account.</p>
${error}
<form method="post" action="auth/decision">
${hidden}
<label for="email">Email</label>
<input type="email" id="email" name="email" value="${escapeHtml(view.email)}" autocomplete="username">
<fieldset>
<legend>This will allow the application to:</legend>
${scopes}
</fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

/** Google's own error page: shown instead of redirecting when the request cannot be trusted. */
export function errorPage(code: string, message: string, status = 400): string {
  return page(
    `Error ${status}: ${code}`,
    `<h1>Access blocked: this request is invalid</h1>
<p role="alert">Error ${status}: ${escapeHtml(code)}</p>
<p>${escapeHtml(message)}</p>`,
  );
}
