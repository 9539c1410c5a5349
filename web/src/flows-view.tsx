/** The Flows list: name, source, destinations and last run, with **Create flow**, Run and Delete. */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, type Connection, type Flow, type Run } from "./api.ts";
import { ConfirmDialog } from "./dialog.tsx";
import { ResourceList } from "./resource-list.tsx";
import { RunStatus } from "./recent-runs.tsx";
import { actionLabel } from "./flow-draft.ts";
import { useConnections } from "./use-connections.ts";

export function FlowsView(props: { onOpen: (flowId: string | "new") => void }) {
  const { connections } = useConnections();
  const [flows, setFlows] = useState<Flow[]>();
  const [lastRuns, setLastRuns] = useState<Record<string, Run | null>>({});
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [deleting, setDeleting] = useState<Flow>();
  const [starting, setStarting] = useState<string>();

  const refresh = useCallback(async () => {
    try {
      const list = await api.flows();
      setFlows(list);
      setError(undefined);
      const runs = await Promise.all(list.map((f) => api.flowRuns(f.id).then((r) => r[0] ?? null, () => null)));
      setLastRuns(Object.fromEntries(list.map((f, i) => [f.id, runs[i]!])));
    } catch (err) {
      setError(`Could not load flows: ${(err as Error).message}`);
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  async function run(flow: Flow) {
    setStarting(flow.id);
    try {
      await api.runFlow(flow.id);
      props.onOpen(flow.id); // the builder shows the newest run and follows it
    } catch (err) {
      setError(`Could not run ${flow.name}: ${(err as Error).message}`);
      setStarting(undefined);
    }
  }


  return (
    <section aria-labelledby="flows-title">
      <div class="view-head">
        <h1 id="flows-title">Flows</h1>
        <button type="button" class="primary" onClick={() => props.onOpen("new")}>
          Create flow
        </button>
      </div>
      <ResourceList
        items={flows}
        error={error}
        notice={notice}
        empty="No flows yet. Create one to move Gmail messages from a source to one or more destinations."
        columns={["Name", "Source", "Destinations", "Last run"]}
      >
        {(flows ?? []).map((f) => (
          <tr key={f.id}>
            <th scope="row" data-label="Name">
              <a href={`#/flows/${encodeURIComponent(f.id)}`}>{f.name}</a>
            </th>
            <td data-label="Source">
              {"archiveId" in f.source ? (
                "Archive"
              ) : (
                <>
                  {connectionName(connections, f.source.connectionId)}
                  {f.source.export?.query && <div class="hint mono">{f.source.export.query}</div>}
                </>
              )}
            </td>
            <td data-label="Destinations">
              <ul class="plain">
                {f.destinations.map((d, i) => (
                  <li key={i}>
                    {"import" in d ? `${actionLabel(d.import.action)} · ${connectionName(connections, d.connectionId)}` : "Archive (mbox)"}
                  </li>
                ))}
              </ul>
            </td>
            <td data-label="Last run">{lastRuns[f.id] ? <RunStatus run={lastRuns[f.id]!} /> : <span class="muted">{f.id in lastRuns ? "Never run" : "…"}</span>}</td>
            <td class="actions">
              <div class="action-buttons">
                <button type="button" onClick={() => props.onOpen(f.id)} aria-label={`Edit ${f.name}`}>
                  Edit
                </button>
                <button type="button" onClick={() => run(f)} disabled={starting === f.id} aria-label={`Run ${f.name}`}>
                  Run
                </button>
                <button type="button" class="danger-link" onClick={() => setDeleting(f)} aria-label={`Delete ${f.name}`}>
                  Delete
                </button>
              </div>
            </td>
          </tr>
        ))}
      </ResourceList>
      {deleting && (
        <ConfirmDialog
          title="Delete flow?"
          message={
            <p>
              Delete <strong>{deleting.name}</strong> and its run history? This cannot be undone.
            </p>
          }
          confirmLabel="Delete"
          onConfirm={async () => {
            await api.deleteFlow(deleting.id);
            setNotice(`Deleted ${deleting.name}.`);
            setDeleting(undefined);
            await refresh();
          }}
          onClose={() => setDeleting(undefined)}
        />
      )}
    </section>
  );
}

function connectionName(connections: Connection[] | undefined, id: string): string {
  const c = connections?.find((x) => x.id === id);
  return c ? `${c.name}${c.email ? ` (${c.email})` : ""}` : connections ? "Unknown connection" : "…";
}
