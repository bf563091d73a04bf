// The desktop end-to-end test, driven through WebDriver (W3C protocol over
// HTTP to tauri-driver). Started by run.sh, which provides the display, the
// D-Bus session with dunst and dbus-monitor, the home and the driver.
//
// What it proves, in the real app and webview:
// 1. a task submitted from the UI shows its routing preview, runs on a
//    (fake) worker that appears and completes, and the counts update;
// 2. a worker that hangs gets the stalled badge, and a native notification
//    is sent over D-Bus (observed with dbus-monitor); clicking it (the
//    daemon's default action) opens the dashboard on that worker;
// 3. kill from the UI ends that worker;
// 3b. a plan awaiting confirmation shows its tasks; Edit replaces them (the
//     plan keeps waiting) and Confirm runs them;
// 4. without a GPU render node the page is drawn by WebKit's shared-memory
//    renderer, which the app picks itself;
// 5. the dashboard says what is true: a worker in restart backoff is labeled
//    as waiting for its restart (and after what), and the Waiting card counts
//    it as such; a stall alert names its task and leaves the banner once its
//    worker is out of the stall, and Activity keeps it; the notification's
//    body names the task;
// 6. started on a config.json that is not valid, the app shows why in place
//    of the dashboard, owns nothing, and opens the home by itself once the
//    file is fixed (everything above then runs on that late start);
// and it measures how long an engine state change takes to show in the UI.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { reviewSteps } from "./e2e_review.mjs";

const env = process.env;
const DRIVER = env.CORTEX_E2E_WEBDRIVER;
const OUT = env.CORTEX_E2E_OUT;
const HOME = env.CORTEX_E2E_HOME;
const WORKDIR = env.CORTEX_E2E_WORKDIR;
const CORTEX = env.CORTEX_E2E_CORTEX;
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
let passed = 0;
let failed = 0;

function log(msg) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 23)}] ${msg}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One WebDriver request, retried while the driver drops the connection, up
 * to a deadline. Creating the session starts WebKitWebDriver and the app,
 * which on a cold machine (font caches, first start of WebKit) takes far
 * longer than any later request, so it gets the longer deadline.
 */
async function wd(method, path, body) {
  const limitMs = method === "POST" && path === "/session" ? 120000 : 30000;
  const deadline = Date.now() + limitMs;
  let lastCause = "";
  for (;;) {
    try {
      const res = await fetch(`${DRIVER}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await res.json();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value)}`);
      return json.value;
    } catch (e) {
      // tauri-driver closes the connection when WebKitWebDriver is not up yet.
      const cause = `${e} ${e?.cause ?? ""} ${e?.cause?.code ?? ""}`;
      const transient = /ECONNRESET|ECONNREFUSED|UND_ERR_SOCKET|other side closed|fetch failed|socket/i.test(cause);
      if (!transient || Date.now() > deadline) {
        throw new Error(`${method} ${path} failed after ${limitMs / 1000} s: ${cause}`);
      }
      if (cause !== lastCause) log(`${method} ${path}: ${cause.trim()}; retrying`);
      lastCause = cause;
      await sleep(250);
    }
  }
}

