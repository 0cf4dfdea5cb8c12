#!/usr/bin/env bash
# Debian's redis-server (7.x, with the distribution's security fixes) for the Redis that `make run`
# embeds and the tests start. Only the binary is used: the system service is not started.
exec bash "$(dirname "$0")/apt-install-service.sh" redis-server redis-server
