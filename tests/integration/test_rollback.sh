#!/bin/sh
# The whole journey with an application writing all along (docs/cutover.md):
# SQLite source, plan renames a table and a column and turns cents into
# numeric; ferry sync --follow; ferry verify; ferry cutover (the writer's
# writes to the fenced source fail with ferry's message, and it moves to
# the target when the hook says so); the writer goes on on the target and
# ferry sync carries its writes back through the inverse plan; ferry
# rollback (the target is fenced, the writer moves back); at the end the
# SQLite source must equal a control database that received the same
# writes and was never migrated: every row, every value, every storage
# class.  Then sync runs forward again and verify finds no difference.
# Once into SQLite, once into PostgreSQL (a database of its own: capture
# there is per database).
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
pg_dbs=""
cleanup() {
	[ -f "$tmp/writer.pid" ] && kill "$(cat "$tmp/writer.pid")" 2>/dev/null
	[ -f "$tmp/sync.pid" ] && kill "$(cat "$tmp/sync.pid")" 2>/dev/null
	wait
	for db in $pg_dbs; do
		psql "$FERRY_TEST_PG" -XAtq -c "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '$db'" >/dev/null 2>&1
		psql "$FERRY_TEST_PG" -XAtq -c "drop database if exists $db" >/dev/null 2>&1
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/spec.yaml" <<'EOF'
tables:
  items:
    rename: products
    columns:
      name: { rename: title }
      cents: { rename: price, type: "numeric(12,2)", divide_by: 100 }
EOF

# The application: one write at a time, in the shape of whichever
# database $tmp/route names, then the same write in the source's shape
# into the control database.  A write refused by a fence is tried again
# (on the database the route names by then): that is what an application
# does while its operator switches it.
control="$tmp/control.db"
sq() { sqlite3 -cmd ".timeout 10000" "$@"; }
on_db() { # on_db KIND URI SQL
	if [ "$1" = sqlite ]; then
		sq "$2" "$3" 2>&1
	else
		psql "$2" -XAtq -v ON_ERROR_STOP=1 -c "$3" 2>&1
	fi
}
on_route() { # on_route ROUTE SQL
	if [ "$1" = source ]; then
		on_db "$source_kind" "$source_uri" "$2"
	else
		on_db "$target_kind" "$target_uri" "$2"
	fi
}
money() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }
# statement ROUTE OP ID VALUE: one write in the shape ROUTE wants
statement() {
	if [ "$1" = source ]; then
		case $2 in
		ins) echo "insert into items (id, name, cents) values ($3, 'w$3', $4);" ;;
		upd) echo "update items set cents = $4, name = name || '+' where id = $3;" ;;
		del) echo "delete from items where id = $3;" ;;
		key) echo "update items set id = $4 where id = $3;" ;;
		esac
	else
		case $2 in
		ins) echo "insert into products (id, title, price) values ($3, 'w$3', $(money "$4"));" ;;
		upd) echo "update products set price = $(money "$4"), title = title || '+' where id = $3;" ;;
		del) echo "delete from products where id = $3;" ;;
		key) echo "update products set id = $4 where id = $3;" ;;
		esac
	fi
}
write_one() { # write_one I: the I-th write, until a database takes it
	i=$1
	pick=$(sqlite3 "$control" "select id from items order by id limit 1 offset (abs(random()) % max(1, (select count(*) from items)))")
	case $((i % 5)) in
	0) ops="ins $((100000 + i)) $(((i * 37) % 10000))" ;;
	1) ops="upd $pick $(((i * 91) % 100000))" ;;
	2) ops="del $pick 0" ;;
	3) ops="key $pick $((200000 + i))" ;;
	4) ops="ins $((100000 + i)) $(((i * 53) % 10000)) upd $pick $((i * 7))" ;;
	esac
	while :; do
		route=$(cat "$tmp/route")
		sql="begin;" control_sql="begin;"
		set -- $ops
		while [ $# -ge 3 ]; do
			sql="$sql $(statement "$route" "$1" "$2" "$3")"
			control_sql="$control_sql $(statement source "$1" "$2" "$3")"
			shift 3
		done
		out=$(on_route "$route" "$sql commit;")
		case $out in
		"") sqlite3 "$control" "$control_sql commit;" || return 1
		    echo "$route" >>"$tmp/written"
		    return 0 ;;
		*"is fenced"*) if [ -f "$tmp/stop" ]; then
		        printf 'write %s: %s still fenced when told to stop\n' "$i" "$route" >>"$tmp/writer.err"
		        return 1
		    fi
		    echo fenced >>"$tmp/refusals"
		    printf '%s\n' "$out" >"$tmp/last-refusal"
		    sleep 0.01 ;; # an application retrying, not a synchronisation
		*) printf 'write %s on %s failed: %s\n' "$i" "$route" "$out" >>"$tmp/writer.err"
		   return 1 ;;
		esac
	done
}
writer() { # writes until $tmp/stop exists
	n=0
	while [ ! -f "$tmp/stop" ]; do
		n=$((n + 1))
		write_one "$n" || return 1
	done
}
start_writer() { rm -f "$tmp/stop"; writer & echo $! >"$tmp/writer.pid"; }
stop_writer() { touch "$tmp/stop"; wait "$(cat "$tmp/writer.pid")"; rc=$?; rm -f "$tmp/writer.pid"; return $rc; }
# wait_written ROUTE N: until N more writes landed on ROUTE (the writer is
# really writing there), or the writer died
wait_written() {
	want=$(($(grep -c "^$1\$" "$tmp/written" 2>/dev/null) + $2)) polls=0
	while [ "$(grep -c "^$1\$" "$tmp/written" 2>/dev/null)" -lt "$want" ]; do
		kill -0 "$(cat "$tmp/writer.pid")" 2>/dev/null || return 1
		# a poll of the condition above, not a synchronisation; bounded
		# so that a writer stuck elsewhere fails the test, not hangs it
		polls=$((polls + 1))
		[ "$polls" -lt 6000 ] || return 1
		sleep 0.02
	done
}
start_sync() { "$FERRY" --quiet --dir "$tmp/m" sync --follow 2>>"$tmp/sync.err" & echo $! >"$tmp/sync.pid"; }
stop_sync() { kill -TERM "$(cat "$tmp/sync.pid")"; wait "$(cat "$tmp/sync.pid")"; rc=$?; rm -f "$tmp/sync.pid"; return $rc; }
# rows KIND URI: every row of items, values and (SQLite) storage classes
rows() {
	if [ "$1" = sqlite ]; then
		sqlite3 "$2" "select group_concat(id || ':' || name || ':' || quote(cents) || ':' || typeof(cents), ' ') from (select * from items order by id)"
	else
		psql "$2" -XAtq -c "select string_agg(id || ':' || name || ':' || cents || ':integer', ' ' order by id) from items"
	fi
}
seed_rows="with recursive n(i) as (select 1 union all select i + 1 from n where i < 300)
	insert into items select i, 'item ' || i, i * 101 from n;"

