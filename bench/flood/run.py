#!/usr/bin/env python3
"""Output-flood benchmark: how fast Cortex reads and settles agents that
print a lot, and what a read view costs when workers have much output.

    python3 bench/flood/run.py [--workers N] [--lines L] [--view-workers M] [--view-mb S]

1. Settle: N fake agents (mode `flood`: L stream-json assistant lines as fast
   as they can, then a result line) are started by `cortex run` at once
   (spawning paused while they are submitted, then resumed). Measured: from
   the resume to every task completed (end to end), beside the floor, the
   same N agents started by a bare loop with their output to files, until
   all exited. On a machine with fewer cores than agents, the agents take
   most of the CPU while they print, so the end-to-end time is mostly
   theirs; Cortex's own share is reported apart: the lag from the last
   agent's last write (the newest mtime of the stdout files, the result
   line printed just before it exits) to every task completed, and the
   owner's CPU time (utime + stime) in all and after that last write.
2. View: M fake agents print S MB each and stay alive (mode
   `flood_then_hang`); `cortex workers --json` is then timed 10 times while
   the owner runs (median), and once more with twice the output.

Uses the release binaries (built first). Python 3 standard library only.
Everything it starts it stops by pid; scratch files live under
/tmp/cortex-floodbench; results go to bench/flood/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORTEX = REPO / "target" / "release" / "cortex"
FAKE = REPO / "target" / "release" / "fake-agent"
SCRATCH = Path("/tmp/cortex-floodbench")
EXPERTS = ["development", "security", "inventory", "cicd", "coordinator"]


def build() -> None:
    subprocess.run(
        ["cargo", "build", "--release", "-p", "cortex-cli", "-p", "cortex-tests", "--bins"],
        cwd=REPO,
        check=True,
    )


def cortex(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, CORTEX_LOG="warn")
    env.pop("CORTEX_HOME", None)
    return subprocess.run(
        [str(CORTEX), "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
    )


def merge(path: Path, patch: dict) -> None:
    data = json.loads(path.read_text())

    def rec(a: dict, b: dict) -> None:
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                rec(a[k], v)
            else:
                a[k] = v

    rec(data, patch)
    path.write_text(json.dumps(data))


def fresh_home(name: str, workers: int) -> Path:
    home = SCRATCH / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    cortex(home, "init")
    merge(
        home / "config.json",
        {
            "agent": {"command": [str(FAKE)]},
            "capacity": {"max_workers": workers},
            "routing": {"confirm_low_confidence": False},
        },
    )
    for e in EXPERTS:
        merge(home / "experts" / f"{e}.json", {"max_workers": workers})
    return home


def start_owner(home: Path) -> subprocess.Popen:
    err = open(home.parent / f"{home.name}-owner.err", "w")
    env = dict(os.environ, CORTEX_LOG="warn")
    env.pop("CORTEX_HOME", None)
    p = subprocess.Popen(
        [str(CORTEX), "--home", str(home), "run"],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        if (home / "pm-state.json").exists():
            return p
        time.sleep(0.05)
    p.kill()
    raise SystemExit("cortex run did not start")


def stop_owner(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def kill_tagged(home: Path) -> None:
    """Ends every agent started for `home` (they carry CORTEX_HOME=home)."""
    want = f"CORTEX_HOME={home}".encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            env = Path(f"/proc/{d}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if want in env:
            try:
                os.kill(int(d), signal.SIGKILL)
            except ProcessLookupError:
                pass


def owner_cpu(pid: int) -> float:
    """CPU seconds (utime + stime) the process has used."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor(workers: int, lines: int) -> float:
    out = SCRATCH / "floor"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.monotonic()
    procs = []
    for i in range(workers):
        f = open(out / f"{i}.jsonl", "w")
        procs.append(
            subprocess.Popen(
                [str(FAKE), "-p", f"flood FAKE:flood FAKE_LINES:{lines}"],
                stdout=f,
                stderr=subprocess.DEVNULL,
                cwd=out,
            )
        )
        f.close()
    for p in procs:
        p.wait()
    took = time.monotonic() - start
    shutil.rmtree(out, ignore_errors=True)
    return took


