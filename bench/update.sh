#!/usr/bin/env bash
# Benchmark (issue 5): a whole core update, 1.0.0 -> 1.1.0, of a site of
# FILES files / MB MiB (default 20,000 / 200) in the managed folders with a
# database of ROWS rows (default 1,000,000) in its tables, two ways, in the
# same go, each on a fresh identical copy of the site and the database:
#
#   A  nexo-update -c CONF -y core   the default core pipeline (health
#      check, download over http from nginx on loopback, verify, extract,
#      maintenance on, backup, hooks, migrate, replace_files, register,
#      cache_clear, maintenance off, commit)
#   B  the shell baseline: what an admin does by hand per the spec —
#      curl the package (a .zip of the same payload, same nginx),
#      sha256sum -c, touch MAINTENANCE, pg_dump (mariadb-dump, sqlite3
#      .backup), tar czf the site, unzip into a temporary folder, cp -r
#      over the site, the migration's SQL with psql (mariadb, sqlite3),
#      rm MAINTENANCE, rm the temporary files
#
# and prints the whole update's seconds (wall clock around the command or
# the script) and the seconds in maintenance mode, each as measured by the
# same poller that watches ROOT/MAINTENANCE appear and disappear (every
# 5 ms), with nexo-update/baseline ratios; then the sizes, and where the
# time went: nexo-update's steps from its journal's timestamps
# (STATE/journal/<id>.jnl, ms) and `history` (whole seconds), the
# baseline's steps from time stamps between its commands.
#
# The site and both releases are generated deterministically (--seed): text
# files (PHP, JS, CSS, templates: compressible) and binary files (images,
# fonts: incompressible), log-normal sizes, plus four large media files
# holding 15 % of the bytes. 1.1.0 changes ~10 % of the files and one large
# file, adds 1 %, removes 0.5 %, and brings a migration touching the big
# table (add_column with a default, add_index on two columns, an update of
# ~1/3 of its rows, an insert). Both are packed and signed with the
# installed nexo-release (tar.zst for nexo-update, zip for the baseline)
# into a repository served by nginx on loopback (tests/e2e/http.sh);
# [server] url = http://127.0.0.1:PORT/repo/index.json. The database is
# installed by nexo-update (migrate mode=install + register_version), then
# filled with users (10 %) and posts (90 %) by generate_series (PostgreSQL),
# a recursive CTE (MariaDB, SQLite) and analyzed.
#
#   bench/update.sh [--files N] [--mb M] [--rows R] [--driver pgsql|mariadb|sqlite]
#                   [--repeat K] [--seed S] [--settle SECONDS] [--prefix DIR]
#
# --settle SECONDS: before each timed run, sync and wait until SECONDS have
# passed since the bench last deleted a tree (default 0: no wait). On ext4
# without a journal (this machine) the inode allocator skips inodes freed
# in the last 60 s, 360 s while their inode-table block is dirty; creating
# 20,000 files soon after deleting as many is then several times slower
# (cp -a of the 20,000-file tree: 1.4-1.7 s on a quiet file system, 6.7 s
# right after an rm -rf, 7.8 s 70 s after rm -rf and sync, 1.7 s after
# 400 s). Each run deletes such trees (nexo-update's commit, the baseline's
# rm -rf, the bench's teardown), so without a wait the next run's extract,
# unzip and cp -r pay for it; --settle 361 keeps that out.
# --repeat K runs A and B K times (alternating which goes first) and prints
# medians; each run's line shows the 1-minute load average before it (the
# numbers mean little on a machine that is busy with something else).
# When nexo-update refuses the update (e.g. a package whose
# nexo-release.json is over the 64 MiB its verify and extract steps accept:
# about 300,000 entries), the baseline still runs, the refusal is printed
# in A's place, and the exit status is 1.
# --prefix: an installed nexo-update (default: build/stage, made by ctest's
# e2e.install). Needs python3, nginx (nginx-light), curl, zip/unzip, and
# the database's client tools and test server (tests/servers.sh;
# NEXO_TEST_PG_HOST/PORT, NEXO_TEST_MY_HOST/PORT, NEXO_TEST_DB_USER/PASSWORD).
# Everything lives in one temporary folder, removed at the end with the
# databases. Not part of ctest: no timings in tests.
set -euo pipefail
umask 022
src=$(cd "$(dirname "$0")/.." && pwd)
FILES=20000 MB=200 ROWS=1000000 DRIVER=pgsql REPEAT=1 SEED=5 SETTLE=0 PREFIX=$src/build/stage
usage() { sed -n '/^#   bench\/update.sh/,/^#  *\[--repeat/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --files) FILES=$2; shift 2 ;;
    --mb) MB=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --driver) DRIVER=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "bench/update.sh: unknown option $1" >&2; usage ;;
    esac
done
for v in FILES MB ROWS REPEAT SEED SETTLE; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "bench/update.sh: --${v,,} needs a number" >&2; exit 2; }
done
[ "$FILES" -ge 100 ] && [ "$MB" -ge 1 ] && [ "$ROWS" -ge 100 ] && [ "$REPEAT" -ge 1 ] ||
    { echo "bench/update.sh: at least 100 files, 1 MB, 100 rows, 1 repeat" >&2; exit 2; }