journey() { # journey NAME SOURCE_KIND SOURCE_URI TARGET_KIND TARGET_URI
	source_kind=$2 source_uri=$3 target_kind=$4 target_uri=$5
	set -- "$1"
	rm -rf "$tmp/m" "$tmp/src.db" "$tmp/dst.db" "$control" "$tmp/written" "$tmp/refusals" "$tmp/writer.err" "$tmp/sync.err"
	sqlite3 "$control" "create table items (id integer primary key, name text not null, cents integer); $seed_rows" >/dev/null
	if [ "$source_kind" = sqlite ]; then
		sqlite3 "$source_uri" "pragma journal_mode=wal; create table items (id integer primary key, name text not null, cents integer); $seed_rows" >/dev/null
	else
		on_db postgresql "$source_uri" "create table items (id bigint primary key, name text not null, cents bigint);
			alter table items replica identity full; $seed_rows" >/dev/null
	fi
	echo source >"$tmp/route"
	run_ferry --dir "$tmp/m" init "$source_uri" "$target_uri" --spec "$tmp/spec.yaml"
	is "$FERRY_RC" 0 "$1: init ($FERRY_ERR)"
	contains "$FERRY_OUT" "rollback: possible" "$1: the plan can be rolled back"
	run_ferry --dir "$tmp/m" sync
	is "$FERRY_RC" 0 "$1: snapshot ($FERRY_ERR)"

	start_writer
	start_sync
	wait_written source 40
	ok $? "$1: the application writes to the source during sync --follow"
	run_ferry --dir "$tmp/m" verify --wait 30
	is "$FERRY_RC" 0 "$1: verify is clean while the application writes ($FERRY_OUT)"
	stop_sync
	ok $? "$1: sync --follow stops on SIGTERM"

	# the hook is the operator's switch: the application writes to the
	# target from now on
	run_ferry --dir "$tmp/m" cutover --hook "echo target > '$tmp/route'"
	is "$FERRY_RC" 0 "$1: cutover while the application writes ($FERRY_ERR)"
	contains "$FERRY_ERR" "reverse" "$1: the cutover sets up the reverse stream"
	wait_written target 40
	ok $? "$1: the application writes to the target after the switch"
	ok "$([ -s "$tmp/refusals" ]; echo $?)" "$1: writes to the fenced source were refused meanwhile"
	contains "$(cat "$tmp/last-refusal" 2>/dev/null)" "ferry: table \"items\" is fenced" "$1: with ferry's message"
	err=$(on_db "$source_kind" "$source_uri" "insert into items values (1, 'late', 1)")
	contains "$err" "is fenced" "$1: the source stays fenced after the cutover"

	start_sync
	wait_written target 40
	ok $? "$1: the application keeps writing to the target while the reverse stream runs"
	stop_sync
	ok $? "$1: the reverse sync stops on SIGTERM"
	if [ "$source_kind" = postgresql ]; then
		# the reverse stream wrote to the source; the forward slot there
		# must not keep that WAL (nothing else reads it until the rollback)
		wal=$(on_db postgresql "$source_uri" "select pg_current_wal_lsn()")
		run_ferry --dir "$tmp/m" sync
		is "$FERRY_RC" 0 "$1: a reverse sync ($FERRY_ERR)"
		polls=0 # the server takes the confirmation asynchronously: poll, bounded
		until [ "$(on_db postgresql "$source_uri" "select bool_and(confirmed_flush_lsn >= '$wal') from pg_replication_slots where slot_name like 'ferry\_%' and slot_name not like '%\_r'")" = t ] ||
		      [ $polls -ge 500 ]; do
			polls=$((polls + 1)); sleep 0.02
		done
		ok "$([ $polls -lt 500 ]; echo $?)" "$1: the source's forward slot moves past the WAL the reverse stream wrote"
	fi
	run_ferry --dir "$tmp/m" status
	contains "$FERRY_OUT" "cut over: the target is the primary" "$1: status says the migration is cut over"
	contains "$FERRY_OUT" "reverse:" "$1: and shows the reverse stream"

	run_ferry --dir "$tmp/m" rollback --hook "echo source > '$tmp/route'"
	is "$FERRY_RC" 0 "$1: rollback while the application writes ($FERRY_ERR)"
	for s in catch-up fence drain verify switch unfence "rolled back"; do
		contains "$FERRY_ERR" "ferry: $s" "$1: rollback prints the step: $s"
	done
	wait_written source 40
	ok $? "$1: the application writes to the source again"
	stop_writer
	ok $? "$1: the writer never saw an error other than the fences ($(cat "$tmp/writer.err" 2>/dev/null))"
	ok "$([ "$(grep -c '^target$' "$tmp/written")" -ge 80 ]; echo $?)" "$1: at least 80 writes went to the target"

	got=$(rows "$source_kind" "$source_uri") want=$(rows sqlite "$control")
	ok "$([ -n "$want" ] && [ "$got" = "$want" ]; echo $?)" "$1: the source equals a never-migrated database with the same writes"
	[ "$got" = "$want" ] || printf '%s\n%s\n' "$got" "$want" | tr ' ' '\n' | sort | uniq -u | head -5 | sed 's/^/#   /'

	err=$(on_db "$target_kind" "$target_uri" "insert into products (id, title, price) values (999999, 'stray', 1)")
	contains "$err" "is fenced" "$1: after the rollback the target refuses a stray write"
	run_ferry --dir "$tmp/m" sync
	is "$FERRY_RC" 0 "$1: after the rollback sync runs forward again ($FERRY_ERR)"
	run_ferry --dir "$tmp/m" verify
	is "$FERRY_RC" 0 "$1: and the target equals the source again ($FERRY_OUT)"
	run_ferry --dir "$tmp/m" clean
	is "$FERRY_RC" 0 "$1: clean ($FERRY_ERR)"
	contains "$FERRY_OUT" "products" "$1: clean says it removed the target's fence"
	is "$(on_db "$target_kind" "$target_uri" "insert into products (id, title, price) values (999999, 'after clean', 1)")" "" \
		"$1: after clean the target takes writes"
}

