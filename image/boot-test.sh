#!/usr/bin/env bash
# Boots the amd64 image under qemu (UEFI, software emulation unless
# TILLBOX_QEMU_ACCEL=kvm) and tries it the way a store and an attacker would:
#   1. first boot of a card bigger than the image (the data partition grows),
#      /healthz through a forwarded port; from outside the VM only the
#      documented ports answer; a sale without a token is refused;
#   2. nothing secret or default in the image: the secrets are born on the box
#      (read back from the data partition, 0600, core's user), no till token
#      in the image, no account with a usable password;
#   3. a sale with the till token prints a receipt (devices unit) and a bar
#      ticket (flows unit, the demo store's kitchen flow) on a printer
#      simulator on the host, reached over the VM's network (TCP 9100 style);
#   4. a power cut the real way (kill -9 qemu) while tills sell, boot again:
#      every acknowledged sale exists exactly once (image/power-cut.ts);
#   5. a second copy of the image gets another device id and other secrets;
#   6. systemd-analyze security of each unit (offline, on the built rootfs).
# Writes bench/results/image.json.
#   sudo bash image/boot-test.sh [image/out/tillbox-*-amd64.img.zst]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
img=${1:-$(ls image/out/tillbox-*-amd64.img.zst | tail -n1)}
work=${TILLBOX_BOOT_WORK:-/var/tmp/tillbox-boot}
rootfs=${TILLBOX_IMAGE_ROOTFS:-/var/tmp/tillbox-image-amd64/rootfs}
# Node 24 for the host-side helpers (the tills, the printer simulator).
node=$repo/node_modules/node/bin/node
rm -rf "$work"; mkdir -p "$work"
log() { printf 'boot-test: %s\n' "$*"; }
fail() { { log "FAIL: $*"; for f in "$work"/serial*.log; do [ -f "$f" ] && { log "--- tail of $f"; tail -n 60 "$f"; }; done; } >&2; exit 1; }
# KVM only when asked for: /dev/kvm exists on the CI machine but fails ("KVM internal error").
accel=${TILLBOX_QEMU_ACCEL:-tcg}
# Ports below the kernel's ephemeral range (32768+), where clients' source ports cannot take them.
printer=$((20000 + RANDOM % 6000)); simctl=$((printer + 1))
# Every other port probed from outside: the editor, plain MQTT, MQTT/WS, SSH,
# the Node inspector, web and database defaults. Only 8080 and 8883 may answer.
probe_ports=(22 80 443 1880 1883 5432 8000 8081 8083 8443 9100 9229)
pick_ports() { # the host side of qemu's forwards; picked again when one is taken
  base=$((26000 + RANDOM % 6000))
  http=$base; mqtts=$((base + 1)); ssh_port=$((base + 10)) # ssh_port: the forward of probe_ports[0]
  fwd="hostfwd=tcp:127.0.0.1:$http-:8080,hostfwd=tcp:127.0.0.1:$mqtts-:8883"
  probe_args=("$http:8080" "$mqtts:8883")
  local i=10 p
  for p in "${probe_ports[@]}"; do
    fwd+=",hostfwd=tcp:127.0.0.1:$((base + i))-:$p"; probe_args+=("$((base + i)):$p"); i=$((i + 1))
  done
}
pick_ports
qpid=
sim_pid=

