#!/bin/sh
# ferry load, SQLite -> SQLite, driven through the real binary: the spec's
# transforms, rejects and exit 4, refusal of a non-empty target, --drop,
# --dry-run, spec errors with file:line, --on-error stop.
. "$FERRY_SRCDIR/tests/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src="$tmp/shop.db" dst="$tmp/new.db" spec="$FERRY_SRCDIR/tests/integration/sample-spec.yaml"
sqlite3 "$src" < "$FERRY_SRCDIR/tests/integration/sample.sql"
q() { sqlite3 -separator '|' "$1" "$2" 2>&1; }

run_ferry --dir "$tmp/state" load "$src" "$dst" --spec "$spec" --dry-run
is "$FERRY_RC" 0 "--dry-run exits 0"
contains "$FERRY_OUT" 'table "users" -> "accounts"' "dry run shows the rename"
contains "$FERRY_OUT" 'balance_cents INTEGER -> balance numeric(12,2), divided by 100' "dry run shows the conversion"
contains "$FERRY_OUT" "rollback: possible, lossy" "dry run says rollback is lossy (a dropped column)"
contains "$FERRY_OUT" 'foreign key ("user_id") references "accounts"' "dry run: the foreign key follows the table rename"
contains "$FERRY_OUT" 'unique index "users_email_key" ("email")' "dry run: unique constraint carried as a unique index"
[ ! -e "$dst" ] && [ ! -e "$tmp/state" ]; ok $? "dry run writes nothing"

run_ferry --dir "$tmp/state" load "$src" "$dst" --spec "$spec"
is "$FERRY_RC" 0 "load exits 0 without rejects"
contains "$FERRY_OUT" "loaded 7 rows into 2 tables" "summary counts the rows"
is "$(q "$dst" "select id, full_name, balance, typeof(balance), email_verified from accounts order by id")" \
"1|Ada Lovelace|19.99|real|1
2|Alan Turing|2500|integer|1
3|Grace Hopper|0|integer|0" "accounts: renamed, cents divided exactly, filtered, computed column"
is "$(q "$dst" "select created_at from accounts where id = 2")" "2024-02-29 23:59:59.123456" "timestamp keeps microseconds"
is "$(q "$dst" "select count(*) from pragma_table_info('accounts') where name in ('legacy_code', 'name', 'balance_cents')")" "0" "dropped and renamed columns are gone"
is "$(q "$dst" "select total, note from orders where id = 3")" "1234567.89|tab	and
newline" "orders: total divided, tab and newline kept"
is "$(q "$dst" "select quote(note) from orders where id = 4")" "''" "empty text stays empty, not NULL"
is "$(q "$dst" "select quote(note) from orders where id = 1")" "NULL" "NULL stays NULL"
is "$(q "$dst" "select name from sqlite_schema where type = 'index' and name = 'orders_user'")" "orders_user" "secondary index created"
q "$dst" "insert into accounts(id, full_name, email, balance) values (9, 'x', 'ada@example.com', 1)" >/dev/null
is "$(q "$dst" "select count(*) from accounts where id = 9")" "0" "unique index on email enforced"
is "$(q "$src" "select count(*) from users")" "4" "source untouched"
is "$(q "$tmp/state/ferry.db" "select command, exit_code from runs")" "load|0" "run recorded in ferry.db"

run_ferry --dir "$tmp/state" load "$src" "$dst" --spec "$spec"
is "$FERRY_RC" 1 "a non-empty target is refused"
contains "$FERRY_ERR" 'is not empty: use --truncate' "the refusal names the options"

# a value that does not convert becomes a reject, the rest loads
sqlite3 "$src" "insert into users values (5, 'Bad Cents', 'bad@example.com', 'abc', NULL, NULL, NULL)"
sqlite3 "$src" "insert into users values (6, 'Big', 'big@example.com', 100000000000000, NULL, NULL, NULL)"
sqlite3 "$src" "insert into users values (7, 'Leap', 'leap@example.com', 1, '2023-02-29 10:00:00', NULL, NULL)"
run_ferry --dir "$tmp/state" load "$src" "$dst" --spec "$spec" --drop --rejects "$tmp/rejects.csv"
is "$FERRY_RC" 4 "rejected rows: exit 4"
is "$(q "$dst" "select count(*) from accounts")" "3" "good rows loaded, rejected rows not"
contains "$(cat "$tmp/rejects.csv")" '"users","id=5","balance_cents","'"'"'abc'"'"'","text '"'"'abc'"'"' is not a number"' "rejects CSV names table, key, column, value, reason"
contains "$(cat "$tmp/rejects.csv")" '"users","id=6","balance_cents","100000000000000",' "precision overflow is a reject"
contains "$(cat "$tmp/rejects.csv")" 'does not fit numeric(12,2)' "its reason names the type"
contains "$(cat "$tmp/rejects.csv")" '"users","id=7","created_at","'"'"'2023-02-29 10:00:00'"'"'","text '"'"'2023-02-29 10:00:00'"'"' is not a valid timestamp' "an impossible date is a reject"
is "$(q "$tmp/state/ferry.db" "select count(*) from rejects where run = (select max(id) from runs)")" "3" "rejects stored in ferry.db"