def settle(workers: int, lines: int) -> dict:
    home = fresh_home("settle", workers)
    work = SCRATCH / "settle-work"
    work.mkdir(exist_ok=True)
    owner = start_owner(home)
    try:
        cortex(home, "pause")
        for i in range(workers):
            cortex(
                home,
                "submit",
                f"flood job {i} FAKE:flood FAKE_LINES:{lines}",
                "--workdir",
                str(work),
            )
        start = time.monotonic()
        cpu0 = owner_cpu(owner.pid)
        samples = [(time.time(), cpu0)]
        cortex(home, "resume")
        deadline = start + 1800
        while time.monotonic() < deadline:
            s = json.loads(cortex(home, "status", "--json").stdout)
            samples.append((time.time(), owner_cpu(owner.pid)))
            if s["tasks"].get("completed", 0) == workers:
                break
            time.sleep(0.1)
        took = time.monotonic() - start
        settled_wall, cpu_end = samples[-1]
        last_write = max(
            p.stat().st_mtime for p in (home / "workers").glob("*/attempt-1/stdout.jsonl")
        )
        # The owner's CPU time when the last agent wrote its last line,
        # interpolated between the samples around it.
        cpu_at_last = cpu0
        for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
            if t0 <= last_write <= t1:
                cpu_at_last = c0 + (c1 - c0) * ((last_write - t0) / max(t1 - t0, 1e-9))
                break
            if t1 < last_write:
                cpu_at_last = c1
        s = json.loads(cortex(home, "status", "--json").stdout)
        rss = Path(f"/proc/{owner.pid}/status").read_text()
        vm_hwm = next(l for l in rss.splitlines() if l.startswith("VmHWM"))
    finally:
        stop_owner(owner)
        kill_tagged(home)
    return {
        "workers": workers,
        "lines_each": lines,
        "bytes_each": (home / "workers").exists()
        and sum(
            p.stat().st_size for p in (home / "workers").glob("*/attempt-1/stdout.jsonl")
        )
        // max(workers, 1),
        "seconds_to_all_completed": round(took, 2),
        "lag_after_last_agent_write_secs": round(settled_wall - last_write, 2),
        "owner_cpu_secs": round(cpu_end - cpu0, 2),
        "owner_cpu_secs_after_last_agent_write": round(cpu_end - cpu_at_last, 2),
        "owner_cpu_us_per_line": round((cpu_end - cpu0) * 1e6 / max(workers * lines, 1), 2),
        "completed": s["tasks"].get("completed", 0),
        "owner_peak_rss": vm_hwm.split(":")[1].strip(),
    }


def view(workers: int, mb: float) -> dict:
    # A text line of the fake agent is about 330 bytes.
    lines = int(mb * 1024 * 1024 / 330)
    home = fresh_home(f"view-{mb}", workers)
    work = SCRATCH / "view-work"
    work.mkdir(exist_ok=True)
    owner = start_owner(home)
    try:
        for i in range(workers):
            cortex(
                home,
                "submit",
                f"big output {i} FAKE:flood_then_hang FAKE_LINES:{lines}",
                "--workdir",
                str(work),
            )
        deadline = time.monotonic() + 600
        want = f"flood line {lines} of {lines}"
        while time.monotonic() < deadline:
            ws = json.loads(cortex(home, "workers", "--json").stdout)
            if len(ws) == workers and all(w.get("last_text") == want for w in ws):
                break
            time.sleep(0.5)
        times = []
        for _ in range(10):
            t0 = time.monotonic()
            cortex(home, "workers", "--json")
            times.append(time.monotonic() - t0)
        size = sum(p.stat().st_size for p in (home / "workers").glob("*/attempt-1/stdout.jsonl"))
    finally:
        stop_owner(owner)
        kill_tagged(home)
    return {
        "workers": workers,
        "mb_each": round(size / workers / 1024 / 1024, 1),
        "workers_json_median_ms": round(statistics.median(times) * 1000, 1),
        "workers_json_max_ms": round(max(times) * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=200)
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--view-workers", type=int, default=8)
    ap.add_argument("--view-mb", type=float, default=8.0)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-view", action="store_true", help="only the settle part (and its floor)")
    ap.add_argument("--keep", action="store_true", help=f"leave the homes under {SCRATCH} to look at")
    a = ap.parse_args()
    if not a.no_build:
        build()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    results = {"floor_seconds": round(floor(a.workers, a.lines), 2)}
    print(f"floor: {a.workers} agents x {a.lines} lines exited in {results['floor_seconds']} s", flush=True)
    results["settle"] = settle(a.workers, a.lines)
    print(f"settle: {results['settle']}", flush=True)
    if not a.no_view:
        results["view"] = [view(a.view_workers, a.view_mb), view(a.view_workers, a.view_mb * 2)]
        for v in results["view"]:
            print(f"view: {v}", flush=True)
    if not a.keep:
        shutil.rmtree(SCRATCH, ignore_errors=True)
    name = "results.json" if not a.no_view else f"results-{a.workers}x{a.lines}.json"
    (HERE / name).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
