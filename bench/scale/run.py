#!/usr/bin/env python3
"""Scale benchmark: the owner's cost as the fleet grows, and `submit --batch`.

    python3 bench/scale/run.py [--sizes 50,200,1000,2000] [--steady-secs 30]
                               [--batch-workers 200] [--rounds 3] [--no-build]

1. Steady state: for each size N, a Cortex home gets N tasks (one
   `cortex submit --batch`), `cortex run` starts them, and once all N fake
   agents run (each printing a stream-json line every 5 s) and a settle
   period has passed, the owner's CPU (utime + stime from /proc) and RSS are
   sampled over the window. CPU per tick is per PM tick (`pm.tick_millis`,
   1 s by default).
2. Start-up through the inbox: with an owner running and idle (its ready
   attempt folders made), the clock starts when `cortex submit --batch FILE`
   with N tasks is issued and stops when the N-th `attempt_started` record is
   read from the journal; in the same round, the bare spawn loop of
   bench/spawn/run.py starts N of the same agents. The ratio is per round;
   the table gives medians.

Python 3 standard library only; it reuses bench/spawn/run.py's helpers
(build, process lookup by a per-run tag, never by name). Everything it
starts it stops again by pid. Results go to bench/scale/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "spawn"))
import run as spawn  # noqa: E402

LINE_SECS = 5


def prompt(i: int, tag: str) -> str:
    return f"bench task {i} FAKE:slow FAKE_SECS:{LINE_SECS} FAKE_LINES:100000 {tag}"


# Both the bare loop and Cortex take their agents' prompt from here.
spawn.prompt = prompt


def batch_file(path: Path, n: int, tag: str, work: Path) -> Path:
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write(json.dumps({"id": i, "text": prompt(i, tag), "workdir": str(work)}) + "\n")
    return path


class Owner(spawn.Cortex):
    """A Cortex home for N workers and its `cortex run`."""

    def submit_batch(self) -> float:
        path = batch_file(self.dir / "batch.jsonl", self.n, self.tag, self.work)
        t = time.perf_counter()
        r = self.cx("submit", "--batch", str(path))
        took = time.perf_counter() - t
        answers = [json.loads(l) for l in r.stdout.splitlines()]
        bad = [a for a in answers if "error" in a or a.get("deduplicated")]
        if len(answers) != self.n or bad:
            raise RuntimeError(f"batch: {len(answers)} answers, problems: {bad[:3]}")
        return took

    def wait_started(self, jf, t0: float, limit: float = 600) -> float:
        """Tails the journal until N first attempts started; seconds from t0."""
        seen: set[str] = set()
        buf = b""
        last = 0.0
        deadline = time.perf_counter() + limit
        while len(seen) < self.n and time.perf_counter() < deadline:
            data = jf.read()
            if not data:
                time.sleep(0.003)
                continue
            now = time.perf_counter()
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if b'"kind":"attempt_started"' in line:
                    rec = json.loads(line)
                    if rec.get("attempt") == 1 and rec["worker_id"] not in seen:
                        seen.add(rec["worker_id"])
                        last = now - t0
        if len(seen) < self.n:
            raise RuntimeError(f"only {len(seen)} of {self.n} workers started")
        return last


def steady(n: int, tag: str, secs: float, settle: float) -> dict:
    o = Owner(n, f"{tag}-s{n}", 0)
    o.name = "scale"
    try:
        o.configure()
        o.cx("pause", "--json")
        submit_secs = o.submit_batch()
        o.start_owner_and_wait_spares()
        journal = open(o.home / "journal.jsonl", "rb")
        journal.seek(0, os.SEEK_END)
        t0 = time.perf_counter()
        o.cx("resume", "--json")
        started = o.wait_started(journal, t0)
        journal.close()
        s = spawn.steady_state(o.run_proc.pid, secs, settle)
        pm_state = o.home / "pm-state.json"
        s.update(
            workers=n,
            submit_batch_secs=submit_secs,
            all_running_secs=started,
            cpu_ms_per_pm_tick=s["cpu_pct_of_one_core"] / 100 * o.tick_millis,
            pm_state_bytes=pm_state.stat().st_size if pm_state.exists() else None,
            running=len(spawn.tagged_agents(o.tag)),
        )
        return s
    finally:
        o.stop()
        spawn.ensure_no_agents(o.tag, f"cortex x{n}")


def batch_round(n: int, tag: str, rnd: int) -> dict:
    bare = spawn.Bare(n, f"{tag}-b{rnd}", rnd)
    try:
        bare.start()
    finally:
        bare.stop()
        spawn.ensure_no_agents(bare.tag, "bare")
    o = Owner(n, f"{tag}-c{rnd}", rnd)
    o.name = "batch"
    try:
        o.configure()
        o.start_owner_and_wait_spares()
        path = batch_file(o.dir / "batch.jsonl", n, o.tag, o.work)
        journal = open(o.home / "journal.jsonl", "rb")
        journal.seek(0, os.SEEK_END)
        t0 = time.perf_counter()
        r = o.cx("submit", "--batch", str(path))
        cmd = time.perf_counter() - t0
        started = o.wait_started(journal, t0)
        journal.close()
        if len(r.stdout.splitlines()) != n:
            raise RuntimeError("not one answer per line")
        return {
            "bare_secs": bare.result["t_reported"],
            "cortex_batch_secs": started,
            "submit_command_secs": cmd,
            "ratio": started / bare.result["t_reported"],
        }
    finally:
        o.stop()
        spawn.ensure_no_agents(o.tag, "cortex batch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,200,1000,2000")
    ap.add_argument("--steady-secs", type=float, default=30)
    ap.add_argument("--settle-secs", type=float, default=10)
    ap.add_argument("--batch-workers", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    spawn.build(a.no_build)
    spawn.SCRATCH.mkdir(parents=True, exist_ok=True)
    tag = f"scalebench-{os.getpid()}-{int(time.time())}"
    results: dict = {"steady": [], "batch": []}
    for n in [int(x) for x in a.sizes.split(",") if x]:
        spawn.log(f"steady state with {n} workers")
        results["steady"].append(steady(n, tag, a.steady_secs, a.settle_secs))
    for rnd in range(1, a.rounds + 1):
        spawn.log(f"{a.batch_workers} tasks by submit --batch, round {rnd}")
        results["batch"].append(batch_round(a.batch_workers, tag, rnd))
    ratios = [r["ratio"] for r in results["batch"]]
    results["batch_median"] = {
        "bare_secs": statistics.median(r["bare_secs"] for r in results["batch"]) if ratios else None,
        "cortex_batch_secs": statistics.median(r["cortex_batch_secs"] for r in results["batch"]) if ratios else None,
        "ratio": statistics.median(ratios) if ratios else None,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\nworkers | owner CPU (% of a core) | CPU per PM tick | RSS (MB) | pm-state.json")
    for s in results["steady"]:
        print(
            f"{s['workers']:>7} | {s['cpu_pct_of_one_core']:>6.2f}% | {s['cpu_ms_per_pm_tick']:>7.1f} ms"
            f" | {s['rss_mb_mean']:>6.1f} | {s['pm_state_bytes']} B"
        )
    if ratios:
        m = results["batch_median"]
        print(
            f"\n{a.batch_workers} tasks via submit --batch: {m['cortex_batch_secs']:.3f} s;"
            f" bare loop {m['bare_secs']:.3f} s; ratio {m['ratio']:.2f}x"
            f" (per round {', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
