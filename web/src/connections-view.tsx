/** The Connections list with its actions, the application list and the Create/Edit pane. */
import { useState } from "preact/hooks";
import { api, type Application, type Connection } from "./api.ts";
import { ConfirmDialog } from "./dialog.tsx";
import { ConnectionPane } from "./connection-pane.tsx";
import { ConnectionRow } from "./connection-row.tsx";
import { ApplicationList } from "./application-list.tsx";
import { ResourceList } from "./resource-list.tsx";
import { useApplications, useConnections } from "./use-connections.ts";

type Pane = null | { kind: "pick" } | { kind: "create"; app: Application } | { kind: "edit"; connection: Connection };

export function ConnectionsView() {
  const { connections, error: loadError, refresh, paneProps } = useConnections();
  const { applications: apps, error: appsError } = useApplications();
  const error = loadError ?? appsError;
  const [pane, setPane] = useState<Pane>(null);
  const [deleting, setDeleting] = useState<Connection>();
  const [notice, setNotice] = useState<string>();

  const appName = (id: string) => apps?.find((a) => a.id === id)?.name ?? id;


  const paneApp = pane?.kind === "create" ? pane.app : pane?.kind === "edit" ? apps?.find((a) => a.id === pane.connection.application) : undefined;

  return (
    <section aria-labelledby="connections-title">
      <div class="view-head">
        <h1 id="connections-title">Connections</h1>
        <button type="button" class="primary" onClick={() => setPane({ kind: "pick" })} disabled={!apps}>
          Create connection
        </button>
      </div>
      <ResourceList
        items={connections}
        error={error}
        notice={notice}
        empty="No connections yet. Create one to link a Gmail account."
        columns={["Name", "Application", "Status", "Gmail address"]}
      >
        {(connections ?? []).map((c) => (
          <ConnectionRow
            key={c.id}
            connection={c}
            applicationName={appName(c.application)}
            catalogue={apps?.find((a) => a.id === c.application)?.scopes ?? []}
            onEdit={() => setPane({ kind: "edit", connection: c })}
            onDelete={() => setDeleting(c)}
            onChanged={refresh}
          />
        ))}
      </ResourceList>

      {pane?.kind === "pick" && apps && (
        <ApplicationList applications={apps.filter((a) => a.scopes.length > 0)} onChoose={(app) => setPane({ kind: "create", app })} onClose={() => setPane(null)} />
      )}
      {(pane?.kind === "create" || pane?.kind === "edit") && paneApp && (
        <ConnectionPane
          key={pane.kind === "edit" ? pane.connection.id : "new"}
          application={paneApp}
          connection={pane.kind === "edit" ? pane.connection : undefined}
          {...paneProps}
          onChanged={() => void refresh()}
          onClose={(changed) => {
            setPane(null);
            if (changed) void refresh();
          }}
          onAuthorized={(c) => {
            setPane(null);
            setNotice(`${c.name} is authorized.`);
            void refresh();
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete connection?"
          message={
            <p>
              Delete <strong>{deleting.name}</strong>? Its tokens are revoked and flows that use it stop working. This cannot be undone.
            </p>
          }
          confirmLabel="Delete"
          onConfirm={async () => {
            const unconfirmed = await api.deleteConnection(deleting.id);
            setNotice(
              unconfirmed
                ? `Deleted ${deleting.name}, but Google did not confirm the revocation (${unconfirmed.error.message}). The grant may still be alive: remove the app at myaccount.google.com/permissions.`
                : `Deleted ${deleting.name}.`,
            );
            setDeleting(undefined);
            await refresh();
          }}
          onClose={() => setDeleting(undefined)}
        />
      )}
    </section>
  );
}
