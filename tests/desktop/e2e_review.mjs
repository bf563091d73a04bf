// The desktop end-to-end steps for a task's work and the dashboard's
// surfaces: the task detail's Changes tab on a real temporary git
// repository and Merge into its base branch; the board against the engine's
// own counts; Reply on an ended worker; the dark theme; every action of a
// worker row inside the viewport at 1024x700; screenshots of every view in
// both themes. Run by e2e.mjs with its WebDriver helpers.

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const git = (dir, ...args) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" }).trim();

/** A repository on `main` with one commit, for a task to work in. */
function makeRepo(dir) {
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  git(dir, "config", "user.name", "Cortex test");
  git(dir, "config", "user.email", "test@example.invalid");
  writeFileSync(join(dir, "README"), "a project\n");
  git(dir, "add", "README");
  git(dir, "commit", "-q", "-m", "start");
  return dir;
}

const DONE = new Set(["completed", "failed", "cancelled"]);
const NEEDS_YOU = new Set(["needs_input", "needs_attention", "awaiting_confirmation"]);
const VIEWS = ["overview", "workers", "tasks", "board", "plans", "usage", "routing", "activity", "settings"];

export async function reviewSteps(t) {
  const { step, click, one, find, text, attr, type, until, screenshot, cortex, log, exec, displayed, setWindow, WORKDIR, HOME, OUT } = t;
  const repo = makeRepo(join(WORKDIR, "repo"));
  const prompt = "write the release notes file FAKE:normal";
  let taskId;

  await step("task detail: the Changes tab shows the agent's file and Merge brings it to the base branch", async () => {
    taskId = JSON.parse(cortex("submit", prompt, "--workdir", repo, "--worktree", "--json")).task_id;
    await until("the task completes", async () => {
      const task = JSON.parse(cortex("tasks", "--json")).find((x) => x.id === taskId);
      return task && task.status === "completed";
    }, 30000);
    await click('[data-testid="nav-board"]');
    await click(`[data-testid="board-column"][data-column="done"] [data-testid="board-card"][data-task-id="${taskId}"]`);
    await one(`[data-testid="view-task"][data-task-id="${taskId}"]`);
    await screenshot("10-task-detail");
    await click('[data-testid="tab-changes"]');
    await one('[data-testid="changed-file"][data-path="fake-out.txt"]');
    const added = await until("the file's added line in the diff", async () => {
      for (const id of await find('[data-testid="diff-file"][data-path="fake-out.txt"] [data-testid="diff-line"][data-kind="add"]')) {
        const line = await text(id);
        if (line.includes("release notes")) return line;
      }
      return null;
    });
    log(`diff shows: ${added.trim()}`);
    await screenshot("11-task-changes");
    if (git(repo, "ls-tree", "--name-only", "main").split("\n").includes("fake-out.txt")) throw new Error("main had the file before the merge");
    await click('[data-testid="merge"]');
    const report = await text(await one('[data-testid="merge-report"]'));
    log(`merge: ${report}`);
    const merged = git(repo, "show", "main:fake-out.txt");
    if (!merged.includes("release notes")) throw new Error(`main:fake-out.txt is ${JSON.stringify(merged)}`);
    // Read back from git, the task now says it is merged and offers no second merge.
    const note = await until("the Changes note says the work is in main", async () => {
      const n = await text(await one('[data-testid="changes-note"]'));
      return n.includes("merged into main") ? n : null;
    });
    log(`changes note: ${note}`);
    for (const b of await find('[data-testid="merge"]')) {
      if (await displayed(b)) throw new Error("Merge is still offered for merged work");
    }
    await screenshot("12-task-merged");
  });

  await step("the board: its columns count what the engine counts, filtered by words", async () => {
    await click('[data-testid="nav-board"]');
    const tasks = JSON.parse(cortex("tasks", "--json"));
    const expected = {
      done: tasks.filter((x) => DONE.has(x.status)).length,
      needs_you: tasks.filter((x) => NEEDS_YOU.has(x.status)).length,
    };
    for (const [column, n] of Object.entries(expected)) {
      await until(`the ${column} column counts ${n}`, async () => {
        const c = (await find(`[data-testid="board-column"][data-column="${column}"] [data-testid="board-count"]`))[0];
        return c && (await text(c)).trim() === String(n);
      });
    }
    await screenshot("13-board");
    await type('[data-testid="board-filter"]', "release notes");
    await until("the filter leaves the one task", async () => {
      const cards = await find('[data-testid="board-card"]');
      return cards.length === 1 && (await attr(cards[0], "data-task-id")) === taskId;
    });
    await exec(
      `const el = document.querySelector('[data-testid="board-filter"]');
       el.value = ""; el.dispatchEvent(new Event("input", { bubbles: true }));`,
      [],
    );
  });

  await step("Reply on an ended worker continues its conversation", async () => {
    const w = JSON.parse(cortex("workers", "--json")).find((x) => x.task_id === taskId);
    await click('[data-testid="nav-workers"]');
    await click(`[data-worker-id="${w.id}"] [data-testid="row-menu"]`);
    await click('[data-testid="row-menu-popover"] [data-testid="action-reply"]');
    await type('[data-testid="reply-text"]', "also add a line about the merge FAKE:normal");
    await click('[data-testid="reply-send"]');
    const after = await until("a second attempt of the worker", async () => {
      const x = JSON.parse(cortex("workers", "--json")).find((y) => y.id === w.id);
      return x && x.attempt >= 2 && x;
    }, 30000);
    log(`worker ${w.id} replied: attempt ${after.attempt}, ${after.state}`);
    await screenshot("14-replied");
  });

  await step("keyboard: j moves to a row, Enter opens its task", async () => {
    await click('[data-testid="nav-tasks"]');
    await one('[data-testid="task-row"]');
    const key = (k) => exec(`document.dispatchEvent(new KeyboardEvent("keydown", { key: arguments[0], bubbles: true }));`, [k]);
    await key("j");
    const focused = await exec(`const a = document.activeElement; return a && a.dataset ? a.dataset.taskId || null : null;`, []);
    if (!focused) throw new Error("j did not focus a task row");
    await key("Enter");
    await one(`[data-testid="view-task"][data-task-id="${focused}"]`);
    log(`j then Enter opened task ${focused}`);
  });

  await step("at 1024x700 every action of a worker row is inside the viewport", async () => {
    const before = await setWindow(1024, 700);
    try {
      await click('[data-testid="nav-workers"]');
      const rows = await find('[data-testid="worker-row"]');
      if (rows.length === 0) throw new Error("no worker rows");
      for (const row of [rows[0], rows[rows.length - 1]]) {
        const id = await attr(row, "data-worker-id");
        const out = await exec(
          `const id = arguments[0];
           const row = document.querySelector('[data-testid="worker-row"][data-worker-id="' + id + '"]');
           row.scrollIntoView({ block: "nearest" });
           const inside = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight; };
           const button = row.querySelector('[data-testid="row-menu"]');
           return { button: inside(button), w: innerWidth, h: innerHeight };`,
          [id],
        );
        if (!out.button) throw new Error(`the action menu button of ${id} is outside ${out.w}x${out.h}`);
        await click(`[data-worker-id="${id}"] [data-testid="row-menu"]`);
        await one('[data-testid="row-menu-popover"]');
        const actions = await exec(
          `const inside = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight; };
           return [...document.querySelectorAll('[data-testid="row-menu-popover"] button')].filter((b) => b.getClientRects().length > 0).map((b) => [b.dataset.testid, inside(b)]);`,
          [],
        );
        const outside = actions.filter(([, ok]) => !ok).map(([name]) => name);
        log(`row ${id}: ${actions.length} actions offered, outside the ${out.w}x${out.h} viewport: ${outside.join(", ") || "none"}`);
        if (actions.length < 2 || outside.length) throw new Error(`actions outside the viewport: ${outside.join(", ")}`);
        await screenshot(`15-row-menu-1024x700-${rows.indexOf(row) === 0 ? "first" : "last"}`);
        await exec(`document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));`, []);
        await until("the menu closes", async () => {
          const m = (await find('[data-testid="row-menu-popover"]'))[0];
          return m && !(await t.displayed(m));
        });
      }
    } finally {
      await setWindow(before.width, before.height);
    }
  });

  await step("Usage and Routing follow the engine live: an attempt that ends and a new decision appear without a reload", async () => {
    await click('[data-testid="nav-usage"]');
    await one('[data-testid="view-usage"]');
    const attempts = async () => Number((await text(await one('[data-testid="usage-attempts"]'))).trim()) || 0;
    const before = await until("Usage's first figures", async () => {
      const range = await text(await one('[data-testid="usage-range"]'));
      return range.includes(" to ") && { n: await attempts() };
    });
    cortex("submit", "write the usage probe FAKE:normal", "--workdir", WORKDIR);
    const after = await until("Usage counts the new attempt", async () => {
      const n = await attempts();
      return n > before.n && n;
    }, 30000);
    log(`usage attempts: ${before.n} -> ${after}`);
    await click('[data-testid="nav-routing"]');
    await one('[data-testid="decisions-table"]');
    const probe = JSON.parse(cortex("submit", "write the routing probe FAKE:normal", "--workdir", WORKDIR, "--json")).task_id;
    await one(`[data-testid="decision-row"][data-task-id="${probe}"]`);
    log(`decision for ${probe} listed while the page was open`);
  });

  await step("an agent command that cannot run is said in the header, in the doctor's words, until it is fixed", async () => {
    await click('[data-testid="nav-settings"]');
    await one('[data-testid="view-settings"]');
    const field = '[data-testid="setting-agent.command"] input[type="text"]';
    const original = await exec(`return document.querySelector('${field}').value;`, []);
    await type(field, '["/no/such/agent"]');
    await click('[data-testid="settings-save"]');
    // The badge says it in two words; its title and the Doctor, in full.
    const said = await until("the header's badge", async () => {
      const b = (await find('[data-testid="agent-problem"]'))[0];
      const why = b && (await displayed(b)) && (await attr(b, "title"));
      return why && why.includes("`/no/such/agent` does not exist") && why;
    });
    await screenshot("16-agent-cannot-run");
    log(`header: ${said}`);
    await type(field, original);
    await click('[data-testid="settings-save"]');
    let form = "";
    await until("the badge gone once the agent can run", async () => {
      form = await exec(
        `return [document.querySelector('${field}').value, ...[...document.querySelectorAll('[data-testid="field-error"], [data-testid="settings-error"]')].map((e) => e.textContent.trim())].join(" | ");`,
        [],
      );
      const b = (await find('[data-testid="agent-problem"]'))[0];
      return !b || !(await displayed(b));
    }).catch((e) => {
      throw new Error(`${e.message}; restoring ${original}, the form: ${form}`);
    });
  });

  await step("a settings file edited on disk with a wrong key is said in the header and notified, until it is put right", async () => {
    const file = join(HOME, "config.json");
    const original = readFileSync(file, "utf8");
    const edited = JSON.parse(original);
    edited.capacity = { ...(edited.capacity ?? {}), max_worker: 3 };
    writeFileSync(file, JSON.stringify(edited, null, 2));
    const badge = '[data-testid="settings-refused"]';
    const said = await until("the header's badge", async () => {
      const b = (await find(badge))[0];
      const why = b && (await displayed(b)) && (await attr(b, "title"));
      return why && why.includes("capacity.max_worker") && why;
    });
    log(`header: ${said}`);
    await until("a notification saying the settings were not read", async () => {
      const blocks = readFileSync(`${OUT}/dbus-monitor.log`, "utf8").split(/\n(?=\S)/);
      return blocks.some((b) => /member=Notify/.test(b) && b.includes("Settings not read") && b.includes("capacity.max_worker"));
    });
    await click(badge);
    const box = await one('[data-testid="settings-disk-refused"]');
    if (!(await text(box)).includes("capacity.max_worker")) throw new Error(`the Settings page says: ${await text(box)}`);
    await screenshot("17-settings-file-not-read");
    writeFileSync(file, original);
    await until("the badge gone once the file is valid again", async () => {
      const b = (await find(badge))[0];
      return !b || !(await displayed(b));
    });
  });

  await step("dark mode: the toggle switches the theme, and every view is drawn in both", async () => {
    const isDark = () => exec(`return document.documentElement.classList.contains("dark");`, []);
    if (await isDark()) await click('[data-testid="theme-toggle"]');
    for (const theme of ["light", "dark"]) {
      if (theme === "dark") {
        await click('[data-testid="theme-toggle"]');
        await until("the dark theme", isDark);
        const bg = await exec(`return getComputedStyle(document.querySelector("main").parentElement.querySelector("header")).backgroundColor;`, []);
        const rgb = bg.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
        if (rgb.some((c) => c > 80)) throw new Error(`the header's background is ${bg} in the dark theme`);
        log(`dark header background: ${bg}`);
      }
      for (const view of VIEWS) {
        await click(`[data-testid="nav-${view}"]`);
        await one(`[data-testid="view-${view}"]`);
        await screenshot(`theme-${theme}-${view}`);
        if (view === "tasks") {
          // Long after the last submission: a preview, if any, is of the draft shown.
          const [draft, state] = await exec(
            `return [document.querySelector('[data-testid="task-text"]').value, document.querySelector('[data-testid="route-preview"]').dataset.state];`,
            [],
          );
          if (draft.trim() === "" && state === "ready") throw new Error("a routing preview is shown for an empty draft");
        }
      }
      await click('[data-testid="nav-board"]');
      await click(`[data-testid="board-card"][data-task-id="${taskId}"]`);
      await click('[data-testid="tab-changes"]');
      await one('[data-testid="changed-file"]');
      await screenshot(`theme-${theme}-task-changes`);
      const w = JSON.parse(cortex("workers", "--json")).find((x) => x.task_id === taskId);
      await click('[data-testid="nav-workers"]');
      await click(`[data-testid="worker-row"][data-worker-id="${w.id}"] [data-testid="health-badge"]`);
      await one('[data-testid="view-worker"]');
      // Compact lines: the tool call carries its result; search marks the matches.
      await type('[data-testid="transcript-search"]', "fake-out");
      await until("the search marks matching lines", async () => (await find('[data-testid="transcript-entry"][data-match="true"]')).length > 0);
      await screenshot(`theme-${theme}-worker`);
      await exec(`document.dispatchEvent(new KeyboardEvent("keydown", { key: "k", ctrlKey: true, bubbles: true }));`, []);
      await one('[data-testid="palette"]');
      await type('[data-testid="palette-input"]', "release notes");
      await until("the palette finds the task", async () => (await find(`[data-testid="palette-item"][data-id="${taskId}"]`)).length > 0);
      await screenshot(`theme-${theme}-palette`);
      await exec(`document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));`, []);
    }
    await click('[data-testid="theme-toggle"]');
    await until("back to the light theme", async () => !(await isDark()));
  });
}
