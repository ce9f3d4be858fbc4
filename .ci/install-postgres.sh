#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl, postgres) and the `postgres` user exist,
# for the throw-away test clusters of test/helpers/pg-cluster.ts. Idempotent: installs only
# when something is missing. Debian 12 (apt), run as root.
set -euo pipefail

have_server() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

if have_server && id -u postgres >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
  echo "install-postgres: PostgreSQL server binaries present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-postgres: PostgreSQL server binaries missing and not root: cannot apt-get install" >&2
  exit 1
fi

# The tests start their own clusters: keep the package from creating and starting a system one.
mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql util-linux

if ! have_server || ! id -u postgres >/dev/null 2>&1; then
  echo "install-postgres: PostgreSQL server binaries still missing after apt-get install" >&2
  exit 1
fi
echo "install-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
