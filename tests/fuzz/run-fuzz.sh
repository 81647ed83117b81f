#!/bin/sh
# Short libFuzzer run for the 'fuzz' suite (only built with -Dfuzz=true):
#   run-fuzz.sh FUZZER SEED_DIR SECONDS
# New corpus entries and crash artifacts go to a temp dir, never into the
# committed seeds; a crash input is kept there and named in the output.
set -eu
fuzzer=$1 seeds=$2 secs=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ek-fuzz.XXXXXX")
mkdir "$tmp/corpus"
if "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$tmp/" "$tmp/corpus" "$seeds"; then
    rm -rf "$tmp"
else
    rc=$?
    echo "run-fuzz.sh: $fuzzer failed (rc $rc); inputs kept in $tmp" >&2
    exit 1 # never 77 (libFuzzer's error code), which meson reads as "skipped"
fi