case $DRIVER in pgsql|mariadb|sqlite) ;; *) echo "bench/update.sh: --driver pgsql|mariadb|sqlite" >&2; exit 2 ;; esac
PREFIX=$(cd "$PREFIX" && pwd)
NX=$PREFIX/bin/nexo-update
REL=$PREFIX/bin/nexo-release
[ -x "$NX" ] && [ -x "$REL" ] || { echo "no nexo-update/nexo-release in $PREFIX/bin (give --prefix)" >&2; exit 1; }
need() { command -v "$1" > /dev/null || { echo "needs $1 ($2)" >&2; exit 1; }; }
need python3 python3; need curl curl; need unzip unzip; need sha256sum coreutils
case $DRIVER in
pgsql) need psql postgresql-client; need pg_dump postgresql-client ;;
mariadb) need mariadb mariadb-client; need mariadb-dump mariadb-client ;;
sqlite) need sqlite3 sqlite3 ;;
esac

H=${NEXO_TEST_PG_HOST:-127.0.0.1} P=${NEXO_TEST_PG_PORT:-5432}
MH=${NEXO_TEST_MY_HOST:-127.0.0.1} MP=${NEXO_TEST_MY_PORT:-3306}
U=${NEXO_TEST_DB_USER:-nexo_test} PW=${NEXO_TEST_DB_PASSWORD:-nexo-test-pw}
DBPFX="nexo_t_bupd_$$"
T=$(mktemp -d "${TMPDIR:-/tmp}/nexo-bench-update.XXXXXX")
chmod 755 "$T"
drop_all() {
    local d
    case $DRIVER in
    pgsql)
        for d in $(psql -h "$H" -p "$P" -U "$U" -d postgres -qAtc \
                   "SELECT datname FROM pg_database WHERE datname LIKE '${DBPFX}_%'" 2>/dev/null); do
            psql -h "$H" -p "$P" -U "$U" -d postgres -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" > /dev/null 2>&1 ||
                psql -h "$H" -p "$P" -U "$U" -d postgres -qc "DROP DATABASE IF EXISTS $d" > /dev/null 2>&1 || true
        done ;;
    mariadb)
        for d in $(mariadb --defaults-extra-file="$T/my.cnf" -N -B -e \
                   "SHOW DATABASES LIKE '${DBPFX}\\_%'" 2>/dev/null); do
            mariadb --defaults-extra-file="$T/my.cnf" -e "DROP DATABASE IF EXISTS \`$d\`" 2>/dev/null || true
        done ;;
    esac
}
POLL=
cleanup() {
    if [ -n "$POLL" ]; then kill -TERM "$POLL" 2>/dev/null || true; fi
    drop_all; rm -rf "$T"
}
trap cleanup EXIT
# shellcheck source=../tests/e2e/http.sh
source "$src/tests/e2e/http.sh"

export PGPASSFILE=$T/pgpass
printf '%s:%s:*:%s:%s\n' "$H" "$P" "$U" "$PW" > "$PGPASSFILE"; chmod 600 "$PGPASSFILE"
printf '%s\n' "$PW" > "$T/pw"; chmod 600 "$T/pw"
printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword=%s\n' "$MH" "$MP" "$U" "$PW" > "$T/my.cnf"
chmod 600 "$T/my.cnf"
case $DRIVER in
pgsql) psql -h "$H" -p "$P" -U "$U" -d postgres -qAtc 'select 1' > /dev/null ||
           { echo "no PostgreSQL at $H:$P (bash tests/servers.sh)" >&2; exit 1; }
       DBVER="PostgreSQL $(psql -h "$H" -p "$P" -U "$U" -d postgres -qAtc 'SHOW server_version' | cut -d' ' -f1)" ;;
mariadb) mariadb --defaults-extra-file="$T/my.cnf" -e 'select 1' > /dev/null ||
           { echo "no MariaDB at $MH:$MP (bash tests/servers.sh)" >&2; exit 1; }
       DBVER="MariaDB $(mariadb --defaults-extra-file="$T/my.cnf" -N -B -e 'select version()' | cut -d- -f1)" ;;
sqlite) DBVER="SQLite $(sqlite3 --version | cut -d' ' -f1)" ;;
esac

now() { date +%s.%N; }
LAST_RM=$(now)    # when the bench last deleted a tree (see --settle)
settle() {
    sync
    local w; w=$(awk -v l="$LAST_RM" -v n="$(now)" -v s="$SETTLE" 'BEGIN { w = l + s - n; printf "%.1f", (w > 0 ? w : 0) }')
    if [ "$w" != 0.0 ]; then say "  waiting $w s (--settle)"; sleep "$w"; fi
}
secs() { awk -v a="$2" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }
say() { printf '== %s\n' "$*" >&2; }
USERS=$((ROWS / 10)); POSTS=$((ROWS - USERS))

# ---------------------------------------------------------------- helpers
cat > "$T/gen.py" <<'PY'
# gen.py DST10 DST11 FILES MB SEED: the release trees of 1.0.0 and 1.1.0.
import math, os, random, sys
d10, d11, N, MB, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
TOTAL = MB * 1024 * 1024
WORDS = ("function return public private protected static class namespace use array "
         "string int bool null true false if else elseif foreach while for new $this self "
         "parent $id $name $user $config $value $result $query $row $item $key $data "
         "$request $response $options => -> :: ( ) { } [ ] ; , = == === !== < > + - * / . "
         "'' \"\" getId setName findAll findOne render validate execute fetch insert update "
         "delete handle dispatch Nexo\\Core Nexo\\Http Nexo\\Db Model Controller Service "
         "Repository View Session Cache Logger var const let document window querySelector "
         "addEventListener px em color margin padding display flex none div span class= "
         "href= {{ }} {% %} endif endfor block extends include trans lang users posts").split()
