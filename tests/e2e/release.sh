#!/usr/bin/env bash
# nexo-release on the installed binary: keygen, pack (core in tar.zst,
# tar.gz and zip, a plugin), the signed index, sign, and the refusals.
# Archives are read with bsdtar (libarchive-tools), signatures checked with
# openssl. Usage: release.sh PREFIX TESTMODS
# shellcheck disable=SC2016  # jq programs name their $variables in single quotes
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
REL="$PREFIX/bin/nexo-release"
for tool in bsdtar openssl jq sha256sum; do
    command -v "$tool" > /dev/null || { echo "not ok - $tool is needed (tests/deps.sh)"; exit 1; }
done
export LC_ALL=C.UTF-8
rc_of() { local rc=0; "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }
# refused DESCRIPTION NEEDLE COMMAND...: exit 1 and the message names NEEDLE.
refused() {
    local d=$1 needle=$2 rc; shift 2
    rc=$(rc_of "$@")
    if [ "$rc" = 1 ] && grep -qF -- "$needle" "$T/err"; then ok "$d"
    else not_ok "$d (exit $rc: $(cat "$T/err"))"; fi
}
verify_sig() { # verify_sig PUB FILE: FILE.sig is FILE's Ed25519 signature by PUB
    openssl pkeyutl -verify -rawin -pubin -inkey "$1" -sigfile <(base64 -d "$2.sig") -in "$2" \
        > /dev/null 2>&1
}
jqe() { jq -e "$@" > /dev/null; }
K="$T/keys/vendor"

# ---- command line ----
check "--version" bash -c "'$REL' --version | grep -q '^nexo-release [0-9]'"
check "--help lists the commands" bash -c "'$REL' --help | grep -q '^  pack --component'"
for cmd in keygen pack index sign; do
    check "$cmd --help" bash -c "'$REL' $cmd --help | grep -q '^Usage: nexo-release .*$cmd'"
done
check "pack --help documents plugins/SLUG" bash -c "'$REL' pack --help | grep -q 'plugins/SLUG/SLUG-VERSION.EXT'"
check "no command: exit 2" test "$(rc_of "$REL")" = 2
check "unknown command: exit 2" test "$(rc_of "$REL" frobnicate)" = 2
check "unknown option: exit 2" test "$(rc_of "$REL" sign --key x --bogus f)" = 2
check "missing --repo: exit 2" bash -c "test $(rc_of "$REL" pack --component core --src x --key y) = 2 && grep -q -- '--repo is required' '$T/err'"

# ---- keygen ----
mkdir -p "$T/keys"
out=$("$REL" keygen "$K")
check "keygen: private key 0600" test "$(stat -c %a "$K.key")" = 600
check "keygen: public key written" grep -q 'BEGIN PUBLIC KEY' "$K.pub"
check "keygen: private key is PEM PKCS#8" grep -q 'BEGIN PRIVATE KEY' "$K.key"
KID=$(openssl pkey -pubin -in "$K.pub" -outform DER | tail -c 32 | sha256sum | cut -c1-16)
check "keygen prints the key id (sha256 of the raw public key)" grep -q "$KID" <<< "$out"
check "keygen --json" bash -c "'$REL' --json keygen '$T/keys/other' | jq -e '.key_id | test(\"^[0-9a-f]{16}$\")' > /dev/null"
refused "keygen refuses to overwrite a key" "$K.key" "$REL" keygen "$K"

# ---- a core source tree (spec §2.2 version.php) ----
# make_core DIR VERSION CODE DATE
make_core() {
    local d=$1
    mkdir -p "$d/core" "$d/public_html/assets/css" "$d/bin" "$d/.git/objects"
    cat > "$d/core/version.php" <<PHP
<?php
/**
 * NexoSupport Core Version Information
 */

return [
    // Version number (semantic versioning)
    'version' => '$2',

    // Version code (for database comparison)
    'version_code' => $3,

    // Release date
    'release_date' => '$4',

    // Minimum requirements
    'requires' => [
        'php' => '8.1.0',
        'mysql' => '5.7.0',
        'postgresql' => '12.0',
    ],

    // Branch (stable, beta, dev)
    'branch' => 'stable',

    // Build info
    'build' => '${4//-/}',
];
PHP
    echo "<?php echo 'NexoSupport $2';" > "$d/public_html/index.php"
    echo "body { color: #333; } /* $2 */" > "$d/public_html/assets/css/site.css"
    ln -s css "$d/public_html/assets/current"
    printf '#!/bin/sh\necho cron %s\n' "$2" > "$d/bin/cron.sh"
    chmod 755 "$d/bin/cron.sh"
    : > "$d/public_html/assets/empty.txt"
    echo "ref: refs/heads/main" > "$d/.git/HEAD"
}
make_core "$T/src-1.0.0" 1.0.0 1000000 2026-10-01
make_core "$T/src-1.1.0" 1.1.0 1001000 2026-11-25

# The payload of a source tree as "TYPE PATH" lines (what the archive must hold).
tree_list() {
    (cd "$1" && find . -mindepth 1 -path ./.git -prune -o -printf '%y %P\n' | sort -k2)
}
# The same from an archive's listing.
archive_list() {
    bsdtar -tvf "$1" | awk '{ t = substr($1, 1, 1); if (t == "-") t = "f"
        for (i = 0; i < 8; i++) sub(/^[^ ]+ +/, "")
        sub(/ -> .*$/, ""); sub(/\/$/, ""); print t, $0 }' \
        | grep -v ' nexo-release.json$' | sort -k2
}

