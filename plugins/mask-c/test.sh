#!/usr/bin/env bash
# Native unit tests of mask-c's SHA-256, JSON and masking code, compiled
# with the host's C compiler (clang, else cc) with sanitizers when the
# compiler has them. Prints "N passed, N failed" and exits non-zero on a
# failure. Usage: bash plugins/mask-c/test.sh [BUILD_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build_dir="${1:-$here/../../target/c-tests/mask-c}"
mkdir -p "$build_dir"
cc=clang
command -v "$cc" >/dev/null || cc=cc
flags=(-std=c11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter)
sanitize=("-fsanitize=address,undefined" -fno-sanitize-recover=all)
# Sanitizers need their runtime library, which not every host has.
if echo 'int main(void){return 0;}' | "$cc" "${sanitize[@]}" -x c - -o "$build_dir/probe" 2>/dev/null; then
    flags+=("${sanitize[@]}")
fi
# Every source but mask.c, the Sluice glue (tested in the host instead).
sources=()
for source in "$here"/*.c; do
    [ "$(basename "$source")" = mask.c ] || sources+=("$source")
done
"$cc" "${flags[@]}" -o "$build_dir/unit" "$here/tests/unit.c" "${sources[@]}"
"$build_dir/unit"
