# A whole demo site for the end-to-end tests of the update commands
# (sourced after lib.sh and db.sh).
#
#   site_setup DRIVER [VERSIONS...]
#       nx_setup must have run. Makes a signed release repository $T/repo
#       (nexo-release, key $T/keys/vendor) with core releases VERSIONS
#       (default 1.0.0 1.1.0) built from tests/fixtures/site, a fresh
#       database on DRIVER (db_setup; skips with exit 77 when the server is
#       not reachable), the configuration $CONF (default pipelines of the
#       installed prefix, server = the repository's index.json) and the
#       site $T/site installed at the first version through `install.ini`
#       (migrate mode=install + register_version). The site then has data
#       of its own: .env, var/cache, var/logs, a plugin folder, and rows it
#       wrote (users, sessions, config).
#   site_snapshot NAME   files (path, type, mode, sha256) and database dump
#   site_same NAME       0 when both equal the snapshot NAME (diff on stderr)
#   site_own_files       the files update and rollback never touch (.env,
#                        var/ except what the fixture's custom script writes and
#                        var/cache, which the cache_clear step empties by design,
#                        modules/plugins/), with their sha256 and mode
#   site_version_disk    core version in ROOT/core/version.php
#   site_version_db      newest core version in system_versions
#   site_clean           0 when no MAINTENANCE, lock free, no journal waiting,
#                        no staging/trash folder left in the site
#   site_history_outcome [UPDATE_ID]  outcome of the newest (or that) attempt

FIXTURE_SITE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/site" && pwd)"

# site_release V DIR: the release V's source tree in DIR.
site_release() {
    local v=$1 dir=$2
    mkdir -p "$dir"
    cp -a "$FIXTURE_SITE/." "$dir/"
    rm -rf "$dir/var"
    printf "<?php\n// NexoSupport core version (spec §2.2)\nreturn [\n    'version' => '%s',\n    'branch' => 'stable',\n];\n" "$v" > "$dir/core/version.php"
    printf "<?php echo 'NexoSupport %s';\n" "$v" > "$dir/public_html/index.php"
    mkdir -p "$dir/resources/lang"
    printf 'hello = "Hello from %s"\n' "$v" > "$dir/resources/lang/en.ini"
    printf '#!/bin/sh\necho "cron of %s"\n' "$v" > "$dir/core/cron.sh"
    chmod 750 "$dir/core/cron.sh"
    # every release has a file of its own, so a swap is visible
    echo "only in $v" > "$dir/public_html/release-$v.txt"
}

