#!/usr/bin/env bash
# Every installed module: exactly one exported symbol, versioned NEXO_1,
# named for its kind; it loads in the installed nexo-update.
# Usage: modules_contract.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
n=0
for kind in step driver; do
    for so in "$PREFIX/lib/nexo-update/${kind}s"/*.so; do
        [ -e "$so" ] || continue
        n=$((n + 1))
        syms=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}')
        check "$(basename "$so"): exports exactly nexo_${kind}_module@@NEXO_1" \
            test "$syms" = "nexo_${kind}_module@@NEXO_1"
        check "$(basename "$so"): no undefined symbol outside its libraries" \
            bash -c "! ldd -r '$so' 2>&1 | grep -q 'undefined symbol'"
        if [ "$kind" = step ]; then
            name=$(basename "$so" .so)
            printf '[one]\nmodule = %s\n' "$name" > "$T/p.ini"
            "$NX" -c "$CONF" pipeline show "$T/p.ini" > "$T/out" 2>&1 || true
            check "$name: loads by name from [paths] modules" \
                bash -c "grep -q '^ 1. \[one\] $name [0-9]' '$T/out'"
        fi
    done
done
check "at least one installed module" test "$n" -gt 0
nx_finish
