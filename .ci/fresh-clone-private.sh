#!/usr/bin/env bash
# A fresh clone of this repository into a mode-0700 parent directory (like /root/app), with
# DATABASE_URL unset: `npm ci`, then the README's two commands, `npm run demo` and `npm test`
# (embedded server).
# Run as root this is the case where the server's user cannot reach node_modules (issue 10, item 5).
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
parent=$(mktemp -d "${HOME:-/root}/evflow-private-XXXXXX")
chmod 700 "$parent"
trap 'rm -rf "$parent"' EXIT
unset DATABASE_URL
export CKJS_LINKING="${CKJS_LINKING:-dynamic}" # see .ci/run
git clone -q "$src" "$parent/evflow" && cd "$parent/evflow" || exit 1
npm ci --no-audit --no-fund || exit 1
npm run demo || exit 1
npm test
