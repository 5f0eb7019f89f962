#!/usr/bin/env bash
# Compiles a staged copy of tillbox (the image build's stage, the Dockerfile's
# build stage) from TypeScript to JavaScript in place: each .ts becomes a .js
# beside it (tsconfig.build.json; relative imports rewritten to .js) and the
# .ts files are removed, so the box starts without Node's type stripper.
#   scripts/compile-js.sh STAGE [TYPESCRIPT_NODE_MODULES]
# STAGE holds the sources, tsconfig*.json and its production node_modules;
# the compiler comes from TYPESCRIPT_NODE_MODULES (default: this checkout's
# node_modules). Emit only: `npm test` type-checks (tsc -p tsconfig.json).
set -euo pipefail
stage=$(cd "$1" && pwd)
tools=${2:-$(cd "$(dirname "$0")/.." && pwd)/node_modules}
out=$stage/.js-out
rm -rf "$out"
node "$tools/typescript/bin/tsc" -p "$stage/tsconfig.build.json" --outDir "$out" --noCheck --types ""
cp -a "$out/." "$stage/"
rm -rf "$out"
find "$stage" -path "$stage/node_modules" -prune -o -name '*.ts' -type f -print0 | xargs -0 rm -f
