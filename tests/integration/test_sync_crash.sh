#!/bin/sh
# Exactly once across SIGKILL: while a writer changes the SQLite source,
# `ferry capture --follow` and `ferry replay --follow` run as two processes
# and are killed with SIGKILL at 30 moments the test picks (after a random
# amount of observed progress, or at once).  After a final catch-up the
# target must equal the transformed source row for row: nothing lost,
# nothing applied twice.
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
writer=""
trap '[ -n "$writer" ] && kill "$writer" 2>/dev/null; rm -rf "$tmp"' EXIT
spec="$FERRY_SRCDIR/tests/integration/sample-spec.yaml"
src="$tmp/shop.db" dst="$tmp/dst.db"
sqlite3 "$src" < "$FERRY_SRCDIR/tests/integration/sample.sql"
sqlite3 "$src" "pragma journal_mode=wal" >/dev/null
q() { sqlite3 -separator '|' "$1" "$2" 2>&1; }

write_changes() { # write_changes SEED COUNT
	awk -v seed="$1" -v n="$2" 'BEGIN {
		srand(seed);
		for (i = 0; i < n; i++) {
			r = rand(); id = int(rand() * 80) + 1;
			if (!intx && rand() < 0.3) { print "BEGIN;"; intx = 1 }
			if (r < 0.4)
				printf "INSERT OR IGNORE INTO users(id, name, balance_cents) VALUES (%d, \"u%d\", %d);\n", id, i, int(rand() * 100000);
			else if (r < 0.65)
				printf "UPDATE users SET balance_cents = balance_cents + 1 WHERE id = %d;\n", id;
			else if (r < 0.72)
				printf "UPDATE OR IGNORE users SET id = %d WHERE id = %d;\n", int(rand() * 80) + 100, id;
			else if (r < 0.85)
				printf "DELETE FROM users WHERE id = %d;\n", id;
			else
				printf "INSERT INTO orders(user_id, total_cents, status) VALUES (%d, %d, \"new\");\n", id, i;
			if (intx && rand() < 0.3) { print "COMMIT;"; intx = 0 }
		}
		if (intx) print "COMMIT;";
	}' | sqlite3 -bail -cmd ".timeout 30000" "$src"
}

head_applied() { # prints "HEAD APPLIED" from ferry status --json
	"$FERRY" --dir "$tmp/m" --json status 2>/dev/null |
		sed -n 's/.*"journal_head":\([0-9]*\),"applied":\([0-9]*\).*/\1 \2/p'
}

"$FERRY" --quiet --dir "$tmp/m" init "$src" "$dst" --spec "$spec" &&
	"$FERRY" --quiet --dir "$tmp/m" sync
ok $? "init and snapshot"

( rc=0; for seed in $(seq 10 70); do write_changes "$seed" 100 || { rc=1; break; }; done
  echo "$rc" >"$tmp/writer.rc" ) &
writer=$!

kills=0 failures=0
for round in $(seq 1 30); do
	"$FERRY" --quiet --dir "$tmp/m" capture --follow 2>>"$tmp/errors" &
	cap=$!
	"$FERRY" --quiet --dir "$tmp/m" replay --follow 2>>"$tmp/errors" &
	rep=$!
	want=$(awk -v s="$round" 'BEGIN { srand(s); print int(rand() * 40) }')
	set -- $(head_applied)
	start_head=${1:-0} start_applied=${2:-0}
	for _ in $(seq 1 200); do # until the progress chosen is seen (bounded)
		set -- $(head_applied)
		[ $(( ${1:-0} - start_head + ${2:-0} - start_applied )) -ge "$want" ] && break
		kill -0 "$cap" 2>/dev/null || break
	done
	case $((round % 3)) in
	0) kill -9 "$cap" "$rep" ;;
	1) kill -9 "$cap"; kill -TERM "$rep" ;;
	2) kill -9 "$rep"; kill -TERM "$cap" ;;
	esac
	wait "$cap" "$rep" 2>/dev/null
	kills=$((kills + 1))
done
wait_background "$writer" "$tmp/writer.rc"
is "$BG_STATUS" 0 "the writer finished"
# not to compare a source that is still changing
[ -f "$tmp/writer.rc" ] || { done_testing; exit 1; }
writer=""
is "$kills" 30 "30 rounds of SIGKILL"
lacks "$(cat "$tmp/errors")" "ferry:" "no ferry process failed on its own (only kills)"

run_ferry --dir "$tmp/m" sync
is "$FERRY_RC" 0 "the final sync catches up"
run_ferry --dir "$tmp/ref" load "$src" "$tmp/ref.db" --spec "$spec"
for t in accounts orders; do
	diff=$(q "$dst" "attach '$tmp/ref.db' as ref;
		select count(*) from (select * from main.$t except select * from ref.$t);
		select count(*) from (select * from ref.$t except select * from main.$t);")
	is "$(printf '%s\n' "$diff" | tr '\n' ' ')" "0 0 " "$t: exactly the transformed source after 30 kills ($(q "$dst" "select count(*) from $t") rows)"
done
is "$(q "$src" "select count(*) from _ferry_changes where seq > (select value from _ferry_meta where key = 'released')")" "0" "every captured change was released"
done_testing
