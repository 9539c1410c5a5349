/**
 * The authorize half of Save & authorize and of Reauthorize: ask the API for
 * the authorize URL, send the popup there, and wait for the callback's report.
 * {@link AuthFeedback} says what happened (waiting, blocked popup, denial,
 * missing scopes, errors).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Scope } from "./api.ts";
import { POPUP_NAME, describeAuthError, openAuthPopup, waitForAuthResult, type OAuthResult } from "./oauth-popup.ts";
import { scopeText } from "./scopes-dialog.tsx";

export type AuthState =
  | { phase: "idle" }
  | { phase: "waiting" }
  | { phase: "blocked"; authorizeUrl: string }
  | { phase: "done"; result: OAuthResult };

export function useAuthorize() {
  const [state, setState] = useState<AuthState>({ phase: "idle" });
  const popupRef = useRef<Window | null>(null);
  const abortRef = useRef<AbortController | null>(null);

  useEffect(() => () => abortRef.current?.abort(), []);

  return {
    state,
    /** Call synchronously in the click handler. */
    open(): Window | null {
      abortRef.current?.abort();
      setState({ phase: "waiting" });
      popupRef.current = openAuthPopup();
      return popupRef.current;
    },
    /** Saving failed: close the blank popup again. */
    abandon(popup: Window | null) {
      if (popup && !popup.closed) popup.close();
      setState({ phase: "idle" });
    },
    async run(connectionId: string, popup: Window | null): Promise<OAuthResult | undefined> {
      const since = Date.now();
      let authorizeUrl: string;
      try {
        authorizeUrl = (await api.authorize(connectionId)).authorizeUrl;
      } catch (err) {
        if (popup && !popup.closed) popup.close();
        const result = { ok: false, error: { code: "authorize_failed", message: (err as Error).message } };
        setState({ phase: "done", result });
        return result;
      }
      if (popup && !popup.closed) popup.location.href = authorizeUrl;
      else {
        popupRef.current = null;
        setState({ phase: "blocked", authorizeUrl });
      }
      const abort = new AbortController();
      abortRef.current = abort;
      const result = await waitForAuthResult(connectionId, () => popupRef.current, since, abort.signal);
      if (abort.signal.aborted) return undefined;
      setState({ phase: "done", result });
      return result;
    },
    /** The blocked-popup link: open the named window from this click, which a blocker allows. */
    followLink(e: MouseEvent, url: string) {
      const w = openAuthPopupAt(url);
      if (w) {
        e.preventDefault();
        popupRef.current = w;
        setState({ phase: "waiting" });
      }
    },
  };
}

function openAuthPopupAt(url: string): Window | null {
  try {
    return window.open(url, POPUP_NAME, "popup=yes,width=520,height=680");
  } catch {
    return null;
  }
}

export function MissingScopes({ scopes, catalogue }: { scopes: string[]; catalogue: Scope[] }) {
  return (
    <ul class="missing-scopes">
      {scopes.map((s) => (
        <li key={s}>
          <code>{s}</code>
          {catalogue.find((c) => c.scope === s) ? <> · {scopeText(catalogue.find((c) => c.scope === s), s)}</> : null}
        </li>
      ))}
    </ul>
  );
}

export function AuthFeedback(props: { state: AuthState; catalogue: Scope[]; onOpenLink: (e: MouseEvent, url: string) => void }) {
  const { state } = props;
  if (state.phase === "idle") return null;
  if (state.phase === "waiting")
    return (
      <p class="info" role="status">
        Waiting for Google… finish signing in in the popup window.
      </p>
    );
  if (state.phase === "blocked")
    return (
      <div class="warning" role="alert">
        <p>Your browser blocked the Google sign-in window.</p>
        <p>
          <a href={state.authorizeUrl} target={POPUP_NAME} onClick={(e) => props.onOpenLink(e, state.authorizeUrl)}>
            Open the Google sign-in page
          </a>{" "}
          to authorize the connection, or allow popups for this site and try again.
        </p>
      </div>
    );
  const { result } = state;
  const missing = result.missingScopes ?? [];
  if (result.ok && missing.length === 0)
    return (
      <p class="success" role="status">
        Connected{result.email ? ` as ${result.email}` : ""}.
      </p>
    );
  return (
    <div class={result.ok ? "warning" : "error-box"} role="alert">
      {result.ok ? (
        <p>
          Connected{result.email ? ` as ${result.email}` : ""}, but Google did not grant every scope. Missing scopes:
        </p>
      ) : (
        <p>{describeAuthError(result.error)}</p>
      )}
      {missing.length > 0 && (
        <>
          {!result.ok && <p>Missing scopes:</p>}
          <MissingScopes scopes={missing} catalogue={props.catalogue} />
          <p>Flows that need them will fail. Save &amp; authorize again and leave every scope ticked on Google's page.</p>
        </>
      )}
    </div>
  );
}
