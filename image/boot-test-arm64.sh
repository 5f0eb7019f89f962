#!/usr/bin/env bash
# Boots the arm64 image under qemu-system-aarch64 -machine virt (UEFI from
# qemu-efi-aarch64, systemd-boot from the image's firmware partition, Debian's
# generic arm64 kernel): /healthz through a hostfwd port, the secrets born at
# first boot (read from the data partition after a power cut), a sale with the
# till token after a second boot, the health document. A test of the arm64
# userland, units and addons, not of a Raspberry Pi: bookworm's qemu 7.2 emulates
# Pis only up to the 3B and never runs the Pi's GPU firmware (start4.elf), so the
# Pi's own boot path (firmware, config.txt, cmdline.txt) is only checked for
# presence. Software emulation (TCG): a few minutes.
#   sudo bash image/boot-test-arm64.sh [image/out/tillbox-*-arm64.img.zst]
set -euo pipefail
cd "$(dirname "$0")/.."
img=${1:-$(ls image/out/tillbox-*-arm64.img.zst | tail -n1)}
work=${TILLBOX_BOOT_WORK:-/var/tmp/tillbox-boot-arm64}
timeout_s=${TILLBOX_BOOT_TIMEOUT:-1200}
rm -rf "$work"; mkdir -p "$work"
log() { printf 'boot-test-arm64: %s\n' "$*"; }
fail() { log "FAIL: $*"; [ -f "$work/serial.log" ] && tail -40 "$work/serial.log"; exit 1; }
http=$((30000 + RANDOM % 20000))
qpid=
stop() { [ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null || true; }
trap stop EXIT

log "image $img"
zstd -q -d -f "$img" -o "$work/a.img"
export MTOOLS_SKIP_CHECK=1
for f in start4.elf fixup4.dat bcm2711-rpi-4-b.dtb config.txt cmdline.txt EFI/BOOT/BOOTAA64.EFI tillbox.env; do
  mdir -b -i "$work/a.img@@1M" "::/$f" >/dev/null 2>&1 || fail "$f missing on the firmware partition"
done
log "firmware partition: Pi 4 firmware, config.txt, cmdline.txt ($(mtype -i "$work/a.img@@1M" ::/cmdline.txt | tr -d '\n')), BOOTAA64.EFI"
printf 'TILLBOX_STORE_ID=qemu-store\nTILLBOX_DEMO=true\n' >"$work/tillbox.env"
mcopy -o -i "$work/a.img@@1M" "$work/tillbox.env" ::/tillbox.env
# A bigger card than the image: first boot grows the data partition.
truncate -s +512M "$work/a.img"
boot() { # serial-log
  cp /usr/share/AAVMF/AAVMF_VARS.fd "$work/vars.fd"
  curl -s -m 2 -o /dev/null "http://127.0.0.1:$http/" && fail "127.0.0.1:$http answers before the VM is started (port taken)"
  t0=$(date +%s)
  qemu-system-aarch64 -machine virt -cpu cortex-a72 -m 1024 -smp 2 -display none -no-reboot \
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd -drive if=pflash,format=raw,file="$work/vars.fd" \
    -drive file="$work/a.img",if=virtio,format=raw,cache=writeback \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$http-:8080" -device virtio-net-pci,netdev=n0 \
    -serial "file:$1" -monitor none </dev/null >/dev/null 2>&1 &
  qpid=$!
  until body=$(curl -fsS -m 5 "http://127.0.0.1:$http/healthz" 2>/dev/null); do
    kill -0 "$qpid" 2>/dev/null || fail "qemu exited"
    [ $(( $(date +%s) - t0 )) -gt "$timeout_s" ] && fail "no /healthz within $timeout_s s"
    sleep 2
  done
  boot_s=$(( $(date +%s) - t0 ))
  log "power-on to /healthz: $boot_s s (TCG): $body"
}
data_snapshot() { # copy of the data partition (4 of the MBR disk) with its ext4 journal replayed
  local start size
  read -r start size < <(sfdisk -J "$work/a.img" | node -e "let s='';process.stdin.on('data',(d)=>s+=d).on('end',()=>{const p=JSON.parse(s).partitiontable.partitions[3];console.log(p.start,p.size)})")
  dd if="$work/a.img" of="$work/data.img" bs=512 skip="$start" count="$size" status=none
  # After a power cut the newest files are only in the journal: debugfs does not replay it.
  e2fsck -E journal_only -y "$work/data.img" >/dev/null 2>&1 || true
}
data_file() { debugfs -R "cat $1" "$work/data.img" 2>/dev/null || true; }

boot "$work/serial.log"
first=$boot_s
grep -a -m1 'Debian GNU/Linux' "$work/serial.log" | tr -d '\r' | sed 's/^/boot-test-arm64: serial: /' || true
sleep 5; stop
data_snapshot
secrets=$(data_file /tillbox/secrets.json)
[ -n "$secrets" ] || fail "no secrets.json on the data partition after first boot"
till=$(node -e "const s=JSON.parse(process.argv[1]);console.log(s.api.find((t)=>t.role==='till').token)" "$secrets")
manager=$(node -e "const s=JSON.parse(process.argv[1]);console.log(s.api.find((t)=>t.role==='manager').token)" "$secrets")
log "first boot made the secrets and device id $(data_file /tillbox/device-id)"

boot "$work/serial2.log"
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$http/api/v1/sales" -H "authorization: Bearer $till" \
  -H 'content-type: application/json' -H 'idempotency-key: arm64-1' -d '{"lines":[{"sku":"MILK-1L","qty":1}],"tenders":[{"type":"cash","amount":500}]}')
[ "$code" = 201 ] || fail "a sale with the till token got HTTP $code, not 201"
log "a sale with the till token: 201"
sleep 20
health=$(curl -sS -m 120 -w '\n%{http_code}' "http://127.0.0.1:$http/api/v1/health" -H "authorization: Bearer $manager" 2>&1) || true
[ "${health##*$'\n'}" = 200 ] || fail "GET /api/v1/health: $health"
health=${health%$'\n'*}
node -e "
const h=JSON.parse(process.argv[1]);
console.log('boot-test-arm64: health: '+JSON.stringify({versions:h.versions, diskMB:h.disk && {total:h.disk.totalMB, free:h.disk.freeMB}, memory:h.memory, journal:h.journal,
  peripherals:(h.peripherals??[]).map((p)=>(p.id??p.peripheralId)+':'+(p.state??p.status))}));" "$health"
# Like image/boot-test.sh's bench/results/image.json, for the arm64 image (TCG on a shared host: slow).
mkdir -p bench/results
node -e "
const h=JSON.parse(process.argv[1]); const m=h.memory ?? {};
const r={at:new Date().toISOString(), accel:'tcg', machine:'virt cortex-a72 1 GiB 2 cpus', arm64MB:Math.round(Number(process.argv[2])/1048576),
  firstBootToHealthzS:Number(process.argv[3]), bootToHealthzS:Number(process.argv[4]),
  idleMachineUsedMB: m.totalMB!==undefined && m.availableMB>0 ? Math.round(m.totalMB-m.availableMB) : null, // availableMB 0: not read in the unit's sandbox coreRssMB: m.coreRssMB ?? null};
require('fs').writeFileSync('bench/results/image-arm64.json', JSON.stringify(r,null,2)+'\n'); console.log('boot-test-arm64: '+JSON.stringify(r));" "$health" "$(stat -c %s "$img")" "$first" "$boot_s"
log ok