TOK = WORDS + ["\n", "\n    ", "\n        "]
CUM = []
acc = 0
for t in TOK:
    acc += 12 if t.startswith("\n") else 1
    CUM.append(acc)

def text(rng, n, head):
    out = [head]
    have = len(head)
    while have < n:
        k = max(16, (n - have) // 4)
        chunk = " ".join(rng.choices(TOK, cum_weights=CUM, k=k))
        out.append(chunk)
        have += len(chunk)
    return "".join(out).encode()[:n]

def binary(rng, n):
    return rng.randbytes(n)

rng = random.Random(SEED)
rng11 = random.Random(SEED + 1)
# four large binary files: 15 % of the bytes
large = [("resources/media/intro.mp4", 0.05), ("resources/media/tour.webm", 0.04),
         ("public_html/assets/video/demo.mp4", 0.03), ("core/vendor/data/geo.dat", 0.03)]
entries = []   # (path, kind, size)
for p, share in large:
    entries.append((p, "bin", int(TOTAL * share)))
fixed = 2      # core/version.php, database/schema/install.xml
M = N - fixed - len(large)
areas = [("core", 0.45, 0.0, "src", ["php"] * 8 + ["json", "xml"], ["dat"]),
         ("public_html", 0.35, 0.40, "assets", ["js", "js", "css", "html"], ["png", "jpg", "woff2"]),
         ("resources", 0.20, 0.30, "views", ["twig", "twig", "ini", "json"], ["png"])]
plan = []
start = 0
for ai, (area, share, binshare, sub, text_ext, bin_ext) in enumerate(areas):
    cnt = M - start if ai == len(areas) - 1 else int(M * share)
    for j in range(cnt):
        isbin = rng.random() < binshare
        d = j // 25
        ext = rng.choice(bin_ext if isbin else text_ext)
        path = f"{area}/{sub}/{d // 20:02d}/{d % 20:02d}/f{j:05d}.{ext}"
        size = rng.lognormvariate(math.log(16000), 1.2) if isbin else rng.lognormvariate(math.log(4000), 1.0)
        plan.append((path, "bin" if isbin else "txt", min(size, 2 * 1024 * 1024)))
    start += cnt
rest = TOTAL - sum(s for _, _, s in entries) - 4096
f = rest / sum(s for _, _, s in plan)
plan = [(p, k, max(16, int(s * f))) for p, k, s in plan]
diff = rest - sum(s for _, _, s in plan)
i = max(range(len(plan)), key=lambda i: plan[i][2] if plan[i][1] == "txt" else -1)
plan[i] = (plan[i][0], plan[i][1], max(16, plan[i][2] + diff))
entries += plan

made = set()
def put(root, path, data):
    full = os.path.join(root, path)
    d = os.path.dirname(full)
    if d not in made:
        os.makedirs(d, exist_ok=True)
        made.add(d)
    with open(full, "wb") as fh:
        fh.write(data)

changed = added = removed = 0
b10 = b11 = n10 = n11 = 0
for idx, (path, kind, size) in enumerate(entries):
    data = binary(rng, size) if kind == "bin" else text(rng, size, f"<?php // {path} 1.0.0\n")
    put(d10, path, data); n10 += 1; b10 += len(data)
    r = rng11.random()
    if idx < len(large):
        r = 0.05 if idx == 0 else 0.5          # the first large file changes
    if r < 0.005:
        removed += 1
        continue
    if r < 0.105:
        changed += 1
        ns = max(16, int(size * rng11.uniform(0.9, 1.2)))
        data = binary(rng11, ns) if kind == "bin" else text(rng11, ns, f"<?php // {path} 1.1.0\n")
    put(d11, path, data); n11 += 1; b11 += len(data)
for k in range(N // 100):
    size = max(16, int(rng11.lognormvariate(math.log(4000), 1.0) * f))
    data = text(rng11, size, f"<?php // new in 1.1.0\n")
    put(d11, f"core/src/feature/{k // 25:02d}/n{k:05d}.php", data)
    added += 1; n11 += 1; b11 += len(data)

VERSION = """<?php
// NexoSupport core version (spec \u00a72.2)
return [
    'version' => '%s',
    'branch' => 'stable',
];
"""
INSTALL = """<?xml version="1.0" encoding="UTF-8"?>
<install version="1.0.0">
    <description>NexoSupport 1.0.0 (benchmark site)</description>
    <database>
        <create_table name="users">
            <columns>
                <column name="id" type="INT UNSIGNED" autoincrement="true" primary="true"/>
                <column name="email" type="VARCHAR" length="255" null="false"/>
                <column name="name" type="VARCHAR" length="100"/>
                <column name="created_at" type="INT UNSIGNED" null="false" default="0"/>
            </columns>
            <indexes>
                <index name="idx_users_email" columns="email" unique="true"/>
            </indexes>
        </create_table>
        <create_table name="posts">
            <columns>
                <column name="id" type="INT UNSIGNED" autoincrement="true" primary="true"/>
                <column name="user_id" type="INT UNSIGNED" null="false"/>
                <column name="title" type="VARCHAR" length="200" null="false"/>
                <column name="body" type="TEXT"/>
                <column name="created_at" type="INT UNSIGNED" null="false"/>
            </columns>
            <indexes>
                <index name="idx_posts_user" columns="user_id"/>
            </indexes>
            <foreignKeys>
                <foreignKey column="user_id" references="users(id)" onDelete="CASCADE"/>
            </foreignKeys>
        </create_table>
        <create_table name="config">
            <columns>
                <column name="id" type="INT UNSIGNED" autoincrement="true" primary="true"/>
                <column name="config_key" type="VARCHAR" length="100" null="false"/>
                <column name="config_value" type="TEXT"/>
            </columns>
            <indexes>
                <index name="idx_config_key" columns="config_key" unique="true"/>
            </indexes>
        </create_table>
    </database>
    <data>
        <insert table="config">
            <row><config_key>site.name</config_key><config_value>NexoSupport</config_value></row>
        </insert>
    </data>
</install>
"""
UPGRADE = """<?xml version="1.0" encoding="UTF-8"?>
<upgrade from="1.0.0" to="1.1.0">
    <description>posts get a status; old posts are archived</description>
    <database>
        <modify_table name="posts">
            <add_column name="status" type="VARCHAR" length="20" null="false" default="published"/>
            <add_index name="idx_posts_user_created" columns="user_id, created_at"/>
        </modify_table>
    </database>
    <data>
        <update table="posts" set="status = 'archived'" where="created_at &lt; 1500000000"/>
        <insert table="config">
            <row><config_key>posts.archive_before</config_key><config_value>1500000000</config_value></row>
        </insert>
    </data>
</upgrade>
"""
for root, v in ((d10, "1.0.0"), (d11, "1.1.0")):
    put(root, "core/version.php", (VERSION % v).encode())
    put(root, "database/schema/install.xml", INSTALL.encode())
put(d11, "database/upgrades/upgrade_1.0.0_1.1.0.xml", UPGRADE.encode())
n10 += 2; n11 += 3
b10 = sum(os.path.getsize(os.path.join(dp, x)) for dp, _, fn in os.walk(d10) for x in fn)
b11 = sum(os.path.getsize(os.path.join(dp, x)) for dp, _, fn in os.walk(d11) for x in fn)
print(n10, b10, n11, b11, changed, added, removed)
PY

cat > "$T/poll.py" <<'PY'
# poll.py FILE OUT: watch FILE every 5 ms until SIGTERM; write to OUT
# "SECONDS_PRESENT FIRST_SEEN LAST_GONE TIMES_SEEN" (epoch seconds).
import os, signal, sys, time
path, out = sys.argv[1], sys.argv[2]
stop = False
def term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, term)
open(out + ".ready", "w").close()
on, spans = None, []
while not stop:
    e = os.path.exists(path)
    t = time.time()
    if e and on is None:
        on = t
    elif not e and on is not None:
        spans.append((on, t)); on = None
    time.sleep(0.005)
if on is not None:
    spans.append((on, time.time()))
with open(out, "w") as fh:
    if spans:
        fh.write("%.3f %.3f %.3f %d\n" % (sum(b - a for a, b in spans), spans[0][0], spans[-1][1], len(spans)))
    else:
        fh.write("0 0 0 0\n")
PY

cat > "$T/journal.py" <<'PY'
# journal.py JNL T0 T1: nexo-update's steps from its journal (epoch ms);
# a step's checkpoints split it (backup: database, files; migrate: files).
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
t0, t1 = float(sys.argv[2]) * 1000, float(sys.argv[3]) * 1000
names, start, done, marks = [], {}, {}, {}
tb = cb = te = None
for r in recs:
    ev = r["ev"]
    if ev == "begin":
        tb = r["t"]; names = [s["name"] for s in r["pipeline"]["steps"]]
    elif ev == "step-start":
        start[r["step"]] = r["t"]
    elif ev == "step-done":
        done[r["step"]] = r["t"]
    elif ev == "checkpoint":
        marks.setdefault(r["step"], []).append((r["t"], r.get("what") or ""))
    elif ev == "commit-begin":
        cb = r["t"]
    elif ev == "end":
        te = r["t"]
on = names.index("maintenance-on"); off = names.index("maintenance-off")
line = lambda what, ms: print("%-44s %8.3f" % (what, ms / 1000))
line("before 'begin' (index, modules)", tb - t0)
for i, n in enumerate(names):
    if i in start and i in done:
        line("step " + n + (" (in maintenance)" if on <= i <= off else ""), done[i] - start[i])
        if done[i] - start[i] >= 100 and len(marks.get(i, [])) > 1:
            last = start[i]
            for t, what in marks[i]:
                line("  %s up to checkpoint '%s'" % (n, what[:20]), t - last); last = t
            line("  %s after its last checkpoint" % n, done[i] - last)
line("commit (old trees, staging, download)", te - cb)
line("after 'end' (history, work folder)", t1 - te)
print("MAINT %.3f" % ((done[off] - start[on]) / 1000))
PY

# The database: SQL for the shell (dialect of DRIVER).
db_cli() { # db_cli DB [SQL]: run SQL (argument or stdin) on DB
    local db=$1; shift
    case $DRIVER in
    pgsql) psql -h "$H" -p "$P" -U "$U" -d "$db" -qAt -v ON_ERROR_STOP=1 ${1:+-c "$1"} ;;
    mariadb) mariadb --defaults-extra-file="$T/my.cnf" -N -B "$db" ${1:+-e "$1"} ;;
    sqlite) sqlite3 -bail "$db" ${1:+"$1"} ;;
    esac
}
db_create() { # db_create NAME: prints the connection's [database] section
    local name=$1 dir=$2
    case $DRIVER in
    pgsql) psql -h "$H" -p "$P" -U "$U" -d postgres -qc "CREATE DATABASE $name" > /dev/null
           printf '[database]\ndriver = pgsql\nhost = %s\nport = %s\nname = %s\nuser = %s\npassword_file = %s\n' \
               "$H" "$P" "$name" "$U" "$T/pw" ;;
    mariadb) mariadb --defaults-extra-file="$T/my.cnf" -e "CREATE DATABASE $name"
           printf '[database]\ndriver = mariadb\nhost = %s\nport = %s\nname = %s\nuser = %s\npassword_file = %s\n' \
               "$MH" "$MP" "$name" "$U" "$T/pw" ;;
    sqlite) printf '[database]\ndriver = sqlite\npath = %s\n' "$dir/site.db" ;;
    esac
}
db_ref() { case $DRIVER in sqlite) echo "$1/site.db" ;; *) echo "$2" ;; esac; }
load_sql() {
    case $DRIVER in
    pgsql) cat <<SQL