# check_package PKG SRC VERSION: layout, payload and manifest of a package.
check_package() {
    local pkg=$1 src=$2 v=$3 x="$T/x.$RANDOM" f h
    local name; name=$(basename "$pkg")
    check "$name: nexo-release.json is the first entry" test "$(bsdtar -tf "$pkg" | head -n1)" = nexo-release.json
    check "$name: entries are the source tree's (without .git)" diff <(tree_list "$src") <(archive_list "$pkg")
    check "$name: owner 0:0 on every entry" test -z "$(bsdtar -tvf "$pkg" | awk '$3 != "0" || $4 != "0"')"
    check "$name: executable file keeps 0755" bash -c "bsdtar -tvf '$pkg' | grep -q '^-rwxr-xr-x .* bin/cron.sh$'"
    check "$name: symlink kept" bash -c "bsdtar -tvf '$pkg' | grep -q '^l.* public_html/assets/current -> css$'"
    mkdir -p "$x" && bsdtar -xpf "$pkg" -C "$x"
    (cd "$src" && find . -path ./.git -prune -o -type f -printf '%P\0') > "$x.files"
    # every source file: its sha256 equals the extracted copy's and, with its
    # size and mode, the manifest's one entry for its path (one sha256sum,
    # stat and jq run each, not one per file)
    check "$name: every file's bytes, size, mode and sha256 match the source" \
        awk -F '\t' '
            FILENAME == ARGV[1] { sh[substr($0, 67)] = substr($0, 1, 64); next }
            FILENAME == ARGV[2] { xh[substr($0, 67)] = substr($0, 1, 64); next }
            FILENAME == ARGV[3] { if ($1 in man) dup[$1] = 1; man[$1] = $2 "\t" $3 "\t" $4; next }
            { if (!($1 in sh) || xh[$1] != sh[$1] || ($1 in dup) || man[$1] != sh[$1] "\t" $2 "\t" $3) {
                  print "# " $1 ": the source, the package or the manifest differ" > "/dev/stderr"; bad = 1 } }
            END { exit bad }' \
            <(cd "$src" && xargs -0 -r sha256sum -z -- < "$x.files" | tr '\0' '\n') \
            <(cd "$x" && xargs -0 -r sha256sum -z -- < "$x.files" 2> /dev/null | tr '\0' '\n') \
            <(jq -r '.files[] | "\(.path)\t\(.sha256)\t\(.size)\t\(.mode)"' "$x/nexo-release.json") \
            <(cd "$src" && xargs -0 -r stat -c $'%n\t%s\t%04a' -- < "$x.files")
    local m="$x/nexo-release.json"
    check "$name: manifest component, version, version_code" \
        jqe --arg v "$v" '.format == 1 and .component == "core" and .version == $v and (.version_code | type) == "number"' "$m"
    check "$name: manifest requires and branch from version.php" \
        jqe '.requires.php == "8.1.0" and .requires.postgresql == "12.0" and .branch == "stable"' "$m"
    check "$name: manifest entries sorted by path" jqe '[.files[].path] == ([.files[].path] | sort)' "$m"
    check "$name: manifest total_size is the sum of the sizes" jqe '.total_size == ([.files[] | select(.type == "file") | .size] | add)' "$m"
    check "$name: manifest symlink entry" jqe '.files[] | select(.path == "public_html/assets/current") | .type == "symlink" and .target == "css"' "$m"
    check "$name: manifest dir entry" jqe '.files[] | select(.path == "public_html/assets") | .type == "dir" and .mode == "0755"' "$m"
    check "$name: .sig verifies with openssl" verify_sig "$K.pub" "$pkg"
}

