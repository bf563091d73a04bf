// What the window tells a person besides the data: toasts, and which alerts
// were dismissed (remembered in storage across restarts).

import { dismissAllKeys } from "../logic/alerts";
import type { AppState, Toast } from "./state";

const DISMISSED_KEY = "cortex.dismissedAlerts";
const MAX_DISMISSED = 500;

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
    setTimeout(() => this.closeToast(id), tone === "error" ? this.toastMs * 2 : this.toastMs);
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
