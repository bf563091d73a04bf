#!/usr/bin/env python3
"""Spawn benchmark: Cortex vs supervisord vs pm2 vs a bare spawn loop.

One command runs everything (see README.md beside this file):

    python3 bench/spawn/run.py [--workers N] [--rounds R] [--steady-secs S]

It builds the release binaries, installs supervisord (PyPI `supervisor`, into a
venv under /tmp) and pm2 (npm `pm2`, into /tmp/pm2) when they are missing,
then, per round, lets each system start N fake agents (`fake-agent`, mode
`slow`: one stream-json line a second for ~28 hours) and measures:

1. the time to get N workers running (median over the rounds);
2. Cortex's own overhead from "spawn decided" (worker_created) to
   "running recorded" (attempt_started), per worker, p50 / p99;
3. steady state with N workers printing a line a second: RSS and CPU of the
   supervising process only (`cortex run`, supervisord, pm2's God Daemon).

Python 3 standard library only. Everything it starts it stops again, by pid
or by the system's own control command, and it checks that no fake agent it
started is left before the next system starts. Scratch files live under
/tmp/cortex-spawnbench; results go to bench/spawn/results.json.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORTEX = REPO / "target" / "release" / "cortex"
FAKE = REPO / "target" / "release" / "fake-agent"
SCRATCH = Path("/tmp/cortex-spawnbench")
VENV = Path("/tmp/spawnbench-venv")
PM2_PREFIX = Path("/tmp/pm2")
PM2_BIN = PM2_PREFIX / "node_modules" / ".bin" / "pm2"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# --cortex-cold: start the clock without waiting for Cortex's ready folders.
COLD = False
SYSTEMS = ["bare", "cortex", "supervisord", "pm2"]
LABEL = {
    "bare": "bare spawn loop",
    "cortex": "cortex",
    "supervisord": "supervisord",
    "pm2": "pm2",
}
# Reference values measured earlier on this machine by someone else (the issue).
REFERENCE = {
    "startup_secs": {"supervisord": 3.6, "pm2": 2.8, "bare": 1.5},
    "steady": {
        "supervisord": {"rss_mb": 22.7, "cpu_pct": 14.8},
        "pm2": {"rss_mb": 81.7, "cpu_pct": 4.4},
    },
    "goals": {
        "cortex_vs_bare": 1.1,
        "cortex_rss_mb": 20.0,
        "cortex_cpu_pct": 2.0,
    },
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# /proc helpers


def boot_now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def wall_minus_boot() -> float:
    """Offset that turns a CLOCK_BOOTTIME reading into a Unix time."""
    best = None
    for _ in range(5):
        a = time.time()
        b = boot_now()
        c = time.time()
        cand = ((a + c) / 2 - b, c - a)
        if best is None or cand[1] < best[1]:
            best = cand
    return best[0]


def read_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2 :].split()
    return rest  # rest[0] is field 3 (state)


def start_boot_secs(pid: int) -> float | None:
    st = read_stat(pid)
    if st is None or len(st) < 20:
        return None
    return int(st[19]) / CLK_TCK


def cpu_ticks(pid: int) -> int | None:
    st = read_stat(pid)
    if st is None:
        return None
    return int(st[11]) + int(st[12])


def status_field(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pid_alive(pid: int) -> bool:
    st = read_stat(pid)
    return st is not None and st[0] != "Z"


def tagged_agents(tag: str) -> dict[int, float]:
    """Live fake-agent processes whose command line carries our tag:
    pid -> start time (CLOCK_BOOTTIME seconds, 1/CLK_TCK resolution)."""
    out: dict[int, float] = {}
    fake = os.fsencode(str(FAKE))
    tagb = tag.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if not cmd or tagb not in cmd:
            continue
        argv0 = cmd.split(b"\0", 1)[0]
        if argv0 != fake:
            continue
        st = start_boot_secs(int(name))
        if st is not None:
            out[int(name)] = st
    return out


def read_cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def agent_worker(pid: int) -> bytes | None:
    """Which worker an agent belongs to: Cortex gives its agents the prompt
    on stdin and their worker in `CORTEX_WORKER_ID`; the other systems
    carry the task's text ("bench task N ") in the command line."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for var in f.read().split(b"\0"):
                if var.startswith(b"CORTEX_WORKER_ID="):
                    return var.split(b"=", 1)[1]
    except OSError:
        return None
    m = re.search(rb"bench task (\d+) ", read_cmdline(pid) or b"")
    return m.group(0) if m else None


def is_tagged_agent(cmd: bytes | None, tag: str) -> bool:
    return bool(cmd) and tag.encode() in cmd and cmd.split(b"\0", 1)[0] == os.fsencode(str(FAKE))


def proc_pids() -> set[int]:
    return {int(n) for n in os.listdir("/proc") if n.isdigit()}


