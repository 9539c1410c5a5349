/**
 * Add or edit an iClient: a name and either the client ID and secret or the
 * JSON file Google's console downloads. Warns when that file's redirect URIs
 * lack our callback URL, the commonest setup mistake.
 */
import { useState } from "preact/hooks";
import { api, problemsByField, type IClient } from "./api.ts";
import { Dialog } from "./dialog.tsx";
import { FieldError, errAttrs } from "./field.tsx";

interface GoogleClientFile {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  json: unknown;
}

/** Read `{"web": {...}}` or `{"installed": {...}}`; throws a message a person can act on. */
export function parseClientJson(text: string): GoogleClientFile {
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("That file is not JSON. Download the client's JSON from the Google Cloud console (Credentials → OAuth 2.0 Client IDs).");
  }
  const inner = json?.web ?? json?.installed;
  if (!inner || typeof inner.client_id !== "string") {
    throw new Error('That JSON is not a Google OAuth client file: it has no "web" or "installed" client with a client_id.');
  }
  return {
    clientId: inner.client_id,
    clientSecret: typeof inner.client_secret === "string" ? inner.client_secret : "",
    redirectUris: Array.isArray(inner.redirect_uris) ? inner.redirect_uris.map(String) : [],
    json,
  };
}

const FIELDS = ["name", "clientId", "clientSecret", "clientJson"];

export function IClientDialog(props: {
  iclient?: IClient;
  application: string;
  callbackUrl: string;
  onSaved: (iclient: IClient) => void;
  onClose: () => void;
}) {
  const editing = props.iclient;
  const [name, setName] = useState(editing?.name ?? "");
  const [clientId, setClientId] = useState(editing?.clientId ?? "");
  const [clientSecret, setClientSecret] = useState("");
  const [allowBilled, setAllowBilled] = useState(editing?.allowBilledUsage ?? false);
  const [file, setFile] = useState<GoogleClientFile>();
  const [fileName, setFileName] = useState<string>();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string>();
  const [busy, setBusy] = useState(false);

  const missingCallback =
    (file && !file.redirectUris.includes(props.callbackUrl)) || (!file && editing?.callbackUrlRegistered === false);

  async function onFile(e: Event) {
    const input = e.currentTarget as HTMLInputElement;
    const f = input.files?.[0];
    setErrors((x) => ({ ...x, clientJson: "" }));
    if (!f) return;
    try {
      const parsed = parseClientJson(await f.text());
      setFile(parsed);
      setFileName(f.name);
      setClientId(parsed.clientId);
      setClientSecret(parsed.clientSecret);
    } catch (err) {
      setFile(undefined);
      setErrors((x) => ({ ...x, clientJson: (err as Error).message }));
      input.value = "";
    }
  }

  async function save(e: Event) {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = "Enter a name.";
    if (!file && !clientId.trim()) local.clientId = "Enter the client ID, or upload the client JSON file.";
    if (!file && !editing && !clientSecret) local.clientSecret = "Enter the client secret.";
    setErrors(local);
    setGeneral(undefined);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      let body: Record<string, unknown>;
      if (file) body = { name: name.trim(), clientJson: file.json };
      else {
        body = { name: name.trim() };
        if (!editing || clientId.trim() !== editing.clientId) body.clientId = clientId.trim();
        if (clientSecret) body.clientSecret = clientSecret;
      }
      if (!editing || allowBilled !== (editing.allowBilledUsage ?? false)) body.allowBilledUsage = allowBilled;
      const saved = editing
        ? await api.updateIClient(editing.id, body)
        : await api.createIClient({ application: props.application, ...body } as any);
      props.onSaved(saved);
    } catch (err) {
      const p = problemsByField(err, FIELDS);
      setErrors(p.fields);
      setGeneral(p.general);
    } finally {
      setBusy(false);
    }
  }

  const inUse = editing && editing.usedBy.length > 0;
  return (
    <Dialog title={editing ? "Edit iClient" : "Add iClient"} onClose={props.onClose}>
      <form onSubmit={save} noValidate>
        <div class="dialog-body">
          <div class="field">
            <label for="iclient-name">Name</label>
            <input id="iclient-name" value={name} onInput={(e) => setName(e.currentTarget.value)} {...errAttrs("iclient-name", errors.name)} />
            <FieldError id="iclient-name" message={errors.name} />
          </div>
          <div class="field">
            <label for="iclient-file">Google client JSON file</label>
            <input id="iclient-file" type="file" accept="application/json,.json" onChange={onFile} {...errAttrs("iclient-file", errors.clientJson)} />
            <p class="hint">
              {fileName ? `Loaded ${fileName}.` : "Optional: fills the client ID and secret from the file the Google Cloud console downloads."}
            </p>
            <FieldError id="iclient-file" message={errors.clientJson} />
          </div>
          {missingCallback && (
            <p class="warning" role="alert">
              {file ? "This client's redirect URIs do not include" : "When this client was imported, its redirect URIs did not include"} the callback URL{" "}
              <code>{props.callbackUrl}</code>. Add it under Authorized redirect URIs in the Google Cloud console, or Google will refuse
              to authorize (redirect_uri_mismatch).
            </p>
          )}
          <div class="field">
            <label for="iclient-id">Client ID</label>
            <input
              id="iclient-id"
              value={clientId}
              autocomplete="off"
              spellcheck={false}
              onInput={(e) => {
                setClientId(e.currentTarget.value);
                setFile(undefined);
              }}
              {...errAttrs("iclient-id", errors.clientId)}
            />
            <FieldError id="iclient-id" message={errors.clientId} />
            {inUse && (
              <p class="hint">
                Used by {editing!.usedBy.map((c) => c.name).join(", ")}. Changing the client ID takes them offline until they are reauthorized.
              </p>
            )}
          </div>
          <div class="field">
            <label for="iclient-secret">Client secret</label>
            <input
              id="iclient-secret"
              type="password"
              autocomplete="new-password"
              value={clientSecret}
              placeholder={editing ? `Unchanged${editing.clientSecretHint ? ` (${editing.clientSecretHint})` : ""}` : ""}
              onInput={(e) => {
                setClientSecret(e.currentTarget.value);
                setFile(undefined);
              }}
              {...errAttrs("iclient-secret", errors.clientSecret)}
            />
            <FieldError id="iclient-secret" message={errors.clientSecret} />
          </div>
          <div class="field">
            <label class="check">
              <input type="checkbox" checked={allowBilled} onChange={(e) => setAllowBilled(e.currentTarget.checked)} aria-describedby="iclient-billed-hint" />
              Allow billed usage
            </label>
            <p class="hint" id="iclient-billed-hint">
              Past Google's daily threshold of Gmail quota units per project, usage is charged. Unticked, this iClient's runs pause
              until the next day (UTC) instead.
            </p>
          </div>
          {general && (
            <p class="error" role="alert">
              {general}
            </p>
          )}
        </div>
        <div class="dialog-actions">
          <button type="submit" class="primary" disabled={busy}>
            Save
          </button>
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
