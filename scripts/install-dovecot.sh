#!/usr/bin/env bash
# Debian's dovecot-imapd, the real IMAP server the mailbox tests deliver messages into. Only the
# binary is used, with a configuration of the test's own: the system service is not started.
# Idempotent: does nothing when dovecot-imapd is already installed. Uses sudo only when not root.
set -euo pipefail

command -v dovecot >/dev/null && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
# policy-rc.d answering 101 keeps the package's init script from starting a system-wide Dovecot.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created=1
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd
if [ "$created" = 1 ]; then
    "${sudo[@]}" rm -f "$policy"
fi
