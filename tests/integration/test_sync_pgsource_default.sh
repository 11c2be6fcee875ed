#!/bin/sh
# Online migration from PostgreSQL tables with REPLICA IDENTITY DEFAULT
# (docs/online-postgresql.md, "Old rows and unsent values"): old rows carry
# only the key, and an update that keeps a large (TOASTed) value does not
# send it.  A writer changes the source during `ferry sync --follow`
# (inserts, updates that keep or change the large values, key changes,
# deletes, TRUNCATE; rows moving between the partitions of a partitioned
# table) into PostgreSQL with the plan transforms, then into
# SQLite; each target must equal a `ferry load` of the final source row
# for row, the large values intact.  Then what needs whole old rows is
# refused at init (a where filter, an expression mixing a large column
# with others, REPLICA IDENTITY NOTHING / USING INDEX, a table without a
# key), and ferry undo refuses such changes.
. "$FERRY_SRCDIR/tests/lib.sh"
require_pg
tmp=$(mktemp -d)
db="ferry_pgdef_$$"
src_uri=$(printf '%s' "$FERRY_TEST_PG" | sed "s/dbname=[^ ]*/dbname=$db/")
dst="ferry_pgdefdst_$$" ref="ferry_pgdefref_$$"
pg() { psql "$FERRY_TEST_PG" -XAtq -F '|' -c "$1" 2>&1; }
src() { psql "$src_uri" -XAtq -F '|' -c "$1" 2>&1; }
writer=""
cleanup() {
	[ -n "$writer" ] && kill "$writer" 2>/dev/null
	for m in m m2; do
		"$FERRY" --quiet --dir "$tmp/$m" clean >/dev/null 2>&1
	done
	pg "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '$db'" >/dev/null
	pg "drop database if exists $db" >/dev/null
	pg "drop schema if exists $dst cascade; drop schema if exists $ref cascade" >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
pg "create database $db" >/dev/null
pg "create schema $dst; create schema $ref" >/dev/null
psql "$src_uri" -Xq -v ON_ERROR_STOP=1 >/dev/null 2>"$tmp/setup.err" <<'SQL'
create table users (
	id bigint primary key,
	name text not null,
	email text,
	balance_cents bigint not null default 0,
	bio text
);
alter table users alter column bio set storage external;
create table docs (id int primary key, body text, rev int not null default 0);
alter table docs alter column body set storage external;
create table pairs (a int, b int, v text, primary key (a, b));
insert into users select i, 'user ' || i, 'u' || i || '@example.com', i * 7,
	case when i % 3 = 0 then repeat(md5(i::text), 200) end
	from generate_series(1, 2000) i;
insert into docs select i, repeat(md5(i::text), 400), 0 from generate_series(1, 50) i;
insert into pairs select i, i % 7, 'p' || i from generate_series(1, 500) i;
-- a partitioned table: its changes must arrive under its own name
create table events (id int, day date, v text, primary key (id, day)) partition by range (day);
create table events_a partition of events for values from ('2024-01-01') to ('2025-01-01');
create table events_b partition of events for values from ('2025-01-01') to ('2026-01-01');
insert into events select i, date '2024-01-01' + (i % 700), 'e' || i from generate_series(1, 600) i;
SQL
ok $? "source database created, every table REPLICA IDENTITY DEFAULT ($(cat "$tmp/setup.err"))"
is "$(src "select string_agg(relreplident::text, '' order by relname) from pg_class where relname in ('users', 'docs', 'pairs', 'events', 'events_a', 'events_b')")" \
   "dddddd" "the tables have the default identity"

# SEED COUNT BASE: random changes; BASE keeps inserted keys of runs apart
write_changes() {
	awk -v seed="$1" -v n="$2" -v base="$3" 'BEGIN {
		srand(seed);
		for (i = 0; i < n; i++) {
			r = rand(); id = int(rand() * 2000) + 1;
			if (!intx && rand() < 0.3) { print "BEGIN;"; intx = 1 }
			if (r < 0.15)
				printf "INSERT INTO users VALUES (%d, '"'"'w%d'"'"', '"'"'w%d@example.org'"'"', %d, repeat('"'"'%d'"'"', 3000)) ON CONFLICT DO NOTHING;\n", base + i, i, i, int(rand() * 100000), i % 10;
			else if (r < 0.35)
				printf "UPDATE users SET balance_cents = balance_cents + 1 WHERE id = %d;\n", id;
			else if (r < 0.40)
				printf "UPDATE users SET bio = repeat(md5('"'"'%d'"'"'), 150) WHERE id = %d;\n", i, id;
			else if (r < 0.45)
				printf "UPDATE users SET id = id + 100000, name = name || '"'"'*'"'"' WHERE id = %d;\n", id;
			else if (r < 0.50)
				printf "UPDATE users SET email = NULL WHERE id = %d;\n", id;
			else if (r < 0.55)
				printf "DELETE FROM users WHERE id = %d;\n", id;
			else if (r < 0.70)
				printf "UPDATE docs SET rev = rev + 1 WHERE id = %d;\n", int(rand() * 50) + 1;
			else if (r < 0.73)
				printf "UPDATE docs SET body = body || '"'"'x'"'"', rev = rev + 1 WHERE id = %d;\n", int(rand() * 50) + 1;
			else if (r < 0.75)
				printf "UPDATE docs SET id = id + 1000 WHERE id = %d;\n", int(rand() * 50) + 1;
			else if (r < 0.80)
				printf "INSERT INTO pairs VALUES (%d, %d, '"'"'n%d'"'"') ON CONFLICT DO NOTHING;\n", base + i, i % 5, i;
			else if (r < 0.84)
				printf "UPDATE pairs SET b = b + 10 WHERE a = %d;\n", id % 500 + 1;
			else if (r < 0.87)
				printf "DELETE FROM pairs WHERE a = %d;\n", id % 500 + 1;
			else if (r < 0.91)
				printf "INSERT INTO events VALUES (%d, date '"'"'2024-01-01'"'"' + %d, '"'"'n%d'"'"') ON CONFLICT DO NOTHING;\n", base + i, i % 700, i;
			else if (r < 0.95)
				printf "UPDATE events SET v = v || '"'"'+'"'"' WHERE id = %d;\n", id % 600 + 1;
			else if (r < 0.98)
				printf "UPDATE events SET day = day + 200 WHERE id = %d AND day < date '"'"'2025-06-01'"'"';\n", id % 600 + 1;
			else
				printf "DELETE FROM events WHERE id = %d;\n", id % 600 + 1;
			if (intx && rand() < 0.3) { print "COMMIT;"; intx = 0 }
		}
		if (intx) print "COMMIT;";
	}' | psql "$src_uri" -Xq -v ON_ERROR_STOP=1 >/dev/null
}

