#!/usr/bin/env bash
# Build @authgate/client once (dist/ and the demo page's bundle), for scripts/demo.
# Skips the work when the build is newer than every source; without Node the demo still runs on
# the bundle kept in git (src/authgate/demo_static/authgate-client.js).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=../../src/authgate/demo_static/authgate-client.js

if ! command -v npm >/dev/null 2>&1; then
  echo "clients/js: npm not found; the demo uses the committed $bundle" >&2
  exit 0
fi
if [ -f dist/index.js ] && [ -f "$bundle" ] &&
  [ -z "$(find src package.json package-lock.json tsconfig.json scripts/build.mjs -newer dist/index.js -print -quit)" ]; then
  echo "clients/js: build is up to date"
  exit 0
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node scripts/build.mjs
