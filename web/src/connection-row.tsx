/** One row of the Connections list: status, address, and Edit / Test connection / Reauthorize / Retry revoke / Delete. */
import { useState } from "preact/hooks";
import { api, type Connection, type Scope } from "./api.ts";
import { AuthFeedback, MissingScopes, useAuthorize } from "./use-authorize.tsx";

export const STATUS_TEXT: Record<Connection["status"], string> = {
  online: "Online",
  offline: "Offline",
  unauthorized: "Not authorized",
};

export function ConnectionRow(props: {
  connection: Connection;
  applicationName: string;
  catalogue: Scope[];
  onEdit: () => void;
  onDelete: () => void;
  onChanged: () => Promise<void> | void;
}) {
  const c = props.connection;
  const [testNote, setTestNote] = useState<{ ok: boolean; text: string }>();
  const [testing, setTesting] = useState(false);
  const [revoking, setRevoking] = useState(false);
  const auth = useAuthorize();
  const missing = c.status === "online" ? (c.missingScopes ?? []) : [];

  async function test() {
    setTesting(true);
    setTestNote(undefined);
    try {
      const r = await api.testConnection(c.id);
      setTestNote(r.ok ? { ok: true, text: `Connection works: ${r.email}.` } : { ok: false, text: `Test failed: ${r.error.message}` });
    } catch (err) {
      setTestNote({ ok: false, text: `Test failed: ${(err as Error).message}` });
    } finally {
      setTesting(false);
      await props.onChanged();
    }
  }

  async function retryRevoke() {
    setRevoking(true);
    setTestNote(undefined);
    try {
      const after = await api.retryRevoke(c.id);
      setTestNote(after.revocation ? { ok: false, text: "Revocation failed again." } : { ok: true, text: "Google confirmed the revocation." });
    } catch (err) {
      setTestNote({ ok: false, text: `Revocation failed: ${(err as Error).message}` });
    } finally {
      setRevoking(false);
      await props.onChanged();
    }
  }

  function reauthorize() {
    setTestNote(undefined);
    const popup = auth.open(); // synchronously, inside the click
    void auth.run(c.id, popup).then(() => props.onChanged());
  }

  return (
    <tr>
      <th scope="row" data-label="Name">
        {c.name}
      </th>
      <td data-label="Application">{props.applicationName}</td>
      <td data-label="Status">
        <span class={`badge ${c.status}`}>{STATUS_TEXT[c.status]}</span>
        {c.status === "offline" && c.offlineReason && <div class="hint">{c.offlineReason.message}</div>}
        {c.revocation && (
          <div class="hint error">Revocation not confirmed: {c.revocation.error.message}</div>
        )}
        {missing.length > 0 && (
          <details class="hint">
            <summary>{missing.length} scope(s) not granted</summary>
            <MissingScopes scopes={missing} catalogue={props.catalogue} />
          </details>
        )}
      </td>
      <td data-label="Gmail address">{c.email ?? <span class="muted">—</span>}</td>
      <td class="actions">
        <div class="action-buttons">
          <button type="button" onClick={props.onEdit}>
            Edit
          </button>
          <button type="button" onClick={test} disabled={testing} aria-busy={testing ? "true" : undefined}>
            Test connection
          </button>
          {c.status === "offline" && (
            <button type="button" class="primary" onClick={reauthorize} disabled={auth.state.phase === "waiting"}>
              Reauthorize
            </button>
          )}
          {c.revocation && (
            <button type="button" onClick={retryRevoke} disabled={revoking} aria-busy={revoking ? "true" : undefined}>
              Retry revoke
            </button>
          )}
          <button type="button" class="danger-link" onClick={props.onDelete}>
            Delete
          </button>
        </div>
        {testNote && (
          <p class={testNote.ok ? "success" : "error"} role="status">
            {testNote.text}
          </p>
        )}
        {auth.state.phase !== "idle" && !(auth.state.phase === "done" && auth.state.result.ok && !auth.state.result.missingScopes?.length) && (
          <AuthFeedback state={auth.state} catalogue={props.catalogue} onOpenLink={auth.followLink} />
        )}
      </td>
    </tr>
  );
}
