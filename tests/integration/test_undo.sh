#!/bin/sh
# ferry undo (docs/undo.md), SQLite -> SQLite through a plan that renames a
# table and a column, divides cents by 100 and filters rows: after a bad
# batch (updates of many rows, a key change, rows moved out of and into
# the filter, a value the plan rejects, deletes, inserts, in several
# source transactions) is synced, `undo --to` the LSN before it gives the
# target's earlier rows exactly; the same with --to-time, after a kill -9
# mid-undo and a second run, and the refusals.  Against PostgreSQL when
# FERRY_TEST_PG is set: a PostgreSQL target, and a PostgreSQL source whose
# TRUNCATE and whose updates without before-images are refused by name.
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
pg_cleanup=""
trap 'eval "$pg_cleanup"; rm -rf "$tmp"' EXIT
q() { sqlite3 -separator '|' "$1" "$2" 2>&1; }
cat >"$tmp/spec.yaml" <<'YAML'
tables:
  items:
    rename: products
    where: "status IS NOT 'hidden'"
    columns:
      name:  { rename: title }
      cents: { rename: price, type: "numeric(12,2)", divide_by: 100 }
YAML
# dump DB: every row of both target tables, in key order
dump() {
	q "$1" "select 'p', id, title, price, status from products order by id;
		select 'n', id, item_id, body from notes order by id"
}
applied() { # applied DIR: the target's replay checkpoint
	"$FERRY" --dir "$1" status --json | sed 's/.*"applied":\([0-9]*\).*/\1/'
}
source_db() { # source_db FILE: 300 items (every 50th hidden), 40 notes
	q "$1" "pragma journal_mode=wal;
		create table items (id integer primary key, name text not null, cents integer, status text);
		create table notes (id integer primary key, item_id integer, body text);
		with recursive n(i) as (select 1 union all select i + 1 from n where i < 300)
		insert into items select i, 'item ' || i, i * 7, case when i % 50 = 0 then 'hidden' end from n;
		with recursive n(i) as (select 1 union all select i + 1 from n where i < 40)
		insert into notes select i, i * 3, 'note ' || i from n;" >/dev/null
}
# fresh NAME: a source, init + sync into NAME.out.db
fresh() {
	rm -rf "$tmp/$1.db" "$tmp/$1.out.db" "$tmp/$1" "$tmp/$1.ends"
	source_db "$tmp/$1.db"
	"$FERRY" --quiet --dir "$tmp/$1" init "$tmp/$1.db" "$tmp/$1.out.db" --spec "$tmp/spec.yaml" >/dev/null &&
	"$FERRY" --quiet --dir "$tmp/$1" sync >/dev/null &&
	good_changes "$1"
}
# good_changes NAME: the application's changes before the bad batch
good_changes() {
	q "$tmp/$1.db" "begin; update items set cents = 8 where id = 3; insert into notes values (50, 3, 'kept');
		delete from items where id = 299; commit" >/dev/null &&
	"$FERRY" --quiet --dir "$tmp/$1" sync >/dev/null
}
# bad_batch NAME: four source transactions, each synced on its own (one
# journal group each), as a backfill running in steps would be
bad_batch() {
	for tx in \
		"update items set cents = cents * 100 + 1 where id <= 120;
		 update items set name = upper(name) where id between 60 and 90" \
		"update items set id = 1005 where id = 5;
		 update items set id = 5, name = 'was 6' where id = 6;
		 update items set status = 'hidden' where id between 10 and 14;
		 update items set status = null where id in (50, 100);
		 update items set cents = 'n/a' where id = 20;
		 update items set cents = 1 where id = 150" \
		"delete from items where id between 200 and 230;
		 delete from notes where id < 10;
		 update notes set body = null where id between 30 and 35" \
		"insert into items values (5000, 'new', 12345, null), (5001, 'hidden new', 1, 'hidden'),
		   (5002, 'bad', 'x', null);
		 update items set cents = 99 where id = 5000;
		 insert into notes values (100, 5000, 'note of new'), (101, 1, 'gone soon');
		 delete from notes where id = 101"; do
		q "$tmp/$1.db" "begin; $tx; commit;" >/dev/null
		# the source position after it (the capture log's last seq)
		q "$tmp/$1.db" "select max(seq) from _ferry_changes" >>"$tmp/$1.ends"
		# exit 4: the values the plan rejects
		"$FERRY" --quiet --dir "$tmp/$1" sync >/dev/null 2>&1
		rc=$?
		[ $rc = 0 ] || [ $rc = 4 ] || return 1
	done
}

