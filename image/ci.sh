#!/usr/bin/env bash
# The image job of CI (.ci/run calls it after npm test): build the amd64
# image, boot and attack it under qemu, then build and run the Dockerfile.
# Writes bench/results/image.json. Needs root.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/setup-system.sh --image || exit 1
passed=0 failed=0
step() { # name command...
  local name=$1 s; shift
  s=$(date +%s)
  if "$@"; then passed=$((passed + 1)); echo "image ci: $name passed in $(( $(date +%s) - s )) s"
  else failed=$((failed + 1)); echo "image ci: $name FAILED after $(( $(date +%s) - s )) s"; fi
}
step "amd64 image build" bash image/build.sh --arch amd64
if [ "$failed" = 0 ]; then step "amd64 boot test" bash image/boot-test.sh; fi
step "Dockerfile build and run" bash image/docker/build-test.sh
echo "image ci: finished in $(( $(date +%s) - t0 )) s"
echo "image: $passed passed, $failed failed"
[ "$failed" = 0 ]
