#!/usr/bin/env bash
# Runs every benchmark against the built packages; figures are medians over several runs.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b
for b in bench/*.mjs; do
  case "$b" in bench/fabric.mjs) continue ;; esac
  echo "== $b"
  node "$b"
done