# ---- undo --to: the bad batch is gone, exactly -------------------------
fresh main
ok $? "a migration, snapshot taken"
before=$(dump "$tmp/main.out.db")
lsn=$(applied "$tmp/main")
[ "$lsn" -gt 0 ] 2>/dev/null
ok $? "the target has applied up to LSN $lsn"
bad_batch main
ok $? "the bad batch is synced in four transactions"
after=$(dump "$tmp/main.out.db")
[ "$before" != "$after" ] && [ "$(applied "$tmp/main")" -gt "$lsn" ]
ok $? "the target has the bad batch"
is "$(q "$tmp/main.out.db" "select count(*) from products where id = 20")" "0" \
   "the row whose new value the plan rejected left the target"
run_ferry --dir "$tmp/main" undo --to "$lsn"
is "$FERRY_RC" 0 "undo --to $lsn ($FERRY_ERR)"
is "$(dump "$tmp/main.out.db")" "$before" "the target holds exactly its rows at LSN $lsn"
contains "$FERRY_ERR" "ferry: undo to LSN $lsn: 4 source transactions" "it says what it undoes"
contains "$FERRY_ERR" "undone 4/4 source transactions" "and its progress"
contains "$FERRY_OUT" "undo: the target is at LSN $lsn: 4 source transactions undone" "a summary"
contains "$FERRY_OUT" "the source still has them" "saying that the source keeps the changes"
is "$(q "$tmp/main/ferry.db" "select value from meta where key = 'undo.to'")" "$lsn" "ferry.db records undo.to"
run_ferry --dir "$tmp/main" verify
is "$FERRY_RC" 3 "verify now finds the undone changes as differences"
run_ferry --dir "$tmp/main" undo --to "$lsn"
is "$FERRY_RC" 1 "a second undo to the same point is refused"
contains "$FERRY_ERR" "nothing to undo" "saying there is nothing to undo"
contains "$FERRY_ERR" "undone already" "because it was undone"
is "$(dump "$tmp/main.out.db")" "$before" "and changes nothing"
# the replay goes on after the undone changes without applying them again
q "$tmp/main.db" "insert into notes values (200, 1, 'after the undo')" >/dev/null
run_ferry --dir "$tmp/main" sync
is "$FERRY_RC" 0 "sync after the undo ($FERRY_ERR)"
is "$(q "$tmp/main.out.db" "select body from notes where id = 200")" "after the undo" "a new change is applied"
is "$(q "$tmp/main.out.db" "select count(*) from products where id between 200 and 230")" "30" \
   "the undone deletes stay undone (31 rows, 200 is filtered)"

# ---- --to-time ------------------------------------------------------------
fresh time
lsn=$(applied "$tmp/time")
before=$(dump "$tmp/time.out.db")
sleep 1.2
when=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1.2
bad_batch time
run_ferry --dir "$tmp/time" undo --to-time "$when"
is "$FERRY_RC" 0 "undo --to-time $when ($FERRY_ERR)"
contains "$FERRY_ERR" "is LSN $lsn: the last change committed at or before it" "it says which LSN the time is"
is "$(dump "$tmp/time.out.db")" "$before" "the target holds exactly its rows at that time"
run_ferry --dir "$tmp/time" --json undo --to-time "$when"
is "$FERRY_RC" 1 "a second --to-time to the same time is refused (nothing to undo)"

