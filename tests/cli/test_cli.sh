#!/bin/sh
# The command line contract of DESIGN.md: help, version, exit codes.
. "$FERRY_SRCDIR/tests/lib.sh"

run_ferry --help
is "$FERRY_RC" 0 "--help exits 0"
for cmd in load init sync capture replay status verify cutover rollback undo log migrate lint backfill; do
	contains "$FERRY_OUT" "  $cmd " "--help lists $cmd"
done

run_ferry --version
is "$FERRY_RC" 0 "--version exits 0"
contains "$FERRY_OUT" "ferry 0." "--version prints the version"

run_ferry help load
is "$FERRY_RC" 0 "help load exits 0"
contains "$FERRY_OUT" "usage: ferry load SOURCE TARGET" "help load shows the synopsis"
contains "$FERRY_OUT" "--spec FILE" "help load lists --spec"

run_ferry cutover --help
is "$FERRY_RC" 0 "cutover --help exits 0"
contains "$FERRY_OUT" "--max-lag SECONDS" "cutover --help lists --max-lag"

run_ferry help nosuch
is "$FERRY_RC" 2 "help for an unknown command is a usage error"

run_ferry frobnicate
is "$FERRY_RC" 2 "unknown command exits 2"
contains "$FERRY_ERR" "unknown command 'frobnicate'" "unknown command is named"

run_ferry
is "$FERRY_RC" 2 "no command exits 2"

run_ferry --bogus
is "$FERRY_RC" 2 "unknown leading option exits 2"
contains "$FERRY_ERR" "unknown option '--bogus'" "unknown leading option is named"

run_ferry status --bogus
is "$FERRY_RC" 2 "unknown command option exits 2"
contains "$FERRY_ERR" "Try 'ferry status --help'" "usage error points at the command's help"

for bad in 0 -5 12x 1000000001; do
	run_ferry --dir "$(mktemp -d)/none" sync --chunk-rows "$bad"
	is "$FERRY_RC" 2 "sync --chunk-rows $bad is a usage error"
done
contains "$FERRY_ERR" "--chunk-rows must be a number from 1 to 1000000000, not '1000000001'" \
	"naming the bad value and the range"
run_ferry capture --chunk-rows 5
is "$FERRY_RC" 2 "--chunk-rows belongs to sync only"

run_ferry load only-one.db
is "$FERRY_RC" 2 "missing operand exits 2"
run_ferry status extra
is "$FERRY_RC" 2 "extra operand exits 2"
run_ferry load a.db b.db --spec
is "$FERRY_RC" 2 "option without its value exits 2"
run_ferry status --json=yes
is "$FERRY_RC" 2 "a value for a flag exits 2"

# Global options are accepted before and after the command.
run_ferry --dir /nonexistent --json -v migrate
is "$FERRY_RC" 1 "leading globals reach the command (not implemented: 1)"
contains "$FERRY_ERR" "not implemented" "an unimplemented command says so plainly"
run_ferry migrate --dir=/x --quiet -q
is "$FERRY_RC" 1 "trailing globals are accepted"

run_ferry cutover --timeout soon
is "$FERRY_RC" 2 "cutover --timeout that is not a number exits 2"
contains "$FERRY_ERR" "--timeout must be a number of seconds, not 'soon'" "saying what it wants"
run_ferry cutover --max-lag -1
is "$FERRY_RC" 2 "a negative --max-lag exits 2"

# A directory without a migration: every command that needs one says so.
nomig=$(mktemp -d)
for c in sync capture replay verify cutover; do
	run_ferry --dir "$nomig/none" "$c"
	is "$FERRY_RC" 1 "$c without a migration exits 1"
	contains "$FERRY_ERR" "no migration in \"$nomig/none\": run ferry init SOURCE TARGET first" \
		"$c says there is no migration and what to run"
done
rm -rf "$nomig"

done_testing