iso_diff() { echo $(( $(date -u -d "$2" +%s) - $(date -u -d "$1" +%s) )); }

# check_index REPO EXT EXPIRES_DAYS
check_index() {
    local repo=$1 ext=$2 days=$3 v p
    local i=$repo/index.json
    check "$ext: index lists both releases sorted" \
        jqe '[.releases[] | select(.component == "core") | .version] == ["1.0.0", "1.1.0"]' "$i"
    for v in 1.0.0 1.1.0; do
        p="$repo/core/nexosupport-$v.$ext"
        check "$ext: index $v sha256, size, url, signature" jqe --arg v "$v" \
            --arg h "$(sha256sum < "$p" | cut -d' ' -f1)" --argjson n "$(stat -c %s "$p")" \
            --arg u "core/nexosupport-$v.$ext" --arg s "$(tr -d '\n' < "$p.sig")" \
            '.releases[] | select(.version == $v) | .checksum.sha256 == $h and .size_bytes == $n
             and .download_url == $u and .signature == $s and .component == "core"' "$i"
    done
    check "$ext: index release fields" jqe '.releases[] | select(.version == "1.1.0") |
        .version_code == 1001000 and .release_date == "2026-11-25" and .branch == "stable"
        and .requires.php == "8.1.0" and .compatibility == {} and (.changelog | type) == "string"
        and .is_security_update == false and .is_critical == false' "$i"
    check "$ext: index format, generated_at, expires (ISO 8601 UTC)" jqe '.format == 1 and
        (.generated_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")) and
        (.expires | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))' "$i"
    check "$ext: expires is generated_at + $days days" test \
        "$(iso_diff "$(jq -r .generated_at "$i")" "$(jq -r .expires "$i")")" = $((days * 86400))
    check "$ext: index.json.sig verifies with openssl" verify_sig "$K.pub" "$i"
}

# ---- pack 1.1.0 then 1.0.0 (the index sorts them) in each format ----
echo "## Version 1.1.0" > "$T/changelog.md"
for ext in tar.zst tar.gz zip; do
    repo="$T/repo-$ext"
    fmt=(--format "$ext")
    [ "$ext" = tar.zst ] && fmt=()   # the default
    rc=$(rc_of "$REL" --json pack --component core --src "$T/src-1.1.0" --key "$K.key" --repo "$repo" \
         "${fmt[@]}" --changelog "$T/changelog.md")
    check "$ext: pack 1.1.0 (exit $rc)" test "$rc" = 0
    pkg="$repo/core/nexosupport-1.1.0.$ext"
    check "$ext: --json names file, sha256, size, signature, key id" jqe --arg f "$pkg" \
        --arg h "$(sha256sum < "$pkg" | cut -d' ' -f1)" --arg k "$KID" \
        '.file == $f and .sha256 == $h and .component == "core" and .version == "1.1.0"
         and .size_bytes > 0 and (.signature | length) == 88 and .key_id == $k' "$T/out"
    rc=$(rc_of "$REL" -q pack --component core --src "$T/src-1.0.0" --key "$K.key" --repo "$repo" "${fmt[@]}")
    check "$ext: pack 1.0.0 (exit $rc), -q prints nothing" bash -c "test $rc = 0 && ! test -s '$T/out'"
    check_package "$pkg" "$T/src-1.1.0" 1.1.0
    check_package "$repo/core/nexosupport-1.0.0.$ext" "$T/src-1.0.0" 1.0.0
    check_index "$repo" "$ext" 30
    check "$ext: changelog in the index" jqe '.releases[] | select(.version == "1.1.0") | .changelog == "## Version 1.1.0\n"' "$repo/index.json"
    check "$ext: no temp files left" test -z "$(find "$repo" -name '*.tmp.*')"
