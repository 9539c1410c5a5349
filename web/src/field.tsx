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
