#!/usr/bin/env bash
# The image job of CI (.ci/run calls it after npm test): build the amd64
# image, boot and attack it under qemu, then build and run the Dockerfile.
# Writes bench/results/image.json. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/setup-system.sh --image
bash image/build.sh --arch amd64
bash image/boot-test.sh
bash image/docker/build-test.sh
echo "image ci: finished in $(( $(date +%s) - t0 )) s"