site_setup() {
    local driver=$1; shift
    local versions=("$@") v rel
    [ ${#versions[@]} -gt 0 ] || versions=(1.0.0 1.1.0)
    REL="$PREFIX/bin/nexo-release"
    mkdir -p "$T/keys" "$T/trusted" "$T/repo" "$T/src"
    "$REL" -q keygen "$T/keys/vendor" --scope index --scope core --scope 'plugin:*'
    cp "$T/keys/vendor.pub" "$T/keys/vendor.scope" "$T/trusted/"
    for v in "${versions[@]}"; do
        site_release "$v" "$T/src/$v"
        "$REL" -q pack --component core --src "$T/src/$v" --key "$T/keys/vendor.key" --repo "$T/repo"
    done
    cat > "$CONF" <<CONF
[site]
root = site
[server]
url = file://$T/repo/index.json
trusted_keys = trusted
[paths]
state = state
backups = backups
CONF
    db_setup "$driver"
    rm -rf "$T/site"
    mkdir -p "$T/site"
    cp -a "$T/src/${versions[0]}/." "$T/site/"
    printf '[pipeline]\nname = install\n[install]\nmodule = migrate\nmode = install\n[register]\nmodule = register_version\n' > "$T/install.ini"
    "$NX" -q -c "$CONF" -y pipeline run "$T/install.ini" --component core --to "${versions[0]}" \
        || { echo "site_setup: cannot install the site at ${versions[0]}"; exit 1; }
    # what the site owns and nexo-update must never touch
    echo "APP_KEY=base64:site-secret" > "$T/site/.env"
    chmod 600 "$T/site/.env"
    mkdir -p "$T/site/var/cache/views" "$T/site/var/logs" "$T/site/modules/plugins/demo"
    echo "compiled view" > "$T/site/var/cache/views/home.php"
    echo "site log line" > "$T/site/var/logs/site.log"
    printf "<?php\nreturn ['version' => '1.0.0'];\n" > "$T/site/modules/plugins/demo/version.php"
    # rows the site wrote before any update
    db_sql "INSERT INTO users (email, bio, created_at) VALUES ('carol@example.org', 'joined after install', 1700000000)"
    db_sql "INSERT INTO users (email, bio, created_at) VALUES ('dave@example.org', 'another site user', 1700000100)"
    db_sql "INSERT INTO sessions (user_id, last_activity) VALUES (3, 4000000100)"
    db_sql "INSERT INTO config (config_key, config_value) VALUES ('site_name', 'Demo')"
}

site_files() {
    local skip=./var/custom-script.env
    # SITE_SKIP_CACHE=1: leave var/cache out (a successful update empties it)
    [ "${SITE_SKIP_CACHE:-0}" = 1 ] && skip=./var/cache
    (cd "$T/site" && find . \( -path ./var/custom-script.env -o -path "$skip" \) -prune -o -printf '%p %y %m %l\n' |
        LC_ALL=C sort | nx_tree_sum 1)
}

site_snapshot() {
    site_files > "$T/snap-$1.files"
    db_dump > "$T/snap-$1.db"
}

site_same() {
    local rc=0
    site_files > "$T/now.files"
    db_dump > "$T/now.db"
    diff "$T/snap-$1.files" "$T/now.files" >&2 || rc=1
    diff "$T/snap-$1.db" "$T/now.db" >&2 || rc=1
    return $rc
}

site_own_files() {
    (cd "$T/site" && find .env var modules/plugins \( -path var/custom-script.env -o -path var/cache \) -prune -o -type f -printf '%p f %m\n' |
        LC_ALL=C sort | nx_tree_sum | sed 's/ f / /')
}

site_version_disk() {
    sed -n "s/.*'version' => '\([^']*\)'.*/\1/p" "$T/site/core/version.php" | head -1
}

site_version_db() {
    db_sql "SELECT version_number FROM system_versions WHERE component = 'core' ORDER BY id DESC LIMIT 1"
}

site_clean() {
    local rc=0
    [ ! -e "$T/site/MAINTENANCE" ] || { echo "MAINTENANCE left behind" >&2; rc=1; }
    [ ! -e "$T/state/journal/current.jnl" ] || { echo "a journal is waiting" >&2; rc=1; }
    if ls -a "$T/site" | grep -q '^\.nexo-'; then echo "left in the site: $(ls -a "$T/site" | grep '^\.nexo-')" >&2; rc=1; fi
    if [ -e "$T/state/lock" ] && ! flock -n "$T/state/lock" true; then echo "lock held" >&2; rc=1; fi
    return $rc
}

site_history_outcome() {
    if [ -n "${1:-}" ]; then
        db_sql "SELECT outcome FROM update_history WHERE update_id = '$1'"
    else
        db_sql "SELECT outcome FROM update_history ORDER BY id DESC LIMIT 1"
    fi
}

# ---- plugins (tests/e2e/plugin.sh) -------------------------------------------
#   site_plugin_release SLUG V DIR
#       plugin SLUG's release V as a source tree in DIR (the plugin's own
#       folder): version.php (requires nexosupport >=1.0.0), lib/SLUG.php,
#       a file only in V, database/schema/install.xml (version 1.0.0: tables
#       SLUG_posts and SLUG_log) and the upgrades up to V:
#       upgrade_1.0.0_1.1.0.xml creates SLUG_topics, upgrade_1.1.0_1.2.0.xml
#       adds SLUG_posts.topic_id; the install file and each upgrade write a
#       row of their own into SLUG_log (step = install_1.0.0,
#       upgrade_1.0.0_1.1.0, upgrade_1.1.0_1.2.0).
#   site_pack_plugin SLUG V...
#       after site_setup: packs and signs those releases with nexo-release
#       into $T/repo (sources kept in $T/src/plugin-SLUG-V).
site_plugin_release() {
    local slug=$1 v=$2 dir=$3
    mkdir -p "$dir/lib" "$dir/database/schema" "$dir/database/upgrades"
    printf "<?php\n// plugin %s\nreturn [\n    'version' => '%s',\n    'requires' => ['nexosupport' => '>=1.0.0'],\n];\n" \
        "$slug" "$v" > "$dir/version.php"
    printf "<?php // %s %s\n" "$slug" "$v" > "$dir/lib/$slug.php"
    echo "only in $slug $v" > "$dir/only-$v.txt"
    cat > "$dir/database/schema/install.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<install version="1.0.0">
    <description>$slug 1.0.0</description>
    <database>
        <create_table name="${slug}_posts">
            <columns>
                <column name="id" type="INT UNSIGNED" autoincrement="true" primary="true"/>
                <column name="title" type="VARCHAR" length="200" null="false"/>
            </columns>
        </create_table>
        <create_table name="${slug}_log">
            <columns>
                <column name="id" type="INT UNSIGNED" autoincrement="true" primary="true"/>
                <column name="step" type="VARCHAR" length="64" null="false"/>
            </columns>
        </create_table>
    </database>
    <data>
        <insert table="${slug}_log">
            <row><step>install_1.0.0</step></row>
        </insert>
    </data>
</install>
XML
    if [ "$(printf '%s\n1.1.0\n' "$v" | sort -V | head -n 1)" = 1.1.0 ]; then
        cat > "$dir/database/upgrades/upgrade_1.0.0_1.1.0.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<upgrade from="1.0.0" to="1.1.0">
    <description>$slug topics</description>
    <database>
        <create_table name="${slug}_topics">
            <columns>
                <column name="id" type="INT UNSIGNED" autoincrement="true" primary="true"/>
                <column name="name" type="VARCHAR" length="100" null="false"/>
            </columns>
        </create_table>
    </database>
    <data>
        <insert table="${slug}_log">
            <row><step>upgrade_1.0.0_1.1.0</step></row>
        </insert>
    </data>
</upgrade>
XML
    fi
    if [ "$(printf '%s\n1.2.0\n' "$v" | sort -V | head -n 1)" = 1.2.0 ]; then
        cat > "$dir/database/upgrades/upgrade_1.1.0_1.2.0.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<upgrade from="1.1.0" to="1.2.0">
    <description>$slug posts belong to topics</description>
    <database>
        <modify_table name="${slug}_posts">
            <add_column name="topic_id" type="INT UNSIGNED"/>
        </modify_table>
    </database>
    <data>
        <insert table="${slug}_log">
            <row><step>upgrade_1.1.0_1.2.0</step></row>
        </insert>
    </data>
</upgrade>
XML
    fi
}

site_pack_plugin() {
    local slug=$1 v; shift
    for v in "$@"; do
        site_plugin_release "$slug" "$v" "$T/src/plugin-$slug-$v"
        "$REL" -q pack --component "plugin:$slug" --src "$T/src/plugin-$slug-$v" \
            --key "$T/keys/vendor.key" --repo "$T/repo"
    done
}
