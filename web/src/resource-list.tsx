/**
 * What every resource list shows around its rows: the load error, the last
 * notice, Loading…, the empty message, and the table with its column heads
 * (the last column holds the row's actions).
 */
import type { ComponentChildren } from "preact";

export function ResourceList(props: {
  items: unknown[] | undefined;
  error?: string;
  notice?: string;
  empty: ComponentChildren;
  columns: string[];
  children: ComponentChildren;
}) {
  const { items } = props;
  return (
    <>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <p class="success" role="status">
        {props.notice}
      </p>
      {items === undefined && !props.error && <p class="muted">Loading…</p>}
      {items?.length === 0 && <p class="empty">{props.empty}</p>}
      {items && items.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              {props.columns.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>{props.children}</tbody>
        </table>
      )}
    </>
  );
}
