#!/usr/bin/env python3
"""Submit to first line: workers on this machine vs as Slurm jobs.

    tests/cluster/run.sh target/slurm python3 bench/cluster/run.py [--rounds R]

(run.sh starts a one-node Slurm cluster on 127.0.0.1 for the command and
stops it after; `make cluster-deps` installs Slurm.) For 1 and 50 workers,
with `launcher.kind` local, then slurm through `sbatch`, then slurm through
slurmrestd (when run.sh started it: `CORTEX_SLURM_REST`), it starts `cortex run` on a fresh
home using the fake agent (mode `slow`: a line a second), submits the tasks
in one `cortex submit --batch`, and measures for each task the time from the
submission to the first line in its worker's output file (polled every 5 ms).
Reports the median and the worst over the workers, median over the rounds.
Uses the debug build the tests use (`cargo build -p cortex-cli -p
cortex-tests --bins`). Everything it starts it stops, by pid; results go to
bench/cluster/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORTEX = REPO / "target" / "debug" / "cortex"
FAKE = REPO / "target" / "debug" / "fake-agent"


def cortex(home: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [str(CORTEX), "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CORTEX_LOG": "warn"},
    )
    return out.stdout


def configure(home: Path, kind: str, conf: str | None, rest: str | None = None) -> None:
    p = home / "config.json"
    c = json.loads(p.read_text())
    c["agent"]["command"] = [str(FAKE)]
    c["capacity"]["max_workers"] = 64
    c["routing"]["confirm_low_confidence"] = False
    c["pm"]["tick_millis"] = 200
    c["launcher"] = {"kind": "slurm" if kind.startswith("slurm") else kind}
    if kind.startswith("slurm"):
        c["launcher"]["slurm"] = {"conf": conf, "sample_secs": 2, "queue_poll_secs": 1}
    if kind == "slurm-rest":
        c["launcher"]["slurm"]["rest"] = {"url": rest}
    p.write_text(json.dumps(c, indent=2))
    for e in (home / "experts").glob("*.json"):
        x = json.loads(e.read_text())
        x["max_workers"] = 64
        e.write_text(json.dumps(x, indent=2))


def first_lines(home: Path, n: int, limit: float) -> dict[str, float]:
    """Worker folder -> the time its first attempt's output got a line."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + limit
    while len(seen) < n and time.monotonic() < deadline:
        for out in (home / "workers").glob("*/attempt-1/stdout.jsonl"):
            key = out.parent.parent.name
            if key not in seen:
                try:
                    if out.stat().st_size > 0:
                        seen[key] = time.monotonic()
                except FileNotFoundError:
                    pass
        time.sleep(0.005)
    return seen


def one_run(kind: str, n: int, conf: str | None, rest: str | None = None) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="cortex-clusterbench-") as d:
        home = Path(d) / "home"
        work = Path(d) / "work"
        work.mkdir()
        cortex(home, "init")
        configure(home, kind, conf, rest)
        owner = subprocess.Popen(
            [str(CORTEX), "--home", str(home), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CORTEX_LOG": "info"},
        )
        try:
            line = ""
            while "cortex: running on" not in line:
                line = owner.stderr.readline()
                if not line and owner.poll() is not None:
                    raise SystemExit(f"cortex run ended: {owner.returncode}")
            batch = "".join(
                json.dumps({"text": f"summarise module {i} FAKE:slow FAKE_LINES:30", "workdir": str(work)}) + "\n"
                for i in range(n)
            )
            t0 = time.monotonic()
            cortex(home, "submit", "--batch", "-", stdin=batch)
            seen = first_lines(home, n, 120)
            if len(seen) < n:
                raise SystemExit(f"{kind}: only {len(seen)} of {n} workers printed within 120 s")
            return sorted(t - t0 for t in seen.values())
        finally:
            owner.send_signal(signal.SIGTERM)
            try:
                owner.wait(30)
            except subprocess.TimeoutExpired:
                owner.kill()
                owner.wait()
            # Workers are detached on purpose: end this home's.
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    env = Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    continue
                if f"CORTEX_HOME={home}".encode() in env.split(b"\0"):
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if kind.startswith("slurm"):
                prefix = f"cortex-"
                jobs = subprocess.run(
                    ["squeue", "--me", "-h", "-o", "%i %j"], capture_output=True, text=True,
                    env={**os.environ, "SLURM_CONF": conf or ""},
                ).stdout.split("\n")
                for j in jobs:
                    parts = j.split()
                    if len(parts) == 2 and parts[1].startswith(prefix):
                        subprocess.run(["scancel", parts[0]], env={**os.environ, "SLURM_CONF": conf or ""})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    conf = os.environ.get("CORTEX_SLURM_CONF")
    if not conf:
        raise SystemExit("CORTEX_SLURM_CONF is not set: run this under tests/cluster/run.sh")
    rest = os.environ.get("CORTEX_SLURM_REST")
    results = {}
    for kind in ["local", "slurm"] + (["slurm-rest"] if rest else []):
        for n in [1, 50]:
            medians, worsts = [], []
            for _ in range(args.rounds):
                times = one_run(kind, n, conf, rest)
                medians.append(statistics.median(times))
                worsts.append(times[-1])
            r = {
                "median_s": round(statistics.median(medians), 3),
                "worst_s": round(statistics.median(worsts), 3),
                "rounds": args.rounds,
            }
            results[f"{kind}-{n}"] = r
            print(f"{kind:10} {n:3} workers: submit to first line median {r['median_s']:.2f} s, worst {r['worst_s']:.2f} s")
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
