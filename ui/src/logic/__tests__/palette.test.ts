import { describe, expect, it } from "vitest";
import { keyCommand, moveSelection } from "../keys";
import { filterPalette, fuzzyScore, searchPalette, type PaletteItem } from "../palette";

const items: PaletteItem[] = [
  { kind: "task", id: "t-1", title: "Fix the flaky login test", detail: "running · development · t-1" },
  { kind: "worker", id: "w-1", title: "Fix the flaky login test", detail: "development · healthy · w-1" },
  { kind: "task", id: "t-2", title: "Rotate the API keys", detail: "completed · security · t-2" },
  { kind: "action", id: "theme", title: "Switch to dark theme", detail: "appearance" },
  { kind: "page", id: "board", title: "Board", detail: "queued running needs you done" },
];

describe("palette", () => {
  it("ranks a substring at a word start above a scattered match, and rejects a non-match", () => {
    expect(fuzzyScore("log", "Fix the flaky login test")).toBeGreaterThan(fuzzyScore("fxt", "Fix the flaky login test"));
    expect(fuzzyScore("fxt", "Fix the flaky login test")).toBeGreaterThan(0);
    expect(fuzzyScore("zz", "Fix the flaky login test")).toBe(-1);
  });

  it("needs every word, matches details, and lists actions and pages first for an empty query", () => {
    expect(filterPalette(items, "login").map((i) => i.id)).toEqual(["t-1", "w-1"]);
    expect(filterPalette(items, "security").map((i) => i.id)).toEqual(["t-2"]);
    expect(filterPalette(items, "login healthy").map((i) => i.id)).toEqual(["w-1"]);
    expect(filterPalette(items, "dark").map((i) => i.id)).toEqual(["theme"]);
    expect(filterPalette(items, "  ").map((i) => i.id)).toEqual(["theme", "board", "t-1", "t-2", "w-1"]);
    expect(filterPalette(items, "", 2)).toHaveLength(2);
  });

  it("says how many more match than it lists, and lists workers before any query", () => {
    const many: PaletteItem[] = [
      { kind: "action", id: "pause", title: "Pause spawning", detail: "engine" },
      ...Array.from({ length: 50 }, (_, i): PaletteItem => ({ kind: "task", id: `t-${i}`, title: `fix login ${i}`, detail: "task" })),
      ...Array.from({ length: 15 }, (_, i): PaletteItem => ({ kind: "worker", id: `w-${i}`, title: `fix login ${i} (development)`, detail: "worker" })),
    ];
    const found = searchPalette(many, "login", 40);
    expect([found.items.length, found.more]).toEqual([40, 25]);
    const idle = searchPalette(many, "", 40);
    expect(idle.items.filter((i) => i.kind === "worker").length).toBeGreaterThan(0);
    expect(idle.items.length + idle.more).toBe(many.length);
    expect(searchPalette(many, "pause", 40).more).toBe(0);
  });
});

describe("keys", () => {
  it("opens the palette with Ctrl-K or Cmd-K, even while typing", () => {
    expect(keyCommand({ key: "k", ctrlKey: true })).toBe("palette");
    expect(keyCommand({ key: "K", metaKey: true, targetTag: "INPUT" })).toBe("palette");
  });

  it("moves, opens and acts with single keys, but not while typing in a field", () => {
    expect(["j", "k", "Enter", "x", "r", "e", "ArrowDown"].map((key) => keyCommand({ key }))).toEqual([
      "down", "up", "open", "kill", "restart", "reply", "down",
    ]);
    expect(keyCommand({ key: "j", targetTag: "textarea" })).toBeNull();
    expect(keyCommand({ key: "x", targetEditable: true })).toBeNull();
    expect(keyCommand({ key: "r", ctrlKey: true })).toBeNull();
    expect(keyCommand({ key: "Escape", targetTag: "INPUT" })).toBe("back");
  });

  it("keeps the selection inside the list", () => {
    expect(moveSelection(-1, 1, 3)).toBe(0);
    expect(moveSelection(-1, -1, 3)).toBe(2);
    expect(moveSelection(2, 1, 3)).toBe(2);
    expect(moveSelection(0, -1, 3)).toBe(0);
    expect(moveSelection(1, 1, 0)).toBe(-1);
  });
});
