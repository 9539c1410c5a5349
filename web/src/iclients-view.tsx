/** The iClients list: add, edit and delete the OAuth clients that connections share. */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, ApiError, type IClient } from "./api.ts";
import { ConfirmDialog } from "./dialog.tsx";
import { IClientDialog } from "./iclient-dialog.tsx";
import { ResourceList } from "./resource-list.tsx";

const units = new Intl.NumberFormat("en");

/** The day's Gmail units against the daily threshold: a warning from 90 %, and what happens at 100 %. */
function DailyUsage({ iclient }: { iclient: IClient }) {
  const u = iclient.usage;
  if (!u) return <span class="muted">—</span>;
  const share = Math.min(100, Math.floor((u.today / u.dailyLimit) * 100));
  const reached = u.today >= u.dailyLimit;
  return (
    <div>
      <span>
        {units.format(u.today)} of {units.format(u.dailyLimit)} ({share} %)
      </span>
      {iclient.allowBilledUsage && <div class="muted">Billed usage allowed</div>}
      {u.warning && (
        <div class="warning-inline" role="status">
          {reached
            ? iclient.allowBilledUsage
              ? "Daily threshold passed: further usage is billed."
              : "Daily quota reached: runs paused until 00:00 UTC."
            : "Near the daily quota (90 %)."}
        </div>
      )}
    </div>
  );
}

export function IClientsView() {
  const [iclients, setIClients] = useState<IClient[]>();
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState<IClient | "new" | null>(null);
  const [deleting, setDeleting] = useState<IClient>();
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

  async function remove(iclient: IClient) {
    try {
      await api.deleteIClient(iclient.id);
    } catch (err) {
      let message = (err as Error).message;
      const used = err instanceof ApiError ? (err.details as any)?.connections ?? (err.details as any)?.usedBy : undefined;
      if (Array.isArray(used) && used.length) message += ` Used by: ${used.map((u: any) => u.name ?? u.id).join(", ")}.`;
      throw new Error(message);
    }
    setNotice(`Deleted ${iclient.name}.`);
    setDeleting(undefined);
    await refresh();
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
      <ResourceList items={iclients} error={error} notice={notice} empty="No iClients yet." columns={["Name", "Client ID", "Secret", "Used by", "Gmail units today"]}>
        {(iclients ?? []).map((ic) => (
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
            <td data-label="Gmail units today">
              <DailyUsage iclient={ic} />
            </td>
            <td class="actions">
              <div class="action-buttons">
                <button type="button" onClick={() => setEditing(ic)}>
                  Edit
                </button>
                <button type="button" class="danger-link" onClick={() => setDeleting(ic)}>
                  Delete
                </button>
              </div>
            </td>
          </tr>
        ))}
      </ResourceList>
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
              Delete <strong>{deleting.name}</strong>? Connections that use it must move to another iClient first.
            </p>
          }
          confirmLabel="Delete"
          onConfirm={() => remove(deleting)}
          onClose={() => setDeleting(undefined)}
        />
      )}
    </section>
  );
}
