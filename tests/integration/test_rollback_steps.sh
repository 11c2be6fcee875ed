#!/bin/sh
# ferry rollback step by step, SQLite -> SQLite (docs/cutover.md): killed
# (SIGKILL at the injection point FERRY_TEST_CRASH_AT) after each step,
# then run again: it finishes and the source holds every write made on
# the target; --abort unfences the target; a plan that cannot be inverted
# and a cutover with --no-rollback make rollback refuse before anything
# is touched.
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q() { sqlite3 -separator '|' "$1" "$2" 2>&1; }
fenced() { # fenced DB TABLE: 0 when the fence refuses a write
	case $(sqlite3 "$1" "update $2 set id = id where id = 1" 2>&1) in
	*"is fenced"*) return 0 ;;
	*) return 1 ;;
	esac
}
# the rows of the source, and of the target as the source would hold them
src_rows() { q "$1" "select group_concat(id || ':' || name || ':' || cents, ',') from (select * from items order by id)"; }
dst_rows() { q "$1" "select group_concat(id || ':' || title || ':' || cast(round(price * 100) as integer), ',') from (select * from products order by id)"; }
cat >"$tmp/spec.yaml" <<'EOF'
tables:
  items:
    rename: products
    columns:
      name: { rename: title }
      cents: { rename: price, type: "numeric(12,2)", divide_by: 100 }
EOF
# cut NAME [SPEC] [CUTOVER OPTIONS]: a source of 50 rows migrated, cut
# over, and three writes made on the target
cut() {
	name=$1 spec=$2
	shift 2
	rm -rf "$tmp/$name.db" "$tmp/$name.out.db" "$tmp/$name"
	q "$tmp/$name.db" "pragma journal_mode=wal; create table items (id integer primary key, name text not null, cents integer);
		with recursive n(i) as (select 1 union all select i + 1 from n where i < 50)
		insert into items select i, 'item ' || i, i * 3 from n;" >/dev/null
	"$FERRY" --quiet --dir "$tmp/$name" init "$tmp/$name.db" "$tmp/$name.out.db" --spec "$spec" >/dev/null &&
	"$FERRY" --quiet --dir "$tmp/$name" sync >/dev/null &&
	"$FERRY" --quiet --dir "$tmp/$name" cutover "$@" 2>"$tmp/$name.cutover" &&
	q "$tmp/$name.out.db" "insert into products (id, title, price) values (1001, 'new', 12.34);
		update products set price = 0.07, title = 'changed' where id = 2; delete from products where id = 3;" >/dev/null 2>&1
}

for step in catch-up fence drain verify switch unfence; do
	cut "$step" "$tmp/spec.yaml"
	ok $? "$step: a migration cut over, the application writing to the target"
	FERRY_TEST_CRASH_AT=$step "$FERRY" --quiet --dir "$tmp/$step" rollback >/dev/null 2>&1
	is "$?" "137" "rollback killed after $step"
	case $step in
	catch-up) fenced "$tmp/$step.out.db" products && r=1 || r=0
	          ok $r "after catch-up the target is not fenced yet" ;;
	fence|drain|verify|switch)
	          fenced "$tmp/$step.out.db" products
	          ok $? "after $step the target is fenced" ;;
	esac
	run_ferry --dir "$tmp/$step" status
	contains "$FERRY_OUT" "rollback:     $step" "status shows the rollback stopped in $step"
	run_ferry --dir "$tmp/$step" rollback
	is "$FERRY_RC" 0 "rollback run again after a kill in $step ($FERRY_ERR)"
	contains "$FERRY_ERR" "rolled back" "after a kill in $step it finishes"
	is "$(src_rows "$tmp/$step.db")" "$(dst_rows "$tmp/$step.out.db")" "after a kill in $step: the source holds the target's rows"
	contains "$(src_rows "$tmp/$step.db")" "2:changed:7," "and the writes made on the target"
	fenced "$tmp/$step.db" items && r=1 || r=0
	ok $r "after a kill in $step: the source takes writes again"
	fenced "$tmp/$step.out.db" products
	ok $? "after a kill in $step: the target stays fenced"
