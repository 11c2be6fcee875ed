#!/bin/sh
# `ferry log stat` and `ferry log dump` on a journal with known contents
# (written by tests/cli/write_journal).
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/m"
"$FERRY_BUILDDIR/tests/cli/write_journal" "$tmp/m/journal" 1000
ok $? "a journal of 1000 changes is written"

run_ferry --dir "$tmp/m" log stat
is "$FERRY_RC" 0 "log stat exits 0"
contains "$FERRY_OUT" "changes:    1000 (LSN 1..1000)" "stat counts the changes and LSN range"
contains "$FERRY_OUT" "cursor:     replay           at LSN 500, 500 behind" "stat shows the cursor and its lag"

run_ferry --dir "$tmp/m" --json log stat
contains "$FERRY_OUT" '"changes":1000,"first_lsn":1,"last_lsn":1000' "stat --json"
contains "$FERRY_OUT" '{"name":"replay","lsn":500,"behind":500}' "stat --json cursors"

run_ferry --dir "$tmp/m" log dump --from 3 --limit 2
is "$FERRY_RC" 0 "log dump exits 0"
is "$(printf '%s\n' "$FERRY_OUT" | grep -c '^LSN ')" "2" "--limit 2 shows two changes"
contains "$FERRY_OUT" "LSN 3  insert users (schema v1)" "dump starts at --from"
contains "$FERRY_OUT" "after: id=3, name='user 3', balance=3.03" "dump names columns from the stored schema"

run_ferry --dir "$tmp/m" --json log dump --from 501 --limit 1
contains "$FERRY_OUT" '"lsn":501,"op":"update","table":"users"' "dump --json: one object per change"
contains "$FERRY_OUT" '"before":{"id":1,"name":"user 1","balance":null}' "dump --json before-image"
contains "$FERRY_OUT" '"after":{"id":1,"name":"user 1","balance":"501.01"}' "dump --json after-image, numeric exact as a string"

run_ferry --dir "$tmp/m" log dump --table nosuch
is "$FERRY_RC" 0 "dump --table filters (nothing for an unknown table)"
is "$FERRY_OUT" "" "and prints nothing"

run_ferry --dir "$tmp/m" log frobnicate
is "$FERRY_RC" 2 "an unknown log verb is a usage error"
run_ferry --dir "$tmp/m" log dump --from abc
is "$FERRY_RC" 2 "a bad --from is a usage error"
run_ferry --dir "$tmp/none" log stat
is "$FERRY_RC" 1 "no journal: failure"
contains "$FERRY_ERR" "journal" "the message names the journal"
done_testing
