/**
 * The Gmail search language (`q`): operators from GOOGLE.md, implicit AND, `OR` (which binds
 * tighter than AND, as in Gmail), `-` negation, parentheses, `{a b}` any-of groups and quoted
 * phrases. `parseQuery` builds a tree; `matches` evaluates it against one message.
 */
import { BadInput } from "./errors.ts";
import { ageCutoff, parseDate } from "./search-dates.ts";

export type QueryNode =
  | { kind: "and"; items: QueryNode[] }
  | { kind: "or"; items: QueryNode[] }
  | { kind: "not"; item: QueryNode }
  | { kind: "term"; op?: string; value: string };

/** What a message offers the search. Strings are lower case. */
export interface SearchTarget {
  from: string;
  to: string;
  cc: string;
  bcc: string;
  deliveredTo: string;
  subject: string;
  text: string;
  labelIds: string[];
  /** Lower-case names of the message's labels. */
  labelNames: string[];
  internalDate: number;
  messageId: string;
  attachmentNames: string[];
  hasAttachment: boolean;
  size: number;
}

type Token = { type: "open" | "close" | "lbrace" | "rbrace" | "not" | "or" } | { type: "term"; op?: string; value: string };

/** How deep groups and negations may nest; deeper queries answer 400 instead of exhausting the stack. */
export const MAX_QUERY_DEPTH = 64;

function tooDeep(): BadInput {
  return new BadInput(`Invalid search query: nested more than ${MAX_QUERY_DEPTH} levels deep.`);
}

/** The index of the bracket closing the one at `open` (quotes skipped), or the end of `q`. */
function closingBracket(q: string, open: number): number {
  const [opener, closer] = q[open] === "(" ? ["(", ")"] : ["{", "}"];
  let depth = 0;
  for (let i = open; i < q.length; i += 1) {
    if (q[i] === '"') {
      const end = q.indexOf('"', i + 1);
      if (end < 0) return q.length;
      i = end;
    } else if (q[i] === opener) depth += 1;
    else if (q[i] === closer && --depth === 0) return i;
  }
  return q.length;
}

function tokenize(q: string, depth = 0): Token[] {
  if (depth > MAX_QUERY_DEPTH) throw tooDeep();
  const tokens: Token[] = [];
  let i = 0;
  const readValue = (): string => {
    if (q[i] === '"') {
      const end = q.indexOf('"', i + 1);
      const value = q.slice(i + 1, end < 0 ? q.length : end);
      i = end < 0 ? q.length : end + 1;
      return value;
    }
    const start = i;
    while (i < q.length && !/[\s(){}]/.test(q[i])) i += 1;
    return q.slice(start, i);
  };
  while (i < q.length) {
    const c = q[i];
    if (/\s/.test(c)) { i += 1; continue; }
    if (c === "(") { tokens.push({ type: "open" }); i += 1; continue; }
    if (c === ")") { tokens.push({ type: "close" }); i += 1; continue; }
    if (c === "{") { tokens.push({ type: "lbrace" }); i += 1; continue; }
    if (c === "}") { tokens.push({ type: "rbrace" }); i += 1; continue; }
    if (c === "-" && i + 1 < q.length && !/\s/.test(q[i + 1])) { tokens.push({ type: "not" }); i += 1; continue; }
    if (c === '"') { tokens.push({ type: "term", value: readValue() }); continue; }
    const op = /^([a-z_0-9]+):/i.exec(q.slice(i));
    if (op) {
      i += op[0].length;
      const bracket = q[i];
      if (bracket === "(" || bracket === "{") {
        // field:(a OR b) and field:{a b}: the group as written, the operator applied to each bare term.
        const end = closingBracket(q, i);
        const name = op[1].toLowerCase();
        const inner = tokenize(q.slice(i + 1, end), depth + 1).map((t) => (t.type === "term" && t.op === undefined ? { ...t, op: name } : t));
        i = Math.min(end + 1, q.length);
        tokens.push({ type: bracket === "(" ? "open" : "lbrace" }, ...inner, { type: bracket === "(" ? "close" : "rbrace" });
        continue;
      }
      tokens.push({ type: "term", op: op[1].toLowerCase(), value: readValue() });
      continue;
    }
    const word = readValue();
    if (word === "OR" || word === "|") tokens.push({ type: "or" });
    else if (word !== "AND" && word) tokens.push({ type: "term", value: word });
  }
  return tokens;
}