run_ferry --dir "$tmp/state" load "$src" "$dst" --spec "$spec" --drop --on-error stop
is "$FERRY_RC" 1 "--on-error stop fails at the first reject"
contains "$FERRY_ERR" 'table "users", id=5, column "balance_cents"' "and says where"

# spec errors name the file, the line and a guess
printf 'tables:\n  users:\n    columns:\n      nmae: { rename: x }\n' > "$tmp/bad.yaml"
run_ferry --dir "$tmp/state" load "$src" "$dst" --spec "$tmp/bad.yaml" --drop
is "$FERRY_RC" 1 "a spec naming a missing column fails"
contains "$FERRY_ERR" 'bad.yaml:4: column "nmae" is not in table "users" (did you mean "name"?)' "spec error has file:line and did-you-mean"
printf 'tables:\n  usres: {}\n' > "$tmp/bad2.yaml"
run_ferry --dir "$tmp/state" load "$src" "$dst" --spec "$tmp/bad2.yaml" --drop
contains "$FERRY_ERR" 'bad2.yaml:2: table "usres" is not in the source (did you mean "users"?)' "unknown table has a guess"

# where follows SQL's truth rules: text that is not a number is false
printf 'tables:\n  orders:\n    where: "note"\n  users:\n    where: "0.0"\n' > "$tmp/where.yaml"
run_ferry --dir "$tmp/state" load "$src" "$tmp/where.db" --spec "$tmp/where.yaml"
is "$(q "$tmp/where.db" "select count(*) from orders")" "0" "where on text notes keeps no row (as SQL WHERE)"
is "$(q "$tmp/where.db" "select count(*) from users")" "0" "where 0.0 keeps no row"

# an expression failing on one row's data rejects that row, not the load
printf 'tables:\n  orders:\n    add:\n      big: { type: bigint, up: "abs(-9223372036854775807 - total_cents)" }\n' > "$tmp/overflow.yaml"
run_ferry --dir "$tmp/state" load "$src" "$tmp/overflow.db" --spec "$tmp/overflow.yaml"
is "$FERRY_RC" 4 "an expression error on some rows: exit 4"
is "$(q "$tmp/overflow.db" "select count(*) from orders")" "0" "each overflowing row rejected"
contains "$(q "$tmp/state/ferry.db" "select reason from rejects where run = (select max(id) from runs) and \"table\" = 'orders' and key = 'id=4'")" "integer overflow" "the reject says why (abs of int64 min)"

# the source can never be the target, even through another name
ln -s "$src" "$tmp/alias.db"
run_ferry --dir "$tmp/state" load "$src" "$tmp/alias.db" --drop
is "$FERRY_RC" 1 "loading a database into itself is refused"
contains "$FERRY_ERR" "source and target are the same database" "and says so"
is "$(q "$src" "select count(*) from users")" "7" "the source is intact"

run_ferry --quiet --dir "$tmp/state" load "$src" "$tmp/quiet.db"
is "$FERRY_OUT$FERRY_ERR" "" "--quiet prints nothing, not even the rejects line"
is "$FERRY_RC" 4 "--quiet keeps the exit status"

run_ferry load "$tmp/missing.db" "$dst"
is "$FERRY_RC" 1 "a missing source fails"
run_ferry load "$src" "$dst" --jobs 0
is "$FERRY_RC" 2 "a bad --jobs is a usage error"
run_ferry load "$src" "$dst" --truncate --drop
is "$FERRY_RC" 2 "--truncate with --drop is a usage error"

run_ferry --dir "$tmp/state" --json load "$src" "$tmp/plain.db"
is "$FERRY_RC" 4 "no spec: copy as is (the 'abc' cents row is a reject for bigint)"
contains "$FERRY_OUT" '"rows_rejected":2' "--json summary (abc cents and the impossible date)"
is "$(q "$tmp/plain.db" "select count(*) from users")" "5" "every other row copied as is"
done_testing
