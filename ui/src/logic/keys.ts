// Keyboard: what a key press means on a list page. Pure: the event's
// fields in, a command out, so every binding is tested without a DOM.

export type KeyCommand = "palette" | "down" | "up" | "open" | "back" | "kill" | "restart" | "reply";

export interface KeyPress {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  shiftKey?: boolean;
  /** The focused element's tag (INPUT, TEXTAREA, SELECT, ...) and whether it is editable. */
  targetTag?: string;
  targetEditable?: boolean;
}

/** The list shortcuts, for the help line and the palette. */
export const SHORTCUTS: { keys: string; does: string }[] = [
  { keys: "Ctrl/Cmd K", does: "search tasks, workers and actions" },
  { keys: "j / k", does: "next / previous row" },
  { keys: "Enter", does: "open the selected row" },
  { keys: "Esc", does: "close, or back to the list" },
  { keys: "x", does: "kill the selected worker (asks first)" },
  { keys: "r", does: "restart the selected worker" },
  { keys: "e", does: "reply to the selected ended worker" },
];

function typing(p: KeyPress): boolean {
  return !!p.targetEditable || ["INPUT", "TEXTAREA", "SELECT"].includes((p.targetTag ?? "").toUpperCase());
}

export function keyCommand(p: KeyPress): KeyCommand | null {
  const mod = !!p.ctrlKey || !!p.metaKey;
  if (mod && !p.altKey && p.key.toLowerCase() === "k") return "palette";
  if (p.key === "Escape") return "back";
  if (mod || p.altKey || typing(p)) return null;
  switch (p.key) {
    case "j":
    case "ArrowDown":
      return "down";
    case "k":
    case "ArrowUp":
      return "up";
    case "Enter":
      return "open";
    case "x":
      return "kill";
    case "r":
      return "restart";
    case "e":
      return "reply";
    default:
      return null;
  }
}

/** The selected row after moving by `delta` in a list of `length` (stays in range; -1 when empty). */
export function moveSelection(index: number, delta: number, length: number): number {
  if (length <= 0) return -1;
  if (index < 0) return delta > 0 ? 0 : length - 1;
  return Math.min(length - 1, Math.max(0, index + delta));
}
