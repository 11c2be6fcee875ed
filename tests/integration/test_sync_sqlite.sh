#!/bin/sh
# ferry init + sync, SQLite -> SQLite (and -> PostgreSQL when a server is
# given): a writer changes the source while `ferry sync --follow` runs;
# after it stops and sync catches up, the target must equal the source
# transformed by the plan, row for row.  The oracle is `ferry load` of the
# final source with the same spec (tested on its own against exact values).
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
spec="$FERRY_SRCDIR/tests/integration/sample-spec.yaml"
src="$tmp/shop.db"
sqlite3 "$src" < "$FERRY_SRCDIR/tests/integration/sample.sql"
sqlite3 "$src" "pragma journal_mode=wal" >/dev/null
q() { sqlite3 -separator '|' "$1" "$2" 2>&1; }

# writer: random inserts, updates (also of keys), deletes, transactions
write_changes() { # write_changes SEED COUNT
	awk -v seed="$1" -v n="$2" 'BEGIN {
		srand(seed);
		for (i = 0; i < n; i++) {
			r = rand(); id = int(rand() * 60) + 1; k = int(rand() * 60) + 1;
			if (!intx && rand() < 0.2) { print "BEGIN;"; intx = 1 }
			if (r < 0.35)
				printf "INSERT OR IGNORE INTO users(id, name, email, balance_cents, created_at, deleted_at) VALUES (%d, \"user %d\", \"u%d@x\", %d, \"2024-01-%02d 10:00:00\", NULL);\n", id, id, i, int(rand() * 100000), int(rand() * 28) + 1;
			else if (r < 0.55)
				printf "UPDATE users SET balance_cents = %d, name = \"n%d\" WHERE id = %d;\n", int(rand() * 100000), i, id;
			else if (r < 0.62)
				printf "UPDATE OR IGNORE users SET id = %d WHERE id = %d;\n", k + 100, id;
			else if (r < 0.70)
				printf "UPDATE users SET deleted_at = %s WHERE id = %d;\n", (rand() < 0.5 ? "NULL" : "\"2024\""), id;
			else if (r < 0.80)
				printf "DELETE FROM users WHERE id = %d;\n", id;
			else if (r < 0.95)
				printf "INSERT INTO orders(user_id, total_cents, status) VALUES (%d, %d, \"new\");\n", id, int(rand() * 10000);
			else
				printf "DELETE FROM orders WHERE id %% 7 = %d;\n", int(rand() * 7);
			if (intx && rand() < 0.2) { print "COMMIT;"; intx = 0 }
		}
		if (intx) print "COMMIT;";
	}' | sqlite3 -bail -cmd ".timeout 30000" "$src"
}

run_ferry --dir "$tmp/m" init "$src" "$tmp/dst.db" --spec "$spec"
is "$FERRY_RC" 0 "init exits 0"
contains "$FERRY_OUT" "capture installed" "init says capture is installed"
is "$(q "$src" "select count(*) from sqlite_schema where name like '_ferry_users_%'")" "3" "three triggers per table"
run_ferry --dir "$tmp/m" init "$src" "$tmp/dst.db"
is "$FERRY_RC" 1 "init refuses an existing migration directory"

run_ferry --dir "$tmp/m" replay
is "$FERRY_RC" 1 "replay before the snapshot is refused"
contains "$FERRY_ERR" "run ferry sync" "and says what to do"
run_ferry --dir "$tmp/m" capture
is "$FERRY_RC" 1 "capture before the snapshot is refused"

write_changes 1 200   # changes before the snapshot: in the copy
"$FERRY" --quiet --dir "$tmp/m" sync --follow &
pid=$!
write_changes 2 400   # changes during snapshot and stream
write_changes 3 400
kill -TERM "$pid"
wait "$pid"
is "$?" 0 "sync --follow stops cleanly on SIGTERM"
write_changes 4 200   # changes while nothing runs
run_ferry --dir "$tmp/m" sync
is "$FERRY_RC" 0 "sync catches up"