# ---- kill -9 mid-undo, then again: exactly once ---------------------------
fresh crash
lsn=$(applied "$tmp/crash")
before=$(dump "$tmp/crash.out.db")
bad_batch crash
bad=$(dump "$tmp/crash.out.db")
FERRY_TEST_CRASH_AT=undo-group "$FERRY" --quiet --dir "$tmp/crash" undo --to "$lsn" 2>/dev/null
is "$?" 137 "undo killed after its first transaction"
mid=$(dump "$tmp/crash.out.db")
[ "$mid" != "$before" ] && [ "$mid" != "$bad" ]
ok $? "the target is between the two states"
is "$(q "$tmp/crash.out.db" "select count(*) from products where id = 5002 or id = 5000")" "0" \
   "the newest transaction (the inserts) is undone"
run_ferry --dir "$tmp/crash" undo --to "$((lsn + 1))"
is "$FERRY_RC" 1 "another point while the undo is pending is refused"
contains "$FERRY_ERR" "an undo to LSN $lsn is in progress (1 of 4 source transactions undone)" "naming the pending one"
run_ferry --dir "$tmp/crash" --json undo --to "$lsn"
is "$FERRY_RC" 0 "undo run again ($FERRY_ERR)"
contains "$FERRY_ERR" "resuming the undo to LSN $lsn: 1 of 4" "it says it resumes"
contains "$FERRY_OUT" '"transactions":4,"resumed":1' "--json: 4 transactions, 1 by the killed run"
is "$(dump "$tmp/crash.out.db")" "$before" "after the kill and the re-run: exactly the rows at LSN $lsn"
is "$(q "$tmp/crash.out.db" "select lsn from _ferry_checkpoint where migration like '%/undo'")" "4" \
   "the undo checkpoint counts 4 transactions, each once"

# killed while recording the finished undo in ferry.db: the re-run finishes
fresh crash2
lsn=$(applied "$tmp/crash2")
before=$(dump "$tmp/crash2.out.db")
bad_batch crash2
FERRY_TEST_CRASH_AT=undo-ranges "$FERRY" --quiet --dir "$tmp/crash2" undo --to "$lsn" 2>/dev/null
is "$?" 137 "undo killed while recording that it is done"
run_ferry --dir "$tmp/crash2" undo --to "$lsn"
is "$FERRY_RC" 0 "undo run again ($FERRY_ERR)"
contains "$FERRY_ERR" "4 of 4 source transactions were undone already" "finding every transaction undone"
is "$(dump "$tmp/crash2.out.db")" "$before" "the rows at LSN $lsn"
is "$(q "$tmp/crash2/ferry.db" "select value from meta where key = 'undo.ranges'")" "$lsn:$(applied "$tmp/crash2")" \
   "the undone range is recorded once"

# ---- a target that diverged: the transaction fails whole ------------------
fresh diverge
lsn=$(applied "$tmp/diverge")
bad_batch diverge
q "$tmp/diverge.out.db" "delete from products where id = 1005" >/dev/null
run_ferry --dir "$tmp/diverge" undo --to "$lsn"
is "$FERRY_RC" 1 "undo fails where the target no longer holds what the replay wrote"
contains "$FERRY_ERR" "undo stopped after 2 of 4 source transactions: could not undo LSN" "saying how far it got"
contains "$FERRY_ERR" "the target has diverged" "and why"
is "$(q "$tmp/diverge.out.db" "select title from products where id = 5") $(q "$tmp/diverge.out.db" "select count(*) from products where id = 20")" \
   "was 6 0" "the failed transaction's inverses are rolled back whole"

# ---- changes applied while the snapshot was copied -------------------------
# as if the snapshot's last chunk had been read at a source position
# inside the bad batch's second transaction (a SQLite source's positions
# are its capture log's seqs): the changes up to there were applied
# idempotently, and the target was never at a point among them
fresh snap
lsn=$(applied "$tmp/snap")
bad_batch snap
until=$(($(sed -n 1p "$tmp/snap.ends") + 6))
q "$tmp/snap/ferry.db" "insert or replace into meta values ('snapshot.until', '$until')" >/dev/null
bad=$(dump "$tmp/snap.out.db")
run_ferry --dir "$tmp/snap" undo --to "$lsn"
is "$FERRY_RC" 1 "undo into the snapshot's stretch is refused"
contains "$FERRY_ERR" "were applied while the snapshot was copied" "saying why"
is "$(dump "$tmp/snap.out.db")" "$bad" "and changes nothing"
earliest=$(printf '%s' "$FERRY_ERR" | sed -n 's/.*the earliest point undo can reach is LSN \([0-9]*\).*/\1/p')
run_ferry --dir "$tmp/snap" undo --to "$earliest"
is "$FERRY_RC" 0 "undo to the earliest point it names ($earliest) works ($FERRY_ERR)"
is "$(q "$tmp/snap.out.db" "select count(*) from products where id in (5000, 1005) or id between 200 and 230")" "31" \
   "the later transactions are undone, the one in the snapshot's stretch is kept"

