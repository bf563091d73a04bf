import { describe, expect, it } from "vitest";
import { previewView, previewable } from "../preview";
import { asksConfirmation } from "../settings";
import { decision } from "./fixtures";

describe("routing preview view model", () => {
  it("sorts experts by score with bars and the primary marked", () => {
    const v = previewView(decision(), ["security", "development", "cicd", "inventory"]);
    expect(v.primary).toBe("security");
    expect(v.rows.map((r) => r.expert)).toEqual(["security", "development", "cicd", "inventory"]);
    expect(v.rows[0]).toMatchObject({ pct: 85, scoreLabel: "85%", isPrimary: true, barCls: "bg-indigo-500" });
    expect(v.rows[1]).toMatchObject({ pct: 37, isPrimary: false, isParallel: false });
    expect(v.rows[3]).toMatchObject({ pct: 0, matched: [] });
    expect(v.confidenceLabel).toBe("85%");
    expect(v.strategyLabel).toBe("single expert");
  });

  it("splits matched terms and flags negatives", () => {
    const v = previewView(decision());
    const dev = v.rows.find((r) => r.expert === "development")!;
    expect(dev.matched).toEqual([
      { term: "fix", negative: false },
      { term: "deploy", negative: true },
    ]);
  });

  it("marks parallel experts and low-confidence decisions", () => {
    const multi = previewView(
      decision({
        strategy: "multi_expert_parallel",
        parallel_experts: ["security", "cicd"],
        scores: { security: 0.7, cicd: 0.7, development: 0.1 },
        learned_scores: { security: 0.4 },
      }),
    );
    expect(multi.rows.map((r) => r.expert)).toEqual(["security", "cicd", "development"]);
    expect(multi.rows[1]).toMatchObject({ isParallel: true, barCls: "bg-indigo-300" });
    expect(multi.rows[0].learnedLabel).toBe("40%");
    const low = previewView(decision({ strategy: "single_expert_low_confidence", needs_confirmation: true, confidence: 0.2 }));
    expect(low.needsConfirmation).toBe(true);
    expect(low.strategyLabel).toBe("single expert, low confidence");
    // With routing.confirm_low_confidence off the engine starts it at once: the preview does not say it would wait.
    const off = previewView(decision({ strategy: "single_expert_low_confidence", needs_confirmation: true, confidence: 0.2 }), [], false);
    expect(off.needsConfirmation).toBe(false);
    expect(asksConfirmation({ routing: { confirm_low_confidence: false } })).toBe(false);
    expect(asksConfirmation({})).toBe(true);
  });

  it("clamps bad scores and previews only real text", () => {
    const v = previewView(decision({ scores: { security: 1.7, development: -0.2 } }));
    expect(v.rows.map((r) => r.pct)).toEqual([100, 0, 0]);
    expect(previewable("   ")).toBe(false);
    expect(previewable(" fix it ")).toBe(true);
  });
});
