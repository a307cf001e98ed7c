#!/usr/bin/env bash
# The core's C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer
# (ctest), then the small batch cases under valgrind memcheck (a second build
# without sanitizers: the two tools do not mix).
#
#   tests/cpp/run_sanitizers.sh                 # build dir: build/cpp-tests (gitignored)
#   LAWFIT_CPP_BUILD_DIR=/tmp/x tests/cpp/run_sanitizers.sh
#   LAWFIT_NO_VALGRIND=1 tests/cpp/run_sanitizers.sh
#
# Exit status: 0 when every step that could run passed.  A missing valgrind is
# reported and skipped; a compiler without sanitizer runtimes is an error.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${LAWFIT_CPP_BUILD_DIR:-$root/build/cpp-tests}
jobs=${LAWFIT_JOBS:-$(nproc 2>/dev/null || echo 2)}
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

failed=()
step() { echo; echo "=== $*"; }

configure_and_build() {  # dir, extra cmake args...; builds all test targets
    local dir=$1; shift
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        cmake -S "$here" -B "$dir" "${generator[@]}" "$@" >"$dir.configure.log" 2>&1 ||
            { cat "$dir.configure.log"; return 1; }
    else
        cmake "$dir" "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
    fi
    cmake --build "$dir" -j "$jobs" "${targets[@]}"
}

mkdir -p "$build"

step "ASan + UBSan build ($build/sanitize)"
targets=()
if configure_and_build "$build/sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAWFIT_SANITIZE=ON; then
    step "ctest under ASan + UBSan"
    (cd "$build/sanitize" && ctest -j "$jobs" --output-on-failure --timeout 300) || failed+=("ctest (sanitizers)")
else
    failed+=("sanitizer build")
fi

if [ -n "${LAWFIT_NO_VALGRIND:-}" ]; then
    step "valgrind: skipped (LAWFIT_NO_VALGRIND set)"
elif ! command -v valgrind >/dev/null 2>&1; then
    step "valgrind: not installed, skipped"
else
    step "plain build for valgrind ($build/plain)"
    targets=(--target lawfit_test_batch lawfit_test_lm)
    if configure_and_build "$build/plain" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAWFIT_SANITIZE=OFF; then
        # Small batches only (valgrind runs ~30x slower): ragged layouts, bad
        # input, non-finite models, bounds and fixed parameters, threads.
        memcheck() {  # name, command...: exit 99 means memory errors, others failing tests
            local name=$1; shift
            step "valgrind memcheck: $name"
            valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
                --show-leak-kinds=definite,indirect --track-origins=yes --quiet "$@"
            local rc=$?
            if [ $rc -eq 99 ]; then
                failed+=("valgrind errors in $name")
            elif [ $rc -ne 0 ]; then
                failed+=("tests failing under valgrind in $name")
            fi
        }
        memcheck "batch driver and CPU threads" "$build/plain/lawfit_test_batch" ragged block_size jtj \
            bad_input bad_weights non_finite starts_share threads_give empty_batch
        memcheck "LM iteration" "$build/plain/lawfit_test_lm"
    else
        failed+=("plain build")
    fi
fi

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "run_sanitizers: all passed"
    exit 0
fi
echo "run_sanitizers: FAILED: ${failed[*]}"
exit 1
