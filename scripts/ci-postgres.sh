#!/usr/bin/env bash
# Install (Debian packages) and start a real PostgreSQL server for the state-store tests, then
# print the URL the tests connect to (the only thing written to stdout; progress goes to stderr):
#
#   url=$(bash scripts/ci-postgres.sh) && export CONNECTOR_TEST_POSTGRES_URL=$url
#
# Needs root on Debian (CI's fresh Debian 12 image). Safe to run again on the same machine: an
# installed package, an existing cluster, a running server, the role and the database are reused.
set -euo pipefail

CLUSTER=${CONNECTOR_PG_CLUSTER:-connector-ci}
PORT=${CONNECTOR_PG_PORT:-55432}
ROLE=connector_test
PASSWORD=connector_test   # a throw-away server on loopback that only the tests use
DATABASE=connector_test

say() { echo "ci-postgres: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    say "must run as root (it installs Debian packages and runs the server as user postgres)"
    exit 1
fi

# 1. The server, from Debian's packages.
if ! dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed"; then
    say "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -o Acquire::Retries=3 >&2
    apt-get install -y -o Acquire::Retries=3 --no-install-recommends postgresql >&2
fi
VERSION=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -1)
if [ -z "$VERSION" ] || [ ! -x "/usr/lib/postgresql/$VERSION/bin/postgres" ]; then
    say "no PostgreSQL server binaries under /usr/lib/postgresql after the install"
    exit 1
fi

# 2. A dedicated cluster on its own port, so it cannot clash with a `main` cluster.
if ! pg_lsclusters --no-header | awk '{print $1 "/" $2}' | grep -qx "$VERSION/$CLUSTER"; then
    say "creating cluster $VERSION/$CLUSTER on port $PORT"
    pg_createcluster --port "$PORT" "$VERSION" "$CLUSTER" -- \
        --auth-local=peer --auth-host=scram-sha-256 >&2
fi
PORT=$(pg_lsclusters --no-header | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $3}')

# 3. Started, unless it already runs (status exits 3 when the server is down).
if ! pg_ctlcluster "$VERSION" "$CLUSTER" status >/dev/null 2>&1; then
    say "starting cluster $VERSION/$CLUSTER"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

# 4. Ready within 60 seconds, or fail.
for _ in $(seq 60); do
    if pg_isready -q -h 127.0.0.1 -p "$PORT" -t 1; then
        break
    fi
    sleep 1
done
if ! pg_isready -q -h 127.0.0.1 -p "$PORT" -t 1; then
    say "server did not accept connections on 127.0.0.1:$PORT within 60 s; its log:"
    tail -n 50 "/var/log/postgresql/postgresql-$VERSION-$CLUSTER.log" >&2 || true
    exit 1
fi

# 5. The tests' role and database (each test then works in a schema of its own).
as_postgres() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"; }
as_postgres -d postgres -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
    END IF;
END \$\$;" >&2
if [ "$(as_postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
    as_postgres -d postgres -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

say "PostgreSQL $VERSION ready on 127.0.0.1:$PORT, database $DATABASE"
echo "postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
