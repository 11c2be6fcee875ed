#!/bin/sh
# ferry cutover, SQLite -> SQLite (docs/cutover.md): catch up, fence the
# source (the application's writes fail with ferry's message), drain,
# verify, run the hook, record the cutover.  Then a cutover killed (SIGKILL, at
# the injection point FERRY_TEST_CRASH_AT) after each step: the re-run
# finishes it, or --abort unfences; the source is never left fenced
# without a message saying so; a failing hook unfences.
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q() { sqlite3 -separator '|' "$1" "$2" 2>&1; }
# app_write DB ID: the application inserts one row; prints sqlite3's error
app_write() { sqlite3 "$1" "insert into items (id, name, cents) values ($2, 'app $2', $2)" 2>&1; }
same() { # same SRC DST: every row of items equal on both sides
	[ "$(q "$1" "select group_concat(id || ':' || name || ':' || cents, ',') from (select * from items order by id)")" = \
	  "$(q "$2" "select group_concat(id || ':' || name || ':' || cents, ',') from (select * from items order by id)")" ]
}
# fresh NAME: a source with 200 rows, init + sync into NAME.out.db
fresh() {
	rm -rf "$tmp/$1.db" "$tmp/$1.out.db" "$tmp/$1"
	q "$tmp/$1.db" "pragma journal_mode=wal; create table items (id integer primary key, name text not null, cents integer);
		with recursive n(i) as (select 1 union all select i + 1 from n where i < 200)
		insert into items select i, 'item ' || i, i * 3 from n;" >/dev/null
	"$FERRY" --quiet --dir "$tmp/$1" init "$tmp/$1.db" "$tmp/$1.out.db" >/dev/null &&
	"$FERRY" --quiet --dir "$tmp/$1" sync >/dev/null
}

fresh main
ok $? "a migration, snapshot taken"
app_write "$tmp/main.db" 1001 >/dev/null
run_ferry --dir "$tmp/main" cutover --hook "echo switched \$FERRY_MIGRATION > '$tmp/hook.out'"
is "$FERRY_RC" 0 "cutover exits 0 ($FERRY_ERR)"
for s in catch-up fence drain verify switch "cut over"; do
	contains "$FERRY_ERR" "ferry: $s" "it prints the step: $s"
done
contains "$(cat "$tmp/hook.out")" "switched " "the hook ran, with the migration in its environment"
same "$tmp/main.db" "$tmp/main.out.db"
ok $? "the target holds every row, the last write before the fence too"
err=$(app_write "$tmp/main.db" 1002)
contains "$err" 'ferry: table "items" is fenced: migration' "the application's write to the source fails with ferry's message"
contains "$err" "write to the new database" "saying where to write"
is "$(q "$tmp/main.db" "select count(*) from items where id = 1002")" "0" "and changes nothing"
run_ferry --dir "$tmp/main" cutover
is "$FERRY_RC" 1 "a second cutover is refused"
contains "$FERRY_ERR" "the cutover is done" "saying it is done"
run_ferry --dir "$tmp/main" cutover --abort
is "$FERRY_RC" 1 "--abort after the cutover is refused"
contains "$FERRY_ERR" "ferry rollback is the way back" "pointing at rollback"

# a failing hook: the switch did not happen, the source is unfenced
fresh hook
run_ferry --dir "$tmp/hook" cutover --hook "exit 3"
is "$FERRY_RC" 1 "a failing hook fails the cutover"
contains "$FERRY_ERR" "the hook failed (exit 3)" "naming the hook's exit"
contains "$FERRY_ERR" "the source was unfenced" "and saying the source was unfenced"
is "$(app_write "$tmp/hook.db" 1003)" "" "the application writes to the source again"

# a target that differs from the source: verify stops the cutover
fresh differ
q "$tmp/differ.out.db" "delete from items where id = 7" >/dev/null
run_ferry --dir "$tmp/differ" cutover --hook "touch '$tmp/differ.hook'"
is "$FERRY_RC" 1 "a difference found by verify fails the cutover"
contains "$FERRY_ERR" "verify found 1 differences" "saying how many"
contains "$FERRY_ERR" "the source was unfenced" "and that the source was unfenced"
[ ! -e "$tmp/differ.hook" ]
ok $? "the hook did not run"
is "$(app_write "$tmp/differ.db" 1008)" "" "the application writes to the source again"

