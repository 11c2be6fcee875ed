#!/bin/sh
# The throwaway PostgreSQL that scripts/test starts is reachable through
# the conninfo it exports, and is the version the tests are written for.
. "$FERRY_SRCDIR/tests/lib.sh"

if [ -z "${FERRY_TEST_PG:-}" ]; then
	if [ -n "${FERRY_TEST_REQUIRE_SERVERS:-}" ]; then
		ok 1 "FERRY_TEST_PG is set (scripts/test starts the server)"
		done_testing
		exit
	fi
	echo "1..0 # SKIP FERRY_TEST_PG not set: run scripts/test to start PostgreSQL"
	exit 0
fi

version=$(psql "$FERRY_TEST_PG" -XAtc "show server_version_num" 2>&1)
ok $? "psql connects with FERRY_TEST_PG"
case "$version" in 15*) r=0 ;; *) r=1 ;; esac
ok $r "server is PostgreSQL 15 (got $version)"
wal=$(psql "$FERRY_TEST_PG" -XAtc "show wal_level" 2>&1)
is "$wal" "logical" "wal_level is logical (needed by the PostgreSQL source)"
done_testing
