/**
 * The flow builder (SPEC §4): **Name**, **Add source** and **Add
 * destination/lookup** (both open the application list), a connection step
 * that can create a connection with the usual pane, the export and import
 * settings, **Save**, **Run flow** and the run's progress.
 */
import { useEffect, useState } from "preact/hooks";
import { api, problemsByField, type Application, type Flow, type Run } from "./api.ts";
import { ApplicationList } from "./application-list.tsx";
import { ConnectionPane } from "./connection-pane.tsx";
import { LabeledField } from "./field.tsx";
import { SourceCard } from "./flow-source.tsx";
import { DestinationCard } from "./flow-destination.tsx";
import { ArchiveDestinationCard, ArchiveSourceCard } from "./archive-steps.tsx";
import { RunPanel } from "./run-panel.tsx";
import { RecentRuns } from "./recent-runs.tsx";
import { WhenCard } from "./flow-when.tsx";
import { bodyOf, draftOf, isActive, newDestination, newSource, newWhen, validateDraft, writesArchive, type FlowDraft } from "./flow-draft.ts";
import { ARCHIVE } from "./api.ts";
import { useApplications, useConnections } from "./use-connections.ts";

/** Where a connection picked or created in the builder goes: the source, or the destination with this key. */
type Target = "source" | number;

/** Every path the builder shows a message at (the API's `body.…` field paths). */
function knownPaths(draft: FlowDraft): string[] {
  const paths = ["name", "source", "source.connectionId", "source.archiveId", "source.export", "destinations", "trigger", "enabled"];
  for (const f of ["type", "every", "cron", "timezone", "labelIds", "query", "pollEvery", "backfill"]) paths.push(`trigger.${f}`);
  for (const f of ["query", "labelIds", "format", "attachments", "maxMessages", "incremental"]) paths.push(`source.export.${f}`);
  draft.destinations.forEach((_, i) => {
    const d = `destinations.${i}`;
    paths.push(d, `${d}.application`, `${d}.connectionId`, `${d}.import`, `${d}.import.action`, `${d}.import.labelIds`, `${d}.mapping`);
    for (const f of ["to", "cc", "subject", "text"]) paths.push(`${d}.mapping.${f}`);
  });
  return paths;
}

/** How often a builder showing a triggered flow looks for runs it started by itself. */
const TRIGGER_REFRESH_MS = 3000;

const focusSoon = (id: string) => setTimeout(() => document.getElementById(id)?.focus(), 0);