done

# Reproducible: same tree and date, later and with new file times: same bytes.
touch "$T/src-1.1.0/public_html/index.php"
for ext in tar.zst tar.gz zip; do
    "$REL" -q pack --component core --src "$T/src-1.1.0" --key "$K.key" --repo "$T/again-$ext" --format "$ext"
    check "$ext is reproducible" cmp -s "$T/again-$ext/core/nexosupport-1.1.0.$ext" "$T/repo-$ext/core/nexosupport-1.1.0.$ext"
done

# ---- index ----
R="$T/repo-tar.zst"
check "index --expires 7" "$REL" -q index --repo "$R" --key "$K.key" --expires 7
check_index "$R" tar.zst 7
check "index --json" bash -c "'$REL' --json index --repo '$R' --key '$K.key' | jq -e '.releases == 2 and (.expires | length) == 20' > /dev/null"
cp "$R/core/nexosupport-1.0.0.tar.zst" "$T/keep"
echo tampered >> "$R/core/nexosupport-1.0.0.tar.zst"
refused "index refuses a package whose sha256 changed" "core/nexosupport-1.0.0.tar.zst" \
    "$REL" index --repo "$R" --key "$K.key"
rm "$R/core/nexosupport-1.0.0.tar.zst"
refused "index refuses a missing package" "core/nexosupport-1.0.0.tar.zst" \
    "$REL" index --repo "$R" --key "$K.key"
cp "$T/keep" "$R/core/nexosupport-1.0.0.tar.zst"
check "index accepts the restored package" "$REL" -q index --repo "$R" --key "$K.key"
check "index --expires bad: exit 2" test "$(rc_of "$REL" index --repo "$R" --key "$K.key" --expires soon)" = 2

# ---- sign ----
echo "any file" > "$T/notes.txt"
check "sign writes FILE.sig" "$REL" -q sign --key "$K.key" "$T/notes.txt"
check "sign: the .sig verifies with openssl" verify_sig "$K.pub" "$T/notes.txt"
check "sign: one base64 line" test "$(wc -l < "$T/notes.txt.sig")" = 1

# ---- a plugin lands under plugins/SLUG ----
mkdir -p "$T/demo/lib"
cat > "$T/demo/version.php" <<'PHP'
<?php
return [
    'version' => '2.0.0',
    'requires' => ['nexosupport' => '>=1.0.0'],
    'dependencies' => ['other' => '>=1.0.0'],
];
PHP
echo '<?php // demo' > "$T/demo/lib/demo.php"
rc=$(rc_of "$REL" pack --component plugin:demo --src "$T/demo" --key "$K.key" --repo "$R" --date 2026-11-20 --critical)
check "plugin pack (exit $rc)" test "$rc" = 0
P="$R/plugins/demo/demo-2.0.0.tar.zst"
check "plugin package at plugins/demo/demo-2.0.0.tar.zst with .sig" verify_sig "$K.pub" "$P"
check "plugin payload is plugin-relative" diff <(tree_list "$T/demo") <(archive_list "$P")
check "plugin manifest: component, dependencies, date, default build" bash -c \
    "bsdtar -xOf '$P' nexo-release.json | jq -e '.component == \"plugin:demo\" and .dependencies.other == \">=1.0.0\" and .release_date == \"2026-11-20\" and .build == \"20261120\"' > /dev/null"
check "index: core releases, then the plugin" jqe '[.releases[] | .component + " " + .version] ==
    ["core 1.0.0", "core 1.1.0", "plugin:demo 2.0.0"]' "$R/index.json"
