// The command palette (Ctrl/Cmd-K) over tasks, workers, pages and actions;
// the list keys (j/k, Enter, x kill, r restart, e reply) on the focused
// row of the open page; and the light/dark toggle.

import { shortId, truncate } from "../../logic/format";
import { keyCommand, moveSelection, SHORTCUTS } from "../../logic/keys";
import { workerActions } from "../../logic/workers";
import { searchPalette, type PaletteItem } from "../../logic/palette";
import { applyTheme, nextChoice, parseChoice, resolveTheme, THEME_KEY } from "../../logic/theme";
import { NAV, type AppState } from "../state";
import type { Kit } from "./kit";

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** Applies the kept choice (else the system's) now and whenever the system changes. */
export function startTheme(s: AppState): void {
  const media = typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const apply = () => {
    s.theme = resolveTheme(parseChoice(storage()?.getItem(THEME_KEY)), !!media?.matches);
    applyTheme(document.documentElement, s.theme);
  };
  apply();
  media?.addEventListener("change", apply);
}

export function toggleTheme(s: AppState): void {
  storage()?.setItem(THEME_KEY, nextChoice(s.theme));
  s.theme = s.theme === "dark" ? "light" : "dark";
  applyTheme(document.documentElement, s.theme);
}

/** The rows of the open page that the list keys move through. */
function navRows(): HTMLElement[] {
  return Array.from(document.querySelectorAll<HTMLElement>("main [data-nav-row]"));
}

export function registerPalette(k: Kit): void {
  const { Alpine, s, c, raw } = k;
  Alpine.data("commandPalette", () => ({
    open: false,
    query: "",
    index: 0,
    shortcuts: SHORTCUTS,
    get items(): PaletteItem[] {
      return this.found.items;
    },
    /** "12 more match: type more words" under the list; "" when all are shown. */
    get moreText(): string {
      const n = this.found.more;
      if (n === 0) return "";
      return this.query.trim() ? `${n} more match: type more to narrow` : `${n} more tasks and workers: type to search them`;
    },
    get found(): { items: PaletteItem[]; more: number } {
      if (!this.open) return { items: [], more: 0 };
      const pages: PaletteItem[] = NAV.map((n) => ({ kind: "page", id: n.id, title: `Go to ${n.label}`, detail: "page" }));
      const actions: PaletteItem[] = [
        { kind: "action", id: "theme", title: s.theme === "dark" ? "Switch to the light theme" : "Switch to the dark theme", detail: "appearance" },
        { kind: "action", id: "pause", title: s.status?.paused ? "Resume spawning" : "Pause spawning", detail: "engine" },
      ];
      const tasks: PaletteItem[] = raw(s.tasks).map((t) => ({
        kind: "task",
        id: t.id,
        title: truncate(t.description, 100),
        detail: `task · ${t.status} · ${(t.experts ?? [t.expert ?? ""]).join(", ")} · ${t.id}`,
      }));
      const byTask = k.taskById();
      const workers: PaletteItem[] = raw(s.workers).map((w) => ({
        kind: "worker",
        id: w.id,
        title: `${truncate(byTask.get(w.task_id)?.description ?? w.task_id, 80)} (${w.expert})`,
        detail: `worker · ${w.state} · ${w.health} · ${w.id}`,
      }));
      return searchPalette([...actions, ...pages, ...tasks, ...workers], this.query, 40);
    },
    show() {
      this.open = true;
      this.query = "";
      this.index = 0;
      queueMicrotask(() => document.querySelector<HTMLInputElement>('[data-testid="palette-input"]')?.focus());
    },
    close() {
      this.open = false;
    },
    onQuery() {
      this.index = 0;
    },
    itemClass(i: number) {
      return i === this.index ? "bg-indigo-50 text-indigo-900" : "text-slate-700";
    },
    kindLabel(kind: string) {
      return kind;
    },
    choose(item: PaletteItem) {
      this.open = false;
      if (item.kind === "task") c.openTask(item.id);
      else if (item.kind === "worker") c.openWorker(item.id);
      else if (item.kind === "page") c.navigate(item.id as never);
      else if (item.id === "theme") toggleTheme(s);
      else if (item.id === "pause") void c.actions.togglePause();
    },
    onKey(e: KeyboardEvent) {
      const target = e.target as HTMLElement | null;
      const cmd = keyCommand({
        key: e.key,
        ctrlKey: e.ctrlKey,
        metaKey: e.metaKey,
        altKey: e.altKey,
        targetTag: target?.tagName,
        targetEditable: !!target?.isContentEditable,
      });
      if (this.open) {
        const items = this.items;
        if (cmd === "back") this.close();
        else if (e.key === "ArrowDown") this.index = moveSelection(this.index, 1, items.length);
        else if (e.key === "ArrowUp") this.index = moveSelection(this.index, -1, items.length);
        else if (e.key === "Enter" && items[this.index]) this.choose(items[this.index]);
        else return;
        e.preventDefault();
        return;
      }
      if (!cmd) return;
      if (cmd === "palette") {
        e.preventDefault();
        this.show();
        return;
      }
      if (s.modal.kind !== "none") return;
      const rows = navRows();
      const at = rows.indexOf(document.activeElement as HTMLElement);
      if (cmd === "down" || cmd === "up") {
        const next = moveSelection(at, cmd === "down" ? 1 : -1, rows.length);
        rows[next]?.focus();
        e.preventDefault();
        return;
      }
      const row = at >= 0 ? rows[at] : null;
      if (!row) return;
      const workerId = row.dataset.workerId;
      if (cmd === "open") {
        row.click();
        e.preventDefault();
      } else if (workerId) {
        const w = raw(s.workers).find((x) => x.id === workerId);
        if (!w) return;
        // The keys offer what the row's menu offers, no more.
        const can = workerActions(w);
        if (cmd === "kill" && can.kill) {
          s.modal = {
            kind: "confirm",
            title: "Kill this worker?",
            body: `Worker ${shortId(w.id)} gets SIGTERM, then SIGKILL after the grace period, and ends cancelled. Its task is not retried.`,
            confirmLabel: "Kill worker",
            action: "kill",
            targetId: w.id,
          };
        } else if (cmd === "restart" && can.restart) void c.actions.restart(w.id);
        else if (cmd === "reply" && can.reply) s.modal = { kind: "reply", workerId: w.id, text: "", error: "" };
      }
    },
  }));

  Alpine.data("themeToggle", () => ({
    get label() {
      return s.theme === "dark" ? "Light" : "Dark";
    },
    get title() {
      return s.theme === "dark" ? "Switch to the light theme" : "Switch to the dark theme";
    },
    toggle() {
      toggleTheme(s);
    },
  }));
}
