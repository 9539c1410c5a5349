/**
 * The flow's source: a Gmail connection and what it exports (**Search query**,
 * **Labels**, **Format**, **Attachments**, **Max messages**, **Incremental**),
 * with a **Preview** of the first messages the query finds.
 */
import { useState } from "preact/hooks";
import { api, type Connection, type FoundMessage } from "./api.ts";
import { FieldError, LabeledField } from "./field.tsx";
import { ConnectionChoice } from "./connection-choice.tsx";
import { MAX_MESSAGES, type SourceDraft } from "./flow-draft.ts";

const PREVIEW_SIZE = 5;

/** Gmail's snippets are HTML-escaped (`&quot;`); parsing them inert gives the text back. */
const plainText = (html: string) => new DOMParser().parseFromString(html, "text/html").documentElement.textContent ?? html;

export function SourceCard(props: {
  source: SourceDraft;
  applicationName: string;
  connections: Connection[] | undefined;
  errors: Record<string, string>;
  onChange: (source: SourceDraft) => void;
  onCreateConnection: () => void;
  onRemove: () => void;
}) {
  const s = props.source;
  const err = (path: string) => props.errors[`source.${path}`];
  const set = <K extends keyof SourceDraft>(key: K, value: SourceDraft[K]) => props.onChange({ ...s, [key]: value });
  const [preview, setPreview] = useState<{ busy?: boolean; messages?: FoundMessage[]; error?: string }>();

  async function runPreview() {
    setPreview({ busy: true });
    try {
      const { messages } = await api.lookup(s.connectionId, { query: s.query.trim(), maxResults: PREVIEW_SIZE });
      setPreview({ messages });
    } catch (e) {
      setPreview({ error: (e as Error).message });
    }
  }

  return (
    <section class="step-card" aria-labelledby="flow-source-title">
      <header class="step-head">
        <h2 id="flow-source-title">Source</h2>
        <span class="muted">{props.applicationName} · export</span>
        <button type="button" class="danger-link" onClick={props.onRemove}>
          Remove source
        </button>
      </header>
      {(props.errors.source || props.errors["source.export"]) && (
        <p class="error" role="alert">
          {props.errors.source ?? props.errors["source.export"]}
        </p>
      )}
      <ConnectionChoice
        id="flow-src-connection"
        application={s.application}
        connections={props.connections}
        value={s.connectionId}
        error={err("connectionId")}
        onChange={(v) => set("connectionId", v)}
        onCreate={props.onCreateConnection}
      />
      <LabeledField id="flow-src-query" label="Search query" error={err("export.query")} hint={<>Gmail search, e.g. <code>is:unread newer_than:7d</code>. Empty: every message.</>}>
        {(a) => <input {...a} value={s.query} placeholder="from:orders@example.com newer_than:30d" onInput={(e) => set("query", e.currentTarget.value)} />}
      </LabeledField>
      <div class="field-grid">
        <LabeledField id="flow-src-labels" label="Labels" error={err("export.labelIds")} hint="Label ids, comma-separated (INBOX, UNREAD, Label_12).">
          {(a) => <input {...a} value={s.labels} onInput={(e) => set("labels", e.currentTarget.value)} />}
        </LabeledField>
        <LabeledField id="flow-src-max" label="Max messages" error={err("export.maxMessages")} hint="Stop a run after this many messages; empty: no limit.">
          {(a) => <input {...a} type="number" min={1} max={MAX_MESSAGES} step={1} inputMode="numeric" value={s.maxMessages} onInput={(e) => set("maxMessages", e.currentTarget.value)} />}
        </LabeledField>
        <LabeledField id="flow-src-format" label="Format" error={err("export.format")} hint="Full: headers and body. Metadata: headers. Minimal: ids and labels. Raw: the MIME message.">
          {(a) => (
            <select {...a} value={s.format} onChange={(e) => set("format", e.currentTarget.value as SourceDraft["format"])}>
              <option value="full">Full</option>
              <option value="metadata">Metadata</option>
              <option value="minimal">Minimal</option>
              <option value="raw">Raw</option>
            </select>
          )}
        </LabeledField>
        <LabeledField id="flow-src-attachments" label="Attachments" error={err("export.attachments")} hint="Metadata: name, type and size. Content: the files too (Full and Raw).">
          {(a) => (
            <select {...a} value={s.attachments} onChange={(e) => set("attachments", e.currentTarget.value as SourceDraft["attachments"])}>
              <option value="none">None</option>
              <option value="metadata">Metadata</option>
              <option value="content">Content</option>
            </select>
          )}
        </LabeledField>
      </div>
      <div class="field">
        <label class="check">
          <input type="checkbox" checked={s.incremental} aria-describedby="flow-src-incremental-hint" onChange={(e) => set("incremental", e.currentTarget.checked)} />
          Incremental
        </label>
        <p id="flow-src-incremental-hint" class="hint">
          Each run exports only what changed since the last one.
        </p>
        <FieldError id="flow-src-incremental" message={err("export.incremental")} />
      </div>
      <div class="preview">
        <button type="button" onClick={runPreview} disabled={!s.connectionId || !s.query.trim() || preview?.busy} aria-busy={preview?.busy ? "true" : undefined}>
          Preview
        </button>
        <span class="hint">{s.connectionId && s.query.trim() ? `The first ${PREVIEW_SIZE} messages the search query finds.` : "Choose a connection and enter a search query to preview what it finds."}</span>
        <div role="status">
          {preview?.error && <p class="error">Preview failed: {preview.error}</p>}
          {preview?.messages?.length === 0 && <p class="muted">No messages match.</p>}
        </div>
        {preview?.messages && preview.messages.length > 0 && (
          <ul class="preview-list" aria-label="Preview">
            {preview.messages.map((m) => (
              <li key={m.id}>
                <strong>{m.subject || "(no subject)"}</strong>
                <span class="muted">
                  {" "}
                  · {m.from} · {m.date}
                </span>
                <div class="hint">{plainText(m.snippet)}</div>
              </li>
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}