def tcp_listeners(pid: int) -> list[str]:
    """TCP sockets in LISTEN state held by the process (local addresses)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return []
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A" and p[9] in inodes:
                        found.append(p[1])
        except OSError:
            pass
    return found


def machine_busy_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def parse_rfc3339(s: str) -> float:
    """'2026-11-24T00:18:37.994605031Z' -> Unix seconds (microsecond precision)."""
    s = s.rstrip("Z")
    frac = 0.0
    if "." in s:
        s, f = s.split(".", 1)
        frac = float("0." + f)
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%S")) + frac


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(-(-q * len(v) // 100)) - 1))
    return v[k]


def wait_until(cond, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


# --------------------------------------------------------------------------
# setup


def run_cmd(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], **kw)


def build(skip: bool) -> None:
    if skip:
        log("skipping the build (--no-build)")
    else:
        log("building release binaries (cargo build --release -p cortex-cli -p cortex-tests --bins)")
        r = run_cmd(
            ["cargo", "build", "--release", "-p", "cortex-cli", "-p", "cortex-tests", "--bins"],
            cwd=REPO,
        )
        if r.returncode != 0:
            sys.exit("cargo build failed")
    for b in (CORTEX, FAKE):
        if not b.exists():
            sys.exit(f"missing binary {b}")


def ensure_supervisor() -> str:
    sd = VENV / "bin" / "supervisord"
    if not sd.exists():
        log(f"installing supervisor into {VENV} (pip)")
        run_cmd([sys.executable, "-m", "venv", VENV], check=True)
        run_cmd([VENV / "bin" / "pip", "install", "-q", "supervisor"], check=True)
    r = run_cmd([sd, "--version"], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def ensure_pm2() -> str:
    if not PM2_BIN.exists():
        log(f"installing pm2 into {PM2_PREFIX} (npm install --prefix)")
        PM2_PREFIX.mkdir(parents=True, exist_ok=True)
        pj = PM2_PREFIX / "package.json"
        if not pj.exists():
            pj.write_text('{"name": "spawnbench-pm2", "private": true}\n')
        run_cmd(["npm", "install", "--prefix", PM2_PREFIX, "pm2"], check=True)
    # `pm2 --version` would start a daemon in ~/.pm2: read the version instead.
    meta = json.loads((PM2_PREFIX / "node_modules" / "pm2" / "package.json").read_text())
    return meta["version"]


# --------------------------------------------------------------------------
# the systems


def prompt(i: int, tag: str) -> str:
    return f"bench task {i} FAKE:slow FAKE_SECS:1 FAKE_LINES:100000 {tag}"


def agent_argv(i: int, tag: str) -> list[str]:
    # The same flags the Claude driver gives, minus the per-session ones.
    return [str(FAKE), "-p", prompt(i, tag), "--output-format", "stream-json", "--verbose"]


def agent_env() -> dict:
    env = dict(os.environ)
    env["FAKE_AGENT_MODE"] = "slow"
    return env


class System:
    """One system under test for one round."""

    name = ""

    def __init__(self, n: int, tag: str, rnd: int):
        self.n = n
        self.tag = tag
        self.rnd = rnd
        self.dir = SCRATCH / f"{self.name}-r{rnd}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.work = self.dir / "work"
        self.work.mkdir()
        self.supervisor_pid: int | None = None
        self.result: dict = {}

    def prepare(self) -> None:
        pass

    def start(self) -> None:
        """Starts N workers; sets self.t0_* and result['t_reported']."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Bare(System):
    name = "bare"

    def start(self) -> None:
        logs = self.dir / "logs"
        logs.mkdir()
        env = agent_env()
        self.procs: list[subprocess.Popen] = []
        self.t0_boot = boot_now()
        t0 = time.perf_counter()
        for i in range(1, self.n + 1):
            with open(logs / f"w{i}.log", "wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        agent_argv(i, self.tag),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        cwd=self.work,
                        env=env,
                        start_new_session=True,
                    )
                )
        self.result["t_reported"] = time.perf_counter() - t0
        self.result["reported_by"] = "the loop returned"

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