spec="$tmp/spec.yaml"
cat >"$spec" <<'YAML'
tables:
  users:
    rename: accounts
    columns:
      name:          { rename: full_name }
      balance_cents: { rename: balance, type: "numeric(12,2)", divide_by: 100 }
      email:         { drop: true }
    add:
      email_user:   { type: text, up: "substr(email, 1, instr(email, '@') - 1)" }
      email_domain: { type: text, up: "substr(email, instr(email, '@') + 1)" }
    down:
      email: "email_user || '@' || email_domain"
YAML

# ---- PostgreSQL -> PostgreSQL --------------------------------------------
run_ferry --dir "$tmp/m" init "$src_uri" "$FERRY_TEST_PG options=-csearch_path=$dst" --spec "$spec"
is "$FERRY_RC" 0 "init accepts tables with the default identity and a key ($FERRY_ERR)"
for t in users docs pairs events; do
	contains "$FERRY_OUT" "warning: table \"$t\" sends only its key in old rows (REPLICA IDENTITY DEFAULT)" \
		"init warns about $t"
done
contains "$FERRY_OUT" 'ALTER TABLE "docs" REPLICA IDENTITY FULL gives whole rows' "and says how to get whole rows"

write_changes 1 400 10000 &
writer=$!
"$FERRY" --quiet --dir "$tmp/m" sync --follow --chunk-rows 300 2>"$tmp/sync.err" &
sync=$!
wait "$writer"
writer=""
write_changes 2 600 20000
src "truncate pairs" >/dev/null
write_changes 3 500 30000
kill -TERM "$sync"
wait "$sync"
is "$?" 0 "sync --follow stops cleanly on SIGTERM ($(cat "$tmp/sync.err"))"
run_ferry --dir "$tmp/m" sync
is "$FERRY_RC" 0 "sync catches up ($FERRY_ERR)"

run_ferry --dir "$tmp/ref" load "$src_uri" "$FERRY_TEST_PG options=-csearch_path=$ref" --spec "$spec"
is "$FERRY_RC" 0 "oracle load of the final source"
for t in accounts docs pairs events; do
	is "$(pg "select (select count(*) from (select * from $dst.$t except all select * from $ref.$t) a) || ' ' || (select count(*) from (select * from $ref.$t except all select * from $dst.$t) b)")" \
	   "0 0" "$t: target equals the transformed source ($(pg "select count(*) from $dst.$t") rows)"
done
is "$(pg "select count(*) from $dst.docs where length(body) < 12800")" "0" \
   "no large value was lost by an update that kept it"
is "$(pg "select count(*) from $dst.accounts where bio is not null and length(bio) >= 3000")" \
   "$(src "select count(*) from users where bio is not null and length(bio) >= 3000")" \
   "the users' large values too"
