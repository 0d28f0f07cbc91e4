#!/bin/sh
# Installs what the real-stack tests (tests/stack/) need: PostgreSQL's server, OpenSSH's server,
# git, the venv module of the system Python, and the plain deploy user those tests log in as.
# Idempotent: safe to run on every CI start. Starts no daemon: the tests start their own
# PostgreSQL cluster and sshd on 127.0.0.1 in temporary folders and stop them afterwards.
set -eu

DEPLOY_USER="${IACT_STACK_USER:-iactstage}"

missing=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
command -v git >/dev/null 2>&1 || missing="$missing git"
/usr/bin/python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing="$missing python3-venv"
command -v pgrep >/dev/null 2>&1 || missing="$missing procps"

if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # a list of package names
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Debian's postinst may start the packaged cluster; the tests never use it (they run their own
# cluster on a free port), so it is left as the package left it.

# sshd refuses to start without its privilege-separation folder.
mkdir -p /run/sshd
chmod 0755 /run/sshd

if ! id "$DEPLOY_USER" >/dev/null 2>&1; then
    # bash: the checklist's commands `source` the virtualenv, as on the real staging host
    useradd --create-home --shell /bin/bash "$DEPLOY_USER"
fi
# useradd leaves the account locked ("!" in shadow); with UsePAM no, sshd then refuses even key
# logins. "*" means: no password works, but the account is not locked.
usermod -p '*' "$DEPLOY_USER"

echo "stack: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1), $(/usr/sbin/sshd -V 2>&1 | head -n 1 || true), $(git --version); user $DEPLOY_USER ready"
