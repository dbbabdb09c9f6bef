#!/usr/bin/env bash
# Native tests of the C SDK (sluice.c with the bindings `wit-bindgen c`
# generates), compiled with the host's clang under AddressSanitizer, so a
# leak or a double free across the export / post-return protocol fails.
# Needs what .ci/install-c-guest-tools installs. Prints "N passed, N failed".
# Usage: bash sdk/c/test.sh [BUILD_DIR]
set -euo pipefail
sdk_dir="$(cd "$(dirname "$0")" && pwd)"
build_dir="${1:-$sdk_dir/../../target/c-tests/sdk}"
wit_bindgen="$(command -v wit-bindgen || echo "${CARGO_HOME:-$HOME/.cargo}/bin/wit-bindgen")"
[ -x "$wit_bindgen" ] || { echo "sdk/c/test.sh: wit-bindgen is not installed; run .ci/install-c-guest-tools" >&2; exit 1; }
mkdir -p "$build_dir/bindings"
"$wit_bindgen" c --world transform "$sdk_dir/../wit" --out-dir "$build_dir/bindings" >/dev/null 2>&1
flags=(-std=c11 -O1 -g -Wall -Wextra -Wno-unused-parameter -Wno-unknown-attributes "-fsanitize=address,undefined" -fno-sanitize-recover=all)
# The bindings' import wrappers this test never calls stay unresolved:
# --gc-sections drops them, with each function in its own section.
clang "${flags[@]}" -ffunction-sections -Wl,--gc-sections -I "$sdk_dir" -I "$build_dir/bindings" \
    -o "$build_dir/sdk_test" "$sdk_dir/tests/sdk_test.c" "$sdk_dir/sluice.c" "$build_dir/bindings/transform.c"
"$build_dir/sdk_test"
