#!/bin/sh
# ferry init from PostgreSQL checks the source before it creates anything,
# one clear line per problem with the command that fixes it: wal_level
# not logical, a role without REPLICATION, no free replication slot.  On a
# private server (wal_level needs a restart, which the shared server of
# the other tests must not get).  The replica identity checks are in
# test_sync_pgsource.sh.
. "$FERRY_SRCDIR/tests/lib.sh"
require_pg
. "$FERRY_SRCDIR/scripts/pg-server"
tmp=$(mktemp -d)
trap 'pg_server_stop; rm -rf "$tmp"' EXIT
pg_server_start
ok $? "a private PostgreSQL server"
pg() { psql "$FERRY_TEST_PG" -XAtq -c "$1" 2>&1; }
slots() { pg "select count(*) from pg_replication_slots"; }
pg "create table t (id int primary key, v text); alter table t replica identity full" >/dev/null

# a role without REPLICATION
pg "create role plain login; grant all on table t to plain" >/dev/null
plain_uri=$(printf '%s' "$FERRY_TEST_PG" | sed 's/user=postgres/user=plain/')
run_ferry --dir "$tmp/m1" init "$plain_uri" "$tmp/out1.db"
is "$FERRY_RC" 1 "init refuses a role that may not replicate"
contains "$FERRY_ERR" "ALTER ROLE" "saying how to grant it"
is "$(slots)" "0" "and creates nothing"

# restart_with SETTINGS...: the server again, with other -c settings (the
# command line of pg_server_start wins over ALTER SYSTEM)
restart_with() {
	as_pg_user "$FERRY_TEST_PG_BINDIR/pg_ctl" -D "$FERRY_TEST_PG_DATA" -m fast -w \
		-o "-k $PG_TMP -p $PG_PORT -c listen_addresses='' $*" restart >/dev/null 2>&1
}

# no free slot
restart_with -c wal_level=logical -c max_replication_slots=1
pg "select pg_create_logical_replication_slot('someone_else', 'pgoutput')" >/dev/null
run_ferry --dir "$tmp/m2" init "$FERRY_TEST_PG" "$tmp/out2.db"
is "$FERRY_RC" 1 "init refuses when no replication slot is free"
contains "$FERRY_ERR" "max_replication_slots" "saying which setting to raise"
pg "select pg_drop_replication_slot('someone_else')" >/dev/null

# wal_level = replica
restart_with -c wal_level=replica
is "$(pg "show wal_level")" "replica" "the server now runs with wal_level = replica"
run_ferry --dir "$tmp/m3" init "$FERRY_TEST_PG" "$tmp/out3.db"
is "$FERRY_RC" 1 "init refuses wal_level = replica"
contains "$FERRY_ERR" "ALTER SYSTEM SET wal_level = logical" "with the command that fixes it"
is "$(slots)" "0" "and creates nothing"
[ ! -e "$tmp/m3/ferry.db" ]
ok $? "nor a migration directory"

# a clean that cannot reach the source says the slot is still there
restart_with -c wal_level=logical
run_ferry --dir "$tmp/m4" init "$FERRY_TEST_PG" "$tmp/out4.db"
is "$FERRY_RC" 0 "init with wal_level = logical again ($FERRY_ERR)"
is "$(slots)" "1" "one slot"
as_pg_user "$FERRY_TEST_PG_BINDIR/pg_ctl" -D "$FERRY_TEST_PG_DATA" -m fast -w stop >/dev/null 2>&1
run_ferry --dir "$tmp/m4" sync
is "$FERRY_RC" 1 "sync fails with the source down"
contains "$FERRY_ERR" "replication slot ferry_" "and says the slot stays on the source"
run_ferry --dir "$tmp/m4" clean
is "$FERRY_RC" 1 "clean fails with the source down"
contains "$FERRY_ERR" "still holds WAL on the source: run ferry clean again" \
	"saying the slot still holds WAL and what to do"
restart_with -c wal_level=logical
run_ferry --dir "$tmp/m4" clean
is "$FERRY_RC" 0 "clean once the source is back"
is "$(slots)" "0" "drops the slot"

# a target role that may not use replication origins: told once, the
# migration goes on (only a cutover's reverse stream needs the origin)
pg "grant create on schema public to plain" >/dev/null
sqlite3 "$tmp/app.db" "create table notes (id integer primary key, body text); insert into notes values (1, 'a')"
run_ferry --dir "$tmp/m5" init "$tmp/app.db" "$plain_uri"
is "$FERRY_RC" 0 "init SQLite -> PostgreSQL as a role without superuser ($FERRY_ERR)"
run_ferry --dir "$tmp/m5" sync
is "$FERRY_RC" 0 "sync goes on without the origin ($FERRY_ERR)"
contains "$FERRY_ERR" "the role may not use replication origins" "and warns that ferry's writes are not marked"
contains "$FERRY_ERR" "GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text)" "saying what to grant"
is "$(printf '%s\n' "$FERRY_ERR" | grep -c 'may not use replication origins')" "1" "once per run"
is "$(pg "select count(*) from notes")" "1" "the row arrived"
done_testing
