#!/bin/sh
# The throwaway PostgreSQL that scripts/test starts is reachable through
# the conninfo it exports, and is the version the tests are written for.
. "$FERRY_SRCDIR/tests/lib.sh"

require_pg

version=$(psql "$FERRY_TEST_PG" -XAtc "show server_version_num" 2>&1)
ok $? "psql connects with FERRY_TEST_PG"
case "$version" in 15*) r=0 ;; *) r=1 ;; esac
ok $r "server is PostgreSQL 15 (got $version)"
wal=$(psql "$FERRY_TEST_PG" -XAtc "show wal_level" 2>&1)
is "$wal" "logical" "wal_level is logical (needed by the PostgreSQL source)"
done_testing
