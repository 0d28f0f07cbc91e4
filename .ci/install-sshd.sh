#!/bin/sh
# Installs what the real-sshd tests need: OpenSSH's server and a plain login user.
# Idempotent: safe to run on every CI start. Starts no daemon; the tests start their own sshd
# on 127.0.0.1 with a throwaway config (tests/sshd.py).
set -eu

# sudo: the tests check that a timed-out `sudo = true` step leaves nothing behind (as root, who
# needs no sudoers entry; nothing is added to sudoers).
missing=""
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v sudo >/dev/null 2>&1 || missing="$missing sudo"
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # the list is meant to split into words
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# sshd refuses to start without its privilege-separation folder.
mkdir -p /run/sshd
chmod 0755 /run/sshd

if ! id iactdeploy >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh iactdeploy
fi
# useradd leaves the account locked ("!" in shadow); with UsePAM no, sshd then refuses even key
# logins. "*" means: no password works, but the account is not locked.
usermod -p '*' iactdeploy

echo "sshd: $(/usr/sbin/sshd -V 2>&1 | head -n 1 || true); user iactdeploy ready"
