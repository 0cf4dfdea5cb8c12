#!/usr/bin/env bash
# Debian's Chromium for the browser tests: Playwright's own browser download cannot run here.
# Idempotent: does nothing when chromium is already installed. Uses sudo only when not root.
set -euo pipefail

command -v chromium >/dev/null && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