INSERT INTO users (email, name, created_at)
  SELECT 'user' || g || '@example.org', 'User ' || g, 1400000000 + (g::bigint * 37) % 300000000
  FROM generate_series(1, $USERS) g;
INSERT INTO posts (user_id, title, body, created_at)
  SELECT 1 + g % $USERS, 'Post ' || g, repeat(md5(g::text), 3), 1400000000 + (g::bigint * 2654435761) % 300000000
  FROM generate_series(1, $POSTS) g;
VACUUM ANALYZE users, posts, config;
SQL
    ;;
    mariadb) cat <<SQL
SET SESSION max_recursive_iterations = 4294967295;
INSERT INTO users (email, name, created_at)
  WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $USERS)
  SELECT CONCAT('user', g, '@example.org'), CONCAT('User ', g), 1400000000 + (g * 37) % 300000000 FROM s;
INSERT INTO posts (user_id, title, body, created_at)
  WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $POSTS)
  SELECT 1 + g % $USERS, CONCAT('Post ', g), REPEAT(MD5(g), 3), 1400000000 + (g * 2654435761) % 300000000 FROM s;
ANALYZE TABLE users, posts;
SQL
    ;;
    sqlite) cat <<SQL
PRAGMA foreign_keys = ON;
BEGIN;
INSERT INTO users (email, name, created_at)
  WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $USERS)
  SELECT 'user' || g || '@example.org', 'User ' || g, 1400000000 + (g * 37) % 300000000 FROM s;
