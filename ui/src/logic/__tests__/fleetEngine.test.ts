// The app and the tray must agree on which workers need a person: the tray
// reads `WorkerDto::bucket` / `ATTENTION` in the engine, the app the same
// derivation in fleet.ts. These tests read the engine's lists from its
// source and hold the app's to them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { needsAttention, workerBucket } from "../fleet";

const ENGINE = readFileSync(join(__dirname, "../../../../crates/engine/src/runtime/worker_dto.rs"), "utf8");

function rustList(name: string): string[] {
  const m = new RegExp(`(?:const|pub const) ${name}: \\[&str; \\d+\\] = \\[([^\\]]*)\\]`).exec(ENGINE);
  if (!m) throw new Error(`${name} not found in worker_dto.rs`);
  return [...m[1].matchAll(/"([a-z_]+)"/g)].map((x) => x[1]);
}

describe("the app's attention set is the engine's (and so the tray's)", () => {
  it("lists the same buckets as needing attention", () => {
    const attention = rustList("ATTENTION");
    expect(attention.length).toBeGreaterThan(3);
    for (const b of attention) {
      const w = { state: "running", health: b, waiting_for: null } as never;
      expect(needsAttention(w), b).toBe(true);
    }
    for (const b of ["scheduled", "starting", "healthy", "verifying"]) {
      const w = { state: "running", health: b, waiting_for: null } as never;
      expect(needsAttention(w), b).toBe(attention.includes(b));
    }
  });

  it("shows the same health words as they are", () => {
    for (const h of rustList("SHOWN_AS_IS")) {
      expect(workerBucket({ state: "running", health: h, waiting_for: null } as never)).toBe(h);
    }
    expect(workerBucket({ state: "running", health: "sleepy", waiting_for: null } as never)).toBe("healthy");
  });
});
