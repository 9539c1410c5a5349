/** The iClients list: add, edit and delete the OAuth clients that connections share. */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, ApiError, type IClient } from "./api.ts";
import { ConfirmDialog } from "./dialog.tsx";
import { IClientDialog } from "./iclient-dialog.tsx";

export function IClientsView() {
  const [iclients, setIClients] = useState<IClient[]>();
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState<IClient | "new" | null>(null);
  const [deleting, setDeleting] = useState<{ iclient: IClient; busy?: boolean; error?: string }>();
  const [notice, setNotice] = useState<string>();
  const [callbackUrl, setCallbackUrl] = useState(`${location.origin}/oauth2/callback`);

  const refresh = useCallback(async () => {
    try {
      setIClients(await api.iclients());
      setError(undefined);
    } catch (err) {
      setError(`Could not load iClients: ${(err as Error).message}`);
    }
  }, []);

  useEffect(() => {
    void refresh();
    api.connections().then(
      (list) => list[0]?.callbackUrl && setCallbackUrl(list[0].callbackUrl),
      () => undefined,
    );
  }, [refresh]);

  async function confirmDelete() {
    if (!deleting) return;
    setDeleting({ ...deleting, busy: true, error: undefined });
    try {
      await api.deleteIClient(deleting.iclient.id);
      setNotice(`Deleted ${deleting.iclient.name}.`);
      setDeleting(undefined);
      await refresh();
    } catch (err) {
      let message = (err as Error).message;
      const used = err instanceof ApiError ? (err.details as any)?.connections ?? (err.details as any)?.usedBy : undefined;
      if (Array.isArray(used) && used.length) message += ` Used by: ${used.map((u: any) => u.name ?? u.id).join(", ")}.`;
      setDeleting({ ...deleting, busy: false, error: message });
    }
  }

  return (
    <section aria-labelledby="iclients-title">
      <div class="view-head">
        <h1 id="iclients-title">iClients</h1>
        <button type="button" class="primary" onClick={() => setEditing("new")}>
          Add iClient
        </button>
      </div>
      <p class="muted">An iClient is an OAuth client ID and secret from the Google Cloud console, shared by many connections.</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <p class="success" role="status">
        {notice}
      </p>
      {iclients === undefined && !error && <p class="muted">Loading…</p>}
      {iclients?.length === 0 && <p class="empty">No iClients yet.</p>}
      {iclients && iclients.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Client ID</th>
              <th scope="col">Secret</th>
              <th scope="col">Used by</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {iclients.map((ic) => (
              <tr key={ic.id}>
                <th scope="row" data-label="Name">
                  {ic.name}
                  {ic.callbackUrlRegistered === false && <div class="warning-inline">Callback URL not registered</div>}
                </th>
                <td data-label="Client ID" class="mono">
                  {ic.clientId}
                </td>
                <td data-label="Secret" class="mono">
                  {ic.clientSecretHint ?? "—"}
                </td>
                <td data-label="Used by">{ic.usedBy.length ? ic.usedBy.map((u) => u.name).join(", ") : <span class="muted">No connections</span>}</td>
                <td class="actions">
                  <div class="action-buttons">
                    <button type="button" onClick={() => setEditing(ic)}>
                      Edit
                    </button>
                    <button type="button" class="danger-link" onClick={() => setDeleting({ iclient: ic })}>
                      Delete
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing && (
        <IClientDialog
          iclient={editing === "new" ? undefined : editing}
          application="gmail"
          callbackUrl={callbackUrl}
          onClose={() => setEditing(null)}
          onSaved={(ic) => {
            setEditing(null);
            setNotice(`Saved ${ic.name}.`);
            void refresh();
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete iClient?"
          message={
            <p>
              Delete <strong>{deleting.iclient.name}</strong>? Connections that use it must move to another iClient first.
            </p>
          }
          confirmLabel="Delete"
          busy={deleting.busy}
          error={deleting.error}
          onConfirm={confirmDelete}
          onClose={() => setDeleting(undefined)}
        />
      )}
    </section>
  );
}
