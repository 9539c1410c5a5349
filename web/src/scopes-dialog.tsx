/**
 * **Configure scopes**: two lists, the available and the selected scopes, and the
 * buttons Add (>), Add all (»), Remove (<) and Remove all («). Changes apply on
 * **Done**; Escape or Close leave the selection as it was.
 */
import { useState } from "preact/hooks";
import type { Scope } from "./api.ts";
import { Dialog } from "./dialog.tsx";

export function scopeText(scope: Scope | undefined, url: string): string {
  return scope ? `${scope.label} (${shortScope(url)})` : url;
}

/** `https://www.googleapis.com/auth/gmail.readonly` → `gmail.readonly`. */
export function shortScope(url: string): string {
  const m = /^https:\/\/www\.googleapis\.com\/auth\/(.+)$/.exec(url);
  return m ? m[1]! : url;
}

function selectedValues(id: string): string[] {
  const el = document.getElementById(id) as HTMLSelectElement | null;
  return el ? Array.from(el.selectedOptions, (o) => o.value) : [];
}

export function ScopesDialog(props: { catalogue: Scope[]; selected: string[]; onDone: (scopes: string[]) => void; onClose: () => void }) {
  const [chosen, setChosen] = useState<string[]>(props.selected);
  const inOrder = (list: string[]) => props.catalogue.map((s) => s.scope).filter((s) => list.includes(s));
  const available = props.catalogue.filter((s) => !chosen.includes(s.scope));
  const picked = inOrder(chosen).map((url) => props.catalogue.find((s) => s.scope === url)!);

  const add = (urls: string[]) => setChosen(inOrder([...chosen, ...urls]));
  const remove = (urls: string[]) => setChosen(chosen.filter((s) => !urls.includes(s)));

  const option = (s: Scope) => (
    <option key={s.scope} value={s.scope} title={`${s.description} (${s.sensitivity})`}>
      {scopeText(s, s.scope)}
      {s.sensitivity !== "non-sensitive" ? ` · ${s.sensitivity}` : ""}
    </option>
  );

  return (
    <Dialog title="Configure scopes" onClose={props.onClose} class="wide">
      <div class="dialog-body">
        <p class="muted">Choose what this connection may do in Gmail. Ask for the fewest scopes your flows need.</p>
        <div class="transfer">
          <div class="transfer-list">
            <label for="scopes-available">Available scopes</label>
            <select
              id="scopes-available"
              multiple
              size={10}
              onDblClick={() => add(selectedValues("scopes-available"))}
              onKeyDown={(e) => e.key === "Enter" && (e.preventDefault(), add(selectedValues("scopes-available")))}
            >
              {available.map(option)}
            </select>
          </div>
          <div class="transfer-buttons" role="group" aria-label="Move scopes">
            <button type="button" aria-label="Add" title="Add" onClick={() => add(selectedValues("scopes-available"))}>
              &gt;
            </button>
            <button type="button" aria-label="Add all" title="Add all" onClick={() => add(available.map((s) => s.scope))}>
              »
            </button>
            <button type="button" aria-label="Remove" title="Remove" onClick={() => remove(selectedValues("scopes-selected"))}>
              &lt;
            </button>
            <button type="button" aria-label="Remove all" title="Remove all" onClick={() => setChosen([])}>
              «
            </button>
          </div>
          <div class="transfer-list">
            <label for="scopes-selected">Selected scopes</label>
            <select
              id="scopes-selected"
              multiple
              size={10}
              onDblClick={() => remove(selectedValues("scopes-selected"))}
              onKeyDown={(e) => e.key === "Enter" && (e.preventDefault(), remove(selectedValues("scopes-selected")))}
            >
              {picked.map(option)}
            </select>
          </div>
        </div>
        <p class="muted" aria-live="polite">
          {chosen.length === 0 ? "No scopes selected." : `${chosen.length} of ${props.catalogue.length} scopes selected.`}
        </p>
      </div>
      <div class="dialog-actions">
        <button type="button" class="primary" onClick={() => props.onDone(inOrder(chosen))}>
          Done
        </button>
      </div>
    </Dialog>
  );
}
