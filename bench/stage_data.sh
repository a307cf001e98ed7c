#!/usr/bin/env bash
# Copies the released data a GPU run uses (the Epoch Chinchilla runs and the
# NIST StRD problems, about 200 KB) from ../shared/data into bench/.data, an
# ignored folder, so that it can travel with the working tree to a machine
# that has no ../shared.  bench/gpu_check.sh uses it when present; without it
# the GPU benchmark falls back to a synthetic stand-in and says so.
#   bash bench/stage_data.sh [path/to/shared/data]
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-../shared/data}"
mkdir -p bench/.data
for name in epoch_chinchilla nist-strd; do
  if [ -d "$src/$name" ]; then
    rm -rf "bench/.data/$name"
    cp -r "$src/$name" "bench/.data/$name"
    chmod -R u+w "bench/.data/$name"
    echo "staged $name"
  else
    echo "not found: $src/$name (the benchmark will use a synthetic stand-in)"
  fi
done