class Cortex(System):
    name = "cortex"

    def cx(self, *args, check=True, capture=True) -> subprocess.CompletedProcess:
        r = run_cmd(
            [CORTEX, "--home", self.home, *args],
            capture_output=capture,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"cortex {' '.join(args)} failed: {r.stdout} {r.stderr}")
        return r

    def prepare(self) -> None:
        self.configure()
        self.submit_paused()
        self.start_owner_and_wait_spares()

    def configure(self) -> None:
        """A home for N fake agents: init, config, expert capacities."""
        self.home = self.dir / "home"
        self.run_proc = None
        self.cx("init", "--json")
        cfg_path = self.home / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg.setdefault("capacity", {})["max_workers"] = self.n
        agent = cfg.setdefault("agent", {})
        # The tag also goes on the command line of resumed attempts (whose
        # prompt is Cortex's resume message): the fake agent skips an
        # unknown flag and its value.
        agent["command"] = [str(FAKE), "--bench-tag", self.tag]
        agent["env"] = {"FAKE_AGENT_MODE": "slow"}
        cfg["on_quit"] = "stop"
        # Generated prompts may route with low confidence: start them anyway.
        cfg.setdefault("routing", {})["confirm_low_confidence"] = False
        cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
        for f in sorted((self.home / "experts").glob("*.json")):
            e = json.loads(f.read_text())
            e["max_workers"] = self.n
            f.write_text(json.dumps(e, indent=2) + "\n")
        chk = json.loads(self.cx("config", "check", "--json").stdout)
        if not chk.get("ok"):
            raise RuntimeError(f"cortex config check failed: {chk}")
        self.tick_millis = cfg.get("pm", {}).get("tick_millis", 1000)

    def submit_paused(self) -> None:
        self.cx("pause", "--json")
        t = time.perf_counter()
        for i in range(1, self.n + 1):
            out = json.loads(
                self.cx("submit", prompt(i, self.tag), "--workdir", self.work, "--json").stdout
            )
            if out.get("deduplicated"):
                raise RuntimeError(f"task {i} was deduplicated")
        self.result["submit_secs_total"] = time.perf_counter() - t

    def start_owner_and_wait_spares(self) -> None:
        # The owner, paused: it must come up before the clock starts.
        self.run_out = self.dir / "run.out"
        self.run_err = self.dir / "run.err"
        t = time.perf_counter()
        with open(self.run_out, "wb") as o, open(self.run_err, "wb") as e:
            self.run_proc = subprocess.Popen(
                [str(CORTEX), "--home", str(self.home), "run"],
                stdout=o,
                stderr=e,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.supervisor_pid = self.run_proc.pid
        ok = wait_until(lambda: b"cortex: running on" in self.run_err.read_bytes(), 60, 0.005)
        if not ok:
            raise RuntimeError(f"cortex run did not come up: {self.run_err.read_text()}")
        self.result["run_startup_secs"] = time.perf_counter() - t
        # An idle owner keeps capacity.max_workers attempt folders ready
        # (workers/.spare); the clock starts once it has, unless --cortex-cold.
        spare = self.home / "workers" / ".spare"

        def spares_ready() -> int:
            try:
                return sum(1 for p in spare.iterdir() if p.name.startswith("s-"))
            except OSError:
                return 0

        self.result["cold"] = COLD
        if not COLD:
            t = time.perf_counter()
            # The owner keeps at most 512 ready (MAX_SPARES in spares.rs).
            want = min(self.n, 512)
            if not wait_until(lambda: spares_ready() >= want, 60, 0.01):
                raise RuntimeError(f"only {spares_ready()} attempt folders ready after 60 s")
            self.result["spares_ready_secs"] = time.perf_counter() - t
        self.result["spares_at_start"] = spares_ready()

    def start(self) -> None:
        journal = self.home / "journal.jsonl"
        jf = open(journal, "rb")
        jf.seek(0, os.SEEK_END)
        buf = b""
        seen: dict[str, float] = {}  # worker id -> perf time the attempt_started line was read
        self.t0_boot = boot_now()
        self.t0_wall = time.time()
        t0 = time.perf_counter()
        self.cx("resume", "--json")
        t_ret = time.perf_counter() - t0
        deadline = time.perf_counter() + 300
        while len(seen) < self.n and time.perf_counter() < deadline:
            data = jf.read()
            if data:
                now = time.perf_counter()
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if b'"kind":"attempt_started"' in line:
                        rec = json.loads(line)
                        if rec.get("attempt") == 1:
                            seen.setdefault(rec["worker_id"], now - t0)
            else:
                time.sleep(0.003)
        jf.close()
        if len(seen) < self.n:
            raise RuntimeError(f"cortex started only {len(seen)} of {self.n} workers in 300 s")
        self.seen = seen
        self.result["t_reported"] = max(seen.values())
        self.result["reported_by"] = "Nth attempt_started line read from journal.jsonl"
        self.result["resume_cmd_secs"] = t_ret
        self.result["t_reported_from_resume_return"] = max(seen.values()) - t_ret

    def after_ready(self, off: float) -> None:
        """Journal analysis (measurement 2) and a status cross-check."""
        st = json.loads(self.cx("status", "--json").stdout)
        self.result["status_workers_running"] = st.get("workers", {}).get("running")
        created: dict[str, float] = {}
        started: dict[str, dict] = {}
        resume_at = None
        for line in (self.home / "journal.jsonl").read_text().splitlines():
            rec = json.loads(line)
            k = rec["kind"]
            if k == "spawning_paused" and rec.get("paused") is False:
                resume_at = parse_rfc3339(rec["at"])
            elif k == "worker_created":
                created[rec["worker"]["id"]] = parse_rfc3339(rec["at"])
            elif k == "attempt_started" and rec.get("attempt") == 1:
                started[rec["worker_id"]] = {
                    "at": parse_rfc3339(rec["at"]),
                    "start_ticks": rec.get("start_ticks"),
                }
        ids = [w for w in created if w in started]
        r = self.result
        r["workers_created"] = len(created)
        r["schedule_passes"] = len({created[w] for w in ids})
        if resume_at is not None and ids:
            # The brief's journal method: latest attempt_started `at` - resume `at`.
            r["journal_latest_started_minus_resume"] = max(started[w]["at"] for w in ids) - resume_at
            r["journal_first_created_minus_resume"] = min(created[w] for w in ids) - resume_at
        # (a) as the journal says it: attempt_started.at - worker_created.at
        d_journal = [(started[w]["at"] - created[w]) * 1000 for w in ids]
        # (b) decided -> process really forked (start_ticks is /proc starttime)
        d_fork = [
            ((started[w]["start_ticks"] / CLK_TCK + off) - created[w]) * 1000
            for w in ids
            if started[w]["start_ticks"] is not None
        ]
        # (c) decided -> the attempt_started record was on disk (read by our tail)
        d_rec = [
            ((self.t0_wall + self.seen[w]) - created[w]) * 1000 for w in ids if w in self.seen
        ]
        r["overhead_ms"] = {
            "journal_at_started_minus_created": {"p50": pct(d_journal, 50), "p99": pct(d_journal, 99), "max": max(d_journal)},
            "created_to_process_forked": {"p50": pct(d_fork, 50), "p99": pct(d_fork, 99), "max": max(d_fork)},
            "created_to_started_record_on_disk": {"p50": pct(d_rec, 50), "p99": pct(d_rec, 99), "max": max(d_rec)},
        }

    def stop(self) -> None:
        if self.run_proc is None:
            return
        if self.run_proc.poll() is None:
            self.run_proc.send_signal(signal.SIGTERM)
        try:
            self.run_proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            log("cortex run did not stop within 120 s of SIGTERM; SIGKILL")
            self.result.setdefault("problems", []).append("cortex run ignored SIGTERM for 120 s")
            self.run_proc.kill()
            self.run_proc.wait()


class Supervisord(System):
    name = "supervisord"

    def prepare(self) -> None:
        self.conf = self.dir / "supervisord.conf"
        self.sock = self.dir / "supervisor.sock"
        logs = self.dir / "logs"
        logs.mkdir()
        lines = [
            "[unix_http_server]",
            f"file={self.sock}",
            "chmod=0700",
            "",
            "[supervisord]",
            "nodaemon=true",
            f"logfile={self.dir / 'supervisord.log'}",
            f"pidfile={self.dir / 'supervisord.pid'}",
            f"childlogdir={logs}",
            "minfds=4096",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.sock}",
            "",
        ]
        for i in range(1, self.n + 1):
            argv = agent_argv(i, self.tag)
            cmd = " ".join(f'"{a}"' if " " in a else a for a in argv)
            lines += [
                f"[program:sb{i}]",
                f"command={cmd}",
                f"directory={self.work}",
                "autostart=true",
                # A crashed agent is started again (the crash measurement).
                "autorestart=true",
                "startsecs=0",
                "startretries=0",
                "stopsignal=TERM",
                "stopwaitsecs=5",
                "redirect_stderr=true",
                f"stdout_logfile={logs / f'sb{i}.log'}",
                'environment=FAKE_AGENT_MODE="slow"',
                "",
            ]
        self.conf.write_text("\n".join(lines))
        self.proc = None

    def ctl(self, *args) -> subprocess.CompletedProcess:
        return run_cmd(
            [VENV / "bin" / "supervisorctl", "-c", self.conf, *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        out = open(self.dir / "supervisord.out", "wb")
        self.t0_boot = boot_now()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(VENV / "bin" / "supervisord"), "-c", str(self.conf), "-n"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.supervisor_pid = self.proc.pid
        polls = 0
        deadline = t0 + 300
        while time.perf_counter() < deadline:
            polls += 1
            r = self.ctl("status")
            running = sum(1 for l in r.stdout.splitlines() if len(l.split()) > 1 and l.split()[1] == "RUNNING")
            if running >= self.n:
                self.result["t_reported"] = time.perf_counter() - t0
                self.result["reported_by"] = "supervisorctl status shows N RUNNING"
                self.result["polls"] = polls
                return
            if self.proc.poll() is not None:
                raise RuntimeError("supervisord exited: " + (self.dir / "supervisord.out").read_text())
            time.sleep(0.1)
        raise RuntimeError("supervisord did not get all programs RUNNING in 300 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            r = self.ctl("shutdown")
            if r.returncode != 0:
                log(f"supervisorctl shutdown: {r.stdout} {r.stderr}")
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            log("supervisord did not shut down in 120 s; SIGTERM to its pid")
            self.proc.terminate()
            self.proc.wait(timeout=60)


class Pm2(System):
    name = "pm2"

    def prepare(self) -> None:
        self.pm2_home = self.dir / "pm2home"
        self.env = dict(os.environ)
        self.env["PM2_HOME"] = str(self.pm2_home)
        logs = self.dir / "logs"
        logs.mkdir()
        apps = []
        for i in range(1, self.n + 1):
            argv = agent_argv(i, self.tag)
            apps.append(
                {
                    "name": f"sb{i}",
                    "script": argv[0],
                    "args": argv[1:],
                    "interpreter": "none",
                    "exec_mode": "fork",
                    "instances": 1,
                    "cwd": str(self.work),
                    "autorestart": True,
                    "watch": False,
                    "env": {"FAKE_AGENT_MODE": "slow"},
                    "out_file": str(logs / f"sb{i}.out.log"),
                    "error_file": str(logs / f"sb{i}.err.log"),
                    "pid_file": str(logs / f"sb{i}.pid"),
                }
            )
        self.eco = self.dir / "ecosystem.config.json"
        self.eco.write_text(json.dumps({"apps": apps}, indent=1))
        self.started = False

    def pm2(self, *args, timeout=300) -> subprocess.CompletedProcess:
        return run_cmd(
            [PM2_BIN, *args],
            capture_output=True,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )

    def god_pid(self) -> int | None:
        try:
            return int((self.pm2_home / "pm2.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        self.t0_boot = boot_now()
        t0 = time.perf_counter()
        self.started = True
        r = self.pm2("start", self.eco)
        self.result["pm2_start_cmd_secs"] = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"pm2 start failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
        self.supervisor_pid = self.god_pid()
        polls = 0
        deadline = t0 + 300
        while time.perf_counter() < deadline:
            polls += 1
            r = self.pm2("jlist")
            try:
                lst = json.loads(r.stdout[r.stdout.index("[") :])
            except ValueError:
                lst = []
            online = sum(1 for p in lst if p.get("pm2_env", {}).get("status") == "online")
            if online >= self.n:
                self.result["t_reported"] = time.perf_counter() - t0
                self.result["reported_by"] = "pm2 jlist shows N online"
                self.result["polls"] = polls
                return
            time.sleep(0.1)
        raise RuntimeError("pm2 did not get all apps online in 300 s")

    def stop(self) -> None:
        if not self.started and not (self.pm2_home / "pm2.pid").exists():
            return
        god = self.god_pid()
        r = self.pm2("kill", timeout=180)
        if r.returncode != 0:
            log(f"pm2 kill: {r.stdout[-1000:]} {r.stderr[-1000:]}")
        if god is not None and not wait_until(lambda: not pid_alive(god), 60):
            log(f"pm2 God Daemon {god} still alive after pm2 kill; SIGTERM to it")
            os.kill(god, signal.SIGTERM)
            wait_until(lambda: not pid_alive(god), 30)


CLASSES = {"bare": Bare, "cortex": Cortex, "supervisord": Supervisord, "pm2": Pm2}


# --------------------------------------------------------------------------
# measurement


def steady_state(pid: int, secs: float, settle: float) -> dict:
    time.sleep(settle)
    rss = []
    c0 = cpu_ticks(pid)
    m0 = machine_busy_ticks()
    t0 = time.monotonic()
    end = t0 + secs
    while True:
        v = status_field(pid, "VmRSS")
        if v is not None:
            rss.append(v)
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(1.0, end - now))
    c1 = cpu_ticks(pid)
    m1 = machine_busy_ticks()
    t1 = time.monotonic()
    el = t1 - t0
    if c0 is None or c1 is None:
        raise RuntimeError(f"supervising process {pid} vanished during the steady-state window")
    return {
        "pid": pid,
        "secs": el,
        "cpu_pct_of_one_core": (c1 - c0) / CLK_TCK / el * 100,
        "rss_mb_end": rss[-1] / 1024,
        "rss_mb_mean": statistics.mean(rss) / 1024,
        "rss_mb_max": max(rss) / 1024,
        "vm_hwm_mb": (status_field(pid, "VmHWM") or 0) / 1024,
        "threads": status_field(pid, "Threads"),
        "machine_busy_pct_of_one_core": (m1[0] - m0[0]) / max(1, (m1[1] - m0[1])) * os.cpu_count() * 100,
    }


def crash_phase(system: str, tag: str, crashes: int, problems: list) -> list[dict]:
    """SIGKILLs the agents of workers 1..`crashes`, one at a time, each its
    worker's first crash, and times how long until a replacement agent runs:
    `seen_ms` is when a new tagged fake-agent process (after its exec) was
    first seen in /proc, polled every millisecond; `started_ms` is that
    process's start time from /proc (10 ms resolution, poll-free)."""
    out = []
    crashed: set[bytes] = set()
    for i in range(1, crashes + 1):
        by_worker: dict[bytes, list[int]] = {}
        for p in tagged_agents(tag):
            who = agent_worker(p)
            if who is not None:
                by_worker.setdefault(who, []).append(p)
        fresh = sorted(w for w in by_worker if w not in crashed)
        if not fresh:
            problems.append(f"{system}: no worker left to crash for crash {i}")
            continue
        who = fresh[0]
        victims = by_worker[who]
        if len(victims) != 1:
            problems.append(f"{system}: {len(victims)} agents of {who!r} before its crash, expected 1")
            continue
        crashed.add(who)
        known = proc_pids()
        victim = victims[0]
        t_kill = boot_now()
        os.kill(victim, signal.SIGKILL)
        found = None
        deadline = t_kill + 30
        while found is None and boot_now() < deadline:
            for pid in proc_pids() - known:
                cmd = read_cmdline(pid)
                if is_tagged_agent(cmd, tag):
                    found = pid
                    break
                if cmd is None:
                    known.add(pid)  # gone already
            if found is None:
                time.sleep(0.001)
        t_seen = boot_now()
        if found is None:
            problems.append(f"{system}: no replacement for worker {i} within 30 s of its crash")
            continue
        started = start_boot_secs(found)
        out.append(
            {
                "worker": i,
                "killed_pid": victim,
                "replacement_pid": found,
                "seen_ms": (t_seen - t_kill) * 1000,
                "started_ms": (started - t_kill) * 1000 if started is not None else None,
            }
        )
        time.sleep(0.5)
    return out


def ensure_no_agents(tag: str, who: str, timeout: float = 60) -> list[int]:
    """Waits for every tagged fake agent to be gone; SIGKILLs (by pid) and
    reports any that outlive the timeout."""
    if wait_until(lambda: not tagged_agents(tag), timeout, 0.1):
        return []
    left = sorted(tagged_agents(tag))
    log(f"{who}: {len(left)} fake agents left after stop: {left[:10]}...; SIGKILL by pid")
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_until(lambda: not tagged_agents(tag), 10, 0.1)
    return left


def one(system: str, n: int, tag: str, rnd: int, steady_secs: float, settle: float, crashes: int, problems: list) -> dict:
    sysobj = CLASSES[system](n, tag, rnd)
    res = sysobj.result
    res["round"] = rnd
    res["loadavg_before"] = loadavg()
    try:
        sysobj.prepare()
        sysobj.start()
        off = wall_minus_boot()
        # All N processes must exist; their fork times give a poll-free measure.
        ok = wait_until(lambda: len(tagged_agents(tag)) >= n, 30, 0.02)
        agents = tagged_agents(tag)
        if not ok or len(agents) != n:
            problems.append(f"{system} round {rnd}: {len(agents)} tagged agents alive, expected {n}")
        starts = sorted(agents.values())
        if starts:
            res["t_first_fork"] = starts[0] - sysobj.t0_boot
            res["t_last_fork"] = starts[-1] - sysobj.t0_boot
        res["agents_alive"] = len(agents)
        if isinstance(sysobj, Cortex):
            sysobj.after_ready(off)
        if sysobj.supervisor_pid:
            res["supervisor_pid"] = sysobj.supervisor_pid
            res["tcp_listeners"] = tcp_listeners(sysobj.supervisor_pid)
            if res["tcp_listeners"]:
                problems.append(f"{system}: supervising process listens on TCP {res['tcp_listeners']}")
        if steady_secs > 0 and sysobj.supervisor_pid:
            log(f"  {system}: steady state for {steady_secs:.0f} s (after {settle:.0f} s settle)")
            res["steady"] = steady_state(sysobj.supervisor_pid, steady_secs, settle)
            res["steady"]["agents_alive_at_end"] = len(tagged_agents(tag))
            if res["steady"]["agents_alive_at_end"] != n:
                problems.append(
                    f"{system}: only {res['steady']['agents_alive_at_end']} agents alive at the end of the steady window"
                )
        if crashes > 0 and sysobj.supervisor_pid:
            log(f"  {system}: {crashes} crashes, one at a time")
            res["crashes"] = crash_phase(system, tag, min(crashes, n), problems)
    finally:
        t = time.perf_counter()
        try:
            sysobj.stop()
        finally:
            left = ensure_no_agents(tag, system)
            res["stop_secs"] = time.perf_counter() - t
            if left:
                problems.append(f"{system} round {rnd}: {len(left)} fake agents outlived the stop and were SIGKILLed")
    return res


# --------------------------------------------------------------------------
# report


def fmt(v, spec=".2f", unit=""):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:{spec}}{unit}"


def summarize(results: dict, n: int) -> dict:
    summary = {}
    for s in SYSTEMS:
        rounds = results["rounds"][s]
        if not rounds:
            continue
        med = {}
        for key in ("t_reported", "t_last_fork", "t_first_fork", "t_reported_from_resume_return", "run_startup_secs", "stop_secs"):
            vals = [r[key] for r in rounds if r.get(key) is not None]
            if vals:
                med[key] = statistics.median(vals)
        steady = [r["steady"] for r in rounds if "steady" in r]
        if steady:
            med["steady"] = {
                k: statistics.median([x[k] for x in steady])
                for k in ("cpu_pct_of_one_core", "rss_mb_end", "rss_mb_mean", "rss_mb_max", "vm_hwm_mb", "machine_busy_pct_of_one_core")
            }
            med["steady"]["windows"] = len(steady)
        crashes = [c for r in rounds for c in r.get("crashes", [])]
        if crashes:
            med["crash"] = {"count": len(crashes)}
            for k in ("seen_ms", "started_ms"):
                vals = sorted(c[k] for c in crashes if c.get(k) is not None)
                if vals:
                    med["crash"][k] = {"p50": statistics.median(vals), "min": vals[0], "max": vals[-1]}
        summary[s] = med
    c = [r for r in results["rounds"]["cortex"] if "overhead_ms" in r]
    if c:
        ov = {}
        for k in c[0]["overhead_ms"]:
            ov[k] = {q: statistics.median([r["overhead_ms"][k][q] for r in c]) for q in ("p50", "p99", "max")}
        summary["cortex_overhead_ms"] = ov
        for k in ("journal_latest_started_minus_resume", "journal_first_created_minus_resume", "schedule_passes", "submit_secs_total", "resume_cmd_secs"):
            vals = [r[k] for r in c if r.get(k) is not None]
            if vals:
                summary.setdefault("cortex_extra", {})[k] = statistics.median(vals)
    if "cortex" in summary and "bare" in summary:
        b, cx = summary["bare"], summary["cortex"]
        summary["cortex_vs_bare"] = {
            "reported": cx["t_reported"] / b["t_reported"],
            "last_fork": cx["t_last_fork"] / b["t_last_fork"] if b.get("t_last_fork") else None,
        }
    return summary


def print_report(results: dict) -> None:
    s = results["summary"]
    n = results["args"]["workers"]
    R = results["args"]["rounds"]
    ref = REFERENCE["startup_secs"]
    print()
    print(f"1. Time to {n} workers running (median of {R} round(s), seconds from the start command)")
    print(f"   {'system':<16}{'reported':>10}{'last fork':>11}{'first fork':>12}{'reference':>11}   reported by")
    for sysname in SYSTEMS:
        if sysname not in s:
            continue
        m = s[sysname]
        by = next((r.get("reported_by") for r in results["rounds"][sysname]), "")
        print(
            f"   {LABEL[sysname]:<16}{fmt(m.get('t_reported')):>10}{fmt(m.get('t_last_fork')):>11}"
            f"{fmt(m.get('t_first_fork')):>12}{fmt(ref.get(sysname)):>11}   {by}"
        )
    if "cortex_vs_bare" in s:
        cb = s["cortex_vs_bare"]
        print(
            f"   cortex / bare: {fmt(cb['reported'])}x (reported), {fmt(cb['last_fork'])}x (last fork); goal <= 1.1x"
        )
    if "cortex" in s:
        ce = s.get("cortex_extra", {})
        print(
            f"   cortex: from `resume` returning {fmt(s['cortex'].get('t_reported_from_resume_return'))} s; "
            f"`resume` itself {fmt(ce.get('resume_cmd_secs', float('nan')) * 1000, '.0f')} ms; "
            f"`cortex run` start-up (not in the time) {fmt(s['cortex'].get('run_startup_secs', float('nan')) * 1000, '.0f')} ms; "
            f"{n} submits {fmt(ce.get('submit_secs_total'))} s"
        )
        print(
            f"   cortex journal method (latest attempt_started `at` - resume `at`): "
            f"{fmt(ce.get('journal_latest_started_minus_resume'), '.3f')} s over {fmt(ce.get('schedule_passes'), '.0f')} schedule pass(es)"
        )
    if "cortex_overhead_ms" in s:
        print()
        print(f"2. Cortex overhead per worker, 'spawn decided' (worker_created) -> ..., ms (median over rounds)")
        names = {
            "journal_at_started_minus_created": "attempt_started.at - worker_created.at (journal)",
            "created_to_process_forked": "-> agent process forked (/proc starttime)",
            "created_to_started_record_on_disk": "-> attempt_started record on disk (tail)",
        }
        print(f"   {'':<52}{'p50':>9}{'p99':>9}{'max':>9}")
        for k, v in s["cortex_overhead_ms"].items():
            print(f"   {names.get(k, k):<52}{fmt(v['p50'], '.1f'):>9}{fmt(v['p99'], '.1f'):>9}{fmt(v['max'], '.1f'):>9}")
    print()
    print(f"3. Steady state, {n} workers printing a line a second: the supervising process only")
    print(f"   {'system':<16}{'RSS MB':>8}{'RSS max':>9}{'CPU %core':>11}{'ref RSS':>9}{'ref CPU':>9}{'machine %':>11}")
    for sysname in ("cortex", "supervisord", "pm2"):
        st = s.get(sysname, {}).get("steady")
        if not st:
            continue
        r = REFERENCE["steady"].get(sysname, {})
        if sysname == "cortex":
            g = REFERENCE["goals"]
            r = {"rss_mb": g["cortex_rss_mb"], "cpu_pct": g["cortex_cpu_pct"]}
        print(
            f"   {LABEL[sysname]:<16}{fmt(st['rss_mb_end'], '.1f'):>8}{fmt(st['rss_mb_max'], '.1f'):>9}"
            f"{fmt(st['cpu_pct_of_one_core'], '.2f'):>11}{fmt(r.get('rss_mb'), '.1f'):>9}{fmt(r.get('cpu_pct'), '.1f'):>9}"
            f"{fmt(st['machine_busy_pct_of_one_core'], '.1f'):>11}"
        )
    print("   (cortex's reference columns are its goals: < 20 MB, < 2% of a core; 'machine %' is all CPU used on the machine in the window)")
    if any("crash" in s.get(x, {}) for x in SYSTEMS):
        print()
        print(f"4. Crash -> replacement running, ms (an agent SIGKILLed, {n} running; its worker's first crash)")
        print(f"   {'system':<16}{'crashes':>8}{'seen p50':>10}{'min':>8}{'max':>8}{'started p50':>13}{'min':>8}{'max':>8}")
        for sysname in SYSTEMS:
            cr = s.get(sysname, {}).get("crash")
            if not cr:
                continue
            seen, st = cr.get("seen_ms", {}), cr.get("started_ms", {})
            print(
                f"   {LABEL[sysname]:<16}{cr['count']:>8}{fmt(seen.get('p50'), '.1f'):>10}{fmt(seen.get('min'), '.1f'):>8}"
                f"{fmt(seen.get('max'), '.1f'):>8}{fmt(st.get('p50'), '.0f'):>13}{fmt(st.get('min'), '.0f'):>8}{fmt(st.get('max'), '.0f'):>8}"
            )
        print("   (seen: a new tagged agent found in /proc, polled every 1 ms; started: its /proc start time, 10 ms resolution)")
    if results["problems"]:
        print()
        print("Problems seen:")
        for p in results["problems"]:
            print(f"   - {p}")
    print()
    print(f"Full results: {HERE / 'results.json'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steady-secs", type=float, default=60)
    ap.add_argument("--steady-rounds", type=int, default=1, help="rounds (from the first) that also measure the steady state (default 1)")
    ap.add_argument("--settle-secs", type=float, default=5, help="wait after start-up before the steady window (default 5)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS))
    ap.add_argument("--crashes", type=int, default=10, help="agents SIGKILLed per round, one at a time, to time their replacement (default 10; 0: none)")
    ap.add_argument("--no-build", action="store_true", help="use the existing release binaries")
    ap.add_argument(
        "--cortex-cold",
        action="store_true",
        help="start Cortex's clock as soon as `cortex run` is up, before it has made its spare attempt folders",
    )
    args = ap.parse_args()
    global COLD
    COLD = args.cortex_cold
    systems = [x for x in args.systems.split(",") if x]
    for x in systems:
        if x not in SYSTEMS:
            sys.exit(f"unknown system {x}")
    if not sys.platform.startswith("linux"):
        sys.exit("Linux only (/proc)")

    build(args.no_build)
    versions = {"python": platform.python_version()}
    if "supervisord" in systems:
        versions["supervisord"] = ensure_supervisor()
    if "pm2" in systems:
        versions["pm2"] = ensure_pm2()
        versions["node"] = run_cmd(["node", "--version"], capture_output=True, text=True).stdout.strip()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    tag = f"sbtag{os.getpid()}x{int(time.time())}"
    problems: list[str] = []
    results = {
        "args": vars(args),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "fs_of_scratch": None,
            "loadavg_at_start": loadavg(),
        },
        "versions": versions,
        "tag": tag,
        "reference": REFERENCE,
        "rounds": {s: [] for s in SYSTEMS},
        "problems": problems,
    }
    try:
        out = run_cmd(["df", "-T", str(SCRATCH)], capture_output=True, text=True).stdout.splitlines()
        results["machine"]["fs_of_scratch"] = out[-1].split()[1]
    except Exception:  # noqa: BLE001
        pass
    log(f"tag {tag}; {args.workers} workers, {args.rounds} round(s), steady {args.steady_secs:.0f} s")
    for rnd in range(1, args.rounds + 1):
        for system in systems:
            left = tagged_agents(tag)
            if left:
                raise SystemExit(f"fake agents of an earlier system still alive: {sorted(left)[:10]}")
            steady = args.steady_secs if rnd <= args.steady_rounds else 0
            log(f"round {rnd}: {system} (load {loadavg()})")
            try:
                res = one(system, args.workers, tag, rnd, steady, args.settle_secs, args.crashes, problems)
            except Exception as e:  # noqa: BLE001
                problems.append(f"{system} round {rnd} failed: {e}")
                log(f"  {system} failed: {e}")
                continue
            results["rounds"][system].append(res)
            log(
                f"  {system}: reported {fmt(res.get('t_reported'))} s, last fork {fmt(res.get('t_last_fork'))} s, "
                f"stop {fmt(res.get('stop_secs'))} s"
            )
            time.sleep(2)
    results["summary"] = summarize(results, args.workers)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)


if __name__ == "__main__":
    main()