/** Waits for a condition with a deadline; returns its truthy value. */
async function until(what, fn, limitMs = 20000) {
  const deadline = Date.now() + limitMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${limitMs} ms waiting for: ${what} (last: ${last})`);
}

let session;
const find = async (css) => {
  const found = await wd("POST", `/session/${session}/elements`, { using: "css selector", value: css });
  return found.map((e) => e[ELEMENT]);
};
/** The first match that is displayed (hidden templates can share a test id). */
const one = async (css) =>
  until(`displayed element ${css}`, async () => {
    for (const id of await find(css)) {
      if (await wd("GET", `/session/${session}/element/${id}/displayed`)) return id;
    }
    return null;
  });
/** Clicks, retrying while the target is still animating in or covered. */
const click = async (css) =>
  until(`click on ${css}`, async () => {
    try {
      await wd("POST", `/session/${session}/element/${await one(css)}/click`, {});
      return true;
    } catch (e) {
      if (/not interactable|click intercepted|stale element/.test(String(e))) return false;
      throw e;
    }
  }, 5000);
const text = async (id) => wd("GET", `/session/${session}/element/${id}/text`);
/**
 * The element's whole text content. WebDriver's rendered text leaves out
 * text cut with an ellipsis (`truncate`), which the rows and the banner use.
 */
const content = async (id) => wd("GET", `/session/${session}/element/${id}/property/textContent`);
const attr = async (id, name) => wd("GET", `/session/${session}/element/${id}/attribute/${name}`);
const type = async (css, value) => {
  const id = await one(css);
  await wd("POST", `/session/${session}/element/${id}/clear`, {});
  await wd("POST", `/session/${session}/element/${id}/value`, { text: value });
};

async function screenshot(name) {
  // Screenshots can show a stale first paint until the window is resized.
  const rect = await wd("GET", `/session/${session}/window/rect`);
  await wd("POST", `/session/${session}/window/rect`, { width: rect.width + 1, height: rect.height });
  await wd("POST", `/session/${session}/window/rect`, { width: rect.width, height: rect.height });
  await sleep(150);
  const png = await wd("GET", `/session/${session}/screenshot`);
  writeFileSync(`${OUT}/${name}.png`, Buffer.from(png, "base64"));
}

async function step(name, fn) {
  try {
    await fn();
    passed++;
    log(`ok: ${name}`);
  } catch (e) {
    failed++;
    log(`FAILED: ${name}: ${e?.stack ?? e}`);
    try {
      await screenshot(`failed-${name.replace(/\W+/g, "-")}`);
    } catch {
      /* the session may be gone */
    }
  }
}

/** The worker rows, as {id, health}. */
async function rows() {
  const out = [];
  for (const id of await find('[data-testid="worker-row"]')) {
    out.push({ el: id, worker: await attr(id, "data-worker-id"), health: await attr(id, "data-health") });
  }
  return out;
}

function cortex(...args) {
  return execFileSync(CORTEX, ["--home", HOME, ...args], { encoding: "utf8" });
}

async function main() {
  // The app starts on a home whose config.json is not valid (a mistyped key).
  const configPath = `${HOME}/config.json`;
  const goodConfig = readFileSync(configPath, "utf8");
  const typo = JSON.parse(goodConfig);
  typo.agent.bogus_key = 1;
  writeFileSync(configPath, JSON.stringify(typo, null, 2));
  session = (
    await wd("POST", "/session", {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application: env.CORTEX_E2E_APP } } },
    })
  ).sessionId;
  log(`session ${session}`);
  try {
    await step("an app started on settings that are not valid says why, and opens the home once they are fixed", async () => {
      try {
        const why = await content(await one('[data-testid="engine-unavailable-why"]'));
        for (const words of ["config.json: key `agent.bogus_key`", "opens the home by itself"]) {
          if (!why.includes(words)) throw new Error(`the page does not say ${words}: ${why}`);
        }
        for (const id of await find('[data-testid="nav-tasks"]')) {
          if (await wd("GET", `/session/${session}/element/${id}/displayed`)) {
            throw new Error("the dashboard is shown while nothing is supervised");
          }
        }
        // Nobody owns the home: the lock names no one.
        const lock = `${HOME}/cortex.lock`;
        const named = existsSync(lock) ? readFileSync(lock, "utf8").trim() : "";
        if (named) throw new Error(`the home has an owner: ${named}`);
      } finally {
        writeFileSync(configPath, goodConfig);
      }
      await one('[data-testid="nav-tasks"]');
      await until("the app to own the home", () => JSON.parse(cortex("status", "--json")).owner?.kind === "app");
    });
    await one('[data-testid="nav-tasks"]');
    await screenshot("01-overview");

    await step("the page is drawn by the renderer the app picks for this machine", async () => {
      let nodes = [];
      try {
        nodes = readdirSync("/dev/dri").filter((n) => /^renderD\d+$/.test(n));
      } catch {
        /* no GPU devices at all */
      }
      const webProcesses = readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .map((p) => {
          try {
            return {
              comm: readFileSync(`/proc/${p}/comm`, "utf8").trim(),
              environ: readFileSync(`/proc/${p}/environ`, "utf8").split("\0"),
            };
          } catch {
            return null;
          }
        })
        .filter((p) => p && p.comm.startsWith("WebKitWebProc") && p.environ.includes(`CORTEX_HOME=${HOME}`));
      if (webProcesses.length === 0) throw new Error("no web process of the app found");
      const shm = webProcesses.every((p) => p.environ.includes("WEBKIT_DISABLE_DMABUF_RENDERER=1"));
      const expected = nodes.length === 0;
      log(`render nodes: ${nodes.join(", ") || "none"}; shared-memory renderer: ${shm}`);
      if (shm !== expected) throw new Error(`shared-memory renderer ${shm}, expected ${expected}`);
    });

    let firstWorker;
    await step("submit from the UI: preview, worker appears and completes, counts update", async () => {
      await click('[data-testid="nav-tasks"]');
      // A folder that does not exist is refused at once, in the engine's words.
      await type('[data-testid="task-workdir"]', "/no/such/folder");
      await type('[data-testid="task-text"]', `implement the login endpoint FAKE:hang`);
      await click('[data-testid="submit-task"]');
      const refused = await until("the missing folder refused", async () => {
        const el = (await find('[data-testid="submit-error"]'))[0];
        const t = el && (await text(el));
        return t && t.includes("is not a folder on this machine") && t;
      });
      log(`refused: ${refused}`);
      await type('[data-testid="task-workdir"]', WORKDIR);
      // The worktree box follows a click, and a second click takes it back
      // (this task runs in place).
      const box = await one('[data-testid="task-worktree"]');
      const ticked = async () => wd("GET", `/session/${session}/element/${box}/property/checked`);
      await click('[data-testid="task-worktree"]');
      await until("the worktree box ticked", async () => (await ticked()) === true);
      await click('[data-testid="task-worktree"]');
      await until("the worktree box unticked", async () => (await ticked()) === false);
      await type('[data-testid="task-text"]', `implement the login endpoint FAKE:hang`);
      const expert = await until("routing preview shows development", async () => {
        const el = (await find('[data-testid="preview-expert"]'))[0];
        const t = el && (await text(el));
        return t && t.includes("development") && t;
      });
      log(`preview: ${expert}`);
      await screenshot("02-routing-preview");
      await click('[data-testid="submit-task"]');
      await click('[data-testid="nav-workers"]');
      const row = await until("a worker row", async () => (await rows())[0]);
      firstWorker = row.worker;
      log(`worker ${firstWorker} appeared (${row.health})`);
      await click('[data-testid="nav-overview"]');
      await until("running count shows 1", async () => {
        const v = (await find('[data-testid="stat-running"] [data-testid="value"]'))[0];
        return v && (await text(v)).trim() === "1";
      });
      await screenshot("03-running");
      // It waits (silent) until told to finish: a person's nudge resumes its
      // session with a prompt that ends normally. No race with a timer.
      cortex("nudge", firstWorker, "wrap it up FAKE:normal");
      await until("running count back to 0 when it completes", async () => {
        const v = (await find('[data-testid="stat-running"] [data-testid="value"]'))[0];
        return v && (await text(v)).trim() === "0";
      }, 30000);
      await click('[data-testid="nav-workers"]');
      await until("worker completed", async () => (await rows()).find((r) => r.worker === firstWorker && r.health === "completed"));
      await screenshot("04-completed");
    });

    let hung;
    await step("a hanging worker gets the stalled badge and a native notification", async () => {
      await click('[data-testid="nav-tasks"]');
      await type('[data-testid="task-text"]', `refactor the cache layer FAKE:hang`);
      await click('[data-testid="submit-task"]');
      await click('[data-testid="nav-workers"]');
      const row = await until("a stalled worker row", async () => (await rows()).find((r) => r.health === "stalled"), 30000);
      hung = row.worker;
      const badge = await until("its badge", async () => {
        const b = (await find(`[data-worker-id="${hung}"] [data-testid="health-badge"]`))[0];
        return b && (await text(b)).toLowerCase().includes("stalled") && b;
      });
      log(`worker ${hung} is stalled (badge ${await text(badge)})`);
      await screenshot("05-stalled");
      // The Notify call (with "stalled" in it) and the daemon's reply to that
      // call, carrying the notification's id.
      const id = await until("a Notify call about the stall, answered with an id", async () => {
        const m = readFileSync(`${OUT}/dbus-monitor.log`, "utf8");
        const blocks = m.split(/\n(?=\S)/);
        for (const b of blocks) {
          const call = b.match(/^method call .* sender=(\S+) -> destination=\S+ serial=(\d+) .*member=Notify/);
          // About the stall, and naming the task (its first words), not only a worker id.
          if (!call || !/stalled/i.test(b) || !b.includes("refactor the cache layer")) continue;
          for (const r of blocks) {
            const ret = r.match(new RegExp(`^method return .* destination=${call[1].replace(/\./g, "\\.")} serial=\\d+ reply_serial=${call[2]}\\b[\\s\\S]*?uint32 (\\d+)`));
            if (ret) return ret[1];
          }
        }
        return null;
      });
      log(`notification delivered over D-Bus, its body naming the task: Notify answered with id ${id}`);
    });

    await step("clicking the notification opens the dashboard on that worker", async () => {
      await click('[data-testid="nav-overview"]');
      // The daemon's own default action, as a click on the bubble does: dunst
      // emits ActionInvoked for the notification on top.
      await until("dunst shows the notification", async () => {
        try {
          return Number(execFileSync("dunstctl", ["count", "displayed"], { encoding: "utf8" }).trim()) > 0;
        } catch {
          return false;
        }
      });
      execFileSync("dunstctl", ["action", "0"]);
      const detail = await until("the worker's detail page", async () => {
        const d = (await find(`[data-testid="worker-detail"][data-worker-id="${hung}"]`))[0];
        return d && (await wd("GET", `/session/${session}/element/${d}/displayed`)) && d;
      });
      log(`ActionInvoked -> the app shows worker ${hung} (${await text(detail).then((t) => t.split("\n")[0])})`);
      await screenshot("05b-notification-click");
      await click('[data-testid="nav-workers"]');
    });

    await step("kill from the UI ends the worker", async () => {
      await click(`[data-worker-id="${hung}"] [data-testid="row-menu"]`);
      await click('[data-testid="row-menu-popover"] [data-testid="action-kill"]');
      await click('[data-testid="confirm-ok"]');
      await until("the worker is no longer live", async () => {
        const r = (await rows()).find((x) => x.worker === hung);
        return r && ["cancelled", "failed"].includes(r.health);
      });
      const workers = JSON.parse(cortex("workers", "--json"));
      const w = workers.find((x) => x.id === hung);
      if (w.state !== "cancelled") throw new Error(`engine says ${w.state}`);
      await screenshot("06-killed");
    });

    await reviewSteps({
      step, click, one, find, text, attr, type, until, screenshot, cortex, log, WORKDIR, HOME, OUT,
      exec: (script, args) => wd("POST", `/session/${session}/execute/sync`, { script, args }),
      displayed: (id) => wd("GET", `/session/${session}/element/${id}/displayed`),
      /** Sets the window's outer size; returns the size it had. */
      setWindow: async (width, height) => {
        const before = await wd("GET", `/session/${session}/window/rect`);
        await wd("POST", `/session/${session}/window/rect`, { width, height });
        return before;
      },
    });

    await step("a plan awaiting confirmation is shown with its tasks, edited and confirmed from the UI", async () => {
      // A goal the coordinator (the fake agent) splits into two tasks, the
      // second after the first; the plan waits for a person.
      const answer = `${WORKDIR}/plan-answer.json`;
      writeFileSync(
        answer,
        JSON.stringify({
          goal: "release the build",
          tasks: [
            { name: "build", description: "build part FAKE:normal FAKE_OUT:build.txt", expert: "development" },
            { name: "ship", description: "ship part FAKE:normal FAKE_OUT:ship.txt", expert: "development", after: ["build"] },
          ],
        }),
      );
      cortex("submit", `release the build FAKE:answer FAKE_ANSWER:${answer}`, "--plan", "--workdir", WORKDIR);
      await click('[data-testid="nav-plans"]');
      await one('[data-testid="plan-awaiting"]');
      const planTasks = async () => {
        const out = [];
        for (const id of await find('[data-testid="plan-task"]')) {
          out.push({ name: await attr(id, "data-name"), status: await attr(id, "data-status") });
        }
        return out;
      };
      const shown = await until("the plan's two tasks, awaiting confirmation", async () => {
        const t = await planTasks();
        return t.length === 2 && t.every((x) => x.status === "awaiting_confirmation") && t;
      });
      if (shown.map((t) => t.name).join(",") !== "build,ship") throw new Error(`tasks shown: ${JSON.stringify(shown)}`);
      await screenshot("07-plan-awaiting");
      // Edit: the waiting plan's second task replaced; it keeps waiting.
      await click('[data-testid="plan-edit"]');
      await one('[data-testid="plan-edit-text"]');
      await type(
        '[data-testid="plan-edit-text"]',
        JSON.stringify({
          goal: "release the build",
          tasks: [
            { name: "build", description: "build part FAKE:normal FAKE_OUT:build.txt", expert: "development" },
            { name: "deliver", description: "deliver part FAKE:normal FAKE_OUT:deliver.txt", expert: "development", after: ["build"] },
          ],
        }),
      );
      await click('[data-testid="plan-edit-save"]');
      await until("the edited plan's tasks, still awaiting confirmation", async () => {
        const t = await planTasks();
        return t.map((x) => x.name).join(",") === "build,deliver" && t.every((x) => x.status === "awaiting_confirmation");
      });
      await click('[data-testid="plan-confirm"]');
      await until("both tasks completed, in the UI", async () => {
        const t = await planTasks();
        return t.length === 2 && t.every((x) => x.status === "completed");
      }, 30000);
      // The goal's own status follows its plan (events for what the plan's
      // progress changed reach the UI, not only those of the task that ended).
      await until("the goal shown completed", async () => {
        const el = (await find('[data-testid="plan-goal-status"]'))[0];
        return el && (await text(el)).trim() === "Goal: Completed";
      });
      const planId = await attr((await find('[data-testid="plan-card"]'))[0], "data-plan-id");
      const plan = JSON.parse(cortex("plan", "show", planId, "--json"));
      if (plan.awaiting_confirmation || plan.counts.completed !== 2) throw new Error(`engine says ${JSON.stringify(plan.counts)}`);
      if ((await find('[data-testid="plan-awaiting"]')).length) {
        for (const id of await find('[data-testid="plan-awaiting"]')) {
          if (await wd("GET", `/session/${session}/element/${id}/displayed`)) throw new Error("still shown as awaiting");
        }
      }
      await screenshot("08-plan-completed");
    });

    await step("a worker in restart backoff is labeled as waiting for its restart, and counted so", async () => {
      // An API error (500): the next attempt waits out the backoff (30 s by default).
      const out = cortex("submit", "set up the deploy pipeline for staging FAKE:error_result", "--workdir", WORKDIR, "--json");
      const taskId = JSON.parse(out).task_id;
      await click('[data-testid="nav-workers"]');
      const waiting = await until("a worker row saying it waits for its restart after an API error", async () => {
        const workers = JSON.parse(cortex("workers", "--json"));
        const w = workers.find((x) => x.task_id === taskId && x.state === "waiting");
        if (!w) return null;
        const d = (await find(`[data-worker-id="${w.id}"] [data-testid="worker-doing"]`))[0];
        const label = d && (await content(d)).trim();
        if (label && /^restart (in \d+s|due now), after an API error/.test(label)) return { id: w.id, label };
        const row = (await find(`[data-worker-id="${w.id}"]`))[0];
        throw new Error(`the row reads "${row ? (await content(row)).replace(/\s+/g, " ") : "(no row)"}"`);
      }, 30000);
      log(`worker ${waiting.id} in backoff reads "${waiting.label}"`);
      await screenshot("06b-restart-backoff");
      await click('[data-testid="nav-overview"]');
      const hint = await until("the Waiting card counts a restart", async () => {
        const h = (await find('[data-testid="stat-waiting"] [data-testid="hint"]'))[0];
        const s = h && (await content(h));
        return s && /\b1 restarting\b/.test(s) && s;
      });
      log(`Waiting card: "${hint}"`);
      // End it, so its restarts do not run into the steps below.
      try {
        cortex("kill", waiting.id);
      } catch (e) {
        log(`could not kill ${waiting.id}: ${e}`);
      }
    });

    await step("a stall alert names its task and leaves the banner when the worker recovers; Activity keeps it", async () => {
      // Alerts from the steps above are not what this step is about.
      for (let i = 0; i < 20; i++) {
        const dismiss = (await find('[data-testid="alert-dismiss"]'))[0];
        if (!dismiss) break;
        await wd("POST", `/session/${session}/element/${dismiss}/click`, {}).catch(() => {});
      }
      const words = "tidy the release notes";
      // Silent (stalled after 2 s), then it speaks again and completes.
      const taskId = JSON.parse(cortex("submit", `${words} FAKE:silent FAKE_SECS:8`, "--workdir", WORKDIR, "--json")).task_id;
      const item = await until("a stall alert in the banner naming the task", async () => {
        const seen = [];
        for (const id of await find('[data-testid="alert-item"]')) {
          const s = await content(id);
          if (s.includes(words) && /stalled/i.test(s)) return s;
          seen.push(s.replace(/\s+/g, " "));
        }
        const rowsNow = [];
        for (const r of await rows()) rowsNow.push(`${r.worker.slice(-6)}:${r.health}`);
        throw new Error(`banner [${seen.join(" | ")}], rows [${rowsNow.join(", ")}]`);
      }, 30000);
      log(`banner: ${item.replace(/\s+/g, " ")}`);
      await screenshot("06c-stall-in-banner");
      await until("the stall leaves the banner once the worker is out of it", async () => {
        for (const id of await find('[data-testid="alert-item"]')) {
          if ((await content(id)).includes(words)) return false;
        }
        return true;
      }, 30000);
      const w = JSON.parse(cortex("workers", "--json")).find((x) => x.task_id === taskId);
      if (!w || w.health === "stalled") throw new Error(`the engine says the worker is ${w?.health ?? "missing"}`);
      log(`the worker is out of the stall (${w.state}, ${w.health}); the banner dropped the alert`);
      await click('[data-testid="nav-activity"]');
      await until("Activity keeps the stall alert, naming the task", async () => {
        for (const id of await find('[data-testid="feed-item"]')) {
          const s = await content(id);
          if (s.includes(words) && /stalled/i.test(s)) return true;
        }
        return false;
      });
      await screenshot("06d-activity-keeps-it");
    });

    await step("latency: an engine change shows in the UI (measured, not asserted)", async () => {
      await click('[data-testid="nav-tasks"]');
      const samples = [];
      for (let i = 0; i < 5; i++) {
        const marker = `latency probe ${i} ${Date.now()}`;
        // Resolves in the page when the task's text appears in the DOM.
        const seen = wd("POST", `/session/${session}/execute/async`, {
          script: `const [marker, done] = arguments;
            const check = () => document.body.innerText.includes(marker);
            if (check()) return done(Date.now());
            const obs = new MutationObserver(() => { if (check()) { obs.disconnect(); done(Date.now()); } });
            obs.observe(document.body, { childList: true, subtree: true, characterData: true });`,
          args: [marker],
        });
        if (i === 0) cortex("pause"); // keep the probes from spawning workers
        await sleep(200);
        // From just before the submit (so the figure includes the CLI's own
        // start and the inbox round trip: an upper bound for the engine-to-UI
        // path) to the task's text in the DOM.
        const start = Date.now();
        cortex("submit", `${marker} FAKE:normal`, "--workdir", WORKDIR);
        const acked = Date.now();
        const shown = await seen;
        samples.push(shown - start);
        log(`probe ${i}: in the DOM ${shown - start} ms after the submit started (the CLI returned after ${acked - start} ms)`);
      }
      samples.sort((a, b) => a - b);
      log(`UI latency after an engine change: median ${samples[2]} ms, max ${samples[4]} ms`);
      writeFileSync(`${OUT}/latency.json`, JSON.stringify({ samples_ms: samples }));
    });
    // The overview after all of the above, charts included (an artifact).
    await click('[data-testid="nav-overview"]').catch(() => {});
    await screenshot("09-overview-after").catch(() => {});
  } finally {
    await wd("DELETE", `/session/${session}`).catch(() => {});
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