# ---- refusals --------------------------------------------------------------
fresh refuse
lsn=$(applied "$tmp/refuse")
run_ferry --dir "$tmp/refuse" undo
is "$FERRY_RC" 2 "no point: usage error"
contains "$FERRY_ERR" "one of --to LSN or --to-time TIME" "saying what to give"
run_ferry --dir "$tmp/refuse" undo --to 1 --to-time 2026-11-24T03:00:00Z
is "$FERRY_RC" 2 "both --to and --to-time: usage error"
run_ferry --dir "$tmp/refuse" undo --to 12abc
is "$FERRY_RC" 2 "--to that is not a number: usage error"
contains "$FERRY_ERR" "--to must be a journal LSN" "saying so"
run_ferry --dir "$tmp/refuse" undo --to-time 2026-11-24T03:00:00
is "$FERRY_RC" 2 "a time without a zone: usage error"
contains "$FERRY_ERR" "has no time zone" "saying so"
run_ferry --dir "$tmp/refuse" undo --to-time yesterday
is "$FERRY_RC" 2 "a time that is not ISO 8601: usage error"
run_ferry --dir "$tmp/nowhere" undo --to 1
is "$FERRY_RC" 1 "no migration in --dir"
contains "$FERRY_ERR" "no migration in" "saying so"
run_ferry --dir "$tmp/refuse" undo --to "$lsn"
is "$FERRY_RC" 1 "undo to the checkpoint itself is refused"
contains "$FERRY_ERR" "nothing to undo: the target has applied nothing after LSN $lsn" "nothing to undo"
# journalled but not applied: capture without replay
q "$tmp/refuse.db" "begin; update items set cents = 1 where id < 4; delete from notes where id = 1; commit" >/dev/null
"$FERRY" --quiet --dir "$tmp/refuse" capture >/dev/null 2>&1
head=$((lsn + 4))
run_ferry --dir "$tmp/refuse" undo --to "$head"
is "$FERRY_RC" 1 "a point past the target's checkpoint is refused"
contains "$FERRY_ERR" "the target has applied changes up to LSN $lsn only" "saying how far the target is"
"$FERRY" --quiet --dir "$tmp/refuse" replay >/dev/null 2>&1
refused=$(dump "$tmp/refuse.out.db")
run_ferry --dir "$tmp/refuse" undo --to "$((lsn + 2))"
is "$FERRY_RC" 1 "a point inside a source transaction is refused"
contains "$FERRY_ERR" "inside a source transaction" "saying so"
is "$(dump "$tmp/refuse.out.db")" "$refused" "a refusal changes nothing"

# ---- PostgreSQL ---------------------------------------------------------
if [ -z "${FERRY_TEST_PG:-}" ]; then
	if [ -n "${FERRY_TEST_REQUIRE_SERVERS:-}" ]; then
		ok 1 "FERRY_TEST_PG is set (scripts/test starts the server)"
	else
		echo "# FERRY_TEST_PG not set: the PostgreSQL cases were not run"
	fi
	done_testing
	exit
fi
pg() { psql "$FERRY_TEST_PG" -XAtq -F '|' -c "$1" 2>&1; }
s1="ferry_undo_$$" db="ferry_undosrc_$$"
src_uri=$(printf '%s' "$FERRY_TEST_PG" | sed "s/dbname=[^ ]*/dbname=$db/")
src() { psql "$src_uri" -XAtq -F '|' -c "$1" 2>&1; }
pg_cleanup='"$FERRY" --quiet --dir "$tmp/pgsrc" clean >/dev/null 2>&1;
	pg "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '"'$db'"'" >/dev/null;
	pg "drop database if exists $db" >/dev/null; pg "drop schema if exists $s1 cascade" >/dev/null'
