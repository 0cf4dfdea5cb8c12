#!/usr/bin/env bash
# Debian's redis-server (7.x, with the distribution's security fixes) for the Redis that `make run`
# embeds and the tests start. Only the binary is used: the system service is not started.
# Idempotent: does nothing when redis-server is already installed. Uses sudo only when not root.
set -euo pipefail

command -v redis-server >/dev/null && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
# policy-rc.d answering 101 keeps the package's init script from starting a system-wide Redis.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created=1
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server
if [ "$created" = 1 ]; then
    "${sudo[@]}" rm -f "$policy"
fi
