#!/usr/bin/env bash
# The desktop end-to-end test: the real app under Xvfb, driven through
# WebDriver (tauri-driver + WebKitWebDriver), inside its own D-Bus session
# with a notification daemon (dunst) watched by dbus-monitor; then closing
# and reopening the window (close_reopen.sh). Every process started here is
# ended here, by its pid.
#
# Usage: tests/desktop/run.sh <app binary> <cortex binary> <fake agent> <tauri-driver> <close-window>
set -euo pipefail
APP=$(readlink -f "$1"); CORTEX=$(readlink -f "$2"); FAKE=$(readlink -f "$3"); DRIVER=$(readlink -f "$4")
CLOSE=$(readlink -f "$5")
for bin in "$APP" "$CORTEX" "$FAKE" "$DRIVER" "$CLOSE"; do
  [ -x "$bin" ] || { echo "desktop e2e: $bin is missing or not executable (run make e2e-desktop, which builds and installs it)" >&2; exit 1; }
done
command -v WebKitWebDriver >/dev/null || { echo "desktop e2e: WebKitWebDriver not found (Debian package webkit2gtk-driver)" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${CORTEX_E2E_ARTIFACTS:-$HERE/../../target/desktop-e2e}
rm -rf "$OUT"; mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/cortex-desktop-e2e.XXXXXX)
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # Agents are detached on purpose: end every one started for this home.
  for p in $(grep -l "CORTEX_HOME=$WORK/home" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A display of our own.
DISPLAY_NUM=$(( 90 + RANDOM % 100 ))
while [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ]; do DISPLAY_NUM=$((DISPLAY_NUM + 1)); done
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$OUT/xvfb.log" 2>&1 & PIDS+=($!)
export DISPLAY=":$DISPLAY_NUM"
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ] && break; sleep 0.05; done

# A home with the fake agent and a PM that reacts in seconds.
export CORTEX_HOME="$WORK/home"
"$CORTEX" --home "$CORTEX_HOME" init >/dev/null
python3 - "$CORTEX_HOME" "$FAKE" <<'PY'
import json, sys
home, fake = sys.argv[1], sys.argv[2]
p = f"{home}/config.json"; c = json.load(open(p))
c["agent"]["command"] = [fake]
c["pm"].update({"startup_budget_secs": 10, "late_after_secs": 1, "stalled_after_secs": 2, "zombie_after_secs": 60, "tick_millis": 200, "kill_grace_secs": 1})
c["notifications"]["coalesce_window_millis"] = 200
# The test's short texts would otherwise wait for a person's confirmation.
c["routing"]["confirm_low_confidence"] = False
json.dump(c, open(p, "w"), indent=2)
PY
mkdir -p "$WORK/work"

# The app picks WebKit's renderer itself; the test checks its choice.
unset WEBKIT_DISABLE_DMABUF_RENDERER
export CORTEX_E2E_HOME="$CORTEX_HOME" CORTEX_E2E_WORKDIR="$WORK/work" CORTEX_E2E_APP="$APP" \
       CORTEX_E2E_CORTEX="$CORTEX" CORTEX_E2E_OUT="$OUT"
dbus-run-session -- bash -c '
  set -euo pipefail
  PIDS=()
  trap "for p in \${PIDS[@]}; do kill \$p 2>/dev/null || true; done" EXIT
  dbus-monitor "interface='"'"'org.freedesktop.Notifications'"'"'" "type='"'"'method_return'"'"'" >"$CORTEX_E2E_OUT/dbus-monitor.log" 2>&1 & PIDS+=($!)
  dunst >"$CORTEX_E2E_OUT/dunst.log" 2>&1 & PIDS+=($!)
  PORT=$(( 4444 + RANDOM % 1000 ))
  "'"$DRIVER"'" --port $PORT --native-port $((PORT + 1)) >"$CORTEX_E2E_OUT/tauri-driver.log" 2>&1 & PIDS+=($!)
  export CORTEX_E2E_WEBDRIVER="http://127.0.0.1:$PORT"
  # The driver listens within a second; wait for it with a deadline.
  for _ in $(seq 200); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.05
  done
  status=0
  node "'"$HERE"'/e2e.mjs" || { status=1; echo "--- tauri-driver.log (tail)"; tail -n 40 "$CORTEX_E2E_OUT/tauri-driver.log"; }
  "'"$HERE"'/close_reopen.sh" "'"$APP"'" "'"$CLOSE"'" || status=1
  exit $status
'