run_ferry --dir "$tmp/ref" load "$src" "$tmp/ref.db" --spec "$spec"
for t in accounts orders; do
	diff=$(q "$tmp/dst.db" "attach '$tmp/ref.db' as ref;
		select count(*) from (select * from main.$t except select * from ref.$t);
		select count(*) from (select * from ref.$t except select * from main.$t);
		select count(*) from main.$t;")
	rows=$(printf '%s\n' "$diff" | sed -n 3p)
	is "$(printf '%s\n' "$diff" | sed -n 1,2p | tr '\n' ' ')" "0 0 " "$t: target equals the transformed source ($rows rows)"
done
[ "$(q "$tmp/dst.db" "select count(*) from accounts")" -gt 10 ]; ok $? "the comparison covers real rows"

run_ferry --dir "$tmp/m" status
contains "$FERRY_OUT" "lag:          0 changes" "status: no lag after catching up"
run_ferry --dir "$tmp/m" --json status
contains "$FERRY_OUT" '"phase":"streaming"' "status --json"

# a row whose value does not convert is rejected once; when an update
# makes it convertible it arrives, and its old image is no second reject
sqlite3 -cmd ".timeout 30000" "$src" "insert into users(id, name, balance_cents) values (777, 'bad', 'abc')"
run_ferry --dir "$tmp/m" sync
is "$FERRY_RC" 4 "a change that does not convert: exit 4"
is "$(q "$tmp/dst.db" "select count(*) from accounts where id = 777")" "0" "the rejected row is not in the target"
sqlite3 -cmd ".timeout 30000" "$src" "update users set balance_cents = 5 where id = 777"
run_ferry --dir "$tmp/m" sync
is "$FERRY_RC" 0 "the update that fixes it syncs cleanly"
is "$(q "$tmp/dst.db" "select balance from accounts where id = 777")" "0.05" "and brings the row in"
is "$(q "$tmp/m/ferry.db" "select count(*) from rejects where key = 'id=777'")" "1" "one reject for the row, not one per image"

# a schema change on the source stops the sync, saying what changed
sqlite3 "$src" "alter table users add column nickname text; insert into users(id, name, balance_cents, nickname) values (999, 'x', 1, 'nick')"
run_ferry --dir "$tmp/m" sync
is "$FERRY_RC" 1 "a column added on the source stops the sync"
contains "$FERRY_ERR" '"nickname"' "the message names the column"
contains "$FERRY_ERR" "so that the target cannot diverge" "and why it stopped"
is "$(q "$tmp/dst.db" "select count(*) from accounts where id = 999")" "0" "nothing after the change was applied"
contains "$FERRY_ERR" "ferry clean, drop or empty the target tables" "and what to do"
# the capture already follows the new column: a second run must not feed
# the old plan its images (it captured them and failed on the target)
run_ferry --dir "$tmp/m" sync
is "$FERRY_RC" 1 "the next sync stops too"
contains "$FERRY_ERR" 'column "nickname" was added to table "users"' "with the same message"
run_ferry --dir "$tmp/m" replay
is "$FERRY_RC" 1 "so does replay"
is "$(q "$src" "select count(*) from _ferry_changes where seq > (select value from _ferry_meta where key = 'released')")" "1" "the change stays in the source log"
run_ferry --dir "$tmp/m" status
contains "$FERRY_OUT" 'stopped:      the source schema changed: column "nickname"' "status says why the sync stopped"
contains "$FERRY_OUT" "source:       1 changes wait in _ferry_changes" \
	"and how many changes wait on the source"

run_ferry --dir "$tmp/m" clean
is "$FERRY_RC" 0 "clean exits 0"
contains "$FERRY_OUT" "dropped trigger _ferry_users_ins" "clean says what it removed"
is "$(q "$src" "select count(*) from sqlite_schema where name like '_ferry%'")" "0" "nothing of ferry's is left on the source"
is "$(q "$tmp/dst.db" "select count(*) from sqlite_schema where name = '_ferry_checkpoint'")" "0" "nor on the target"

run_ferry --dir "$tmp/none" sync
is "$FERRY_RC" 1 "sync without init fails"
contains "$FERRY_ERR" "run ferry init" "and says what to do"
run_ferry --dir "$tmp/pw" init "$src" "host=/nonexistent password=S3cr3tX dbname=x"
is "$FERRY_RC" 1 "a password in a URI is refused at init"
lacks "$FERRY_ERR" "S3cr3tX" "without printing it"
[ ! -e "$tmp/pw/ferry.db" ]; ok $? "and nothing is left behind"
done_testing