done

# a second cutover after a rollback: the target's fence goes before the
# hook, the reverse stream starts afresh
run_ferry --dir "$tmp/unfence" cutover --hook "sqlite3 '$tmp/unfence.out.db' \"insert into products values (2001, 'in the hook', 1.5)\""
is "$FERRY_RC" 0 "a second cutover after the rollback ($FERRY_ERR)"
contains "$FERRY_ERR" "unfenced" "says it unfenced the target before the hook"
is "$(q "$tmp/unfence.out.db" "select title from products where id = 2001")" "in the hook" "the hook could write to the target"
q "$tmp/unfence.out.db" "update products set title = 'second round' where id = 5" >/dev/null
run_ferry --dir "$tmp/unfence" sync
is "$FERRY_RC" 0 "the new reverse stream runs ($FERRY_ERR)"
is "$(q "$tmp/unfence.db" "select group_concat(name, ',') from items where id in (5, 2001)")" "second round,in the hook" \
	"and carries the writes made after the second cutover, none twice"

# --abort while the target is fenced: the application goes on on the target
cut abort "$tmp/spec.yaml"
FERRY_TEST_CRASH_AT=drain "$FERRY" --quiet --dir "$tmp/abort" rollback >/dev/null 2>&1
run_ferry --dir "$tmp/abort" rollback --abort
is "$FERRY_RC" 0 "rollback --abort after a kill in drain ($FERRY_ERR)"
contains "$FERRY_ERR" "the target is not fenced (fence removed)" "says the fence was removed"
fenced "$tmp/abort.out.db" products && r=1 || r=0
ok $r "the target takes writes again"
q "$tmp/abort.out.db" "update products set title = 'after abort' where id = 4" >/dev/null
run_ferry --dir "$tmp/abort" sync
is "$FERRY_RC" 0 "the reverse stream goes on after the abort ($FERRY_ERR)"
is "$(q "$tmp/abort.db" "select name from items where id = 4")" "after abort" "and carries the write made after the abort"
fenced "$tmp/abort.db" items
ok $? "the source is still fenced: the target is the primary"

# a plan that cannot be inverted: cutover goes on without a reverse
# stream, rollback refuses before touching anything
cat >"$tmp/oneway.yaml" <<'EOF'
tables:
  items:
    rename: products
    columns:
      name: { rename: title, up: "upper(name)" }
      cents: { rename: price, type: "numeric(12,2)", divide_by: 100 }
EOF
cut oneway "$tmp/oneway.yaml"
contains "$(cat "$tmp/oneway.cutover")" "reverse" "cutover of an irreversible plan says there is no reverse stream"
contains "$(cat "$tmp/oneway.cutover")" "ferry rollback will refuse" "and that rollback will refuse"
run_ferry --dir "$tmp/oneway" rollback
is "$FERRY_RC" 1 "rollback of an irreversible plan is refused"
contains "$FERRY_ERR" "rollback is not possible" "saying so"
contains "$FERRY_ERR" "\"name\"" "naming the column"
contains "$FERRY_ERR" "down" "and the down that would fix it"
fenced "$tmp/oneway.out.db" products && r=1 || r=0
ok $r "nothing was touched: the target is not fenced"
run_ferry --dir "$tmp/oneway" sync
is "$FERRY_RC" 1 "sync after a cutover without a reverse stream fails"
contains "$FERRY_ERR" "no reverse stream" "saying there is nothing to carry back"

# --no-rollback: no capture on the target, rollback refused
cut norev "$tmp/spec.yaml" --no-rollback
ok $? "cutover --no-rollback"
contains "$(cat "$tmp/norev.cutover")" "--no-rollback" "says there is no reverse stream"
is "$(q "$tmp/norev.out.db" "select count(*) from sqlite_master where name like '\_ferry\_%\_ins' escape '\\'")" "0" \
	"no capture trigger on the target"
