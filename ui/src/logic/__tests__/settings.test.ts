import { describe, expect, it } from "vitest";
import { configToForm, formToConfig, launcherRow, normalizeKey, placeError, worktreeBox } from "../settings";

const shipped = {
  schema_version: 1,
  capacity: { max_workers: 4 },
  routing: { single_threshold: 0.8 },
  agent: { driver: "claude", command: ["claude"], env: {}, args_template: [] },
  pm: { startup_budget_secs: 120, late_after_secs: 300, stalled_after_secs: 600, zombie_after_secs: 1200, nudge_on_stall: false },
  restart: { backoff_base_secs: 30 },
  notifications: { stalled: true, completed: false, coalesce_window_millis: 1500 },
};

describe("settings form <-> config", () => {
  it("fills the form from a config, defaults for missing toggles", () => {
    const f = configToForm(shipped);
    expect(f["pm.stalled_after_secs"]).toBe("600");
    expect(f["capacity.max_workers"]).toBe("4");
    expect(f["agent.command"]).toBe('["claude"]');
    expect(f["pm.busy_cpu_percent"]).toBe("");
    expect(f["notifications.zombie"]).toBe(true);
    expect(f["notifications.completed"]).toBe(false);
  });

  it("round-trips without changing the config, keeping keys the form does not show", () => {
    const { config, errors } = formToConfig(configToForm(shipped), shipped);
    expect(errors).toEqual({});
    expect(config).toEqual(shipped);
  });

  it("applies edits, removes emptied keys and parses the agent command", () => {
    const f = configToForm(shipped);
    f["pm.stalled_after_secs"] = " 900 ";
    f["restart.backoff_base_secs"] = "";
    f["agent.command"] = '["/opt/claude/bin/claude", "--debug"]';
    f["notifications.completed"] = true;
    f["pm.busy_cpu_percent"] = "7.5";
    const { config, errors } = formToConfig(f, shipped);
    expect(errors).toEqual({});
    expect((config.pm as Record<string, unknown>).stalled_after_secs).toBe(900);
    expect((config.pm as Record<string, unknown>).busy_cpu_percent).toBe(7.5);
    expect(config.restart).toEqual({});
    expect((config.agent as Record<string, unknown>).command).toEqual(["/opt/claude/bin/claude", "--debug"]);
    expect((config.notifications as Record<string, unknown>).completed).toBe(true);
    expect(shipped.pm.stalled_after_secs).toBe(600); // the base is not mutated
  });

  it("reports type errors at their fields", () => {
    const f = configToForm(shipped);
    f["pm.late_after_secs"] = "5 minutes";
    f["capacity.max_workers"] = "-1";
    f["agent.command"] = "claude";
    const { errors } = formToConfig(f, shipped);
    expect(Object.keys(errors).sort()).toEqual(["agent.command", "capacity.max_workers", "pm.late_after_secs"]);
    expect(errors["agent.command"]).toMatch(/JSON/);
    f["agent.command"] = "[]";
    expect(formToConfig(f, shipped).errors["agent.command"]).toMatch(/non-empty/);
  });

  it("places an engine error at the field its key names", () => {
    const placed = placeError({
      code: "bad_config",
      file: "config.json",
      key: "pm.stalled_after_secs",
      message: "config.json: key `pm.stalled_after_secs`: must be greater than pm.late_after_secs",
    });
    expect(placed).toEqual({ fields: { "pm.stalled_after_secs": "must be greater than pm.late_after_secs" }, general: null });
  });

  it("places errors under array keys, from the message, or above the form", () => {
    expect(placeError({ code: "bad_config", file: "config.json", key: "agent.command[0]", message: "empty" }).fields).toEqual({
      "agent.command": "empty",
    });
    expect(
      placeError({ code: "bad_config", message: "config.json: key `capacity.max_workers`: expected a number greater than 0" }).fields,
    ).toEqual({ "capacity.max_workers": "expected a number greater than 0" });
    const unknown = placeError({ code: "bad_config", file: "config.json", key: "pm.stalled_after_sec", message: "unknown field" });
    expect(unknown.fields).toEqual({});
    expect(unknown.general).toBe("config.json: pm.stalled_after_sec: unknown field");
    expect(normalizeKey("`agent.command.1`")).toBe("agent.command");
  });
});

describe("the doctor's Workers run row", () => {
  it("says where workers run and whether the cluster answered, never guessing", () => {
    expect(launcherRow({ launcher: "local" }).value).toBe("on this machine");
    const up = launcherRow({ launcher: "slurm", launcher_check: { reachable: true, detail: "cortex up 1 idle" } });
    expect(up.value).toBe("slurm: the cluster answers (cortex up 1 idle)");
    expect(up.cls).toBe("");
    const down = launcherRow({ launcher: "slurm", launcher_check: { reachable: false, detail: "`sinfo` did not answer within 10 s" } });
    expect(down.value).toContain("CANNOT RUN WORKERS");
    expect(down.cls).toContain("text-red-700");
    expect(launcherRow({ launcher: "slurm" }).value).toBe("slurm (not checked)");
    expect(launcherRow({}).value).toBe("unknown (not checked)");
  });
});

describe("the new-task form's worktree box", () => {
  it("follows the person's choice, and shows every task isolated when the config says so", () => {
    expect(worktreeBox(false, {})).toMatchObject({ checked: false, locked: false });
    expect(worktreeBox(true, { isolation: "none" })).toMatchObject({ checked: true, locked: false });
    const all = worktreeBox(false, { isolation: "worktree" });
    expect(all).toMatchObject({ checked: true, locked: true });
    expect(all.title).toContain('isolation is "worktree"');
  });
});
