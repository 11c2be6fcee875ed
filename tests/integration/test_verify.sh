#!/bin/sh
# ferry verify (docs/verify.md): clean after a migration, SQLite ->
# SQLite and SQLite -> PostgreSQL (when a server is given), with a spec
# that renames a table and a column, turns integer cents into exact
# decimals and filters rows; then every injected difference is found and
# named (exit 3), and values that differ only in form (a trailing zero of
# a numeric, SQLite's REAL for a numeric) are not reported.  Last, verify
# runs while `sync --follow` and a writer are busy and must not report
# the changes in flight.
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
schema="ferry_verify_$$"
pg() { psql "$FERRY_TEST_PG" -XAtq -c "$1" 2>&1; }
cleanup() {
	[ -n "${sync_pid:-}" ] && kill "$sync_pid" 2>/dev/null
	[ -n "${FERRY_TEST_PG:-}" ] && pg "drop schema if exists $schema cascade" >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/spec.yaml" <<'EOF'
tables:
  users:
    rename: accounts
    where: "deleted_at IS NULL"
    columns:
      name:          { rename: full_name }
      balance_cents: { rename: balance, type: "numeric(12,2)", divide_by: 100 }
      created_at:    { type: timestamp }
      legacy_code:   { drop: true }
  orders:
    columns:
      total_cents: { rename: total, type: numeric, divide_by: 100 }
EOF

make_source() { # make_source FILE
	sqlite3 "$1" < "$FERRY_SRCDIR/tests/integration/sample.sql"
	sqlite3 "$1" "pragma journal_mode=wal;
		insert into users values (5, 'Round Ten', 'r@x', 1990, '2024-03-01 10:00:00', NULL, NULL);
		insert into users values (6, 'Bad Date', 'b@x', 1, 'not a date', NULL, NULL);
		create table events (kind TEXT, n INTEGER);
		insert into events values ('a', 1), ('a', 1), ('b', 2);" >/dev/null
}

# check_target NAME TARGET SQL-RUNNER: init, sync, verify, inject, verify
check_target() {
	name=$1 target=$2 run=$3
	src="$tmp/$name.db"
	make_source "$src"
	run_ferry --dir "$tmp/$name" init "$src" "$target" --spec "$tmp/spec.yaml"
	is "$FERRY_RC" 0 "$name: init"
	run_ferry --dir "$tmp/$name" sync
	is "$FERRY_RC" 4 "$name: sync copies all but the rejected row"

	run_ferry --dir "$tmp/$name" verify
	is "$FERRY_RC" 0 "$name: verify is clean after the migration"
	contains "$FERRY_OUT" "accounts (from users): ok" "$name: the renamed table is compared"
	contains "$FERRY_OUT" "1 filtered, 1 rejected" "$name: filtered and rejected rows are counted, not missing"
	contains "$FERRY_OUT" "no key: compared as multisets" "$name: a table without a key is compared as a multiset"
	run_ferry --dir "$tmp/$name" verify --json
	is "$FERRY_RC" 0 "$name: verify --json is clean"
	contains "$FERRY_OUT" '"differences":0,' "$name: --json says 0 differences"

	# differences of form only: never reported
	$run "update orders set total = 19.990 where id = 1;
		update accounts set balance = 19.9 where id = 5"
	run_ferry --dir "$tmp/$name" verify
	is "$FERRY_RC" 0 "$name: a trailing zero or a REAL for a numeric is no difference"

	# real differences: each found and named
	$run "delete from accounts where id = 2;
		insert into orders (id, user_id, total, status, note) values (99, 1, 5, 'new', NULL);
		update accounts set full_name = 'Grace B. Hopper' where id = 3;
		update orders set total = 5.01 where id = 2;
		insert into events values ('b', 2)"
	run_ferry --dir "$tmp/$name" verify
	is "$FERRY_RC" 3 "$name: verify exits 3 on differences"
	contains "$FERRY_OUT" "missing    id=2" "$name: the deleted row is missing"
	contains "$FERRY_OUT" "extra      id=99" "$name: the inserted row is extra"
	contains "$FERRY_OUT" "different  id=3: full_name (source 'Grace Hopper', target 'Grace B. Hopper')" \
		"$name: the changed value is named with its column"
	contains "$FERRY_OUT" "different  id=2: total (source 5.00, target 5.01)" \
		"$name: a changed numeric is found"
	lacks "$FERRY_OUT" "id=1:" "$name: the trailing zero is still not reported"
	lacks "$FERRY_OUT" "id=5" "$name: the REAL numeric is still not reported"
	contains "$FERRY_OUT" "extra      ('b', 2)" "$name: the keyless table's extra row is shown"
	contains "$FERRY_OUT" "verify: 3 tables, 5 differences" "$name: five differences in all"
	run_ferry --dir "$tmp/$name" verify --table orders --json
	is "$FERRY_RC" 3 "$name: --table orders exits 3"
	contains "$FERRY_OUT" '"missing":0,"extra":1,"different":1' "$name: --json counts orders' differences"
	contains "$FERRY_OUT" '"columns":[{"column":"total","source":"5.00","target":"5.01"}]' \
		"$name: --json names the column and both values"
	lacks "$FERRY_OUT" '"table":"accounts"' "$name: --table leaves the other tables out"
	run_ferry --dir "$tmp/$name" verify --table nosuch
	is "$FERRY_RC" 1 "$name: an unknown --table fails"
	contains "$FERRY_ERR" 'no table "nosuch"' "$name: ... and says which"
}

sqlite_run() { sqlite3 "$tmp/target.db" "$1"; }
check_target sqlite "$tmp/target.db" sqlite_run

if [ -n "${FERRY_TEST_PG:-}" ]; then
	pg "create schema $schema" >/dev/null
	pg_run() { pg "set search_path = $schema; $1" >/dev/null; }
	check_target pg "$FERRY_TEST_PG options=-csearch_path=$schema" pg_run
elif [ -n "${FERRY_TEST_REQUIRE_SERVERS:-}" ]; then
	ok 1 "FERRY_TEST_PG is set (scripts/test starts the server)"
else
	echo "# SKIP the PostgreSQL target: FERRY_TEST_PG not set"
fi

run_ferry --dir "$tmp/none" verify
is "$FERRY_RC" 1 "verify without a migration fails"
contains "$FERRY_ERR" "run ferry init" "... and says what to do"

# ---- during a running sync: changes in flight are not differences
src="$tmp/live.db"
make_source "$src"
run_ferry --dir "$tmp/live" init "$src" "$tmp/live-target.db" --spec "$tmp/spec.yaml"
run_ferry --dir "$tmp/live" sync
is "$FERRY_RC" 4 "live: the first sync"
"$FERRY" --quiet --dir "$tmp/live" sync --follow >/dev/null 2>&1 &
sync_pid=$!
# (not INSERT OR REPLACE: SQLite fires no delete trigger for the rows a
# REPLACE removes unless recursive_triggers is on, so capture misses them)
write_changes() { # write_changes SEED COUNT: inserts and updates, autocommit
	awk -v seed="$1" -v n="$2" 'BEGIN {
		srand(seed);
		for (i = 0; i < n; i++) {
			id = int(rand() * 40) + 10; r = rand();
			if (r < 0.3)
				printf "INSERT OR IGNORE INTO users(id, name, email, balance_cents, created_at) VALUES (%d, \"user %d\", \"u%d@x\", %d, \"2024-01-02 03:04:05\");\n", id, i, i, int(rand() * 100000);
			else if (r < 0.6)
				printf "UPDATE users SET name = \"n%d\", balance_cents = %d WHERE id = %d;\n", i, int(rand() * 100000), id;
			else
				printf "UPDATE orders SET total_cents = %d WHERE id = %d;\n", int(rand() * 10000), int(rand() * 4) + 1;
		}
	}' | sqlite3 -bail -cmd ".timeout 30000" "$src"
}
write_changes 1 300 &
writer_pid=$!
run_ferry --dir "$tmp/live" verify --wait 20
wait "$writer_pid"
is "$FERRY_RC" 0 "live: verify during sync --follow and a writer finds no difference"
[ "$FERRY_RC" = 0 ] || printf '%s\n%s\n' "$FERRY_OUT" "$FERRY_ERR" | sed 's/^/#   /'
run_ferry --dir "$tmp/live" verify --wait 20
is "$FERRY_RC" 0 "live: and none once the writer is done"
kill -TERM "$sync_pid"
wait "$sync_pid"
sync_pid=
sqlite3 "$tmp/live-target.db" "update accounts set balance = balance + 1 where id = 1"
run_ferry --dir "$tmp/live" verify --wait 2
is "$FERRY_RC" 3 "live: a difference made on the target is still found"
contains "$FERRY_OUT" "different  id=1: balance" "live: ... and named"
done_testing
