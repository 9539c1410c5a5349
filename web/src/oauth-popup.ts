/**
 * The Save & authorize popup (SPEC §2 "Save & authorize, step by step").
 *
 * The window is opened synchronously inside the click handler, before any
 * await, so that popup blockers see a user gesture; it is navigated to the
 * authorize URL once the connection is saved. The callback page posts
 * `{type: "mailbridge:oauth", connectionId, ok, error?, missingScopes?}` to
 * its opener; only messages from our own origin are believed.
 */
import { api } from "./api.ts";

export const POPUP_NAME = "mailbridge-oauth";

export interface OAuthResult {
  ok: boolean;
  error?: { code: string; message: string };
  missingScopes?: string[];
  email?: string;
}

/** Open (or reuse) the named popup on about:blank. `null` when the browser blocked it. */
export function openAuthPopup(): Window | null {
  const w = 520;
  const h = 680;
  const left = Math.max(0, Math.round(window.screenX + (window.outerWidth - w) / 2));
  const top = Math.max(0, Math.round(window.screenY + (window.outerHeight - h) / 3));
  let popup: Window | null = null;
  try {
    popup = window.open("", POPUP_NAME, `popup=yes,width=${w},height=${h},left=${left},top=${top}`);
  } catch {
    popup = null;
  }
  if (popup) {
    try {
      popup.document.title = "Connecting to Google…";
      popup.document.body.innerHTML =
        '<p style="font-family:system-ui,sans-serif;padding:2rem">Connecting to Google…</p>';
    } catch {
      // A reused window may already be on Google's origin; leave it as it is.
    }
  }
  return popup;
}

/**
 * Resolve with the callback's report for `connectionId`. If the window is
 * closed without a report (the user shut it, or the message was lost), the
 * connection is read back: online and authorized after `since` counts as ok.
 */
export function waitForAuthResult(
  connectionId: string,
  popup: () => Window | null,
  since: number,
  signal: AbortSignal,
): Promise<OAuthResult> {
  return new Promise((resolve) => {
    let settled = false;
    let closedChecks = 0;
    const finish = (result: OAuthResult) => {
      if (settled) return;
      settled = true;
      window.removeEventListener("message", onMessage);
      clearInterval(timer);
      resolve(result);
    };
    const onMessage = (event: MessageEvent) => {
      if (event.origin !== location.origin) return;
      const data = event.data as Record<string, unknown> | null;
      if (!data || data.type !== "mailbridge:oauth" || data.connectionId !== connectionId) return;
      finish({
        ok: data.ok === true,
        error: isError(data.error) ? data.error : undefined,
        missingScopes: Array.isArray(data.missingScopes) ? data.missingScopes.map(String) : undefined,
        email: typeof data.email === "string" ? data.email : undefined,
      });
    };
    window.addEventListener("message", onMessage);
    signal.addEventListener("abort", () => finish({ ok: false, error: { code: "canceled", message: "Canceled." } }));
    const timer = setInterval(async () => {
      const w = popup();
      if (!w || !w.closed) return;
      // Give a message posted just before the window closed time to arrive.
      if (++closedChecks < 3) return;
      clearInterval(timer);
      try {
        const conn = await api.connection(connectionId);
        const authorizedAt = conn.authorizedAt ? Date.parse(conn.authorizedAt) : 0;
        if (conn.status === "online" && authorizedAt >= since - 5000) {
          finish({ ok: true, missingScopes: conn.missingScopes ?? undefined, email: conn.email ?? undefined });
          return;
        }
      } catch {
        // fall through to the "closed" report
      }
      finish({
        ok: false,
        error: { code: "popup_closed", message: "The Google sign-in window was closed before authorization finished." },
      });
    }, 400);
  });
}

function isError(value: unknown): value is { code: string; message: string } {
  return typeof value === "object" && value !== null && typeof (value as any).message === "string";
}

/** The sentence shown in the pane for a failed authorization. */
export function describeAuthError(error: { code: string; message: string } | undefined): string {
  if (!error) return "Authorization did not finish.";
  if (error.code === "access_denied")
    return "Access was denied: Google did not give Mailbridge access to this account, so the connection was not authorized.";
  if (error.code === "redirect_uri_mismatch")
    return `Google rejected the callback URL: add it to the OAuth client's authorized redirect URIs. (${error.message})`;
  return error.message;
}
