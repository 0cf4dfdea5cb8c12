#!/usr/bin/env bash
# Debian's rabbitmq-server (3.10 on bookworm), the real broker the RabbitMQ tests start as a node of
# their own (tests/integration/test_rabbitmq.py). Only the binaries are used: the system service
# is not started.
exec bash "$(dirname "$0")/apt-install-service.sh" /usr/sbin/rabbitmq-server rabbitmq-server
