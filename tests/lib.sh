# tests/lib.sh - TAP helpers for shell tests that drive the real binary.
# Source it; call `ok`, `is`, `run_ferry`, then `done_testing`.

TAP_COUNT=0
TAP_FAILED=0

: "${FERRY:?FERRY must name the ferry binary (make check sets it)}"

ok() { # ok CONDITION_STATUS NAME
	TAP_COUNT=$((TAP_COUNT + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_COUNT - $2"
	else
		echo "not ok $TAP_COUNT - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

is() { # is GOT WANT NAME
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

contains() { # contains HAYSTACK NEEDLE NAME
	case "$1" in
	*"$2"*) ok 0 "$3" ;;
	*) ok 1 "$3"; echo "#   '$2' not found in:"; printf '%s\n' "$1" | sed 's/^/#     /' ;;
	esac
}

lacks() { # lacks HAYSTACK NEEDLE NAME
	case "$1" in
	*"$2"*) ok 1 "$3"; echo "#   '$2' must not appear in:"; printf '%s\n' "$1" | sed 's/^/#     /' ;;
	*) ok 0 "$3" ;;
	esac
}

# require_pg: ends the test unless scripts/test started PostgreSQL
# (FERRY_TEST_PG): a skip, or a failure when servers are required (CI).
require_pg() {
	[ -n "${FERRY_TEST_PG:-}" ] && return 0
	if [ -n "${FERRY_TEST_REQUIRE_SERVERS:-}" ]; then
		ok 1 "FERRY_TEST_PG is set (scripts/test starts the server)"
		done_testing
		exit
	fi
	echo "1..0 # SKIP FERRY_TEST_PG not set: run scripts/test to start PostgreSQL"
	exit 0
}

# wait_background PID FILE: waits for a background job that writes its
# exit status into FILE as it ends, and sets BG_STATUS to that status
# ("still running" if wait came back without it).  Not in $(...): a
# subshell cannot wait for its parent's jobs.  The status cannot come
# from wait itself: dash's `wait PID` has said "not a child of this
# shell" for a writer that ended while the test waited for other jobs.
wait_background() {
	wait "$1" 2>/dev/null
	BG_STATUS=$(cat "$2" 2>/dev/null || echo "still running")
}

# run_ferry ARGS...: sets FERRY_OUT, FERRY_ERR and FERRY_RC.
run_ferry() {
	_out=$(mktemp) _err=$(mktemp)
	"$FERRY" "$@" >"$_out" 2>"$_err"
	FERRY_RC=$?
	FERRY_OUT=$(cat "$_out")
	FERRY_ERR=$(cat "$_err")
	rm -f "$_out" "$_err"
}

done_testing() {
	echo "1..$TAP_COUNT"
	[ "$TAP_FAILED" -eq 0 ]
}