export function FlowBuilder(props: { flowId?: string; onSaved: (flow: Flow) => void; onBack: () => void }) {
  const { connections, refresh, paneProps } = useConnections();
  const { applications, error: appsError } = useApplications();
  const [saved, setSaved] = useState<Flow>();
  const [draft, setDraft] = useState<FlowDraft>({ name: "", destinations: [], when: newWhen() });
  const [loading, setLoading] = useState(Boolean(props.flowId));
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState<"save" | "run">();
  const [picking, setPicking] = useState<"source" | "destination">();
  const [creating, setCreating] = useState<{ target: Target; application: Application }>();
  const [runs, setRuns] = useState<Run[]>([]);
  const [runId, setRunId] = useState<string>();
  const [runActive, setRunActive] = useState(false);

  useEffect(() => {
    if (!props.flowId) return;
    let live = true;
    Promise.all([api.flow(props.flowId), api.flowRuns(props.flowId).catch(() => [] as Run[])]).then(
      ([flow, list]) => {
        if (!live) return;
        setSaved(flow);
        setDraft(draftOf(flow, []));
        setRuns(list);
        if (list[0]) setRunId(list[0].id);
        setLoading(false);
      },
      (err) => live && (setGeneral(`Could not load the flow: ${(err as Error).message}`), setLoading(false)),
    );
    return () => {
      live = false;
    };
  }, [props.flowId]);

  // A flow that runs by itself: its runs appear without pressing Run, and its next run time moves on.
  const triggered = Boolean(saved && saved.enabled !== false && saved.trigger && saved.trigger.type !== "manual");
  useEffect(() => {
    if (!triggered || !saved) return;
    let live = true;
    const timer = setInterval(() => {
      void Promise.all([api.flowRuns(saved.id), api.flow(saved.id)]).then(
        ([list, flow]) => {
          if (!live) return;
          setRuns(list);
          setSaved((s) => (s && s.id === flow.id ? { ...s, nextRunAt: flow.nextRunAt, watch: flow.watch } : s));
          if (list[0] && !runActive) setRunId(list[0].id);
        },
        () => {},
      );
    }, TRIGGER_REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [triggered, saved?.id, runActive]);

  const appName = (id: string) => applications?.find((a) => a.id === id)?.name ?? id;
  const forSource = applications?.filter((a) => a.supports?.source ?? true) ?? [];
  const forDestination = applications?.filter((a) => (a.supports ? a.supports.destination || a.supports.lookup : true)) ?? [];

  function update(next: FlowDraft) {
    setDraft(next);
    setDirty(true);
    setNotice(undefined);
  }

  function assign(target: Target, connectionId: string) {
    setDraft((d) =>
      target === "source"
        ? { ...d, source: d.source && { ...d.source, connectionId } }
        : { ...d, destinations: d.destinations.map((x) => (x.key === target ? { ...x, connectionId } : x)) },
    );
    setDirty(true);
  }

  function choose(application: Application) {
    if (picking === "source") {
      update({ ...draft, source: newSource(application.id) });
      focusSoon(application.id === ARCHIVE ? "flow-src-archive" : "flow-src-connection");
    } else {
      update({ ...draft, destinations: [...draft.destinations, newDestination(application.id)] });
      focusSoon(`flow-dst-${draft.destinations.length}-connection`);
    }
    setPicking(undefined);
  }

  /** Save the draft; the saved flow, or undefined with the problems shown next to their fields. */
  async function save(): Promise<Flow | undefined> {
    setGeneral(undefined);
    setNotice(undefined);
    const local = validateDraft(draft);
    setErrors(local);
    if (Object.keys(local).length) return undefined;
    try {
      const body = bodyOf(draft);
      const flow = saved ? await api.updateFlow(saved.id, body) : await api.createFlow(body);
      setSaved(flow);
      setDirty(false);
      props.onSaved(flow);
      return flow;
    } catch (err) {
      const p = problemsByField(err, knownPaths(draft));
      setErrors(p.fields);
      setGeneral(p.general);
      return undefined;
    }
  }

  async function onSave() {
    setBusy("save");
    const flow = await save();
    setBusy(undefined);
    if (flow) setNotice(`Saved ${flow.name}.`);
  }

  async function onRun() {
    setBusy("run");
    try {
      const flow = dirty || !saved ? await save() : saved;
      if (!flow) return;
      const { runId: id } = await api.runFlow(flow.id);
      setRunActive(true);
      setRunId(id);
    } catch (err) {
      setGeneral(`Could not start the run: ${(err as Error).message}`);
    } finally {
      setBusy(undefined);
    }
  }

  function onRunChange(run: Run) {
    setRunActive(isActive(run));
    setRuns((list) => [run, ...list.filter((r) => r.id !== run.id)]);
  }

  const title = saved ? saved.name : "New flow";
  if (loading) return <p class="muted">Loading…</p>;

  return (
    <section aria-labelledby="flow-title" class="builder">
      <div class="view-head">
        <div>
          <a href="#/flows" class="back" onClick={(e) => (e.preventDefault(), props.onBack())}>
            ← Flows
          </a>
          <h1 id="flow-title">{title}</h1>
        </div>
      </div>
      {appsError && (
        <p class="error" role="alert">
          {appsError}
        </p>
      )}
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void onSave();
        }}
      >
        <LabeledField id="flow-name" label="Name" error={errors.name} class="name-field">
          {(a) => <input {...a} value={draft.name} maxLength={100} onInput={(e) => update({ ...draft, name: e.currentTarget.value })} />}
        </LabeledField>

        <div class="flow-steps">
          {draft.source?.application === ARCHIVE ? (
            <ArchiveSourceCard
              source={draft.source}
              errors={errors}
              onChange={(source) => update({ ...draft, source })}
              onRemove={() => {
                update({ ...draft, source: undefined });
                setErrors({});
                focusSoon("flow-add-source");
              }}
            />
          ) : draft.source ? (
            <SourceCard
              source={draft.source}
              applicationName={appName(draft.source.application)}
              connections={connections}
              errors={errors}
              onChange={(source) => update({ ...draft, source })}
              onCreateConnection={() => setCreating({ target: "source", application: applications!.find((a) => a.id === draft.source!.application)! })}
              onRemove={() => {
                update({ ...draft, source: undefined });
                setErrors({});
                focusSoon("flow-add-source");
              }}
            />
          ) : (
            <div class="step-card empty-step">
              <button type="button" id="flow-add-source" class="add-step" onClick={() => setPicking("source")} disabled={!applications} {...(errors.source ? { "aria-describedby": "flow-add-source-error" } : {})}>
                + Add source
              </button>
              <p class="hint">Where the messages come from.</p>
              {errors.source && (
                <p id="flow-add-source-error" class="error field-error" role="alert">
                  {errors.source}
                </p>
              )}
            </div>
          )}

          {draft.destinations.map((d, i) =>
            d.application === ARCHIVE ? (
              <ArchiveDestinationCard
                key={d.key}
                index={i}
                onRemove={() => {
                  update({ ...draft, destinations: draft.destinations.filter((x) => x.key !== d.key) });
                  setErrors({});
                  focusSoon("flow-add-destination");
                }}
              />
            ) : (
            <DestinationCard
              key={d.key}
              index={i}
              destination={d}
              applicationName={appName(d.application)}
              connections={connections}
              errors={errors}
              onChange={(next) => update({ ...draft, destinations: draft.destinations.map((x) => (x.key === d.key ? next : x)) })}
              onCreateConnection={() => setCreating({ target: d.key, application: applications!.find((a) => a.id === d.application)! })}
              onRemove={() => {
                update({ ...draft, destinations: draft.destinations.filter((x) => x.key !== d.key) });
                setErrors({});
                focusSoon("flow-add-destination");
              }}
            />
            ),
          )}
          <div class="step-card empty-step">
            <button type="button" id="flow-add-destination" class="add-step" onClick={() => setPicking("destination")} disabled={!applications} {...(errors.destinations ? { "aria-describedby": "flow-add-destination-error" } : {})}>
              + Add destination/lookup
            </button>
            <p class="hint">What happens to each exported message. Add several to do more than one thing.</p>
            {errors.destinations && (
              <p id="flow-add-destination-error" class="error field-error" role="alert">
                {errors.destinations}
              </p>
            )}
          </div>
        </div>

        <WhenCard when={draft.when} saved={dirty ? undefined : saved} errors={errors} onChange={(when) => update({ ...draft, when })} />

        {general && (
          <p class="error" role="alert">
            {general}
          </p>
        )}
        <p class="success" role="status">
          {notice}
        </p>
        <div class="builder-actions">
          <button type="submit" class="primary" disabled={Boolean(busy)}>
            Save
          </button>
          <button type="button" onClick={onRun} disabled={Boolean(busy) || runActive} aria-busy={busy === "run" ? "true" : undefined}>
            Run flow
          </button>
          {dirty && saved && <span class="hint">Unsaved changes: Run flow saves them first.</span>}
        </div>
      </form>

      {runId && <RunPanel key={runId} runId={runId} onChange={onRunChange} archive={writesArchive(saved)} />}
      {runs.length > 1 && <RecentRuns runs={runs} current={runId} onShow={setRunId} />}

      {picking && applications && (
        <ApplicationList
          applications={picking === "source" ? forSource : forDestination}
          intro={picking === "source" ? "Export messages from:" : "Send, file or look up messages in:"}
          onChoose={choose}
          onClose={() => setPicking(undefined)}
        />
      )}
      {creating && (
        <ConnectionPane
          {...paneProps}
          application={creating.application}
          onChanged={() => void refresh()}
          onClose={(_changed, conn) => {
            if (conn) assign(creating.target, conn.id);
            setCreating(undefined);
            void refresh();
          }}
          onAuthorized={(conn) => {
            assign(creating.target, conn.id);
            setCreating(undefined);
            void refresh();
          }}
        />
      )}
    </section>
  );
}
