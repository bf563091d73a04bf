#!/usr/bin/env python3
"""Idle memory and CPU of the whole desktop app: PSS summed over the app and
its WebKit processes (from /proc/<pid>/smaps_rollup), and CPU over a window,
with 0 and with N fake workers each printing a line a second.

Usage (from the repository, after `make ui` and a release build of the app,
the CLI and the fake agent: `cargo build --release -p cortex-desktop -p
cortex-cli -p cortex-tests`):
    python3 bench/desktop/measure.py [--workers 50] [--window 30] [--profile release|debug] [--no-baseline]
                                     [--mappings N]
The baselines, a Tauri window with an empty page and one with the smallest
page that calls its core (text, a form, one script, one command), are built
with `cargo build --release -p cortex-bare-window`. Everything is launched
as a user launches it; where Cortex picks WebKit's shared-memory renderer (no
GPU render node), the baselines are measured with it too, like for like.
Needs Xvfb and dbus-run-session (installed by `make test`). Every process it
starts is ended by its pid; results go to bench/desktop/results.json."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "debug")


def descendants(pid):
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_by_mapping(pid):
    """PSS in kB by mapped file (its name, without the folder) and
    permissions, anonymous memory as [anon]: where a process's memory goes."""
    out = {}
    key = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 5)
                if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
                    name = head[5].strip() if len(head) > 5 else "[anon]"
                    key = f"{os.path.basename(name) if name.startswith('/') else name} {head[1]}"
                elif line.startswith("Pss:") and key:
                    out[key] = out.get(key, 0) + int(line.split()[1])
    except OSError:
        pass
    return out


def top_mappings(pid, n):
    m = pss_by_mapping(pid)
    return {k: round(v / 1024, 1) for k, v in sorted(m.items(), key=lambda kv: -kv[1])[:n] if v >= 256}


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def app_processes(app_pid):
    """The app and its WebKit helpers (not the agents it supervises)."""
    return [p for p in descendants(app_pid) if p == app_pid or comm(p).startswith("WebKit")]


def measure(app_pid, window, mappings=0):
    procs = app_processes(app_pid)
    t0 = {p: cpu_ticks(p) for p in procs}
    start = time.time()
    time.sleep(window)
    elapsed = time.time() - start
    procs = app_processes(app_pid)
    hz = os.sysconf("SC_CLK_TCK")
    used = sum(cpu_ticks(p) - t0.get(p, cpu_ticks(p)) for p in procs) / hz
    return {
        "pss_mb": round(sum(pss_kb(p) for p in procs) / 1024, 1),
        "cpu_percent_of_one_core": round(100 * used / elapsed, 2),
        "processes": {f"{comm(p)}[{p}]": round(pss_kb(p) / 1024, 1) for p in procs},
        "cpu_percent_by_process": {
            f"{comm(p)}[{p}]": round(100 * (cpu_ticks(p) - t0.get(p, 0)) / hz / elapsed, 2) for p in procs
        },
        **({"top_mappings_mb": {f"{comm(p)}[{p}]": top_mappings(p, mappings) for p in procs}} if mappings else {}),
    }


