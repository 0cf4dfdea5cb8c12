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
bash "$(dirname "$0")/apt-install-service.sh" /usr/share/request-tracker5/libexec/rt-server \
    request-tracker5 rt5-db-sqlite rt5-standalone
