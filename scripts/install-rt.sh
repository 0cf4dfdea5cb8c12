#!/usr/bin/env bash
# Debian's Request Tracker 5 with SQLite and its standalone server, the real helpdesk the
# connector's tests run against. Only the programs are used, each test instance with a site
# configuration of its own (deploy/rt_instance.py): no Apache, no database of the package's.
# Idempotent: does nothing once rt-setup-database-5 is on the PATH. Uses sudo only when not root.
set -euo pipefail

command -v rt-setup-database-5 >/dev/null && [ -e /usr/share/request-tracker5/libexec/rt-server ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
# The package would otherwise ask how to set up its database and install cron jobs.
"${sudo[@]}" debconf-set-selections <<'SELECTIONS'
request-tracker5 request-tracker5/dbconfig-install boolean false
request-tracker5 request-tracker5/install-cronjobs boolean false
SELECTIONS
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created=1
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    request-tracker5 rt5-db-sqlite rt5-standalone
if [ "$created" = 1 ]; then
    "${sudo[@]}" rm -f "$policy"
fi
