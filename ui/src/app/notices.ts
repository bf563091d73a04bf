// What the window tells a person besides the data: toasts, and which alerts
// were dismissed (remembered in storage across restarts).

import { dismissAllKeys } from "../logic/alerts";
import type { Worker } from "../types";
import type { AppState, Toast } from "./state";

const DISMISSED_KEY = "cortex.dismissedAlerts";
const MAX_DISMISSED = 500;
/** A pending toast closes after at most this many toast lifetimes. */
const PENDING_MAX = 10;

export class Notices {
  private seq = 0;

  constructor(
    private readonly s: AppState,
    private readonly storage: Pick<Storage, "getItem" | "setItem"> | null,
    private readonly toastMs: number,
  ) {
    this.s.dismissed = this.readDismissed();
  }

  toast(text: string, tone: Toast["tone"] = "info"): void {
    const id = ++this.seq;
    this.s.toasts = [...this.s.toasts.slice(-4), { id, text, tone }];
    this.closeLater(id, tone === "error" ? this.toastMs * 2 : this.toastMs);
  }

  /**
   * A toast about a worker being stopped ("Stopping ..."): it stays while
   * the worker is still stopping, then says how the stop ended (`stopEnded`) and closes as any other
   * (`settle`). It closes anyway after `PENDING_MAX` toast lifetimes,
   * never having said anything untrue.
   */
  toastUntil(text: string, workerId: string, named: string): void {
    const id = ++this.seq;
    this.s.toasts = [...this.s.toasts.slice(-4), { id, text, tone: "success", pending: { workerId, named } }];
    this.closeLater(id, this.toastMs * PENDING_MAX);
  }

  /** Pending toasts whose worker is no longer stopping say it is over. */
  settle(workers: readonly Worker[]): void {
    if (!this.s.toasts.some((t) => t.pending)) return;
    let changed = false;
    const next = this.s.toasts.map((t) => {
      if (!t.pending) return t;
      const w = workers.find((x) => x.id === t.pending?.workerId);
      if (!w || w.state === "stopping") return t;
      changed = true;
      this.closeLater(t.id, this.toastMs);
      return { id: t.id, text: stopEnded(t.pending.named, w.state), tone: t.tone };
    });
    if (changed) this.s.toasts = next;
  }

  private closeLater(id: number, ms: number): void {
    setTimeout(() => this.closeToast(id), ms);
  }

  closeToast(id: number): void {
    this.s.toasts = this.s.toasts.filter((t) => t.id !== id);
  }

  dismiss(key: string): void {
    if (this.s.dismissed.includes(key)) return;
    this.s.dismissed = [...this.s.dismissed, key].slice(-MAX_DISMISSED);
    this.writeDismissed();
  }

  dismissAll(): void {
    const keys = dismissAllKeys(this.s.alerts, new Set(this.s.dismissed));
    this.s.dismissed = [...this.s.dismissed, ...keys].slice(-MAX_DISMISSED);
    this.writeDismissed();
  }

  private readDismissed(): string[] {
    try {
      const raw = this.storage?.getItem(DISMISSED_KEY);
      const v = raw ? (JSON.parse(raw) as unknown) : [];
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
    } catch {
      return [];
    }
  }

  private writeDismissed(): void {
    try {
      this.storage?.setItem(DISMISSED_KEY, JSON.stringify(this.s.dismissed));
    } catch {
      /* storage full or unavailable: dismissals last for this session */
    }
  }
}

/**
 * What a person's kill came to, by the worker's end: killed, or finished
 * on its own before the stop took effect (the engine then settles it by
 * its result), or another end.
 */
export function stopEnded(named: string, state: string): string {
  if (state === "cancelled") return `Killed ${named}`;
  if (state === "completed") return `${named} completed before the stop took effect`;
  return `${named} ended: ${state.replace(/_/g, " ")}`;
}
