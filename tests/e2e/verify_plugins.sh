#!/usr/bin/env bash
# nexo-update verify and plugins (issue 12, item 5; args: PREFIX MODDIR): a
# demo site on SQLite with the plugin forum installed through `plugin`
# (its manifest recorded as modules/plugins/forum/.nexo-release.json).
# `verify` checks core and every installed plugin, `verify core` and
# `verify plugin:forum` only that one; a modified, missing and extra plugin
# file, a plugin version.php that says another version, a plugin folder
# copied by hand (no recorded manifest) and another component's manifest
# are each reported, text and --json, with exit 1; the root's copy of the
# manifests (STATE/manifests) catches a recorded manifest the site's owner
# rewrote to match changed files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0
NXC=("$NX" -c "$CONF")
S="$T/site"
P="$S/modules/plugins/forum"
rm -rf "$S/modules/plugins/demo"   # site_setup's stand-in plugin: not from the repository

# verify ARGS...: exit code into $rc, stdout into $T/out, stderr into $T/err
run_verify() {
    rc=0
    "${NXC[@]}" "$@" > "$T/out" 2> "$T/err" || rc=$?
}
jqo() { jq -r "$1" "$T/out"; }

"${NXC[@]}" -q -y core --to 1.1.0 > /dev/null
site_pack_plugin forum 1.0.0
"${NXC[@]}" -q -y plugin forum --to 1.0.0 > /dev/null
check "the plugin's install recorded modules/plugins/forum/.nexo-release.json" \
    [ -f "$P/.nexo-release.json" ]
bsdtar -xOf "$T/repo/plugins/forum/forum-1.0.0.tar.zst" nexo-release.json > "$T/pkg-manifest.json"
check "... the package's own nexo-release.json, byte for byte" \
    cmp -s "$T/pkg-manifest.json" "$P/.nexo-release.json"

# ---- clean ---------------------------------------------------------------------------
run_verify verify
check "verify, core and forum as installed: exit 0" [ "$rc" -eq 0 ]
check "... the text verifies both" \
    bash -c "grep -q '^verify $S against core/.nexo-release.json (core 1.1.0' '$T/out' &&
             grep -q '^verify $P against .nexo-release.json (plugin:forum 1.0.0' '$T/out' &&
             [ \$(grep -c '^clean:' '$T/out') = 2 ]"
run_verify --json verify
check "verify --json: clean, core_clean, one plugin, forum clean at 1.0.0" \
    [ "$(jqo '[.clean, .core_clean, (.plugins | length), .plugins[0].slug, .plugins[0].component,
              .plugins[0].clean, .plugins[0].version, .plugins[0].disk_version] | @csv')" \
      = 'true,true,1,"forum","plugin:forum",true,"1.0.0","1.0.0"' ]
check "... entries counts the plugin manifest's entries" \
    [ "$(jqo '.plugins[0].entries')" = "$(jq '.files | length' "$T/pkg-manifest.json")" ]

# ---- a modified plugin file -----------------------------------------------------------
echo "// changed" >> "$P/lib/forum.php"
run_verify verify
check "a modified plugin file: verify exits 1" [ "$rc" -eq 1 ]
check "... named below the site root with its size difference" \
    grep -q "^modified  modules/plugins/forum/lib/forum.php  size: expected" "$T/out"
check "... core is still clean" grep -q "^clean: every listed file matches" "$T/out"
run_verify --json verify
check "... --json: clean false, core_clean true, the plugin's modified[0]" \
    [ "$(jqo '[.clean, .core_clean, .plugins[0].clean, .plugins[0].modified[0].path,
              .plugins[0].modified[0].differences[0].check, .exit] | @csv')" \
      = 'false,true,false,"lib/forum.php","size",1' ]
check "... --json: error names plugin:forum" jq -e '.error | contains("plugin:forum")' "$T/out"
check "... --json: one document on stdout" [ "$(jq -s length "$T/out")" = 1 ]
run_verify verify core
check "verify core: exit 0 (the plugin is not looked at)" [ "$rc" -eq 0 ]
run_verify --json verify plugin:forum
check "verify plugin:forum --json: exit 1, the plugin's document" \
    [ "$rc" -eq 1 ] && check "... component and modified" \
    [ "$(jqo '[.component, .clean, .modified[0].path, (has("plugins"))] | @csv')" \
      = '"plugin:forum",false,"lib/forum.php",false' ]
run_verify verify plugin:forum
check "verify plugin:forum (text): exit 1, only the plugin" \
    bash -c "[ $rc -eq 1 ] && ! grep -q 'core/.nexo-release.json' '$T/out' &&
             grep -q '^modified  modules/plugins/forum/lib/forum.php' '$T/out'"
printf "<?php // forum 1.0.0\n" > "$P/lib/forum.php"

# ---- same size, other bytes; a chmod ---------------------------------------------------
sed -i 's/forum 1.0.0/forum 1.0.9/' "$P/lib/forum.php"
run_verify --json verify plugin:forum
check "same size, other bytes: sha256 difference" \
    [ "$(jqo '.modified[0].differences[0].check')" = sha256 ]
printf "<?php // forum 1.0.0\n" > "$P/lib/forum.php"
chmod 600 "$P/lib/forum.php"
run_verify --json verify plugin:forum
check "a chmod of a plugin file: mode difference" \
    [ "$(jqo '[.modified[0].path, .modified[0].differences[0].check] | @csv')" = '"lib/forum.php","mode"' ]