boot() { # disk serial-log
  local try
  for try in 1 2 3; do
    cp /usr/share/OVMF/OVMF_VARS.fd "$work/vars.fd"
    : >"$work/qemu.err"
    qemu-system-x86_64 -machine q35,accel="$accel" -cpu max -m 1024 -smp 2 -display none -no-reboot \
      -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd -drive if=pflash,format=raw,file="$work/vars.fd" \
      -drive file="$1",if=virtio,format=raw,cache=writeback -device i6300esb \
      -netdev "user,id=n0,$fwd" -device virtio-net-pci,netdev=n0 \
      -serial "file:$2" -monitor none </dev/null >/dev/null 2>>"$work/qemu.err" &
    qpid=$!
    sleep 2
    # A host port taken by another program in between: new ports, boot again.
    if ! kill -0 "$qpid" 2>/dev/null && grep -q 'Could not set up host forwarding' "$work/qemu.err"; then
      { wait "$qpid"; } 2>/dev/null || true
      pick_ports
      continue
    fi
    return 0
  done
  fail "qemu could not forward its ports: $(tail -n 2 "$work/qemu.err")"
}
healthy_s=
wait_healthy() { # sets healthy_s: seconds from power-on to /healthz 200 (not in a subshell: fail must end the test)
  local t0; t0=$(date +%s.%N)
  until curl -fsS -m 2 "http://127.0.0.1:$http/healthz" >/dev/null 2>&1; do
    kill -0 "$qpid" 2>/dev/null || fail "qemu exited: $(tail -n 3 "$work/qemu.err" 2>/dev/null)"
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a > 400) }' && fail "no /healthz within 400 s"
    sleep 0.5
  done
  healthy_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}
