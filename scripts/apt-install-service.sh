#!/usr/bin/env bash
# Install a Debian package whose binary SmartSupport runs with a configuration of its own, without
# letting the package start its system-wide service: `apt-install-service.sh COMMAND PACKAGE...`.
# Idempotent: does nothing when COMMAND is already on the PATH (or, given as a path, exists). Uses sudo
# only when not root.
set -euo pipefail

command="$1"
shift
if [[ "$command" == */* ]]; then [ -e "$command" ] && exit 0; else command -v "$command" >/dev/null && exit 0; fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
# policy-rc.d answering 101 keeps the package's init script from starting its system-wide service.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created=1
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
if [ "$created" = 1 ]; then
    "${sudo[@]}" rm -f "$policy"
fi
