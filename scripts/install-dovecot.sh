#!/usr/bin/env bash
# Debian's dovecot-imapd, the real IMAP server the mailbox tests deliver messages into. Only the
# binary is used, with a configuration of the test's own: the system service is not started.
exec bash "$(dirname "$0")/apt-install-service.sh" dovecot dovecot-imapd
