#!/usr/bin/env bash
# Closing the window keeps Cortex running (in the tray) and releases the
# window with its web process; starting Cortex again opens the window again
# in the running app, and the second start exits. Run by run.sh inside its
# display and D-Bus session, after the WebDriver test.
#
# Usage: close_reopen.sh <app binary> <close-window binary>
# Needs DISPLAY, a D-Bus session, CORTEX_HOME and CORTEX_E2E_OUT.
set -euo pipefail
APP=$1; CLOSE=$2; OUT=$CORTEX_E2E_OUT
APP_PID=""; SECOND=""
trap 'for p in $SECOND $APP_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done' EXIT

log() { echo "[close-reopen $(date +%T.%3N)] $*"; }
fail() { log "FAILED: $*"; exit 1; }
# until_ok <seconds> <what> <command...>: the command succeeds before the deadline.
until_ok() {
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    (( SECONDS < deadline )) || fail "timed out waiting for $what"
    sleep 0.1
  done
}
# A process's name is cut to 15 characters.
has_web() { pgrep -P "$APP_PID" -x WebKitWebProces >/dev/null; }
no_web() { ! has_web; }
# Running: not gone and not a zombie waiting to be reaped.
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
ended() { ! alive "$1"; }
# An app of this home still running (the WebDriver test's, ending).
other_app() {
  local p
  for p in $(grep -l "CORTEX_HOME=$CORTEX_HOME" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "cortex-desktop" ] && return 0
  done
  return 1
}
no_other_app() { ! other_app; }

until_ok 20 "the WebDriver test's app to end" no_other_app
"$APP" >"$OUT/close-reopen-app.log" 2>&1 & APP_PID=$!
until_ok 30 "the app's window and web process" has_web
until_ok 10 "a mapped window to close" "$CLOSE" "$APP_PID"
until_ok 15 "the web process to end once the window closed" no_web
alive "$APP_PID" || fail "the app ended when its window closed"
log "ok: closing the window ended its web process; the app is still running"

"$APP" >"$OUT/close-reopen-second.log" 2>&1 & SECOND=$!
until_ok 30 "the running app to open its window again" has_web
until_ok 15 "the second start to exit" ended "$SECOND"
wait "$SECOND" || fail "the second start exited with status $?"
SECOND=""
alive "$APP_PID" || fail "the app ended"
"$CLOSE" "$APP_PID" >/dev/null || fail "no mapped window after the second start"
log "ok: a second start opened the window again in the running app, and exited"

kill -TERM "$APP_PID"
until_ok 15 "the app to quit on SIGTERM" ended "$APP_PID"
APP_PID=""
log "ok: the app quit on SIGTERM"
