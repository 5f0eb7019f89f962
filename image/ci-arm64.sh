#!/usr/bin/env bash
# The arm64 image job of CI, separate from image/ci.sh because it is longer:
# the build runs its chroot through qemu-user (~20 min here), the boot test runs
# under qemu-system-aarch64 (TCG, a few minutes). Writes
# bench/results/image-arm64.json. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/setup-system.sh --image
if [ "$(dpkg --print-architecture)" != arm64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
bash image/build.sh --arch arm64
bash image/boot-test-arm64.sh
echo "image ci arm64: finished in $(( $(date +%s) - t0 )) s"