chmod 644 "$P/lib/forum.php"
run_verify verify plugin:forum
check "put back: plugin:forum clean again" [ "$rc" -eq 0 ]

# ---- missing, extra, version ------------------------------------------------------------
mv "$P/only-1.0.0.txt" "$T/only.aside"
run_verify verify
check "a missing plugin file: exit 1, listed" \
    bash -c "[ $rc -eq 1 ] && grep -q '^missing   modules/plugins/forum/only-1.0.0.txt (file)$' '$T/out'"
run_verify --json verify
check "... --json: plugins[0].missing[0]" [ "$(jqo '.plugins[0].missing[0].path')" = only-1.0.0.txt ]
mv "$T/only.aside" "$P/only-1.0.0.txt"
echo '<?php system($_GET["c"]);' > "$P/shell.php"
mkdir -p "$P/lib/extra-dir"; echo x > "$P/lib/extra-dir/f"
run_verify verify
check "an extra plugin file and folder: exit 1, listed" \
    bash -c "[ $rc -eq 1 ] && grep -q '^extra     modules/plugins/forum/shell.php (file)$' '$T/out' &&
             grep -q '^extra     modules/plugins/forum/lib/extra-dir (dir)$' '$T/out'"
run_verify --json verify plugin:forum
check "... --json: extra lists exactly those two (not the recorded manifest)" \
    [ "$(jqo '[.extra[].path] | @csv')" = '"lib/extra-dir","shell.php"' ]
rm -rf "$P/shell.php" "$P/lib/extra-dir"
cp -a "$P/version.php" "$T/pver.orig"
sed -i "s/'version' => '1.0.0'/'version' => '1.0.7'/" "$P/version.php"
run_verify verify plugin:forum
check "the plugin's version.php says another version: exit 1, said so" \
    bash -c "[ $rc -eq 1 ] && grep -q '^version   modules/plugins/forum/version.php says 1.0.7, the recorded manifest is release 1.0.0$' '$T/out'"
cp -a "$T/pver.orig" "$P/version.php"
run_verify verify
check "everything put back: verify clean again" [ "$rc" -eq 0 ]

# ---- a plugin copied by hand; another component's manifest; bad arguments -------------
mkdir -p "$S/modules/plugins/byhand"
printf "<?php\nreturn ['version' => '1.0.0'];\n" > "$S/modules/plugins/byhand/version.php"
run_verify verify
check "a plugin folder without a recorded manifest: exit 1" [ "$rc" -eq 1 ]
check "... named, with the path of the manifest it lacks" \
    grep -q "$S/modules/plugins/byhand/.nexo-release.json: no recorded manifest" "$T/err"
run_verify --json verify
check "... --json: plugin byhand recorded false; forum still clean" \
    [ "$(jqo '[.clean, (.plugins[] | select(.slug == "byhand") | .recorded),
              (.plugins[] | select(.slug == "forum") | .clean)] | @csv')" = 'false,false,true' ]
rm -rf "$S/modules/plugins/byhand"
cp -a "$P/.nexo-release.json" "$T/rec.orig"
cp -a "$S/core/.nexo-release.json" "$P/.nexo-release.json"
run_verify --json verify plugin:forum
check "core's manifest put in the plugin's folder: exit 1, component_error" \
    bash -c "[ $rc -eq 1 ] && jq -e '.clean == false and (.component_error | contains(\"not of plugin:forum\"))' '$T/out' > /dev/null"
cp -a "$T/rec.orig" "$P/.nexo-release.json"
run_verify verify plugin:nosuch
check "verify plugin:nosuch: exit 1 naming the folder" \
    bash -c "[ $rc -eq 1 ] && grep -q 'plugin nosuch is not installed: $S/modules/plugins/nosuch' '$T/err'"
run_verify verify forum
check "verify forum (not core or plugin:SLUG): usage, exit 2" [ "$rc" -eq 2 ]
run_verify verify core plugin:forum
check "verify with two components: usage, exit 2" [ "$rc" -eq 2 ]

# ---- the recorded manifest rewritten by the site's owner ---------------------------------
echo "// backdoor" >> "$P/lib/forum.php"
jq --arg sha "$(sha256sum < "$P/lib/forum.php" | cut -c1-64)" --argjson size "$(stat -c %s "$P/lib/forum.php")" \
    '((.files[] | select(.path == "lib/forum.php") | .size) as $old |
      .total_size += $size - $old |
      (.files[] | select(.path == "lib/forum.php")) |= (.sha256 = $sha | .size = $size))' \
    "$T/rec.orig" > "$P/.nexo-release.json"
check "the rewritten manifest parses (only root's copy tells it apart)" \
    bash -c "'$NX' -c '$CONF' verify plugin:forum 2>&1 | grep -q '^verify $P against .nexo-release.json (plugin:forum 1.0.0'"
run_verify verify plugin:forum
check "a changed file with the recorded manifest rewritten to match: exit 1" [ "$rc" -eq 1 ]
check "... the manifest is not the one nexo-update installed (root's copy in STATE/manifests)" \
    grep -q "is not a manifest nexo-update installed" "$T/out"
run_verify --json verify plugin:forum
check "... --json: trusted false" jq -e '.trusted == false and .clean == false' "$T/out"
cp -a "$T/rec.orig" "$P/.nexo-release.json"
printf "<?php // forum 1.0.0\n" > "$P/lib/forum.php"
run_verify --json verify
check "put back: clean, both manifests are root's copies (trusted true)" \
    jq -e '.clean and .trusted == true and .plugins[0].trusted == true' "$T/out"

nx_finish
