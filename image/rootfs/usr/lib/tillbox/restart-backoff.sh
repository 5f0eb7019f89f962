#!/bin/sh
# ExecStartPre= of the tillbox units: exponential restart backoff, because
# systemd 252 (bookworm) has no RestartSteps=. A start within a minute of the
# previous one waits 2, 4, 8, 16, 32, then 60 s; a service that ran a minute
# starts again at once. State lives in the unit's RuntimeDirectory (kept
# across restarts by RuntimeDirectoryPreserve=restart, gone at reboot).
set -eu
f=${RUNTIME_DIRECTORY:?RuntimeDirectory= is not set for this unit}/starts
now=$(date +%s)
n=0
last=0
if [ -f "$f" ]; then read -r n last <"$f" || true; fi
# A torn or garbled state file counts as no earlier start.
case "$n" in '' | *[!0-9]*) n=0 ;; esac
case "$last" in '' | *[!0-9]*) last=0 ;; esac
if [ $((now - last)) -lt 60 ] && [ $((now - last)) -ge 0 ]; then n=$((n + 1)); else n=0; fi
d=0
if [ "$n" -gt 0 ]; then
  d=$((1 << (n < 6 ? n : 6)))
  if [ "$d" -gt 60 ]; then d=60; fi
fi
echo "$n $((now + d))" >"$f"
if [ "$d" -gt 0 ]; then
  echo "restart $n within a minute of the last start: waiting $d s"
  sleep "$d"
fi
