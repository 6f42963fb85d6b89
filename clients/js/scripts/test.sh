#!/usr/bin/env bash
# Build and test @authgate/client: type checks, vitest unit tests against a real `authgate demo`
# process, then the end-to-end tests in Debian's Chromium (installed here when missing; the tests
# fail, never skip, without it). Ends with "js: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(cd ../.. && pwd)
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

fail() { echo "clients/js: $*" >&2; echo "js: 0 passed, 1 failed"; exit 1; }

command -v npm >/dev/null 2>&1 || fail "npm not found (Node 18+ is needed)"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed"
else
  npm install --no-audit --no-fund --loglevel=error || fail "npm install failed"
fi
# The unmodified Auth.js clients (next-auth 4.24 and 5.0 beta, pinned) for test/e2e/authjs.test.ts,
# and oidc-provider for its OIDC sign-in; both have their own lock files.
(cd test/authjs && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in test/authjs failed"
(cd "$repo/tests/oidc" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/oidc failed"
node scripts/build.mjs || fail "build failed"
if [ "${CI:-}" = "true" ] && git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 &&
  ! git -C "$repo" diff --quiet -- src/authgate/demo_static/authgate-client.js; then
  fail "src/authgate/demo_static/authgate-client.js is stale: run clients/js/scripts/build.sh and commit it"
fi

# The package as `npm publish` would upload it: metadata complete, the built files in, nothing else.
npm pack --dry-run --json --ignore-scripts >"$results/pack.json" 2>/dev/null || fail "npm pack --dry-run failed"
node - "$results/pack.json" <<'JS' || fail "npm pack: the package is not ready to publish"
const fs = require("node:fs");
const [pack] = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
const files = pack.files.map((f) => f.path).sort();
const problems = [];
for (const field of ["name", "version", "description", "license", "repository", "types", "exports", "files"]) {
  if (!pkg[field]) problems.push(`package.json has no ${field}`);
}
if (pkg.publishConfig?.access !== "public") problems.push("a scoped package needs publishConfig.access=public");
const needed = ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts", "dist/react.js", "dist/react.d.ts"];
for (const file of needed) if (!files.includes(file)) problems.push(`the tarball lacks ${file}`);
for (const entry of Object.values(pkg.exports)) {
  for (const target of typeof entry === "string" ? [entry] : Object.values(entry)) {
    if (!files.includes(target.replace(/^\.\//, ""))) problems.push(`exports points at ${target}, not in the tarball`);
  }
}
const stray = files.filter((f) => !(f.startsWith("dist/") || ["LICENSE", "README.md", "package.json"].includes(f)));
if (stray.length) problems.push(`unexpected files in the tarball: ${stray.join(", ")}`);
if (problems.length) { console.error(problems.join("\n")); process.exit(1); }
console.log(`npm pack: ${pack.filename}, ${files.length} files, ${pack.size} bytes`);
JS

chromium=${AUTHGATE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "clients/js: $chromium missing; installing Debian's chromium"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium; } ||
    fail "could not install chromium with apt-get; the browser tests need it"
  [ -x "$chromium" ] || fail "chromium installed but $chromium is still missing"
fi

status=0
npx tsc -p tsconfig.test.json || { echo "clients/js: type check failed" >&2; status=1; }
npx vitest run --config vitest.config.ts --reporter=default --reporter=json --outputFile.json="$results/unit.json" || status=1
npx vitest run --config vitest.e2e.config.ts --reporter=default --reporter=json --outputFile.json="$results/e2e.json" || status=1

node - "$results/unit.json" "$results/e2e.json" "$status" <<'JS'
const fs = require("node:fs");
const [unit, e2e, status] = process.argv.slice(2);
let passed = 0, failed = 0, skipped = 0;
for (const file of [unit, e2e]) {
  try {
    const report = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += report.numPassedTests;
    failed += report.numFailedTests + (report.numFailedTestSuites > 0 && report.numFailedTests === 0 ? 1 : 0);
    skipped += report.numPendingTests + report.numTodoTests;
  } catch {
    failed += 1; // the run crashed before writing its report
  }
}
if (status !== "0" && failed === 0) failed = 1; // type check failure
console.log(`js: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
process.exit(failed ? 1 : 0);
JS
