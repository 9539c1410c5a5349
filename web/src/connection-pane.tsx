/**
 * The **Create connection** pane (and its Edit twin), SPEC §4: Name, Application,
 * Configure scopes, the iClient choice, Callback URL, Advanced concurrency, and
 * **Save & authorize**, which saves and runs the OAuth popup.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemsByField, type Application, type Connection, type ConnectionInput, type IClient } from "./api.ts";
import { Dialog } from "./dialog.tsx";
import { FieldError, errAttrs } from "./field.tsx";
import { ScopesDialog, scopeText, shortScope } from "./scopes-dialog.tsx";
import { IClientDialog } from "./iclient-dialog.tsx";
import { CopyButton } from "./copy-button.tsx";
import { AuthFeedback, useAuthorize } from "./use-authorize.tsx";

const FIELDS = ["name", "scopes", "iClientId", "borrowConcurrencyFrom", "concurrencyLevel"];
export const DEFAULT_CONCURRENCY = 5;

export interface ConnectionPaneProps {
  application: Application;
  connection?: Connection;
  connections: Connection[];
  iclients: IClient[];
  callbackUrl: string;
  onIClientSaved: (iclient: IClient) => void;
  /** The pane closes; `changed` when something was saved, `saved` the connection as last saved. */
  onClose: (changed: boolean, saved?: Connection) => void;
  /** Authorized without problems: close and show the list. */
  onAuthorized: (connection: Connection) => void;
  /** Saved or authorized with a warning: refresh the list behind the pane. */
  onChanged: () => void;
}