# A unit that systemd killed or restarted is a failure even when the box came back.
no_restarts() { # serial-log
  if grep -a -E 'tillbox-(core|devices|flows)\.service: (Watchdog timeout|Failed with result|Scheduled restart job)' "$1" >"$work/restarts.txt"; then
    fail "a tillbox unit failed or restarted: $(head -n 5 "$work/restarts.txt")"
  fi
}
power_cut() { kill -9 "$qpid" 2>/dev/null || true; { wait "$qpid"; } 2>/dev/null || true; }
cleanup() { power_cut; [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true; }
trap cleanup EXIT
part_offset() { # disk partition-name → byte offset
  sfdisk -J "$1" | "$node" -e "let s='';process.stdin.on('data',(d)=>s+=d).on('end',()=>{const p=JSON.parse(s).partitiontable.partitions.find((x)=>x.name===process.argv[1]);console.log(p.start*512)})" "$2"
}
part_size() { # disk partition-name → bytes
  sfdisk -J "$1" | "$node" -e "let s='';process.stdin.on('data',(d)=>s+=d).on('end',()=>{const p=JSON.parse(s).partitiontable.partitions.find((x)=>x.name===process.argv[1]);console.log(p.size*512)})" "$2"
}
# After a power cut the newest writes may be only in the ext4 journal, which
# debugfs does not read: the data partition is copied out and its journal
# replayed (e2fsck, as the kernel does at mount) before files are read from it.
data_copy() { # disk → a checked copy of its data partition
  local out=$work/data-$(basename "$1").img
  # One copy per power cut: reused until qemu writes the disk again.
  if [ "$out" -nt "$1" ]; then echo "$out"; return; fi
  dd if="$1" of="$out" bs=1M iflag=skip_bytes,count_bytes skip="$(part_offset "$1" tillbox-data)" count="$(part_size "$1" tillbox-data)" conv=sparse status=none
  e2fsck -fy "$out" >/dev/null 2>&1 || [ $? -le 1 ] || fail "the data partition of $1 does not check clean"
  echo "$out"
}
part_cat() { # disk partition-name path
  if [ "$2" = tillbox-data ]; then debugfs -R "cat $3" "$(data_copy "$1")" 2>/dev/null || true
  else debugfs -R "cat $3" "$1?offset=$(part_offset "$1" "$2")" 2>/dev/null || true; fi
}
part_stat() { debugfs -R "stat $2" "$(data_copy "$1")" 2>/dev/null | head -n 3 || true; } # disk path (data partition)
token_of() { "$node" -e "const s=JSON.parse(process.argv[1]);console.log(s.api.find((t)=>t.role===process.argv[2]).token)" "$1" "$2"; }
sim() { # a line to the printer simulator's control port → its answer
  exec 3<>"/dev/tcp/127.0.0.1/$simctl"; printf '%s\n' "$1" >&3; local line; read -r -t 5 line <&3 || true; exec 3>&-; echo "$line"
}
# How many receipts the simulator has printed (-1 when its control port does not answer).
receipts() { sim status | "$node" -e "let s='';process.stdin.on('data',(d)=>s+=d).on('end',()=>{try{console.log(JSON.parse(s).receipts)}catch{console.log(-1)}})"; }

log "image $img, accel $accel"
zstd -q -d -f "$img" -o "$work/a.img"
# The installer's file on the boot partition: the demo store (its catalog and
# kitchen flows) with the receipt printer on the host, at qemu's host address.
cat >"$work/tillbox.env" <<ENV
TILLBOX_STORE_ID=demo-store
TILLBOX_DEMO=true
TILLBOX_DEVICES_DEMO_SIMULATORS=false
TILLBOX_PERIPHERALS='[{"id":"printer-1","kind":"printer","uri":"tcp://10.0.2.2:$printer"}]'
ENV
export MTOOLS_SKIP_CHECK=1
mcopy -o -i "$work/a.img@@1M" "$work/tillbox.env" ::/tillbox.env
# Diagnostics only: systemd's status and the journal on the serial log, so a
# failing unit says why in CI's output. The image itself boots quiet.
mtype -i "$work/a.img@@1M" ::/loader/entries/tillbox-a.conf | sed 's/ quiet$/ systemd.show_status=1 systemd.journald.forward_to_console=1/' >"$work/entry.conf"
mcopy -o -i "$work/a.img@@1M" "$work/entry.conf" ::/loader/entries/tillbox-a.conf
cp --sparse=always "$work/a.img" "$work/b.img"
# The second copy gets an installer's SSH key on its boot partition (step 5).
ssh-keygen -q -t ed25519 -N '' -f "$work/installer-key"
cp "$work/installer-key.pub" "$work/authorized_keys"
mcopy -o -i "$work/b.img@@1M" "$work/authorized_keys" ::/authorized_keys
# A bigger card than the image: first boot must grow the data partition.
truncate -s +512M "$work/a.img"

"$node" drivers/sim/printer.ts --port "$printer" --control "$simctl" >"$work/printer.log" 2>&1 &
sim_pid=$!

# 1. First boot, ports, no anonymous sale.
boot "$work/a.img" "$work/serial1.log"
wait_healthy; first=$healthy_s; log "first boot: power-on to /healthz in $first s"
ports=$("$node" image/port-probe.ts "${probe_args[@]}")
log "ports from outside the VM: $ports"
"$node" -e "
const p=JSON.parse(process.argv[1]);
const wrong=Object.entries(p).filter(([port,r])=>(port==='8080'||port==='8883') ? r!=='answers' : r!=='silent');
if (wrong.length) { console.error('unexpected: '+JSON.stringify(wrong)); process.exit(1); }" "$ports" || fail "only 8080 and 8883 may answer"
# 8883 must be the broker's TLS listener, not just something that hangs up: a full handshake.
timeout 20 openssl s_client -connect "127.0.0.1:$mqtts" </dev/null 2>/dev/null | grep -q -- '-----BEGIN CERTIFICATE-----' \
  || fail "no TLS handshake on 8883"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$http/api/v1/sales" -H 'content-type: application/json' -H 'idempotency-key: anon-1' -d '{}')
[ "$code" = 401 ] || fail "a sale without a token from the LAN got HTTP $code, not 401"
log "a sale without a token from the LAN: 401"
sleep 3; no_restarts "$work/serial1.log"; power_cut

# 2. Secrets born on this box; nothing secret or default in the image.
secrets=$(part_cat "$work/a.img" tillbox-data /tillbox/secrets.json)
[ -n "$secrets" ] || fail "no secrets.json on the data partition after first boot"
till=$(token_of "$secrets" till); manager=$(token_of "$secrets" manager)
deva=$(part_cat "$work/a.img" tillbox-data /tillbox/device-id)
part_stat "$work/a.img" /tillbox/secrets.json | grep -q 'Mode:  0600' || fail "secrets.json is not 0600: $(part_stat "$work/a.img" /tillbox/secrets.json)"
if zstd -q -d -c "$img" | grep -qaF "$till"; then fail "the till token is in the image itself"; fi
shadow=$(part_cat "$work/a.img" tillbox-root-a /etc/shadow)
usable=$(awk -F: '$2 !~ /^[!*]/ && $2 != "" {print $1} $2 == "" {print $1" (empty)"}' <<<"$shadow")
[ -z "$usable" ] || fail "accounts with a usable or empty password: $usable"
# sshd is in the image but key-only, and off without an installer's key (port 22 was silent above).
part_cat "$work/a.img" tillbox-root-a /etc/ssh/sshd_config.d/tillbox.conf | grep -qx 'PasswordAuthentication no' || fail "sshd is not key-only"
[ -z "$(debugfs -R 'ls -l /etc/ssh' "$work/a.img?offset=$(part_offset "$work/a.img" tillbox-root-a)" 2>/dev/null | grep ssh_host_)" ] || fail "SSH host keys are baked into the image"
log "secrets born on the box (0600), device $deva; no till token in the image; no account with a password; sshd key-only, no host keys in the image"

# 3. A sale prints a receipt (devices) and a bar ticket (flows) on the host's printer.
boot "$work/a.img" "$work/serial2.log"
wait_healthy; again=$healthy_s; log "boot after a power cut: power-on to /healthz in $again s"
# /healthz is core alone: wait until devices has the printer and flows is on the broker too.
for _ in $(seq 1 300); do
  curl -fsS -m 5 "http://127.0.0.1:$http/api/v1/health" -H "authorization: Bearer $manager" >"$work/health-start.json" 2>/dev/null \
    && "$node" -e "const h=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')); process.exit(h.peripherals.some((p)=>p.id==='printer-1') && h.broker.clients>=2 ? 0 : 1)" "$work/health-start.json" && break
  sleep 1
done
log "devices and flows on core's broker: $("$node" -e "const h=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'));console.log(JSON.stringify({clients:h.broker.clients,peripherals:h.peripherals}))" "$work/health-start.json")"
before=$(receipts)
[ "$before" -ge 0 ] || fail "the printer simulator does not answer on its control port: $(tail -n 5 "$work/printer.log")"
# Flows subscribes with a clean MQTT session once its flows have started, which
# /api/v1/health cannot show: a sale before that prints its receipt but no bar
# ticket. So: sell, and sell once more if only the receipt came.
printed=0
for attempt in 1 2 3; do
  code=$(curl -s -o "$work/sale.json" -w '%{http_code}' -X POST "http://127.0.0.1:$http/api/v1/sales" -H "authorization: Bearer $till" \
    -H 'content-type: application/json' -H "idempotency-key: boot-test-$attempt" -d '{"lines":[{"sku":"MILK-1L","qty":1}],"tenders":[{"type":"cash","amount":500}]}')
  [ "$code" = 201 ] || fail "a sale with the till token got HTTP $code: $(head -c 300 "$work/sale.json")"
  for _ in $(seq 1 120); do
    [ "$(receipts)" -ge $((before + 2)) ] && break
    sleep 0.5
  done
  printed=$(( $(receipts) - before ))
  [ "$printed" -ge 2 ] && break
  [ "$printed" -ge 1 ] || fail "sale $attempt printed nothing on the network printer; printer log: $(tail -n 20 "$work/printer.log")"
  log "sale $attempt printed its receipt but no bar ticket (flows not subscribed yet); selling again"
  before=$(receipts)
done
[ "$printed" -ge 2 ] || fail "no sale printed both a receipt and a bar ticket; printer log: $(tail -n 20 "$work/printer.log")"
log "a sale printed a receipt and a bar ticket on the host's network printer (core, devices and flows units all serving)"
no_restarts "$work/serial2.log"

# 4. A power cut while tills sell; every acknowledged sale exactly once after the next boot.
"$node" image/power-cut.ts sell --port "$http" --till "$till" --cut-pid "$qpid" --state "$work/tills.json" >"$work/sell.json" || fail "selling failed: $(cat "$work/sell.json")"
{ wait "$qpid"; } 2>/dev/null || true
log "power cut while 3 tills sold: $(cat "$work/sell.json")"
boot "$work/a.img" "$work/serial3.log"
wait_healthy; third=$healthy_s; log "boot after the cut: power-on to /healthz in $third s"
"$node" image/power-cut.ts verify --port "$http" --till "$till" --manager "$manager" --state "$work/tills.json" >"$work/cut.json" || fail "power cut: $(cat "$work/cut.json")"
log "after the power cut: $(cat "$work/cut.json")"
# Idle figures from the box's own health document (machine used = total - available, the OS
# included), sampled at least 20 s after the last sale; it must read the machine for real
# inside the unit's sandbox (cores, memory, uptime are not zero).
idle_from=$(( $(date +%s) + 20 ))
for _ in $(seq 1 150); do
  curl -fsS -m 5 "http://127.0.0.1:$http/api/v1/health" -H "authorization: Bearer $manager" >"$work/health.json" 2>/dev/null \
    && "$node" -e "const h=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')); process.exit(Date.parse(h.at)/1000 >= Number(process.argv[2]) ? 0 : 1)" "$work/health.json" "$idle_from" && break
  sleep 1
done
"$node" -e "
const h=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'));
const bad=[]; if (!(h.disk.totalMB>400)) bad.push('disk.totalMB (the data partition did not grow)'); if (!(h.cpu.cores>0)) bad.push('cpu.cores'); if (!(h.memory.availableMB>0)) bad.push('memory.availableMB'); if (!(h.uptimeS.box>0)) bad.push('uptimeS.box'); if (!(h.memory.coreRssMB>0)) bad.push('memory.coreRssMB');
if (bad.length) { console.error('health reads nothing for '+bad.join(', ')+': '+JSON.stringify(h)); process.exit(1); }" "$work/health.json" \
  || fail "the health document is not real on the image: $(head -c 600 "$work/health.json")"
no_restarts "$work/serial3.log"
log "health on the image: $("$node" -e "const h=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'));console.log(JSON.stringify({at:h.at,cpu:h.cpu,memory:h.memory,uptimeS:h.uptimeS,disk:h.disk}))" "$work/health.json")"
power_cut

# 5. A second copy of the image is another box; with an installer's key on its boot
# partition, SSH opens (key only) and `tillbox secrets show` hands over its tokens.
boot "$work/b.img" "$work/serial-b.log"
wait_healthy
ssh_opts=(-p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 -o BatchMode=yes)
ssh "${ssh_opts[@]}" -i "$work/installer-key" root@127.0.0.1 tillbox secrets show --json >"$work/ssh-secrets.json" 2>"$work/ssh.err" \
  || fail "the installer's key does not open SSH: $(tail -n 3 "$work/ssh.err")"
if ssh "${ssh_opts[@]}" -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive root@127.0.0.1 true 2>"$work/ssh-pw.err"; then
  fail "SSH let a client in without a key"
fi
grep -q 'Permission denied (publickey)' "$work/ssh-pw.err" || fail "SSH offers more than public keys: $(tail -n 2 "$work/ssh-pw.err")"
# The whole box's memory as shipped (issue 14): each unit's main process, 20 s
# after Node-RED reported its flows started (the box idle; no supervisor on the
# image, systemd is it).
for _ in $(seq 1 180); do
  ssh "${ssh_opts[@]}" -i "$work/installer-key" root@127.0.0.1 journalctl -b -u tillbox-flows.service 2>/dev/null | grep -q 'Started flows' && break
  sleep 1
done
sleep 20
ssh "${ssh_opts[@]}" -i "$work/installer-key" root@127.0.0.1 sh -s >"$work/units-rss.txt" 2>"$work/ssh.err" <<'REMOTE' || fail "cannot read the units' memory over SSH: $(tail -n 3 "$work/ssh.err")"
for u in core devices flows; do
  p=$(systemctl show -p MainPID --value "tillbox-$u.service")
  rss=; pss=
  while read -r k v _; do case $k in Rss:) rss=$v ;; Pss:) pss=$v ;; esac; done <"/proc/$p/smaps_rollup"
  echo "$u $rss $pss"