export function parseQuery(q: string): QueryNode {
  const tokens = tokenize(q);
  let pos = 0;
  let depth = 0;
  const parseSeq = (closer?: "close" | "rbrace"): QueryNode[] => {
    const items: QueryNode[] = [];
    while (pos < tokens.length && tokens[pos].type !== closer) {
      if (tokens[pos].type === "close" || tokens[pos].type === "rbrace") { pos += 1; continue; }
      items.push(parseOr());
    }
    if (pos < tokens.length) pos += 1;
    return items;
  };
  const parseUnary = (): QueryNode => {
    depth += 1;
    if (depth > MAX_QUERY_DEPTH) throw tooDeep();
    try {
      return unary();
    } finally {
      depth -= 1;
    }
  };
  const unary = (): QueryNode => {
    const t = tokens[pos++];
    if (!t) return { kind: "and", items: [] };
    if (t.type === "not") return { kind: "not", item: parseUnary() };
    if (t.type === "open") return { kind: "and", items: parseSeq("close") };
    if (t.type === "lbrace") return { kind: "or", items: parseSeq("rbrace") };
    if (t.type === "term") return { kind: "term", op: t.op, value: t.value };
    return { kind: "and", items: [] };
  };
  const parseOr = (): QueryNode => {
    const items = [parseUnary()];
    while (tokens[pos]?.type === "or") {
      pos += 1;
      items.push(parseUnary());
    }
    return items.length === 1 ? items[0] : { kind: "or", items };
  };
  return { kind: "and", items: parseSeq() };
}

/** Whether the query explicitly reaches into Spam or Trash (otherwise they are left out). */
export function reachesSpamTrash(node: QueryNode): boolean {
  switch (node.kind) {
    case "term":
      return (node.op === "in" || node.op === "label" || node.op === "is") && ["trash", "spam", "anywhere"].includes(node.value.toLowerCase());
    case "not":
      return false;
    default:
      return node.items.some(reachesSpamTrash);
  }
}

export function matches(node: QueryNode, m: SearchTarget, ctx: { now: number; me: string }): boolean {
  switch (node.kind) {
    case "and":
      return node.items.every((n) => matches(n, m, ctx));
    case "or":
      return node.items.some((n) => matches(n, m, ctx));
    case "not":
      return !matches(node.item, m, ctx);
    case "term":
      return term(node.op, node.value, m, ctx);
  }
}

function parseSize(value: string): number {
  const m = /^(\d+)([km]?)$/i.exec(value);
  if (!m) return Number.NaN;
  const mult = m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1024 * 1024 : 1;
  return Number(m[1]) * mult;
}

const normLabel = (s: string) => s.toLowerCase().replace(/[\s_/-]+/g, "-");

const IN_LABELS: Record<string, string> = {
  inbox: "INBOX", sent: "SENT", trash: "TRASH", spam: "SPAM", drafts: "DRAFT", draft: "DRAFT",
  starred: "STARRED", important: "IMPORTANT", chats: "CHAT", unread: "UNREAD",
};

function term(op: string | undefined, raw: string, m: SearchTarget, ctx: { now: number; me: string }): boolean {
  const value = raw.toLowerCase();
  const who = (field: string) => field.includes(value === "me" ? ctx.me : value);
  switch (op) {
    case undefined:
      return [m.subject, m.from, m.to, m.text, ...m.attachmentNames].some((f) => f.includes(value));
    case "from": return who(m.from);
    case "to": return who(m.to) || who(m.cc) || who(m.bcc);
    case "cc": return who(m.cc);
    case "bcc": return who(m.bcc);
    case "deliveredto": return who(m.deliveredTo);
    case "subject": return m.subject.includes(value);
    case "label":
      return m.labelIds.some((id) => normLabel(id) === normLabel(value)) || m.labelNames.some((n) => normLabel(n) === normLabel(value));
    case "in":
      if (value === "anywhere") return true;
      return IN_LABELS[value] ? m.labelIds.includes(IN_LABELS[value]) : term("label", value, m, ctx);
    case "is":
      if (value === "read") return !m.labelIds.includes("UNREAD");
      return IN_LABELS[value] ? m.labelIds.includes(IN_LABELS[value]) : false;
    case "category":
      return m.labelIds.includes(`CATEGORY_${value === "primary" ? "PERSONAL" : value.toUpperCase()}`);
    case "has":
      if (value === "attachment") return m.hasAttachment;
      if (value === "userlabels") return m.labelIds.some((l) => l.startsWith("Label_"));
      if (value === "nouserlabels") return !m.labelIds.some((l) => l.startsWith("Label_"));
      return false;
    case "filename":
      return m.attachmentNames.some((n) => n.toLowerCase().includes(value));
    case "after": case "before": {
      const at = parseDate(value);
      if (at === undefined || Number.isNaN(at)) return false;
      return op === "after" ? m.internalDate >= at : m.internalDate < at;
    }
    case "newer_than": case "older_than": {
      const cutoff = ageCutoff(value, ctx.now);
      if (cutoff === undefined || Number.isNaN(cutoff)) return false;
      return op === "newer_than" ? m.internalDate > cutoff : m.internalDate <= cutoff;
    }
    case "larger": case "size": return m.size >= parseSize(value);
    case "smaller": return m.size < parseSize(value);
    case "rfc822msgid": return m.messageId === value.replace(/^<|>$/g, "");
    default:
      return term(undefined, `${op}:${raw}`, m, ctx);
  }
}
