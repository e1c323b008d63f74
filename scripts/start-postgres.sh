#!/usr/bin/env bash
# Start a local PostgreSQL server on loopback for the tests that need one, and print the URL
# they read from TRADEOFF_TEST_POSTGRES. Needs Debian's postgresql package (scripts/setup.sh).
set -euo pipefail
version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main >&2
  pg_ctlcluster "$version" main start >&2  # its messages must not mix with the URL on stdout
fi
run_as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
run_as_postgres "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='tradeoff'\" | grep -q 1 || psql -qc \"CREATE USER tradeoff PASSWORD 'tradeoff' CREATEDB\"" >/dev/null
run_as_postgres "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='tradeoff'\" | grep -q 1 || createdb -O tradeoff tradeoff" >/dev/null
echo "postgresql://tradeoff:tradeoff@127.0.0.1:5432/tradeoff"