check "index: plugin url and critical flag" jqe '.releases[2].download_url == "plugins/demo/demo-2.0.0.tar.zst" and .releases[2].is_critical == true' "$R/index.json"
check "index.json.sig verifies after the plugin" verify_sig "$K.pub" "$R/index.json"

# ---- refusals: exit 1 naming the file; nothing written ----
S="$T/bad"
fresh() { rm -rf "$S" "$T/repo-bad"; make_core "$S" 1.2.0 1002000 2026-11-25; }
pack_bad() { "$REL" pack --component core --src "$S" --key "$K.key" --repo "$T/repo-bad" "$@"; }
fresh; rm "$S/core/version.php"
refused "refused: version.php missing" "$S/core/version.php" pack_bad
fresh; sed -i "s/'1.2.0'/'1.2'/" "$S/core/version.php"
refused "refused: a version that is not SemVer" "$S/core/version.php" pack_bad
fresh; sed -i "s/1002000/1002001/" "$S/core/version.php"
refused "refused: version_code does not match" "version_code" pack_bad
fresh; mkfifo "$S/public_html/pipe"
refused "refused: a fifo in the source" "$S/public_html/pipe: is a fifo" pack_bad
fresh; chmod 4755 "$S/bin/cron.sh"
refused "refused: a setuid file" "$S/bin/cron.sh: has the setuid bit" pack_bad
fresh; chmod 2755 "$S/public_html"
refused "refused: a setgid folder" "$S/public_html: has the setgid bit" pack_bad
fresh; ln -s /etc/passwd "$S/public_html/passwd"
refused "refused: an absolute symlink" "$S/public_html/passwd: symlink with an absolute target" pack_bad
fresh; ln -s ../../outside "$S/public_html/up"
refused "refused: a symlink leaving the tree" "$S/public_html/up: symlink with a target outside" pack_bad
fresh; echo '{}' > "$S/nexo-release.json"
refused "refused: a nexo-release.json at the source root" "$S/nexo-release.json" pack_bad
fresh
refused "refused: the repository inside the source" "the repository is inside the source tree" \
    "$REL" pack --component core --src "$S" --key "$K.key" --repo "$S/dist"
cp "$K.key" "$T/keys/loose.key"; chmod 644 "$T/keys/loose.key"
refused "refused: a 0644 private key" "$T/keys/loose.key" \
    "$REL" pack --component core --src "$S" --key "$T/keys/loose.key" --repo "$T/repo-bad"
check "refusals wrote nothing" test ! -e "$T/repo-bad"
check "bad --format: exit 2" test "$(rc_of pack_bad --format rar)" = 2
check "bad plugin slug: exit 2" test "$(rc_of "$REL" pack --component plugin:Bad/x --src "$S" --key "$K.key" --repo "$T/repo-bad")" = 2

# An existing release: refused without --force, replaced with it.
before=$(sha256sum < "$R/index.json")
refused "refused: the same version again without --force" "give --force" \
    "$REL" pack --component core --src "$T/src-1.1.0" --key "$K.key" --repo "$R"
check "the index is unchanged after the refusal" test "$(sha256sum < "$R/index.json")" = "$before"
rm "$T/again-tar.zst/index.json" "$T/again-tar.zst/index.json.sig"
refused "refused: an existing package file without --force" "$T/again-tar.zst/core/nexosupport-1.1.0.tar.zst" \
    "$REL" pack --component core --src "$T/src-1.1.0" --key "$K.key" --repo "$T/again-tar.zst"
rc=$(rc_of "$REL" pack --component core --src "$T/src-1.1.0" --key "$K.key" --repo "$R" --format zip --force --security)
check "--force replaces the release (exit $rc)" test "$rc" = 0
check "the replaced release: one 1.1.0, zip, security" jqe '[.releases[] | select(.version == "1.1.0")] | length == 1
    and .[0].download_url == "core/nexosupport-1.1.0.zip" and .[0].is_security_update == true' "$R/index.json"
check "index.json.sig verifies after the replacement" verify_sig "$K.pub" "$R/index.json"

nx_finish
