#!/bin/sh
# ferry init + sync, SQLite -> PostgreSQL, with a writer changing the
# source during `sync --follow`; then the target must equal the source
# transformed by the plan (oracle: `ferry load` of the final source into a
# second schema), compared row for row in PostgreSQL.
. "$FERRY_SRCDIR/tests/lib.sh"
require_pg
tmp=$(mktemp -d)
s1="ferry_sync_$$" s2="ferry_ref_$$"
pg() { psql "$FERRY_TEST_PG" -XAtq -F '|' -c "$1" 2>&1; }
trap 'pg "drop schema if exists $s1 cascade; drop schema if exists $s2 cascade" >/dev/null; rm -rf "$tmp"' EXIT
pg "create schema $s1; create schema $s2" >/dev/null
spec="$FERRY_SRCDIR/tests/integration/sample-spec.yaml"
src="$tmp/shop.db"
sqlite3 "$src" < "$FERRY_SRCDIR/tests/integration/sample.sql"
sqlite3 "$src" "pragma journal_mode=wal" >/dev/null

write_changes() { # write_changes SEED COUNT
	awk -v seed="$1" -v n="$2" 'BEGIN {
		srand(seed);
		for (i = 0; i < n; i++) {
			r = rand(); id = int(rand() * 60) + 1; k = int(rand() * 60) + 1;
			if (!intx && rand() < 0.2) { print "BEGIN;"; intx = 1 }
			if (r < 0.4)
				printf "INSERT OR IGNORE INTO users(id, name, email, balance_cents, created_at) VALUES (%d, \"user %d\", \"u%d@x\", %d, \"2024-01-%02d 10:00:00.%06d\");\n", id, id, i, int(rand() * 100000), int(rand() * 28) + 1, int(rand() * 999999);
			else if (r < 0.6)
				printf "UPDATE users SET balance_cents = %d WHERE id = %d;\n", int(rand() * 100000), id;
			else if (r < 0.67)
				printf "UPDATE OR IGNORE users SET id = %d WHERE id = %d;\n", k + 100, id;
			else if (r < 0.75)
				printf "UPDATE users SET deleted_at = %s WHERE id = %d;\n", (rand() < 0.5 ? "NULL" : "\"2024\""), id;
			else if (r < 0.85)
				printf "DELETE FROM users WHERE id = %d;\n", id;
			else
				printf "INSERT INTO orders(user_id, total_cents, status, note) VALUES (%d, %d, \"new\", \"tab\tquote'"'"' é\");\n", 1, int(rand() * 10000);
			if (intx && rand() < 0.2) { print "COMMIT;"; intx = 0 }
		}
		if (intx) print "COMMIT;";
	}' | sqlite3 -bail -cmd ".timeout 30000" "$src"
}

run_ferry --dir "$tmp/m" init "$src" "$FERRY_TEST_PG options=-csearch_path=$s1" --spec "$spec"
is "$FERRY_RC" 0 "init into PostgreSQL"
write_changes 1 200
"$FERRY" --quiet --dir "$tmp/m" sync --follow &
pid=$!
write_changes 2 500
kill -TERM "$pid"
wait "$pid"
is "$?" 0 "sync --follow stops cleanly on SIGTERM"
write_changes 3 200
run_ferry --dir "$tmp/m" sync; [ "$FERRY_RC" = 0 ] || echo "# $FERRY_ERR"
is "$FERRY_RC" 0 "sync catches up"
run_ferry --dir "$tmp/ref" load "$src" "$FERRY_TEST_PG options=-csearch_path=$s2" --spec "$spec"
is "$FERRY_RC" 0 "oracle load"
for t in accounts orders; do
	is "$(pg "select (select count(*) from (select * from $s1.$t except all select * from $s2.$t) a) || ' ' || (select count(*) from (select * from $s2.$t except all select * from $s1.$t) b)")" \
	   "0 0" "$t: target equals the transformed source ($(pg "select count(*) from $s1.$t") rows)"
done
is "$(pg "select count(*) filter (where migration not like '%/%') || ' ' || count(*) filter (where migration like '%/snapshot/%') from $s1._ferry_checkpoint")" "1 2" \
   "the replay checkpoint and one snapshot progress row per table live in the target"
# the unique index waits for the replay to pass the snapshot's last chunk
# (an older change replayed over newer rows can briefly repeat an email)
is "$(pg "select string_agg(indexname, ',' order by indexname) from pg_indexes where schemaname = '$s1' and tablename = 'accounts'")" \
   "accounts_pkey,users_email_key" "the target's unique index exists once sync has caught up"
run_ferry --dir "$tmp/m" clean
is "$FERRY_RC" 0 "clean"
is "$(pg "select count(*) from pg_tables where schemaname = '$s1' and tablename = '_ferry_checkpoint'")" "0" "clean drops the checkpoint table"
done_testing
