#!/bin/sh
# Loop prevention (two-way use): what ferry applies to a PostgreSQL
# target carries the replication origin ferry_<migration id>, so a
# capture of that database (the reverse stream after a cutover) never
# carries ferry's own writes back.  Migration A copies database a into
# database b; migration B captures b into a SQLite file.  A row A applies
# to b must not reach B's file; a row the application writes to b must.
. "$FERRY_SRCDIR/tests/lib.sh"
require_pg
tmp=$(mktemp -d)
a="ferry_origin_a_$$" b="ferry_origin_b_$$"
a_uri=$(printf '%s' "$FERRY_TEST_PG" | sed "s/dbname=[^ ]*/dbname=$a/")
b_uri=$(printf '%s' "$FERRY_TEST_PG" | sed "s/dbname=[^ ]*/dbname=$b/")
pg() { psql "$FERRY_TEST_PG" -XAtq -c "$1" 2>&1; }
in_a() { psql "$a_uri" -XAtq -c "$1" 2>&1; }
in_b() { psql "$b_uri" -XAtq -c "$1" 2>&1; }
cleanup() {
	"$FERRY" --quiet --dir "$tmp/A" clean >/dev/null 2>&1
	"$FERRY" --quiet --dir "$tmp/B" clean >/dev/null 2>&1
	for d in "$a" "$b"; do
		pg "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '$d'" >/dev/null
		pg "drop database if exists $d" >/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
pg "create database $a" >/dev/null
pg "create database $b" >/dev/null
in_a "create table notes (id int primary key, body text not null);
      alter table notes replica identity full;
      insert into notes values (1, 'one'), (2, 'two')" >/dev/null

run_ferry --dir "$tmp/A" init "$a_uri" "$b_uri"
is "$FERRY_RC" 0 "init A (a -> b) ($FERRY_ERR)"
run_ferry --dir "$tmp/A" sync
is "$FERRY_RC" 0 "sync A copies a into b ($FERRY_ERR)"
id_a=$(sqlite3 "$tmp/A/ferry.db" "select value from meta where key = 'migration.id'" 2>/dev/null)
is "$(in_b "select count(*) from pg_replication_origin where roname = 'ferry_$id_a'")" "1" \
   "b has the replication origin of migration A"

in_b "alter table notes replica identity full" >/dev/null
run_ferry --dir "$tmp/B" init "$b_uri" "$tmp/b.db"
is "$FERRY_RC" 0 "init B (b -> SQLite) ($FERRY_ERR)"
run_ferry --dir "$tmp/B" sync
is "$FERRY_RC" 0 "sync B takes its snapshot ($FERRY_ERR)"

in_a "insert into notes values (3, 'applied by ferry'); update notes set body = 'one, changed by ferry' where id = 1" >/dev/null
run_ferry --dir "$tmp/A" sync
is "$FERRY_RC" 0 "sync A applies two changes to b"
is "$(in_b "select count(*) from notes")" "3" "b has A's row"
in_b "insert into notes values (4, 'written by the application')" >/dev/null

run_ferry --dir "$tmp/B" sync
is "$FERRY_RC" 0 "sync B follows b ($FERRY_ERR)"
is "$(sqlite3 "$tmp/b.db" "select group_concat(id || '=' || body, ',') from (select * from notes order by id)")" \
   "1=one,2=two,4=written by the application" \
   "B carried the application's row, not the two changes ferry applied"

run_ferry --dir "$tmp/A" clean
is "$FERRY_RC" 0 "clean A"
is "$(in_b "select count(*) from pg_replication_origin where roname = 'ferry_$id_a'")" "0" \
   "clean A dropped its replication origin on b"
done_testing