run_ferry --dir "$tmp/norev" rollback
is "$FERRY_RC" 1 "rollback after --no-rollback is refused"
contains "$FERRY_ERR" "--no-rollback" "saying why"

# a cutover killed after setting up the reverse stream starts over
rm -rf "$tmp/early"*
q "$tmp/early.db" "pragma journal_mode=wal; create table items (id integer primary key, name text not null, cents integer); insert into items values (1, 'a', 1);" >/dev/null
"$FERRY" --quiet --dir "$tmp/early" init "$tmp/early.db" "$tmp/early.out.db" --spec "$tmp/spec.yaml" >/dev/null
"$FERRY" --quiet --dir "$tmp/early" sync >/dev/null
FERRY_TEST_CRASH_AT=reverse "$FERRY" --quiet --dir "$tmp/early" cutover >/dev/null 2>&1
is "$?" "137" "cutover killed after setting up the reverse stream"
fenced "$tmp/early.db" items && r=1 || r=0
ok $r "the source is not fenced yet"
run_ferry --dir "$tmp/early" cutover
is "$FERRY_RC" 0 "the cutover run again finishes ($FERRY_ERR)"
q "$tmp/early.out.db" "insert into products values (2, 'b', 0.02)" >/dev/null
run_ferry --dir "$tmp/early" sync
is "$(q "$tmp/early.db" "select group_concat(id || name || cents) from items")" "1a1,2b2" "the reverse stream carries a write made after it"

# --timeout passed while catching up: nothing is fenced.  (A writer
# running through the catch-up made this flaky: its back-to-back SQLite
# transactions starve ferry's release of the write lock; and an SQLite
# writer always leaves the catch-up a quiet moment anyway, so it did not
# show more than this does.)
rm -rf "$tmp/busy"*
q "$tmp/busy.db" "pragma journal_mode=wal; create table items (id integer primary key, name text not null, cents integer); insert into items values (1, 'x', 1);" >/dev/null
"$FERRY" --quiet --dir "$tmp/busy" init "$tmp/busy.db" "$tmp/busy.out.db" >/dev/null
"$FERRY" --quiet --dir "$tmp/busy" sync >/dev/null
q "$tmp/busy.db" "insert into items values (2, 'y', 2)" >/dev/null
"$FERRY" --dir "$tmp/busy" cutover --max-lag 0 --timeout 0.000001 >/dev/null 2>"$tmp/busy.err"
is "$?" "1" "a cutover past its --timeout while catching up fails"
contains "$(cat "$tmp/busy.err")" "timed out catching up" "saying where"
fenced "$tmp/busy.db" items && r=1 || r=0
ok $r "and the source was never fenced"

# one migration, one process at a time on each half
"$FERRY" --quiet --dir "$tmp/early" sync --follow 2>/dev/null & follower=$!
polls=0 # until the follower holds its lock (a poll, bounded, not a sleep)
until grep -q "pid $follower, ferry sync" "$tmp/early/replay.lock" 2>/dev/null || [ $polls -ge 500 ]; do
	polls=$((polls + 1)); sleep 0.02
done
run_ferry --dir "$tmp/early" sync
is "$FERRY_RC" 1 "a second sync of the same migration is refused"
contains "$FERRY_ERR" "another ferry process (pid $follower, ferry sync) is working on this migration" "naming the process holding it"
run_ferry --dir "$tmp/early" rollback
is "$FERRY_RC" 1 "so is a rollback while it runs"
run_ferry --dir "$tmp/early" replay
is "$FERRY_RC" 1 "and a replay"
run_ferry --dir "$tmp/early" status
is "$FERRY_RC" 0 "status still works"
kill -TERM "$follower"; wait "$follower"
run_ferry --dir "$tmp/early" sync
is "$FERRY_RC" 0 "once it stopped, sync runs ($FERRY_ERR)"
done_testing
