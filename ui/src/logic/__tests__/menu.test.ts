import { describe, expect, it } from "vitest";
import { MENU_SIZE, menuPlacement, workerActions } from "../workers";

describe("row-action menu", () => {
  it("opens under its button, right-aligned, inside the window", () => {
    expect(menuPlacement({ top: 100, bottom: 124, right: 1000 }, 1024, 700)).toEqual({ top: "128px", left: `${1000 - MENU_SIZE.width}px` });
  });

  it("opens above its button near the bottom edge and never leaves the window", () => {
    const p = menuPlacement({ top: 650, bottom: 674, right: 1020 }, 1024, 700);
    expect(p).toEqual({ top: `${650 - 4 - MENU_SIZE.height}px`, left: `${1024 - MENU_SIZE.width - 8}px` });
    const tiny = menuPlacement({ top: 20, bottom: 40, right: 50 }, 300, 200);
    expect(tiny).toEqual({ top: "8px", left: "8px" });
  });

  it("offers Reply only for a worker that ended with a conversation to continue", () => {
    expect(workerActions({ state: "completed", session_id: "s" }).reply).toBe(true);
    expect(workerActions({ state: "running", session_id: "s" }).reply).toBe(false);
    expect(workerActions({ state: "failed", session_id: null }).reply).toBe(false);
  });
});