INSERT INTO posts (user_id, title, body, created_at)
  WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $POSTS)
  SELECT 1 + g % $USERS, 'Post ' || g, printf('%08d lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod', g), 1400000000 + (g * 2654435761) % 300000000 FROM s;
COMMIT;
ANALYZE;
SQL
    ;;
    esac
}
# The migration 1.0.0 -> 1.1.0 as an admin types it (the same statements
# nexo-update's migrate step renders, plus the system_versions row of the
# register_version step).
migrate_sql() {
    local ts; ts=$(date +%s)
    case $DRIVER in
    pgsql) cat <<SQL
BEGIN;
ALTER TABLE posts ADD COLUMN status varchar(20) NOT NULL DEFAULT 'published';
CREATE INDEX idx_posts_user_created ON posts (user_id, created_at);
UPDATE posts SET status = 'archived' WHERE created_at < 1500000000;
INSERT INTO config (config_key, config_value) VALUES ('posts.archive_before', '1500000000');
INSERT INTO system_versions (component, version_number, version_code, applied_at, description)
  VALUES ('core', '1.1.0', 1001000, $ts, 'by hand');
COMMIT;
SQL
    ;;
    mariadb) cat <<SQL
ALTER TABLE posts ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'published';
CREATE INDEX idx_posts_user_created ON posts (user_id, created_at);
UPDATE posts SET status = 'archived' WHERE created_at < 1500000000;
INSERT INTO config (config_key, config_value) VALUES ('posts.archive_before', '1500000000');
INSERT INTO system_versions (component, version_number, version_code, applied_at, description)
  VALUES ('core', '1.1.0', 1001000, $ts, 'by hand');
SQL
    ;;
    sqlite) cat <<SQL
BEGIN;
ALTER TABLE posts ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'published';
CREATE INDEX idx_posts_user_created ON posts (user_id, created_at);
UPDATE posts SET status = 'archived' WHERE created_at < 1500000000;
INSERT INTO config (config_key, config_value) VALUES ('posts.archive_before', '1500000000');
INSERT INTO system_versions (component, version_number, version_code, applied_at, description)
  VALUES ('core', '1.1.0', 1001000, $ts, 'by hand');
COMMIT;
SQL
    ;;
    esac
}
dump_by_hand() { # dump_by_hand DB FILE
    case $DRIVER in
    pgsql) pg_dump -h "$H" -p "$P" -U "$U" --format=custom -f "$2" "$1" ;;
    mariadb) mariadb-dump --defaults-extra-file="$T/my.cnf" --single-transaction --routines \
                 --triggers --events --hex-blob --add-drop-table --no-tablespaces \
                 --result-file="$2" "$1" ;;
    sqlite) sqlite3 "$1" ".backup '$2'" ;;
    esac
}
db_bytes() {
    case $DRIVER in
    pgsql) db_cli "$1" "SELECT pg_database_size(current_database())" ;;
    mariadb) db_cli "$1" "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = DATABASE()" ;;
    sqlite) stat -c %s "$1" ;;
    esac
}
checkpoint_db() { # flush the load's dirty pages before a timed run (best effort)
    sync
    if [ "$DRIVER" = pgsql ] && [ "$(id -u)" = 0 ] && command -v runuser > /dev/null; then
        runuser -u postgres -- psql -p "$P" -qc CHECKPOINT > /dev/null 2>&1 || true
    fi
}

