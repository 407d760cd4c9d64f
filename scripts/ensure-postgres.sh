#!/usr/bin/env bash
# Make sure a PostgreSQL answers on 127.0.0.1:5432 for the tests of the PostgreSQL learned store: use the one
# that runs, else start the machine's cluster, else install Debian's postgresql. The tests log in as
# postgres/postgres (a trust-auth server ignores the password; a fresh one gets it set here).
set -euo pipefail

answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

answers && exit 0
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "Installing postgresql..." >&2
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
echo "Starting PostgreSQL $version on 127.0.0.1:5432..." >&2
$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 100); do answers && break; sleep 0.1; done
answers || { echo "PostgreSQL did not answer on 127.0.0.1:5432" >&2; exit 1; }
$SUDO su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
