#!/usr/bin/env bash
# Install headless Chromium from Debian's packages for the report's browser test, then print
# the binary's path (the only thing written to stdout; progress goes to stderr):
#
#   export CONNECTOR_TEST_CHROMIUM=$(bash scripts/ci-chromium.sh)
#
# Needs root on Debian (CI's fresh Debian 12 image). Safe to run again: an installed package
# is reused and nothing is downloaded.
set -euo pipefail

say() { echo "ci-chromium: $*" >&2; }

if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
    if [ "$(id -u)" -ne 0 ]; then
        say "chromium is not installed and this is not root: cannot apt-get install it"
        exit 1
    fi
    say "installing chromium from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q -o Acquire::Retries=3 >&2
    apt-get install -y -q -o Acquire::Retries=3 --no-install-recommends chromium >&2
fi

BINARY=$(command -v chromium || true)
if [ -z "$BINARY" ] || [ ! -x "$BINARY" ]; then
    say "no chromium binary on PATH after the install"
    exit 1
fi
say "$("$BINARY" --version 2>/dev/null | head -1)"
echo "$BINARY"