test "$(src "select count(*) from docs where rev > 0")" -gt 10
ok $? "the writer did update docs without touching their bodies"

# undo needs whole old rows: the changes of these tables are refused
run_ferry --dir "$tmp/m" undo --to 1
is "$FERRY_RC" 1 "undo refuses changes without whole old rows"
contains "$FERRY_ERR" "no before-image (the table does not send whole old rows: its REPLICA IDENTITY is not FULL)" \
	"saying why"

run_ferry --dir "$tmp/m" clean
is "$FERRY_RC" 0 "clean"

# ---- PostgreSQL -> SQLite -------------------------------------------------
run_ferry --dir "$tmp/m2" init "$src_uri" "$tmp/dst.db"
is "$FERRY_RC" 0 "init into SQLite ($FERRY_ERR)"
write_changes 4 300 40000 &
writer=$!
"$FERRY" --quiet --dir "$tmp/m2" sync --follow --chunk-rows 300 2>"$tmp/sync2.err" &
sync=$!
wait "$writer"
writer=""
write_changes 5 600 50000
kill -TERM "$sync"
wait "$sync"
is "$?" 0 "sync --follow into SQLite stops cleanly ($(cat "$tmp/sync2.err"))"
run_ferry --dir "$tmp/m2" sync
is "$FERRY_RC" 0 "and catches up ($FERRY_ERR)"
run_ferry --dir "$tmp/ref2" load "$src_uri" "$tmp/ref.db"
is "$FERRY_RC" 0 "oracle load into SQLite"
for t in users docs pairs events; do
	is "$(sqlite3 "$tmp/dst.db" "attach '$tmp/ref.db' as r; select (select count(*) from (select * from main.$t except select * from r.$t)) || ' ' || (select count(*) from (select * from r.$t except select * from main.$t)) || ' ' || ((select count(*) from main.$t) - (select count(*) from r.$t))")" \
	   "0 0 0" "$t: the SQLite target equals the source"
done
is "$(sqlite3 "$tmp/dst.db" "select count(*) from docs where length(body) < 12800")" "0" \
   "no large value lost in SQLite either"
run_ferry --dir "$tmp/m2" clean
is "$FERRY_RC" 0 "clean"

# ---- what needs whole old rows is refused at init ------------------------
cat >"$tmp/where.yaml" <<'YAML'
tables:
  users:
    where: "balance_cents > 0"
YAML
run_ferry --dir "$tmp/m3" init "$src_uri" "$tmp/out3.db" --spec "$tmp/where.yaml"
is "$FERRY_RC" 1 "a where filter on a table with key-only old rows is refused"
contains "$FERRY_ERR" 'the `where` filter of table "users"' "naming the filter"
contains "$FERRY_ERR" 'ALTER TABLE "users" REPLICA IDENTITY FULL;' "with the command that fixes it"
test ! -e "$tmp/m3/ferry.db"
ok $? "and leaves no migration directory"

cat >"$tmp/mixed.yaml" <<'YAML'
tables:
  docs:
    add:
      headline: { type: text, up: "substr(body, 1, 8) || ' r' || rev" }
  users:
    add:
      bio_size: { type: integer, up: "length(bio)" }
YAML
run_ferry --dir "$tmp/m3" init "$src_uri" "$tmp/out3.db" --spec "$tmp/mixed.yaml"
is "$FERRY_RC" 1 "an expression that reads a large column with others is refused"
contains "$FERRY_ERR" "of table \"docs\", which reads column \"body\" with others" "naming it"
lacks "$FERRY_ERR" '"users"' "an expression of one large column alone is fine"

src "create table nothing_id (id int primary key, v text); alter table nothing_id replica identity nothing;
     create table index_id (id int primary key, code int not null unique, v text);
     alter table index_id replica identity using index index_id_code_key;
     create table keyless (a int, b text)" >/dev/null
run_ferry --dir "$tmp/m3" init "$src_uri" "$tmp/out3.db"
is "$FERRY_RC" 1 "tables without a usable identity are refused"
contains "$FERRY_ERR" '"index_id" (REPLICA IDENTITY USING INDEX), "keyless" (no primary key), "nothing_id" (REPLICA IDENTITY NOTHING)' \
	"each named with its reason"
contains "$FERRY_ERR" 'ALTER TABLE "index_id" REPLICA IDENTITY FULL; ALTER TABLE "keyless" REPLICA IDENTITY FULL; ALTER TABLE "nothing_id" REPLICA IDENTITY FULL;' \
	"with the commands that fix them"
is "$(src "select count(*) from pg_replication_slots where database = current_database()")" "0" "nothing was created"
done_testing
