/** The shell: session check, sign-in, the Resources menu and the two resource views. */
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, sessionEvents, type Account } from "./api.ts";
import { SignIn } from "./sign-in.tsx";
import { ResourcesMenu, type View } from "./resources-menu.tsx";
import { ConnectionsView } from "./connections-view.tsx";
import { IClientsView } from "./iclients-view.tsx";

function viewFromHash(): View {
  return location.hash.startsWith("#/iclients") ? "iclients" : "connections";
}

export function App() {
  const [account, setAccount] = useState<Account | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string>();
  const [view, setView] = useState<View>(viewFromHash());

  useEffect(() => {
    api
      .me()
      .then(setAccount)
      .catch((err) => {
        if (err instanceof ApiError && err.status === 401) setAccount(null);
        else setLoadError((err as Error).message);
      });
    const expired = () => setAccount(null);
    const onHash = () => setView(viewFromHash());
    sessionEvents.addEventListener("expired", expired);
    window.addEventListener("hashchange", onHash);
    return () => {
      sessionEvents.removeEventListener("expired", expired);
      window.removeEventListener("hashchange", onHash);
    };
  }, []);

  useEffect(() => {
    document.title = `${view === "iclients" ? "iClients" : "Connections"} · Mailbridge`;
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
    setView(next);
  }

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
          <ResourcesMenu current={view} onSelect={select} />
        </nav>
        <span class="account muted" title="Signed in account">
          {account.name}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main class="content">{view === "iclients" ? <IClientsView /> : <ConnectionsView />}</main>
    </>
  );
}
