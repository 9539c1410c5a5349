import type { ComponentChildren } from "preact";

/** The message under a form control, tied to it with aria-describedby (see {@link errAttrs}). */
export function FieldError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return (
    <p id={`${id}-error`} class="error field-error" role="alert">
      {message}
    </p>
  );
}

/** `aria-invalid` and `aria-describedby` for a control whose error is shown by {@link FieldError}. */
export function errAttrs(id: string, message: string | undefined, hintId?: string) {
  if (!message) return hintId ? { "aria-describedby": hintId } : {};
  return { "aria-invalid": "true" as const, "aria-describedby": hintId ? `${id}-error ${hintId}` : `${id}-error` };
}

/**
 * A labelled control with its hint and error: `children` gets the attributes
 * that tie the control to both (`id`, `aria-invalid`, `aria-describedby`).
 */
export function LabeledField(props: {
  id: string;
  label: string;
  hint?: ComponentChildren;
  error?: string;
  class?: string;
  children: (attrs: { id: string; "aria-invalid"?: "true"; "aria-describedby"?: string }) => ComponentChildren;
}) {
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  return (
    <div class={`field ${props.class ?? ""}`}>
      <label for={props.id}>{props.label}</label>
      {props.children({ id: props.id, ...errAttrs(props.id, props.error, hintId) })}
      {props.hint && (
        <p id={hintId} class="hint">
          {props.hint}
        </p>
      )}
      <FieldError id={props.id} message={props.error} />
    </div>
  );
}
