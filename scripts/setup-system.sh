#!/usr/bin/env bash
# Installs the Debian packages tillbox's tests and benchmarks use. Run once as
# root on a development machine or CI (the OS image has its own list in image/build.sh);
# with --image also what the image and Dockerfile tests use.
#   mosquitto: the independent MQTT broker the benchmarks and interop tests compare against
#   libusb-1.0-0: loaded by the usb and node-hid addons (USB printers, HID scanners)
#   socat: pseudo-terminal pairs for the serial scale and scanner simulators
#   postgresql: PostgreSQL 15, the reference HQ ledger's production database (tests start their own cluster)
#   chromium: the real browser the Node-RED editor test drives through playwright-core
#   fuse3, python3-fusepy: the fault-injecting filesystem of the storage fault tests (test/faults)
#   eatmydata: the price of durability in bench/core.ts (the same core with fsync a no-op)
set -euo pipefail
# The list is also read by test/global-setup.ts (npm test installs what is missing when run as root).
packages=(mosquitto libusb-1.0-0 socat postgresql chromium fuse3 python3-fusepy eatmydata)
# --image: what building, booting and checking the appliance image and the Dockerfile need
# (image/build.sh, image/boot-test.sh, image/docker/build-test.sh).
image_packages=(mmdebstrap qemu-system-x86 ovmf mtools zstd dosfstools fdisk e2fsprogs systemd-boot-efi buildah uidmap binutils openssl curl openssh-client)
# The arm64 (Raspberry Pi) image built on an amd64 host: its chroot runs through
# qemu-user (binfmt_misc), epoll is cross-compiled; qemu-system-arm and
# qemu-efi-aarch64 boot it under -machine virt.
image_arm64_packages=(qemu-user-static binfmt-support arch-test g++-aarch64-linux-gnu file qemu-system-arm qemu-efi-aarch64)
if [ "${1:-}" = --image ]; then packages+=("${image_packages[@]}"); fi
if [ "${1:-}" = --image ] && [ "$(dpkg --print-architecture)" != arm64 ]; then packages+=("${image_arm64_packages[@]}"); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; run: sudo $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The package enables a system-wide mosquitto on 1883 when it is installed;
# tillbox's tests start their own on free ports and the box itself wants 1883.
# Only the service this script just installed is stopped: a mosquitto the
# developer already ran is left alone.
if [[ " ${missing[*]} " == *" mosquitto "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && systemctl disable --now mosquitto >/dev/null 2>&1; then :
  elif command -v service >/dev/null 2>&1; then service mosquitto stop >/dev/null 2>&1 || true
  fi
fi
echo "installed: ${missing[*]}"
