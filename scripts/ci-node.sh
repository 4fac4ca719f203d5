#!/usr/bin/env bash
# Install Node.js and npm from Debian's packages for the third-party client tests
# (tests/thirdparty: HubSpot's Node SDK and jsforce against the sandboxes), then print node's
# path (the only thing written to stdout; progress goes to stderr):
#
#   export CONNECTOR_TEST_NODE=$(bash scripts/ci-node.sh)
#   npm ci --prefix tests/thirdparty --no-audit --no-fund >&2
#
# Needs root on Debian when node or npm is missing (CI's fresh Debian 12 image: nodejs 18,
# npm 9; the pinned packages need node >= 18). Safe to run again: installed tools are reused
# and nothing is downloaded.
set -euo pipefail

say() { echo "ci-node: $*" >&2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        say "node or npm is not installed and this is not root: cannot apt-get install them"
        exit 1
    fi
    say "installing nodejs and npm from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q -o Acquire::Retries=3 >&2
    apt-get install -y -q -o Acquire::Retries=3 --no-install-recommends nodejs npm >&2
fi

BINARY=$(command -v node || true)
if [ -z "$BINARY" ] || [ ! -x "$BINARY" ]; then
    say "no node binary on PATH after the install"
    exit 1
fi
MAJOR=$("$BINARY" -p 'process.versions.node.split(".")[0]')
if [ "$MAJOR" -lt 18 ]; then
    say "node $("$BINARY" --version) is too old: the pinned clients need node >= 18"
    exit 1
fi
say "node $("$BINARY" --version), npm $(npm --version)"
echo "$BINARY"
