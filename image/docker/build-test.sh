#!/usr/bin/env bash
# Builds the top-level Dockerfile and runs the result, on a machine without a
# Docker engine or a registry (CI here): a Debian bookworm base is made
# locally with mmdebstrap and imported with buildah, `buildah bud` builds the
# Dockerfile against it (BASE build argument), and `buildah run` starts the
# box on the host network. Passes when /healthz answers from the container,
# the box runs as the non-root user, and a sale with a till token is taken.
#   sudo bash image/docker/build-test.sh        (needs root: buildah --isolation chroot)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${TILLBOX_DOCKER_WORK:-/var/tmp/tillbox-docker}
mkdir -p "$work"
base=localhost/tillbox-bookworm-base
tag=localhost/tillbox:test
port=$((20000 + RANDOM % 20000))
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

log() { printf 'docker-test: %s\n' "$*"; }

if [ "${TILLBOX_DOCKER_REBASE:-}" = 1 ]; then buildah rmi -f "$base" >/dev/null 2>&1 || true; fi
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  log "making a bookworm base with mmdebstrap"
  # The machine's own CA certificates go into the base (this CI reaches the npm
  # registry through a TLS-inspecting proxy); an ordinary host needs none of this.
  mmdebstrap --quiet --variant=apt --format=tar --include=ca-certificates \
    --customize-hook='for c in /usr/local/share/ca-certificates/*.crt; do [ -f "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; chroot "$1" update-ca-certificates >/dev/null 2>&1 || true' \
    bookworm "$work/base.tar"
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$work/base.tar" / >/dev/null
  buildah commit --quiet "$ctr" "$base" >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -f "$work/base.tar"
fi

log "building the Dockerfile"
t0=$(date +%s)
buildah bud --quiet --layers --format docker --isolation chroot --build-arg "BASE=$base" -t "$tag" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
log "built in $(( $(date +%s) - t0 )) s, $(buildah images --format '{{.Size}}' "$tag" 2>/dev/null | head -n1)"

health=$(buildah inspect --type image --format '{{.Docker.Config.Healthcheck}}' "$tag")
user=$(buildah inspect --type image --format '{{.Docker.Config.User}}' "$tag")
[ "$user" = tillbox ] || { log "image user is '$user', not tillbox"; exit 1; }
grep -q healthz <<<"$health" || { log "no HEALTHCHECK on /healthz: $health"; exit 1; }

ctr=$(buildah from "$tag")
# `buildah run` in its own process group: killing buildah alone leaves the box
# inside running (tini and tillbox are reparented), so the whole group goes.
box_ns=
cleanup() {
  kill -TERM -- "-$run_pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 -- "-$run_pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$run_pid" 2>/dev/null || true
  { wait "$run_pid"; } 2>/dev/null || true
  # The supervisor's children run in process groups of their own, and chroot
  # isolation has no PID namespace to end them: whatever is left in the
  # container's mount namespace goes too.
  if [ -n "$box_ns" ]; then
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$box_ns" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
  fi
  buildah rm "$ctr" >/dev/null 2>&1 || true
  # Build stages left by --layers pile up in vfs storage with every code change.
  buildah rmi --prune >/dev/null 2>&1 || true
}
trap cleanup EXIT
setsid buildah run --isolation chroot --net host \
  --env TILLBOX_STORE_ID=docker-test-store --env TILLBOX_HTTP_PORT="$port" \
  --env TILLBOX_MQTT_PORT=$((port + 1)) --env TILLBOX_MQTT_WS_PORT=$((port + 2)) --env TILLBOX_FLOWS_PORT=$((port + 3)) --env TILLBOX_MQTT_TLS_PORT=$((port + 4)) \
  "$ctr" -- /usr/bin/tini -- tillbox start >"$work/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { log "no /healthz from the container"; tail -30 "$work/run.log"; exit 1; }
log "/healthz answers from the container"
box_pid=$(pgrep -n -f '/opt/tillbox/appliance/cli/main.js start' || true)
[ -n "$box_pid" ] && box_ns=$(readlink "/proc/$box_pid/ns/mnt")
# Never our own namespace: that would end everything on the machine.
[ "$box_ns" = "$(readlink /proc/self/ns/mnt)" ] && box_ns=
# The HEALTHCHECK command itself, inside the container.
buildah run --isolation chroot --net host "$ctr" -- node -e "fetch('http://127.0.0.1:$port/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
owner=$(buildah run --isolation chroot "$ctr" -- stat -c %U /var/lib/tillbox/secrets.json)
[ "$owner" = tillbox ] || { log "state written by '$owner', not tillbox"; exit 1; }
token=$(buildah run --isolation chroot "$ctr" -- tillbox secrets show --json | node -e "let s='';process.stdin.on('data',(d)=>s+=d).on('end',()=>{const j=JSON.parse(s);const t=j.api.find((x)=>x.role==='till');process.stdout.write(t.token)})")
code=$(curl -s -o "$work/sale.json" -w '%{http_code}' -X POST "http://127.0.0.1:$port/api/v1/sales" \
  -H "authorization: Bearer $token" -H 'content-type: application/json' -H 'idempotency-key: docker-test-1' \
  -d '{"lines":[{"sku":"MILK-1L","qty":1}],"tenders":[{"type":"cash","amount":500}]}')
log "sale with a till token: HTTP $code ($(head -c 200 "$work/sale.json"))"
# No catalog is loaded in a fresh store: an unknown SKU is a 422 problem, never a 401/403.
case "$code" in 201|422) ;; *) log "the till token was not accepted"; exit 1 ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/api/v1/sales" -H 'content-type: application/json' -d '{}')
[ "$code" = 401 ] || { log "a sale without a token got HTTP $code, not 401"; exit 1; }
# Plain MQTT stays inside the container; the LAN gets only TLS.
if timeout 3 bash -c "exec 3<>/dev/tcp/$(hostname -I | awk '{print $1}')/$((port + 1))" 2>/dev/null; then
  log "plain MQTT answers on a LAN address"; exit 1
fi
echo | timeout 10 openssl s_client -connect "127.0.0.1:$((port + 4))" 2>/dev/null | grep -q -- '-----BEGIN CERTIFICATE-----' || { log "no MQTT/TLS on the LAN port"; exit 1; }
log "MQTT: plain on loopback only, TLS for the LAN"
echo "docker-test: ok"
