import { useState } from "preact/hooks";
import { api, ApiError, type Account } from "./api.ts";

/** The API token form (SPEC §4): the token becomes an HttpOnly session cookie. */
export function SignIn({ onSignedIn }: { onSignedIn: (account: Account) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    if (!token.trim()) {
      setError("Enter your API token.");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await api.signIn(token.trim()));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "That API token is not valid." : (err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="sign-in">
      <h1>Mailbridge</h1>
      <p class="muted">Sign in to manage your connections and iClients.</p>
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for="api-token">API token</label>
          <input
            id="api-token"
            type="password"
            autocomplete="current-password"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            aria-invalid={error ? "true" : undefined}
            aria-describedby={error ? "api-token-error" : undefined}
            autofocus
          />
          {error && (
            <p id="api-token-error" class="error" role="alert">
              {error}
            </p>
          )}
        </div>
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
