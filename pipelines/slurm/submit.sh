#!/usr/bin/env bash
# Run an archive over a Slurm cluster: a job array of SHARDS batch tasks (batch.sbatch, task K takes
# shard K/SHARDS of the manifest) and the cohort step (cohort.sbatch) once all of them have ended.
#   pipelines/slurm/submit.sh MANIFEST OUT SHARDS [sbatch options...]
# e.g. submit.sh /data/archive.csv /data/run-2026-11 16 --partition=gpu --time=2:00:00
# Prints the two job ids (array, cohort). NIRF_BIN, BATCH_ARGS, BASELINE and COHORT_ARGS pass through
# to the jobs; logs go to OUT/logs/. With --wait among the options it returns when the cohort job ends,
# with its exit status.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 MANIFEST OUT SHARDS [sbatch options...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
manifest=$(realpath "$1")
out=$(realpath -m "$2")
shards=$3
shift 3
if ! [[ $shards =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: SHARDS must be a whole number of at least 1, got '$shards'" >&2
    exit 2
fi
wait=()
opts=()
for o in "$@"; do
    if [ "$o" = --wait ]; then wait=(--wait); else opts+=("$o"); fi
done
mkdir -p "$out/logs"
array=$(sbatch --parsable --array=0-$((shards - 1)) --output="$out/logs/batch-%A_%a.log" \
    --export=ALL,MANIFEST="$manifest",OUT="$out" "${opts[@]}" "$here/batch.sbatch")
array=${array%%;*}
echo "batch array: job $array ($shards tasks)"
cohort=$(sbatch --parsable --dependency=afterany:"$array" --output="$out/logs/cohort-%j.log" \
    --export=ALL,OUT="$out" "${opts[@]}" "${wait[@]}" "$here/cohort.sbatch") || status=$?
echo "cohort: job ${cohort%%;*}"
exit "${status:-0}"
