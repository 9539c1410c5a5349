/**
 * The walls of the layout (STYLE.md): arrows run one way. `core/` stands
 * below everything, `iclients/` reaches only into `core/`, the connector
 * imports nothing from `server/`, and the emulator shares no code with what it
 * stands in for.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

function sources(folder: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, folder))) {
    const rel = path.join(folder, name);
    if (statSync(path.join(root, rel)).isDirectory()) out.push(...sources(rel));
    else if (/\.tsx?$/.test(name)) out.push(rel);
  }
  return out;
}

/** Top-level folders each file of `folder` imports from (relative specifiers only). */
function reaches(folder: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sources(folder)) {
    const text = readFileSync(path.join(root, file), "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = path.relative(root, path.resolve(path.dirname(path.join(root, file)), m[1]!));
      const top = target.split(path.sep)[0]!;
      if (top !== folder) found.set(top, [...(found.get(top) ?? []), file]);
    }
  }
  return found;
}

describe("layering", () => {
  it.each([
    ["core", []],
    ["iclients", ["core"]],
    ["connector", []],
    ["emulator", []],
  ] as const)("%s imports only from %j", (folder, allowed) => {
    const found = reaches(folder);
    const stray = [...found.entries()].filter(([top]) => !(allowed as readonly string[]).includes(top));
    expect(stray).toEqual([]);
  });
});