def measure_bare(env, a, page):
    """A baseline: a Tauri window showing `page` (empty or hello), same build profile."""
    exe = os.path.join(BIN, "cortex-bare-window")
    if not os.path.exists(exe):
        sys.exit(f"{exe} is missing: cargo build --{a.profile} -p cortex-bare-window"
                 if a.profile == "release" else f"{exe} is missing: cargo build -p cortex-bare-window")
    proc = subprocess.Popen(["dbus-run-session", "--", exe, page], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        pid = wait_for_window(proc, "cortex-bare", "the bare window")
        time.sleep(a.settle)
        return measure(pid, a.window, a.mappings)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for_window(launcher, name, what):
    """The pid of the process named `name*` under `launcher`, once its web
    process has started."""
    found = {}

    def up():
        for p in descendants(launcher.pid):
            if comm(p).startswith(name):
                found["pid"] = p
                return any(comm(c).startswith("WebKitWeb") for c in descendants(p))
        return False

    wait_for(up, 30, f"{what} and its web process")
    return found["pid"]


def has_render_node():
    """Whether a GPU render node exists (the test Cortex makes at start)."""
    try:
        return any(n.startswith("renderD") and n[7:].isdigit() for n in os.listdir("/dev/dri"))
    except OSError:
        return False


def environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def wait_for(cond, limit, what):
    deadline = time.time() + limit
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--settle", type=int, default=10)
    ap.add_argument("--profile", choices=("release", "debug"), default="release",
                    help="which build to measure (default release: what users run)")
    ap.add_argument("--idle-after", type=int, default=75,
                    help="seconds after start at which the idle window begins (default 75)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip measuring the bare Tauri window (bench/desktop/bare-window)")
    ap.add_argument("--mappings", type=int, default=0, metavar="N",
                    help="also record each process's N largest mappings by PSS (baselines and 50 workers)")
    a = ap.parse_args()
    global BIN
    BIN = os.path.join(ROOT, "target", a.profile)
    for tool in ("Xvfb", "dbus-run-session"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run `make test` once to install the test tools")
    work = tempfile.mkdtemp(prefix="cortex-desktop-bench-")
    home = os.path.join(work, "home")
    started = []
    try:
        subprocess.run([f"{BIN}/cortex", "--home", home, "init"], check=True, capture_output=True)
        cfg_path = os.path.join(home, "config.json")
        cfg = json.load(open(cfg_path))
        cfg["agent"]["command"] = [f"{BIN}/fake-agent"]
        cfg["capacity"]["max_workers"] = a.workers
        cfg["on_quit"] = "stop"
        # Generated prompts may route with low confidence: start them anyway.
        cfg.setdefault("routing", {})["confirm_low_confidence"] = False
        json.dump(cfg, open(cfg_path, "w"))
        for e in os.listdir(os.path.join(home, "experts")):
            p = os.path.join(home, "experts", e)
            d = json.load(open(p))
            d["max_workers"] = a.workers
            json.dump(d, open(p, "w"))
        display = ":%d" % (150 + os.getpid() % 50)
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(xvfb)
        time.sleep(1)
        # What a user's launch gets: WebKit's default renderer, unless the
        # caller's environment chose one.
        env = dict(os.environ, DISPLAY=display, CORTEX_HOME=home, CORTEX_LOG="warn")
        # Cortex turns WebKit's DMA-BUF renderer off where there is no GPU
        # render node; the baselines are measured both ways then, so the
        # like-for-like ratio is reported beside the one a user sees.
        shm_too = "WEBKIT_DISABLE_DMABUF_RENDERER" not in env and not has_render_node()
        baselines = {}
        if not a.no_baseline:
            for key, page, what in (("bare_window", "empty", "empty page"),
                                    ("hello_window", "hello", "smallest page calling its core")):
                baselines[key] = m = measure_bare(env, a, page)
                print(f"Tauri window, {what}, WebKit's default renderer: PSS {m['pss_mb']} MB, "
                      f"CPU {m['cpu_percent_of_one_core']}% of a core")
                if shm_too:
                    baselines[key + "_shm"] = m = measure_bare(dict(env, WEBKIT_DISABLE_DMABUF_RENDERER="1"), a, page)
                    print(f"Tauri window, {what}, shared-memory renderer (Cortex's choice here): "
                          f"PSS {m['pss_mb']} MB, CPU {m['cpu_percent_of_one_core']}% of a core")
        app = subprocess.Popen(["dbus-run-session", "--", f"{BIN}/cortex-desktop"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(app)
        app_pid = wait_for_window(app, "cortex-desktop", "the app")
        renderer = "shared memory" if any(
            "WEBKIT_DISABLE_DMABUF_RENDERER=1" in environ(p) for p in app_processes(app_pid)
            if comm(p).startswith("WebKitWeb")) else "default (DMA-BUF)"
        print(f"Cortex's web process uses WebKit's {renderer} renderer")
        time.sleep(a.settle)
        opened = measure(app_pid, a.window)
        print(f"just opened, 0 workers: PSS {opened['pss_mb']} MB, CPU {opened['cpu_percent_of_one_core']}% of a core")
        # Nothing changes from here on; the UI's relative times ("updated 40s
        # ago") move every second only during the first minute.
        time.sleep(max(0, a.idle_after - a.settle - a.window))
        idle = measure(app_pid, a.window)
        print(f"idle, 0 workers, nothing changed for {a.idle_after} s: PSS {idle['pss_mb']} MB, "
              f"CPU {idle['cpu_percent_of_one_core']}% of a core")
        for i in range(a.workers):
            subprocess.run([f"{BIN}/cortex", "--home", home, "submit",
                            f"bench worker {i} FAKE:slow FAKE_SECS:1 FAKE_LINES:100000", "--workdir", work],
                           check=True, capture_output=True)

        def running():
            out = subprocess.run([f"{BIN}/cortex", "--home", home, "status", "--json"], capture_output=True, text=True)
            return json.loads(out.stdout)["workers"].get("running", 0) >= a.workers

        wait_for(running, 60, f"{a.workers} running workers")
        time.sleep(a.settle)
        busy = measure(app_pid, a.window, a.mappings)
        print(f"{a.workers} workers: PSS {busy['pss_mb']} MB, CPU {busy['cpu_percent_of_one_core']}% of a core")
        result = dict(baselines, just_opened=opened, idle=idle, idle_after_secs=a.idle_after, with_workers=busy,
                      workers=a.workers, window_secs=a.window, profile=a.profile, cortex_renderer=renderer)
        for suffix, what in (("", "WebKit's default renderer, as a user launches it"),
                             ("_shm", "the shared-memory renderer, like for like")):
            if "bare_window" + suffix in baselines:
                empty, hello = baselines["bare_window" + suffix]["pss_mb"], baselines["hello_window" + suffix]["pss_mb"]
                print(f"against a Tauri window with {what}:")
                for name, m in (("  idle", idle), (f"  {a.workers} workers", busy)):
                    print(f"{name}: {m['pss_mb'] / empty:.2f}x the empty page, "
                          f"{m['pss_mb'] / hello:.2f}x the hello page (goal <= 1.15x with workers)")
        with open(os.path.join(ROOT, "bench", "desktop", "results.json"), "w") as f:
            json.dump(result, f, indent=2)
    finally:
        for p in reversed(started):
            try:
                os.killpg(p.pid, signal.SIGTERM) if p is not started[0] else p.terminate()
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        # Agents are detached: end every one started for this home.
        for p in os.listdir("/proc"):
            if p.isdigit():
                if f"CORTEX_HOME={home}" in environ(p):
                    try:
                        os.kill(int(p), signal.SIGKILL)
                    except OSError:
                        pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
