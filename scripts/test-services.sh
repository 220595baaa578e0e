#!/usr/bin/env bash
# Servers the e-mail tests run against: Dovecot (IMAP) from Debian's packages. Installs it when
# missing (needs root, as on CI); a no-op taking milliseconds when it is already there. The tests
# start their own private instance (config, users and mail in a temp dir, a loopback port); the
# system's Dovecot service and configuration are never touched.
set -euo pipefail

if command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test-services: dovecot-imapd is not installed; run: sudo apt-get install -y dovecot-imapd" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy dovecot-imapd 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  apt-get update -qq
fi
# policy-rc.d may refuse to start the system service (containers): that is fine, we never use it.
apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null
command -v dovecot >/dev/null
echo "test-services: dovecot-imapd installed"
