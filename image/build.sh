#!/usr/bin/env bash
# Builds the tillbox appliance image: Debian bookworm (mmdebstrap) plus
# tillbox and its production dependencies, as a GPT raw disk (arm64: MBR with
# the Raspberry Pi firmware on partition 1, see image/arm64.sh):
#   1 ESP (vfat)        systemd-boot, kernel, initrd; tillbox.env for the installer
#   2 root A (ext4, ro) the OS and /opt/tillbox
#   3 root B (empty)    room for signed A/B updates (a later issue)
#   4 data (ext4)       /var/lib/tillbox, grown to the whole disk at first boot
# Output: image/out/tillbox-<version>-<arch>.img.zst and its .sha256.
#   sudo npm run image -- --arch amd64
#   sudo npm run image -- --arch arm64
# Needs root (mmdebstrap into a directory, chroot), mmdebstrap, mtools,
# e2fsprogs, dosfstools, fdisk, zstd, systemd-boot-efi; for arm64 on amd64 also
# qemu-user-static, binfmt-support, arch-test, g++-aarch64-linux-gnu
# (scripts/setup-system.sh --image).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
arch=amd64
out=$repo/image/out
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "image: unknown argument $1 (use --arch amd64|arm64 [--out DIR])" >&2; exit 2 ;;
  esac
done
case "$arch" in
  amd64) kernel=linux-image-amd64; boot_pkgs=; npm_cpu=x64 ;;
  arm64) kernel=linux-image-arm64; boot_pkgs=,raspi-firmware,systemd-boot-efi; npm_cpu=arm64; esp_mb=256 ;;
  *) echo "image: --arch must be amd64 or arm64" >&2; exit 2 ;;
esac
mm_arch_opts=()
if [ "$arch" = arm64 ]; then
  # shellcheck source=image/arm64.sh
  . "$repo/image/arm64.sh"
  arm64_setup
fi
version=$(node -p 'require("./package.json").version')
work=${TILLBOX_IMAGE_WORK:-/var/tmp/tillbox-image-$arch}
rm -rf "$work"
mkdir -p "$work" "$out"
log() { printf 'image: %s\n' "$*"; }
t0=$(date +%s)

# 1. tillbox with its production dependencies, for the target.
stage=$work/stage
mkdir -p "$stage"
git ls-files -z bin appliance cloud contract drivers flows lib provisioning image/udev package.json package-lock.json scripts/postinstall.mjs tsconfig.json tsconfig.build.json \
  | grep -zv '\.test\.ts$' | xargs -0 cp --parents -t "$stage"
log "npm ci --omit=dev for linux-$npm_cpu"
(cd "$stage" && npm ci --omit=dev --no-audit --no-fund --cpu="$npm_cpu" --os=linux >"$work/npm.log" 2>&1) || { tail -20 "$work/npm.log"; exit 1; }
# The box runs JavaScript compiled here (no type stripper at start, less memory).
log "compiling TypeScript to JavaScript"
bash "$repo/scripts/compile-js.sh" "$stage"
if [ "$arch" = arm64 ]; then arm64_stage "$stage"; fi
rm -f "$stage/tsconfig.json" "$stage/tsconfig.build.json"
# Not on a box: the TypeScript compiler (an optional peer of i18next that npm
# installs anyway) and the reference HQ with its embedded PostgreSQL (HQ runs
# elsewhere: tillbox-hq from a checkout or the Dockerfile's image).
rm -rf "$stage/node_modules/typescript" "$stage/node_modules/@typescript" "$stage/node_modules/@electric-sql" \
  "$stage/cloud" "$stage/bin/tillbox-hq"
# The `node` package installs a second copy of Node (binary and C headers) in
# its own node_modules: keep the one from node-linux-<arch>. Node's C headers
# are only for building addons.
if [ -x "$stage/node_modules/node-linux-$npm_cpu/bin/node" ] && cmp -s "$stage/node_modules/node/bin/node" "$stage/node_modules/node-linux-$npm_cpu/bin/node"; then
  ln -sf "../../node-linux-$npm_cpu/bin/node" "$stage/node_modules/node/bin/node"
  rm -rf "$stage/node_modules/node/node_modules/node-linux-$npm_cpu"
fi
rm -rf "$stage/node_modules/node-linux-$npm_cpu/include"
printf '{"version":"%s","commit":"%s","arch":"%s","built":"%s"}\n' "$version" "$(git rev-parse --short HEAD)" "$arch" "$(date -u +%FT%TZ)" >"$stage/image-version.json"