done
REMOTE
units_rss=$("$node" -e "
const rows=require('fs').readFileSync(process.argv[1],'utf8').trim().split('\n').map((l)=>l.split(' '));
const r={}; for (const [u,rss,pss] of rows) { if (!(Number(rss)>0)) { console.error('no RSS for '+u); process.exit(1); } r[u]={rssMB:Math.round(rss/102.4)/10, pssMB:Math.round(pss/102.4)/10}; }
if (Object.keys(r).length!==3) { console.error('expected 3 units'); process.exit(1); }
r.totalRssMB=Math.round((r.core.rssMB+r.devices.rssMB+r.flows.rssMB)*10)/10; r.totalPssMB=Math.round((r.core.pssMB+r.devices.pssMB+r.flows.pssMB)*10)/10;
console.log(JSON.stringify(r));" "$work/units-rss.txt") || fail "the units' memory is not readable: $(cat "$work/units-rss.txt")"
log "units' memory on the image, idle: $units_rss"
sleep 2; power_cut
devb=$(part_cat "$work/b.img" tillbox-data /tillbox/device-id)
tillb=$(token_of "$(part_cat "$work/b.img" tillbox-data /tillbox/secrets.json)" till)
[ -n "$deva" ] && [ -n "$devb" ] && [ "$deva" != "$devb" ] || fail "two copies have the same device id ($deva, $devb)"
[ "$till" != "$tillb" ] || fail "two copies have the same till token"
[ "$(token_of "$(cat "$work/ssh-secrets.json")" till)" = "$tillb" ] || fail "tillbox secrets show over SSH does not show the box's till token"
log "SSH with the installer's key: tillbox secrets show hands over the tokens; password and keyboard-interactive logins refused"
log "two copies: device ids $deva and $devb, different secrets"

# 6. systemd-analyze security, offline on the built root filesystem (the build's work dir).
declare -A score
[ -d "$rootfs/etc/systemd/system" ] || fail "no built root filesystem at $rootfs (TILLBOX_IMAGE_ROOTFS) to score the units on"
for u in core devices flows; do
  score[$u]=$(systemd-analyze security --offline=yes --root="$rootfs" "tillbox-$u.service" | awk '/Overall exposure level/ {print $(NF-2)}')
  [[ "${score[$u]}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "no exposure score for tillbox-$u (systemd-analyze said: ${score[$u]})"
  log "systemd-analyze security tillbox-$u: ${score[$u]}"
done
awk -v c="${score[core]}" -v d="${score[devices]}" -v f="${score[flows]}" 'BEGIN { exit !(c + 0 <= 2.0 && f + 0 <= 2.0 && d + 0 < 5.0) }' \
  || fail "exposure over the limits (core and flows <= 2.0, devices < 5.0)"

mkdir -p bench/results
"$node" -e "
const fs=require('fs'); const h=JSON.parse(fs.readFileSync(process.argv[1],'utf8')); const m=h.memory ?? {};
const num=(x)=>x===undefined||x===''?null:Number(x);
const r={at:new Date().toISOString(), accel:process.argv[2], amd64MB:Math.round(Number(process.argv[3])/1048576),
  firstBootToHealthzS:num(process.argv[4]), bootToReadyS:num(process.argv[5]),
  idleMachineUsedMB: m.totalMB!==undefined ? Math.round(m.totalMB-m.availableMB) : null, idleCoreRssMB: m.coreRssMB ?? null,
  powerCut: JSON.parse(fs.readFileSync(process.argv[6],'utf8')), unitsIdle: JSON.parse(process.argv[10]),
  securityExposure: {core:num(process.argv[7]), devices:num(process.argv[8]), flows:num(process.argv[9])}};
fs.writeFileSync('bench/results/image.json', JSON.stringify(r,null,2)+'\n'); console.log(JSON.stringify(r));" \
  "$work/health.json" "$accel" "$(stat -c %s "$img")" "$first" "$again" "$work/cut.json" "${score[core]:-}" "${score[devices]:-}" "${score[flows]:-}" "$units_rss"
log ok