pg "create schema $s1" >/dev/null

# a PostgreSQL target: the same bad batch, undone exactly
pgdump() {
	pg "select 'p', id, title, price, status from $s1.products order by id;
		select 'n', id, item_id, body from $s1.notes order by id"
}
source_db "$tmp/pgt.db"
run_ferry --dir "$tmp/pgt" init "$tmp/pgt.db" "$FERRY_TEST_PG options=-csearch_path=$s1" --spec "$tmp/spec.yaml"
is "$FERRY_RC" 0 "init into PostgreSQL ($FERRY_ERR)"
"$FERRY" --quiet --dir "$tmp/pgt" sync >/dev/null
good_changes pgt
lsn=$(applied "$tmp/pgt")
before=$(pgdump)
bad_batch pgt
[ "$(pgdump)" != "$before" ]
ok $? "the PostgreSQL target has the bad batch"
FERRY_TEST_CRASH_AT=undo-group "$FERRY" --quiet --dir "$tmp/pgt" undo --to "$lsn" 2>/dev/null
is "$?" 137 "undo into PostgreSQL killed after its first transaction"
run_ferry --dir "$tmp/pgt" undo --to "$lsn"
is "$FERRY_RC" 0 "undo into PostgreSQL run again ($FERRY_ERR)"
is "$(pgdump)" "$before" "the PostgreSQL target holds exactly its rows at LSN $lsn"

# a PostgreSQL source: a truncate and updates without before-images are
# refused, naming them, before anything changes
pg "create database $db" >/dev/null
src "create table items (id bigint primary key, name text not null, cents bigint, status text);
	alter table items replica identity full;
	create table notes (id bigint primary key, item_id bigint, body text);
	alter table notes replica identity full;
	insert into items select i, 'item ' || i, i * 7, null from generate_series(1, 50) i;
	insert into notes select i, i, 'note ' || i from generate_series(1, 20) i" >/dev/null
run_ferry --dir "$tmp/pgsrc" init "$src_uri" "$tmp/pgsrc.out.db" --spec "$tmp/spec.yaml"
is "$FERRY_RC" 0 "init from PostgreSQL ($FERRY_ERR)"
"$FERRY" --quiet --dir "$tmp/pgsrc" sync >/dev/null 2>&1
lsn=$(applied "$tmp/pgsrc")
before=$(dump "$tmp/pgsrc.out.db")
src "update items set cents = 0 where id <= 10" >/dev/null
"$FERRY" --quiet --dir "$tmp/pgsrc" sync >/dev/null 2>&1
mid=$(applied "$tmp/pgsrc")
src "alter table notes replica identity default; update notes set body = 'x' where id between 11 and 13;
	truncate notes" >/dev/null
"$FERRY" --quiet --dir "$tmp/pgsrc" sync >/dev/null 2>&1
[ "$(applied "$tmp/pgsrc")" -gt "$mid" ]
ok $? "the updates and the truncate are applied"
applied_rows=$(dump "$tmp/pgsrc.out.db")
run_ferry --dir "$tmp/pgsrc" undo --to "$lsn"
is "$FERRY_RC" 1 "undo over changes without before-images is refused"
contains "$FERRY_ERR" "4 changes cannot be inverted" "counting them"
contains "$FERRY_ERR" "update of table \"notes\": no before-image (the table does not send whole old rows: its REPLICA IDENTITY is not FULL)" \
   "naming an update without its old row and why"
contains "$FERRY_ERR" "truncate of table \"notes\": a truncate keeps no before-images" "naming the truncate"
is "$(dump "$tmp/pgsrc.out.db")" "$applied_rows" "nothing was changed"
run_ferry --dir "$tmp/pgsrc" undo --to "$mid"
is "$FERRY_RC" 1 "also when only they are after the point"
src "alter table notes replica identity full" >/dev/null
done_testing