# setup RUN: a fresh site at 1.0.0 in $T/RUN/site with its database
# (installed by nexo-update, then filled), and $T/RUN/nexo.ini.
setup() {
    local run=$1 dir=$T/$1 name=${DBPFX}_$1
    rm -rf "$dir"; mkdir -p "$dir/site"; chmod 755 "$dir"
    cp -a "$T/src/1.0.0/." "$dir/site/"
    echo "APP_KEY=base64:bench-secret" > "$dir/site/.env"; chmod 600 "$dir/site/.env"
    mkdir -p "$dir/site/var/cache/views" "$dir/site/var/logs" "$dir/site/modules/plugins/demo"
    echo "compiled view" > "$dir/site/var/cache/views/home.php"
    printf "<?php\nreturn ['version' => '1.0.0'];\n" > "$dir/site/modules/plugins/demo/version.php"
    { printf '[site]\nroot = site\nmanaged = core public_html resources database\n'
      printf 'preserve = .env var modules/plugins\n'
      db_create "$name" "$dir"
      printf '[server]\nurl = %s/repo/index.json\ntrusted_keys = %s\n' "$HTTP_URL" "$T/trusted"
      printf '[paths]\nstate = state\nbackups = backups\n'; } > "$dir/nexo.ini"
    printf '[pipeline]\nname = install\n[install]\nmodule = migrate\nmode = install\n[register]\nmodule = register_version\n' \
        > "$dir/install.ini"
    "$NX" -q -c "$dir/nexo.ini" -y pipeline run "$dir/install.ini" --component core --to 1.0.0 < /dev/null
    load_sql | db_cli "$(db_ref "$dir" "$name")" > /dev/null
    rm -rf "$dir/state"    # the install's journal: the timed run starts with an empty state
    checkpoint_db
}
teardown() {
    local dir=$T/$1
    case $DRIVER in
    pgsql) psql -h "$H" -p "$P" -U "$U" -d postgres -qc "DROP DATABASE IF EXISTS ${DBPFX}_$1" > /dev/null ;;
    mariadb) mariadb --defaults-extra-file="$T/my.cnf" -e "DROP DATABASE IF EXISTS ${DBPFX}_$1" ;;
    esac
    rm -rf "$dir"
    LAST_RM=$(now)
}
poll_start() {
    python3 "$T/poll.py" "$1" "$2" & POLL=$!
    local i
    for i in $(seq 1 200); do [ -e "$2.ready" ] && return 0; sleep 0.01; done
    echo "poller did not start" >&2; exit 1
}
# cpu FILE: user + sys seconds of the children in the output of `times`
# (the commands run and what they waited for; not the database server)
cpu() { sed -n 2p "$1" | tr 'ms' '  ' | awk '{ printf "%.3f", $1 * 60 + $2 + $3 * 60 + $4 }'; }
poll_stop() { kill -TERM "$POLL"; wait "$POLL" || true; POLL=; }
# check RUN: the site and database are at 1.1.0 with the migration applied
check() {
    local dir=$T/$1 name=${DBPFX}_$1 v n
    v=$(sed -n "s/.*'version' => '\([^']*\)'.*/\1/p" "$dir/site/core/version.php")
    n=$(db_cli "$(db_ref "$dir" "$name")" "SELECT COUNT(*) FROM posts WHERE status = 'archived'")
    [ "$v" = 1.1.0 ] && [ "$n" -gt 0 ] && [ ! -e "$dir/site/MAINTENANCE" ] ||
        { echo "$1: not updated (version.php '$v', $n archived posts)" >&2; exit 1; }
    echo "$n"
}