journey sqlite sqlite "$tmp/src.db" sqlite "$tmp/dst.db"
lacks "$(sqlite3 "$tmp/dst.db" "select name from sqlite_master where name like '\_ferry%' escape '\\'")" "_ferry" "sqlite: clean leaves nothing of ferry's on the target"

pg_uri() { printf '%s' "$FERRY_TEST_PG" | sed "s/dbname=[^ ]*/dbname=$1/"; }
slots() { psql "$FERRY_TEST_PG" -XAtq -c "select count(*) from pg_replication_slots where database = '$1'"; }
if [ -n "${FERRY_TEST_PG:-}" ]; then
	a="ferry_rollback_a_$$" b="ferry_rollback_b_$$"
	pg_dbs="$a $b"
	psql "$FERRY_TEST_PG" -XAtq -c "create database $a" -c "create database $b" >/dev/null
	journey "sqlite->postgresql" sqlite "$tmp/src.db" postgresql "$(pg_uri "$a")"
	is "$(slots "$a")" "0" "sqlite->postgresql: clean leaves no replication slot on the target"
	psql "$FERRY_TEST_PG" -XAtq -c "drop database $a" -c "create database $a" >/dev/null
	journey "postgresql->postgresql" postgresql "$(pg_uri "$b")" postgresql "$(pg_uri "$a")"
	is "$(slots "$a") $(slots "$b")" "0 0" "postgresql->postgresql: clean leaves no replication slot on either side"
elif [ -n "${FERRY_TEST_REQUIRE_SERVERS:-}" ]; then
	ok 1 "FERRY_TEST_PG is set (scripts/test starts the server)"
fi
done_testing