# 2. The OS: Debian packages only, configured in the chroot by the hooks.
rootfs=$work/rootfs
# openssh-server: off unless an installer puts authorized_keys on the boot partition (key-only).
pkgs=netbase,systemd,systemd-sysv,systemd-resolved,systemd-timesyncd,udev,dbus,kmod,$kernel,nftables,ca-certificates,libusb-1.0-0,iproute2,cloud-guest-utils,e2fsprogs,fdisk,util-linux,openssh-server$boot_pkgs
log "mmdebstrap bookworm $arch"
mmdebstrap --quiet --variant=apt --arch="$arch" --include="$pkgs" "${mm_arch_opts[@]}" \
  --customize-hook="cp -a '$repo/image/rootfs/.' \"\$1/\"" \
  --customize-hook="cp -a '$stage' \"\$1/opt/tillbox\"" \
  --customize-hook="install -m 0644 '$repo/image/udev/60-tillbox-peripherals.rules' \"\$1/etc/udev/rules.d/\"" \
  --customize-hook="'$repo/image/customize.sh' \"\$1\"" \
  bookworm "$rootfs" >"$work/mmdebstrap.log" 2>&1 || { tail -30 "$work/mmdebstrap.log"; exit 1; }
if [ "$arch" = arm64 ]; then arm64_check_addons "$rootfs"; fi
log "root filesystem: $(du -sm "$rootfs" | cut -f1) MB"

# 3. Partitions as files, then one disk (no loop devices needed).
mib=1048576
esp_mb=${esp_mb:-160}
root_mb=$(( $(du -sm "$rootfs" | cut -f1) * 115 / 100 + 64 ))
data_mb=64
esp=$work/esp.img
rm -f "$esp"
if [ "$arch" = arm64 ]; then arm64_boot_partition "$esp" "$esp_mb" "$rootfs"; else
mkfs.vfat -C -n TILLBOX "$esp" $((esp_mb * 1024)) >/dev/null
kver=$(basename "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -n1)" | sed 's/^vmlinuz-//')
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$esp" "$rootfs/boot/vmlinuz-$kver" ::/vmlinuz-a
mcopy -i "$esp" "$rootfs/boot/initrd.img-$kver" ::/initrd-a
if [ "$arch" = amd64 ]; then
  mcopy -i "$esp" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
fi
printf 'default tillbox-a.conf\ntimeout 0\neditor no\n' >"$work/loader.conf"
# The hardware watchdog and the console on the first serial port (qemu, headless NUCs).
printf 'title tillbox %s (A)\nlinux /vmlinuz-a\ninitrd /initrd-a\noptions root=PARTLABEL=tillbox-root-a ro rootwait console=tty0 console=ttyS0,115200 quiet\n' "$version" >"$work/entry.conf"
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$work/entry.conf" ::/loader/entries/tillbox-a.conf
fi
printf '# Settings for this box, read once at first boot (see README "Installing a box"):\n# TILLBOX_STORE_ID=store-1\n# TILLBOX_ENROLMENT_URL=https://hq.example:8443\n# TILLBOX_ENROLMENT_CA_FINGERPRINT=...\n' >"$work/tillbox.env"
mcopy -i "$esp" "$work/tillbox.env" ::/tillbox.env

root=$work/root.img
rm -f "$root"
mkfs.ext4 -q -L tillbox-root -E root_owner=0:0 -d "$rootfs" "$root" "${root_mb}M"
data=$work/data.img
datadir=$work/data
# The data partition (mounted at /data): tillbox/ is core's state dir (bind-mounted
# at /var/lib/tillbox, uid 900 from customize.sh), ssh/ is root's (installer keys).
mkdir -p "$datadir/tillbox" "$datadir/ssh"
chown 900:900 "$datadir/tillbox"; chmod 0711 "$datadir/tillbox"
chmod 0700 "$datadir/ssh"
rm -f "$data"
mkfs.ext4 -q -L tillbox-data -d "$datadir" "$data" "${data_mb}M"

disk=$work/tillbox.img
total_mb=$((1 + esp_mb + root_mb * 2 + data_mb + 1))
truncate -s "${total_mb}M" "$disk"
if [ "$arch" = arm64 ]; then arm64_partition_table "$disk" "$esp_mb" "$root_mb" "$data_mb"; else
sfdisk --quiet "$disk" <<SFDISK
label: gpt
unit: sectors
start=2048, size=$((esp_mb * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=tillbox-esp
size=$((root_mb * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=tillbox-root-a
size=$((root_mb * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=tillbox-root-b
size=$((data_mb * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=tillbox-data
SFDISK
fi
dd if="$esp" of="$disk" bs=1M seek=1 conv=notrunc status=none
dd if="$root" of="$disk" bs=1M seek=$((1 + esp_mb)) conv=notrunc status=none
dd if="$data" of="$disk" bs=1M seek=$((1 + esp_mb + root_mb * 2)) conv=notrunc status=none

name=tillbox-$version-$arch.img
cp --sparse=always "$disk" "$out/$name"
zstd -q -T0 -10 -f "$out/$name" -o "$out/$name.zst"
(cd "$out" && sha256sum "$name.zst" >"$name.zst.sha256")
log "wrote $out/$name.zst ($(du -m "$out/$name.zst" | cut -f1) MB compressed, ${total_mb} MB raw) in $(( $(date +%s) - t0 )) s"