# A: nexo-update core. Writes $T/res/REP.nexo: total maint history journal-maint
run_nexo() {
    local rep=$1 dir=$T/nexo t0 t1 jnl id hist n
    setup nexo
    [ -n "${DBSIZE:-}" ] || DBSIZE=$(db_bytes "$(db_ref "$dir" "${DBPFX}_nexo")")
    settle
    cut -d' ' -f1 /proc/loadavg > "$T/res/$rep.nexo.load"
    poll_start "$dir/site/MAINTENANCE" "$dir/poll"
    t0=$(now)
    local rc=0
    ( rc=0; "$NX" -c "$dir/nexo.ini" -y core > "$dir/nexo.log" 2>&1 < /dev/null || rc=$?
      times > "$dir/times"; exit $rc ) || rc=$?
    t1=$(now)
    poll_stop
    if [ "$rc" != 0 ]; then     # reported beside the baseline's numbers
        NEXO_FAILED="exit $rc after $(secs "$t0" "$t1") s: $(grep -E '^error:' "$dir/nexo.log" | head -3)"
        echo "$(secs "$t0" "$t1") $(cut -d' ' -f1 "$dir/poll") - - $(cpu "$dir/times")" > "$T/res/$rep.nexo"
        teardown nexo
        return 0
    fi
    n=$(check nexo)
    [ -n "${ARCHIVED:-}" ] || ARCHIVED=$n
    [ "$n" = "$ARCHIVED" ] || { echo "nexo-update archived another number of posts" >&2; exit 1; }
    jnl=$(ls "$dir"/state/journal/*.jnl)
    id=$(basename "$jnl" .jnl)
    python3 "$T/journal.py" "$jnl" "$t0" "$t1" > "$dir/steps"
    hist=$("$NX" -c "$dir/nexo.ini" --json history --limit 1 |
           python3 -c 'import json,sys; a=json.load(sys.stdin)["attempts"][0]; print(a["maintenance_seconds"], a["outcome"])')
    [ "${hist#* }" = success ] || { echo "history says: $hist" >&2; exit 1; }
    local b; b=$(ls -d "$dir"/backups/backup_"$id"_*)
    SZ_NEXO_DBBK=$(stat -c %s "$b"/database.dump 2>/dev/null || echo 0)
    SZ_NEXO_FBK=$(stat -c %s "$b/files.tar.zst")
    echo "$(secs "$t0" "$t1") $(cut -d' ' -f1 "$dir/poll") ${hist% *} $(sed -n 's/^MAINT //p' "$dir/steps")" \
        "$(cpu "$dir/times")" > "$T/res/$rep.nexo"
    grep -v '^MAINT ' "$dir/steps" > "$T/res/$rep.nexo.steps"
    grep -E '^(warning|error):' "$dir/nexo.log" | head -20 > "$T/res/$rep.nexo.log" || true
    teardown nexo
}

# B: the shell baseline. Writes $T/res/REP.base: total maint
run_base() {
    local rep=$1 dir=$T/base site=$T/base/site db t0 t1 last n
    setup base
    db=$(db_ref "$dir" "${DBPFX}_base")
    migrate_sql > "$dir/migrate.sql"
    mkdir -p "$dir/backup"
    : > "$dir/steps"
    settle
    cut -d' ' -f1 /proc/loadavg > "$T/res/$rep.base.load"
    stamp() { local t; t=$(now); printf '%-44s %8.3f\n' "$1" "$(secs "$last" "$t")" >> "$dir/steps"; last=$t; }
    poll_start "$site/MAINTENANCE" "$dir/poll"
    t0=$(now); last=$t0
    (   # a failing command ends the script (set -e; the EXIT trap cleans up)
        cd "$dir"
        curl -sSf -o pkg.zip "$ZIP_URL";                         stamp "curl"
        echo "$ZIP_SHA  pkg.zip" | sha256sum -c --quiet;         stamp "sha256sum -c"
        touch "$site/MAINTENANCE";                               stamp "touch MAINTENANCE"
        dump_by_hand "$db" backup/database.dump;                 stamp "dump database (in maintenance)"
        tar czf backup/files.tar.gz -C "$site" core public_html resources database .env
                                                                 stamp "tar czf (in maintenance)"
        mkdir tmp && unzip -q pkg.zip -d tmp;                    stamp "unzip (in maintenance)"
        cp -r tmp/core tmp/public_html tmp/resources tmp/database "$site/"
                                                                 stamp "cp -r (in maintenance)"
        db_cli "$db" < migrate.sql > /dev/null;                  stamp "migration SQL (in maintenance)"
        rm "$site/MAINTENANCE";                                  stamp "rm MAINTENANCE"
        rm -rf tmp pkg.zip;                                      stamp "rm -rf tmp pkg.zip"
        times > "$dir/times"
    )
    t1=$(now)
    poll_stop
    n=$(check base)
    [ -n "${ARCHIVED:-}" ] || ARCHIVED=$n
    [ "$n" = "$ARCHIVED" ] || { echo "the baseline archived another number of posts" >&2; exit 1; }
    SZ_BASE_DBBK=$(stat -c %s "$dir/backup/database.dump")
    SZ_BASE_FBK=$(stat -c %s "$dir/backup/files.tar.gz")
    echo "$(secs "$t0" "$t1") $(cut -d' ' -f1 "$dir/poll") $(cpu "$dir/times")" > "$T/res/$rep.base"
    cp "$dir/steps" "$T/res/$rep.base.steps"
    teardown base
}

# ---------------------------------------------------------------- the releases
mkdir -p "$T/src" "$T/www/repo" "$T/www/zip" "$T/keys" "$T/trusted" "$T/res"
say "generating the site: $FILES files, $MB MiB (seed $SEED)"
g0=$(now)
read -r N10 B10 N11 B11 NCHG NADD NREM < <(python3 "$T/gen.py" "$T/src/1.0.0" "$T/src/1.1.0" "$FILES" "$MB" "$SEED")
say "  1.0.0: $N10 files, $B10 bytes; 1.1.0: $N11 files, $B11 bytes ($NCHG changed, $NADD added, $NREM removed) in $(secs "$g0" "$(now)") s"
"$REL" -q keygen "$T/keys/vendor" --scope index --scope core --scope 'plugin:*'
cp "$T/keys/vendor.pub" "$T/keys/vendor.scope" "$T/trusted/"
g0=$(now)
for v in 1.0.0 1.1.0; do
    "$REL" -q pack --component core --src "$T/src/$v" --key "$T/keys/vendor.key" --repo "$T/www/repo"
done
"$REL" -q pack --component core --src "$T/src/1.1.0" --key "$T/keys/vendor.key" --repo "$T/www/zip" --format zip
PACK_S=$(secs "$g0" "$(now)")
say "  packed and signed 1.0.0, 1.1.0 (tar.zst) and 1.1.0 (zip) in $PACK_S s"
PKG=$T/www/repo/core/nexosupport-1.1.0.tar.zst
ZIP=$T/www/zip/core/nexosupport-1.1.0.zip
ZIP_SHA=$(sha256sum "$ZIP" | cut -d' ' -f1)
chmod -R a+rX "$T/www"
http_start "$T/www"
ZIP_URL=$HTTP_URL/zip/core/nexosupport-1.1.0.zip
# The package's manifest: the verify and extract steps read at most 64 MiB
# of it (NX_MANIFEST_MAX in core/manifest.h; until c62c29e 1 MiB, about
# 5,000 entries: a 20,000-file release was refused); nexo-release writes it
# indented, ~200 bytes an entry.
MAN_BYTES=$(unzip -p "$ZIP" nexo-release.json | wc -c)
MAN_ENTRIES=$(unzip -p "$ZIP" nexo-release.json | grep -c '"path":' || true)
if [ "$MAN_BYTES" -gt 67108864 ]; then
    say "warning: nexo-release.json of 1.1.0 is $MAN_BYTES bytes ($MAN_ENTRIES entries); nexo-update's"
    say "  verify and extract steps (as shipped) refuse a manifest over 64 MiB: run A will be refused"
fi

# ---------------------------------------------------------------- the runs
for rep in $(seq 1 "$REPEAT"); do
    if [ $((rep % 2)) = 1 ]; then order="nexo base"; else order="base nexo"; fi
    for r in $order; do
        say "run $rep/$REPEAT: $([ $r = nexo ] && echo "A nexo-update core" || echo "B shell baseline") (setting up a fresh site and database)"
        "run_$r" "$rep"
        say "  $(cut -d' ' -f1,2 "$T/res/$rep.$r" | awk '{ printf "whole %.3f s, in maintenance %.3f s", $1, $2 }') (load before: $(cat "$T/res/$rep.$r.load"))"
    done
done

# ---------------------------------------------------------------- the report
median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'; }
col() { for rep in $(seq 1 "$REPEAT"); do cut -d' ' -f"$2" "$T/res/$rep.$1"; done | median; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'; }
BT=$(col base 1) BM=$(col base 2) BC=$(col base 3)
if [ -z "${NEXO_FAILED:-}" ]; then
    NT=$(col nexo 1) NM=$(col nexo 2) NH=$(col nexo 3) NJ=$(col nexo 4) NC=$(col nexo 5)
else
    NT=failed NM=failed NC=failed
fi
size() { [ -n "${1:-}" ] && mib "$1" || echo "-"; }
row() { printf '%-34s %12s %12s %8s\n' "$1" "$2" "$3" "$(ratio "$4" "$5")"; }
what="one run each"
[ "$REPEAT" -gt 1 ] && what="median of $REPEAT runs each"
echo
echo "core update 1.0.0 -> 1.1.0 on $DBVER, $what ($(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"))"
echo "site:     $N10 files, $(mib "$B10") in core public_html resources database (+ .env, var, modules/plugins)"
echo "release:  1.1.0 has $N11 files, $(mib "$B11"): $NCHG changed, $NADD added, $NREM removed;"
echo "          its nexo-release.json: $MAN_BYTES bytes, $MAN_ENTRIES entries"
echo "database: $ROWS rows (users $USERS, posts $POSTS), $(mib "$DBSIZE"); the migration updates $ARCHIVED posts"
echo
printf '%-34s %12s %12s %8s\n' "metric" "nexo-update" "baseline" "ratio"
row "whole update (s)" "$NT" "$BT" "$NT" "$BT"
row "in maintenance mode (s, poller)" "$NM" "$BM" "$NM" "$BM"
row "CPU user+sys, client side (s)" "$NC" "$BC" "$NC" "$BC"
PB=$(stat -c %s "$PKG") ZB=$(stat -c %s "$ZIP")
row "package (tar.zst / zip)" "$(mib "$PB")" "$(mib "$ZB")" "$PB" "$ZB"
row "backup: database" "$(size "${SZ_NEXO_DBBK:-}")" "$(mib "$SZ_BASE_DBBK")" "${SZ_NEXO_DBBK:-}" "$SZ_BASE_DBBK"
row "backup: files (tar.zst / tar.gz)" "$(size "${SZ_NEXO_FBK:-}")" "$(mib "$SZ_BASE_FBK")" "${SZ_NEXO_FBK:-}" "$SZ_BASE_FBK"
echo
if [ -n "${NEXO_FAILED:-}" ]; then
    echo "nexo-update core failed: $NEXO_FAILED"
    if [ "$MAN_BYTES" -gt 67108864 ]; then
        echo "(its manifest, $MAN_BYTES bytes for $MAN_ENTRIES entries, is over the 64 MiB the verify and extract"
        echo " steps accept; about $((67108864 * MAN_ENTRIES / MAN_BYTES)) entries fit)"
    fi
else
    echo "nexo-update maintenance: $NM s by the poller, $NJ s in its journal (maintenance-on start to"
    echo "maintenance-off done), $NH s in 'nexo-update history' (whole seconds)"
fi
echo
# per-step medians over the runs: LABEL (44 columns) SECONDS lines
steps_median() {
    python3 - "$@" <<'PY'
import statistics, sys
runs = [[(l[:44], float(l[44:])) for l in open(f) if l.strip()] for f in sys.argv[1:]]
order = max(runs, key=len)   # a step's checkpoint lines show when it took >= 0.1 s
for label, _ in order:
    v = [t for r in runs for l, t in r if l == label]
    print("  %s %8.3f%s" % (label, statistics.median(v), "" if len(v) == len(runs) else " (%d of %d runs)" % (len(v), len(runs))))
PY
}
[ "$REPEAT" -gt 1 ] && how="medians of $REPEAT runs" || how="one run"
echo "where the time went (seconds, $how):"
if [ -s "$T/res/1.nexo.steps" ]; then
    echo "A nexo-update (journal timestamps)"
    steps_median "$T"/res/*.nexo.steps
fi
echo "B baseline (time stamps between the commands)"
steps_median "$T"/res/*.base.steps
if [ -s "$T/res/1.nexo.log" ]; then
    echo "nexo-update's warnings (run 1):"
    sed 's/^/  /' "$T/res/1.nexo.log"
fi
[ -z "${NEXO_FAILED:-}" ]
