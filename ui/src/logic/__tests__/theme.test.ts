import { describe, expect, it } from "vitest";
import { applyTheme, nextChoice, parseChoice, resolveTheme } from "../theme";

describe("theme", () => {
  it("follows the system unless the person chose", () => {
    expect(resolveTheme(parseChoice(null), true)).toBe("dark");
    expect(resolveTheme(parseChoice("bogus"), false)).toBe("light");
    expect(resolveTheme(parseChoice("light"), true)).toBe("light");
    expect(resolveTheme(parseChoice("dark"), false)).toBe("dark");
  });

  it("toggles to the opposite of what is shown and marks the root", () => {
    expect(nextChoice("dark")).toBe("light");
    expect(nextChoice("light")).toBe("dark");
    const classes = new Set<string>();
    const root = {
      classList: { toggle: (c: string, on: boolean) => (on ? classes.add(c) : classes.delete(c)) } as unknown as DOMTokenList,
      dataset: {} as DOMStringMap,
    };
    applyTheme(root, "dark");
    expect([classes.has("dark"), root.dataset.theme]).toEqual([true, "dark"]);
    applyTheme(root, "light");
    expect([classes.has("dark"), root.dataset.theme]).toEqual([false, "light"]);
  });
});