export function ConnectionPane(props: ConnectionPaneProps) {
  const { application } = props;
  const initial = props.connection;
  const [saved, setSaved] = useState<Connection | undefined>(initial);
  const [name, setName] = useState(initial?.name ?? "");
  const [scopes, setScopes] = useState<string[]>(initial?.scopes ?? application.defaultScopes);
  const [ownClient, setOwnClient] = useState(Boolean(initial?.iClientId));
  const [iClientId, setIClientId] = useState(initial?.iClientId ?? props.iclients.find((c) => c.application === application.id)?.id ?? "");
  const [borrow, setBorrow] = useState(initial?.borrowConcurrencyFrom ?? "");
  const [level, setLevel] = useState(String(initial?.concurrencyLevel ?? DEFAULT_CONCURRENCY));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [savedNote, setSavedNote] = useState<string>();
  const [dialog, setDialog] = useState<"scopes" | "add-iclient" | "edit-iclient" | null>(null);
  const auth = useAuthorize();
  const advancedRef = useRef<HTMLDetailsElement>(null);

  const iclients = props.iclients.filter((c) => c.application === application.id);
  const lenders = props.connections.filter((c) => c.id !== saved?.id);
  const selectedIClient = iclients.find((c) => c.id === iClientId);
  const catalogue = application.scopes;

  useEffect(() => {
    // Open Advanced when an error is inside it, so the message is seen.
    if ((errors.borrowConcurrencyFrom || errors.concurrencyLevel) && advancedRef.current) advancedRef.current.open = true;
  }, [errors]);

  /** The full body to create; for an update only what changed (an unchanged PATCH must not force reauthorization). */
  function body(): Partial<ConnectionInput> {
    const b: ConnectionInput = { name: name.trim(), application: application.id, scopes };
    b.iClientId = ownClient ? iClientId || null : null;
    if (borrow) b.borrowConcurrencyFrom = borrow;
    else {
      b.borrowConcurrencyFrom = null;
      b.concurrencyLevel = Number(level);
    }
    if (!saved) {
      if (!ownClient) delete b.iClientId;
      if (!borrow) delete b.borrowConcurrencyFrom;
      return b;
    }
    const patch: Partial<ConnectionInput> = {};
    if (b.name !== saved.name) patch.name = b.name;
    if ([...b.scopes].sort().join(" ") !== [...saved.scopes].sort().join(" ")) patch.scopes = b.scopes;
    if ((b.iClientId ?? null) !== (saved.iClientId ?? null)) patch.iClientId = b.iClientId;
    if ((b.borrowConcurrencyFrom ?? null) !== (saved.borrowConcurrencyFrom ?? null)) patch.borrowConcurrencyFrom = b.borrowConcurrencyFrom;
    if (b.concurrencyLevel !== undefined && b.concurrencyLevel !== saved.concurrencyLevel) patch.concurrencyLevel = b.concurrencyLevel;
    return patch;
  }

  function validate(): boolean {
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = "Enter a name for the connection.";
    else if (name.trim().length > 100) local.name = "Use at most 100 characters.";
    if (scopes.length === 0) local.scopes = "Choose at least one scope.";
    if (ownClient && !iClientId) local.iClientId = "Choose an iClient, or add one with +.";
    const n = Number(level);
    if (!borrow && (!Number.isInteger(n) || n < 1 || n > 25)) local.concurrencyLevel = "Enter a whole number from 1 to 25.";
    setErrors(local);
    return Object.keys(local).length === 0;
  }

  async function persist(): Promise<Connection | undefined> {
    try {
      const b = body();
      const result = saved
        ? Object.keys(b).length
          ? await api.updateConnection(saved.id, b)
          : saved
        : await api.createConnection(b as ConnectionInput);
      setSaved(result);
      props.onChanged();
      return result;
    } catch (err) {
      const p = problemsByField(err, FIELDS);
      setErrors(p.fields);
      setGeneral(p.general);
      return undefined;
    }
  }

  async function saveOnly() {
    setGeneral(undefined);
    setSavedNote(undefined);
    if (!validate()) return;
    setBusy(true);
    const result = await persist();
    setBusy(false);
    if (result) setSavedNote(result.status === "online" ? "Saved." : "Saved. Authorize the connection to use it.");
  }

  function saveAndAuthorize() {
    setGeneral(undefined);
    setSavedNote(undefined);
    if (!validate()) return;
    // The popup must open now, inside the click, before anything is awaited.
    const popup = auth.open();
    setBusy(true);
    void (async () => {
      const conn = await persist();
      if (!conn) {
        auth.abandon(popup);
        setBusy(false);
        return;
      }
      const outcome = await auth.run(conn.id, popup);
      setBusy(false);
      if (outcome?.ok && !outcome.missingScopes?.length) props.onAuthorized(conn);
      else props.onChanged();
    })();
  }

  return (
    <Dialog title={initial ? "Edit connection" : "Create connection"} onClose={() => props.onClose(Boolean(saved) && saved !== initial, saved)} class="pane">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          saveAndAuthorize();
        }}
        noValidate
      >
        <div class="dialog-body">
          <div class="field">
            <label for="conn-name">Name</label>
            <input id="conn-name" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} {...errAttrs("conn-name", errors.name)} />
            <FieldError id="conn-name" message={errors.name} />
          </div>
          <div class="field">
            <label for="conn-application">Application</label>
            <input id="conn-application" value={application.name} readOnly />
          </div>
          <div class="field">
            <span class="label" id="conn-scopes-label">
              Scopes
            </span>
            <ul class="scope-summary" aria-labelledby="conn-scopes-label">
              {scopes.length === 0 && <li class="muted">None selected</li>}
              {scopes.map((s) => (
                <li key={s} title={s}>
                  {scopeText(catalogue.find((c) => c.scope === s), s)}
                </li>
              ))}
            </ul>
            <button type="button" onClick={() => setDialog("scopes")} {...errAttrs("conn-scopes", errors.scopes)}>
              Configure scopes
            </button>
            <FieldError id="conn-scopes" message={errors.scopes} />
          </div>
          <div class="field">
            <label class="check">
              <input type="checkbox" checked={ownClient} onChange={(e) => setOwnClient(e.currentTarget.checked)} />
              Configure your client id and secret
            </label>
            {ownClient && (
              <div class="iclient-row">
                <div class="grow">
                  <label for="conn-iclient">iClient</label>
                  <select id="conn-iclient" value={iClientId} onChange={(e) => setIClientId(e.currentTarget.value)} {...errAttrs("conn-iclient", errors.iClientId)}>
                    <option value="">Choose an iClient…</option>
                    {iclients.map((c) => (
                      <option key={c.id} value={c.id}>
                        {c.name}
                      </option>
                    ))}
                  </select>
                </div>
                <button type="button" class="icon" aria-label="Add iClient" title="Add iClient" onClick={() => setDialog("add-iclient")}>
                  +
                </button>
                <button type="button" aria-label="Edit iClient" title="Edit iClient" disabled={!selectedIClient} onClick={() => setDialog("edit-iclient")}>
                  Edit
                </button>
              </div>
            )}
            <FieldError id="conn-iclient" message={errors.iClientId} />
            {ownClient && selectedIClient?.callbackUrlRegistered === false && (
              <p class="warning">This iClient's redirect URIs do not include the callback URL below: add it in the Google Cloud console.</p>
            )}
          </div>
          <div class="field">
            <label for="conn-callback">Callback URL</label>
            <div class="copy-row">
              <input id="conn-callback" value={saved?.callbackUrl ?? props.callbackUrl} readOnly aria-describedby="conn-callback-hint" />
              <CopyButton text={saved?.callbackUrl ?? props.callbackUrl} label="Copy" />
            </div>
            <p id="conn-callback-hint" class="hint">
              Register this as an authorized redirect URI of your OAuth client in the Google Cloud console.
            </p>
          </div>
          <details class="advanced" ref={advancedRef}>
            <summary>Advanced</summary>
            <div class="field">
              <label for="conn-borrow">Borrow concurrency from</label>
              <select id="conn-borrow" value={borrow} onChange={(e) => setBorrow(e.currentTarget.value)} {...errAttrs("conn-borrow", errors.borrowConcurrencyFrom, "conn-borrow-hint")}>
                <option value="">Don't borrow (use this connection's own level)</option>
                {lenders.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
              <p id="conn-borrow-hint" class="hint">
                A connection that borrows shares the other connection's queue and limit.
              </p>
              <FieldError id="conn-borrow" message={errors.borrowConcurrencyFrom} />
            </div>
            <div class="field">
              <label for="conn-level">Concurrency level</label>
              <input
                id="conn-level"
                type="number"
                min={1}
                max={25}
                step={1}
                inputMode="numeric"
                value={borrow ? "" : level}
                disabled={Boolean(borrow)}
                placeholder={borrow ? "Borrowed" : ""}
                onInput={(e) => setLevel(e.currentTarget.value)}
                {...errAttrs("conn-level", errors.concurrencyLevel, "conn-level-hint")}
              />
              <p id="conn-level-hint" class="hint">
                At most this many Gmail requests in flight at once (1 to 25).
                {saved?.effectiveConcurrency != null ? ` In effect now: ${saved.effectiveConcurrency}.` : ""}
              </p>
              <FieldError id="conn-level" message={errors.concurrencyLevel} />
            </div>
          </details>
          {general && (
            <p class="error" role="alert">
              {general}
            </p>
          )}
          {savedNote && (
            <p class="success" role="status">
              {savedNote}
            </p>
          )}
          <AuthFeedback state={auth.state} catalogue={catalogue} onOpenLink={auth.followLink} />
        </div>
        <div class="dialog-actions">
          <button type="submit" class="primary" disabled={busy}>
            Save &amp; authorize
          </button>
          {initial && (
            <button type="button" disabled={busy} onClick={saveOnly}>
              Save
            </button>
          )}
          <button type="button" onClick={() => props.onClose(Boolean(saved) && saved !== initial, saved)}>
            Cancel
          </button>
        </div>
      </form>
      {dialog === "scopes" && (
        <ScopesDialog
          catalogue={catalogue}
          selected={scopes}
          onClose={() => setDialog(null)}
          onDone={(s) => {
            setScopes(s);
            setErrors((x) => ({ ...x, scopes: "" }));
            setDialog(null);
          }}
        />
      )}
      {(dialog === "add-iclient" || dialog === "edit-iclient") && (
        <IClientDialog
          iclient={dialog === "edit-iclient" ? selectedIClient : undefined}
          application={application.id}
          callbackUrl={saved?.callbackUrl ?? props.callbackUrl}
          onClose={() => setDialog(null)}
          onSaved={(c) => {
            props.onIClientSaved(c);
            setIClientId(c.id);
            setErrors((x) => ({ ...x, iClientId: "" }));
            setDialog(null);
          }}
        />
      )}
    </Dialog>
  );
}

export { shortScope };
