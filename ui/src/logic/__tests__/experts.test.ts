import { describe, expect, it } from "vitest";
import { errorsOfRefusal, fieldOfErrorKey, formOfProfile, parseWords, profileOfForm, type ExpertProfile } from "../experts";

const profile: ExpertProfile = {
  schema_version: 1,
  name: "security",
  description: "Security reviews",
  activation_keywords: ["vulnerability", "cve"],
  boosters: [],
  negatives: ["typo"],
  task_types: ["security"],
  preamble: "Be careful.\n",
  max_workers: 2,
  time_limit_secs: 3600,
  token_budget: null,
  permissions: { allow: ["Read"] },
};

describe("expert editor", () => {
  it("round-trips a profile through the form, keeping what the form does not show", () => {
    const form = formOfProfile(profile);
    expect(form.activation_keywords).toBe("vulnerability\ncve");
    expect(form.token_budget).toBe("");
    const back = profileOfForm(profile, form);
    expect(back.errors).toEqual({});
    expect(back.profile).toMatchObject({ name: "security", activation_keywords: ["vulnerability", "cve"], permissions: { allow: ["Read"] }, preamble: "Be careful.\n" });
    expect(back.profile).not.toHaveProperty("token_budget");
  });

  it("reads words on lines or after commas and numbers as numbers", () => {
    expect(parseWords(" sql injection, xss\n\n  csrf ")).toEqual(["sql injection", "xss", "csrf"]);
    const r = profileOfForm(profile, { ...formOfProfile(profile), time_limit_secs: "1200", cost_budget_usd: "2.5" });
    expect(r.profile).toMatchObject({ time_limit_secs: 1200, cost_budget_usd: 2.5 });
  });

  it("says at the field when a number is not one, and sends nothing", () => {
    const r = profileOfForm(profile, { ...formOfProfile(profile), max_workers: "two", cost_budget_usd: "1e" });
    expect(r.profile).toBeNull();
    expect(r.errors).toEqual({ max_workers: "expected a whole number", cost_budget_usd: "expected a number" });
  });

  it("places the engine's refusal at the field its key names", () => {
    expect(fieldOfErrorKey("boosters[1]")).toBe("boosters");
    expect(fieldOfErrorKey("task_types")).toBe("task_types");
    expect(fieldOfErrorKey("permissions.allow")).toBe("");
    expect(errorsOfRefusal({ code: "bad_config", message: "expected a positive number", key: "cost_budget_usd", file: "experts/security.json" }))
      .toEqual({ cost_budget_usd: "expected a positive number" });
    expect(errorsOfRefusal({ code: "bad_config", message: "unknown field", key: "colour" })).toEqual({ "": "unknown field (colour)" });
  });

  it("shows every problem of a refusal at its own field at once", () => {
    const refused = {
      code: "bad_config",
      message: "expected at least one keyword",
      key: "activation_keywords",
      problems: [
        { key: "time_limit_secs", message: "expected a value from 60 to 86400" },
        { key: "boosters[1]", message: "expected a non-empty word or phrase" },
        { key: "cost_budget_usd", message: "expected a positive number" },
        { key: "max_workers", message: "expected a value from 1 to 1000" },
        { key: "max_workers", message: "a second one" },
      ],
    };
    expect(errorsOfRefusal(refused)).toEqual({
      activation_keywords: "expected at least one keyword",
      time_limit_secs: "expected a value from 60 to 86400",
      boosters: "expected a non-empty word or phrase",
      cost_budget_usd: "expected a positive number",
      max_workers: "expected a value from 1 to 1000; a second one",
    });
  });
});
