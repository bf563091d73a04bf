// Every text colour the markup uses, against the backgrounds it is drawn
// on, in both themes, at WCAG AA (4.5:1). The palettes are read from
// Tailwind's theme and our style.css, so a change to either is checked.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { contrastRatio, parseColor } from "../contrast";

const UI = join(__dirname, "../../..");
const read = (p: string) => readFileSync(join(UI, p), "utf8");

function vars(block: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of block.matchAll(/--color-([a-z]+-\d+|white|black):\s*([^;]+);/g)) out.set(m[1], m[2].trim());
  return out;
}
const blockOf = (css: string, selector: RegExp) => {
  const m = selector.exec(css);
  if (!m) throw new Error(`style.css has no ${selector}`);
  return css.slice(m.index, css.indexOf("}", m.index));
};

const tailwind = vars(read("node_modules/tailwindcss/theme.css"));
const style = read("src/style.css");
const light = new Map([...tailwind, ...vars(blockOf(style, /@theme\s*\{/))]);
const dark = new Map([...light, ...vars(blockOf(style, /:root\.dark\s*\{/))]);
const asideVars = vars(blockOf(style, /\naside\s*\{/));
const darkClass = new Map<string, string>();
for (const m of style.matchAll(/\.dark \.((?:text|bg)-[a-z]+-\d+|bg-white)\s*\{\s*(?:color|background-color):\s*([^;]+);/g)) {
  darkClass.set(m[1], m[2].trim());
}
const surface = { light: /:root\s*\{[^}]*--surface:\s*([^;]+);/.exec(style)![1], dark: /:root\.dark\s*\{[^}]*--surface:\s*([^;]+);/.exec(style)![1] };

type Mode = "light" | "dark";
function color(cls: string, mode: Mode, inAside = false): string {
  const [kind, ...rest] = cls.split("-");
  const name = rest.join("-");
  if (mode === "dark" && darkClass.has(cls)) {
    const v = darkClass.get(cls)!;
    return v === "var(--surface)" ? surface.dark : v;
  }
  if (name === "white") return kind === "bg" ? surface[mode] : "#fff";
  if (inAside && asideVars.has(name)) return asideVars.get(name)!;
  const v = (mode === "light" ? light : dark).get(name);
  if (!v) throw new Error(`no colour for ${cls}`);
  return v;
}
const ratio = (text: string, bg: string, mode: Mode, inAside = false) =>
  contrastRatio(parseColor(color(text, mode, inAside)), parseColor(color(bg, mode, inAside)));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === "__tests__" ? [] : sources(p);
    return /\.(ts|html|css)$/.test(f) && !f.endsWith(".test.ts") && f !== "demo.ts" ? [p] : [];
  });
}
const TEXT_TOKEN = /(?<![\w:-])text-((?:slate|red|amber|orange|emerald|sky|violet|indigo)-\d+)\b/g;
const used = new Set<string>();
for (const f of [...sources(join(UI, "src")), join(UI, "index.html")]) {
  for (const m of readFileSync(f, "utf8").matchAll(TEXT_TOKEN)) used.add(m[1]);
}
// Sidebar-only shades (on its dark background, checked below).
const SIDEBAR_ONLY = new Set(["slate-200", "slate-300"]);

describe("text contrast (WCAG AA, 4.5:1)", () => {
  it("reads the palettes and finds the text colours in use", () => {
    expect(used.size).toBeGreaterThan(10);
    expect(used.has("slate-400")).toBe(true);
    // Tailwind's own slate-400 on white is about 2.6:1: the reason for the override.
    expect(contrastRatio(parseColor(tailwind.get("slate-400")!), parseColor("#fff"))).toBeLessThan(3);
  });

  for (const mode of ["light", "dark"] as Mode[]) {
    it(`every text colour on the page backgrounds and its own tint, ${mode}`, () => {
      const bad: string[] = [];
      for (const c of used) {
        if (SIDEBAR_ONLY.has(c)) continue;
        const hue = c.split("-")[0];
        for (const bg of ["bg-white", "bg-slate-50", "bg-slate-100", `bg-${hue}-50`, `bg-${hue}-100`]) {
          const r = ratio(`text-${c}`, bg, mode);
          if (r < 4.5) bad.push(`text-${c} on ${bg}: ${r.toFixed(2)}`);
        }
      }
      expect(bad).toEqual([]);
    });

    it(`white text on filled buttons, toasts and the sidebar, ${mode}`, () => {
      const bad: string[] = [];
      for (const bg of ["bg-indigo-600", "bg-indigo-500", "bg-red-600", "bg-emerald-600", "bg-red-700", "bg-emerald-700", "bg-slate-800"]) {
        const r = ratio("text-white", bg, mode);
        if (r < 4.5) bad.push(`text-white on ${bg}: ${r.toFixed(2)}`);
      }
      for (const t of ["text-white", "text-slate-200", "text-slate-300", "text-slate-400"]) {
        for (const bg of ["bg-slate-900", "bg-slate-800"]) {
          const r = ratio(t, bg, mode, true);
          if (r < 4.5) bad.push(`sidebar ${t} on ${bg}: ${r.toFixed(2)}`);
        }
      }
      expect(ratio("text-slate-200", "bg-slate-700", mode, true)).toBeGreaterThan(4.5);
      expect(bad).toEqual([]);
    });
  }

  it("the diff's added and removed lines read in both themes", () => {
    for (const mode of ["light", "dark"] as Mode[]) {
      expect(ratio("text-emerald-900", "bg-emerald-50", mode)).toBeGreaterThan(4.5);
      expect(ratio("text-red-900", "bg-red-50", mode)).toBeGreaterThan(4.5);
      expect(ratio("text-sky-800", "bg-sky-50", mode)).toBeGreaterThan(4.5);
    }
  });
});

describe("chart axis text (WCAG AA on the cards)", () => {
  it("reads in both themes", () => {
    const charts = read("src/app/charts.ts");
    const m = /dark \? \{ text: "(#[0-9a-f]{6})"[^}]*\} : \{ text: "(#[0-9a-f]{6})"/.exec(charts);
    expect(m).not.toBeNull();
    const [, darkText, lightText] = m!;
    expect(contrastRatio(parseColor(darkText), parseColor(surface.dark))).toBeGreaterThan(4.5);
    expect(contrastRatio(parseColor(lightText), parseColor(surface.light))).toBeGreaterThan(4.5);
  });
});

describe("contrast arithmetic", () => {
  it("matches known WCAG ratios", () => {
    expect(contrastRatio(parseColor("#000"), parseColor("#fff"))).toBeCloseTo(21, 5);
    expect(contrastRatio(parseColor("#777777"), parseColor("#ffffff"))).toBeCloseTo(4.48, 2);
    // Tailwind 4's slate-500, published as #62748e.
    const s = parseColor("oklch(55.4% 0.046 257.417)").map((x) => Math.round(x * 255));
    expect(s).toEqual([0x62, 0x74, 0x8e]);
  });
});