# a row the plan's conversion rejects is not on the target: no cutover
q "$tmp/reject.db" "create table items (id integer primary key, name text not null, cents integer);
	insert into items values (1, 'good', 199), (500, 'bad', 'not cents')" >/dev/null
printf 'tables:\n  items:\n    columns:\n      cents: { type: "numeric(12,2)", divide_by: 100 }\n' >"$tmp/reject.yaml"
"$FERRY" --quiet --dir "$tmp/reject" init "$tmp/reject.db" "$tmp/reject.out.db" --spec "$tmp/reject.yaml" >/dev/null
"$FERRY" --quiet --dir "$tmp/reject" sync >/dev/null 2>&1
is "$(q "$tmp/reject.out.db" "select count(*) from items")" "1" "the rejected row is not on the target"
run_ferry --dir "$tmp/reject" cutover
is "$FERRY_RC" 1 "a rejected row stops the cutover"
contains "$FERRY_ERR" "1 source rows were rejected by the plan's conversions" "saying how many"
is "$(app_write "$tmp/reject.db" 1010)" "" "and the source is unfenced"

# a timeout passed while catching up: nothing was fenced
fresh timeout
run_ferry --dir "$tmp/timeout" cutover --timeout 0.000001
is "$FERRY_RC" 1 "a cutover past its --timeout fails"
contains "$FERRY_ERR" "timed out catching up (--timeout 1e-06 s)" "saying where it timed out"
is "$(app_write "$tmp/timeout.db" 1009)" "" "and the source was never fenced"

# killed after each step, then run again: it finishes, exactly
for step in catch-up fence drain verify switch; do
	fresh "k$step"
	app_write "$tmp/k$step.db" 1004 >/dev/null
	FERRY_TEST_CRASH_AT=$step "$FERRY" --quiet --dir "$tmp/k$step" cutover --hook "true" 2>/dev/null
	is "$?" 137 "cutover killed after $step"
	err=$(app_write "$tmp/k$step.db" 1005)
	if [ "$step" = catch-up ]; then
		is "$err" "" "after catch-up the source is not fenced yet"
	else
		contains "$err" "is fenced" "after $step the source is fenced"
	fi
	run_ferry --dir "$tmp/k$step" cutover --hook "true"
	is "$FERRY_RC" 0 "cutover run again after a kill in $step ($FERRY_ERR)"
	if [ "$step" = catch-up ]; then
		case "$FERRY_ERR" in *"resuming a cutover"*) ok 1 "nothing was fenced: it starts over";; *) ok 0 "nothing was fenced: it starts over";; esac
	else
		contains "$FERRY_ERR" "resuming a cutover" "it says it resumes"
	fi
	same "$tmp/k$step.db" "$tmp/k$step.out.db"
	ok $? "after a kill in $step: the target equals the source"
	contains "$(app_write "$tmp/k$step.db" 1006)" "is fenced" "and the source is fenced"
done

# killed while fenced, then abandoned: --abort unfences, sync goes on
fresh abort
FERRY_TEST_CRASH_AT=drain "$FERRY" --quiet --dir "$tmp/abort" cutover 2>/dev/null
is "$?" 137 "cutover killed after drain"
run_ferry --dir "$tmp/abort" cutover --abort
is "$FERRY_RC" 0 "--abort"
contains "$FERRY_ERR" "cutover aborted: the source is not fenced (fence removed)" "says the fence was removed"
is "$(app_write "$tmp/abort.db" 1007)" "" "the application writes again"
run_ferry --dir "$tmp/abort" sync
is "$FERRY_RC" 0 "sync goes on after the abort"
same "$tmp/abort.db" "$tmp/abort.out.db"
ok $? "and carries the write made after the abort"
run_ferry --dir "$tmp/abort" cutover --abort
is "$FERRY_RC" 0 "--abort with nothing to abort is harmless"
done_testing
