/** The shell: session check, sign-in, the Resources menu, Flows, and the views. */
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, sessionEvents, type Account } from "./api.ts";
import { SignIn } from "./sign-in.tsx";
import { ResourcesMenu, type View } from "./resources-menu.tsx";
import { ConnectionsView } from "./connections-view.tsx";
import { IClientsView } from "./iclients-view.tsx";
import { FlowsView } from "./flows-view.tsx";
import { FlowBuilder } from "./flow-builder.tsx";

/** `#/connections`, `#/iclients`, `#/flows`, `#/flows/new`, `#/flows/<id>`. */
type Route = { view: View } | { view: "flows"; flowId?: string | "new" };

function routeFromHash(): Route {
  const flow = /^#\/flows(?:\/([^/?#]+))?/.exec(location.hash);
  if (flow) return { view: "flows", flowId: flow[1] && decodeURIComponent(flow[1]) };
  return { view: location.hash.startsWith("#/iclients") ? "iclients" : "connections" };
}

const TITLES = { connections: "Connections", iclients: "iClients", flows: "Flows" };

export function App() {
  const [account, setAccount] = useState<Account | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string>();
  const [route, setRoute] = useState<Route>(routeFromHash());
  const view = route.view;

  useEffect(() => {
    api
      .me()
      .then(setAccount)
      .catch((err) => {
        if (err instanceof ApiError && err.status === 401) setAccount(null);
        else setLoadError((err as Error).message);
      });
    const expired = () => setAccount(null);
    const onHash = () => setRoute(routeFromHash());
    sessionEvents.addEventListener("expired", expired);
    window.addEventListener("hashchange", onHash);
    return () => {
      sessionEvents.removeEventListener("expired", expired);
      window.removeEventListener("hashchange", onHash);
    };
  }, []);

  useEffect(() => {
    document.title = `${TITLES[view]} · Mailbridge`;
  }, [view]);

  if (loadError)
    return (
      <main class="sign-in">
        <h1>Mailbridge</h1>
        <p class="error" role="alert">
          {loadError}
        </p>
        <button type="button" onClick={() => location.reload()}>
          Try again
        </button>
      </main>
    );
  if (account === undefined) return <p class="loading">Loading…</p>;
  if (account === null) return <SignIn onSignedIn={setAccount} />;

  function select(next: View) {
    history.replaceState(null, "", `#/${next}`);
    setRoute({ view: next });
  }

  /** Flows pages are history entries, so Back leaves the builder. */
  function openFlow(flowId?: string) {
    location.hash = flowId ? `#/flows/${encodeURIComponent(flowId)}` : "#/flows";
  }

  const flowId = route.view === "flows" ? route.flowId : undefined;

  async function signOut() {
    try {
      await api.signOut();
    } finally {
      setAccount(null);
    }
  }

  return (
    <>
      <header class="topbar">
        <span class="brand">Mailbridge</span>
        <nav aria-label="Main">
          <ResourcesMenu current={view === "flows" ? undefined : view} onSelect={select} />
          <a href="#/flows" class="nav-link" aria-current={view === "flows" ? "page" : undefined}>
            Flows
          </a>
        </nav>
        <span class="account muted" title="Signed in account">
          {account.name}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main class="content">
        {view === "iclients" ? (
          <IClientsView />
        ) : view === "connections" ? (
          <ConnectionsView />
        ) : flowId ? (
          <FlowBuilder
            key={flowId}
            flowId={flowId === "new" ? undefined : flowId}
            // The new flow now has an address; replacing it keeps the builder (and its state) as it is.
            onSaved={(flow) => flowId === "new" && history.replaceState(null, "", `#/flows/${encodeURIComponent(flow.id)}`)}
            onBack={() => openFlow()}
          />
        ) : (
          <FlowsView onOpen={(id) => openFlow(id)} />
        )}
      </main>
    </>
  );
}
