#!/usr/bin/env bash
# `make slurm-test`: the archive pipeline on a real single-node Slurm (scripts/slurm-single-node.sh).
# Six phantom recordings (made with `nirf-margin phantom`; one wound-bed scene, one with other margins)
# are analysed twice: by one `batch` on this machine, and by pipelines/slurm/submit.sh as a 3-task job
# array with the dependent cohort step. Passes when the array ran as three tasks, each recording once,
# and its outputs equal the one-machine run's: metrics line for line (but the stage timings), reports
# byte for byte, the cohort table byte for byte, and `cohort --compare` at zero tolerance finds nothing.
#
# NIRF_BIN: the program (default target/release/nirf-margin); NIRF_SLURM_TEST_DIR: the work folder
# (default out/slurm-test). The cluster is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${NIRF_BIN:-target/release/nirf-margin}")
WORK=$(realpath -m "${NIRF_SLURM_TEST_DIR:-out/slurm-test}")
fail() { echo "slurm-test: FAILED: $*" >&2; exit 1; }

eval "$(bash scripts/slurm-single-node.sh start)"
trap 'bash scripts/slurm-single-node.sh stop' EXIT
echo "slurm-test: single-node Slurm up ($(sinfo -h -o '%P %D node(s) %c cpus %t'))"

rm -rf "$WORK"
mkdir -p "$WORK"
for k in 0 1 2 3 4; do
    "$BIN" phantom --out "$WORK/rec$k" --frames 8 --size 320x180 --seed $((30 + k)) --mm-per-px 0.15 >/dev/null
done
"$BIN" phantom --out "$WORK/cut" --frames 8 --size 320x180 --seed 40 --scene cut --mm-per-px 0.15 >/dev/null
{
    echo "id,wl,nir,mm_per_px,margins_mm,mode,tbr"
    for k in 0 1 2 3; do echo "p$k,rec$k/wl/%05d.png,rec$k/nir/%05d.png,0.15,,,"; done
    echo "p4,rec4/wl/%05d.png,rec4/nir/%05d.png,0.15,\"2,5\",,"
    echo "bed,cut/wl/%05d.png,cut/nir/%05d.png,0.15,,wound-bed,2"
} >"$WORK/archive.csv"

echo "slurm-test: one machine"
"$BIN" batch "$WORK/archive.csv" --out "$WORK/local" --backend cpu
"$BIN" cohort "$WORK/local" --out "$WORK/local/cohort.html"

echo "slurm-test: a 3-task job array and the cohort step"
NIRF_BIN=$BIN BATCH_ARGS="--backend cpu" bash pipelines/slurm/submit.sh "$WORK/archive.csv" "$WORK/slurm" 3 --wait --time=10 \
    || { tail -n 20 "$WORK"/slurm/logs/*.log >&2; fail "the Slurm jobs failed"; }
for log in "$WORK"/slurm/logs/*.log; do
    echo "--- $(basename "$log")"
    cat "$log"
done

# Three array tasks, each recording done once, by the task of its shard.
tasks=$(cat "$WORK"/slurm/*/run.json | grep -o '"slurm_job": "[^"]*"' | sort -u | wc -l)
[ "$tasks" -eq 3 ] || fail "the recordings were analysed by $tasks Slurm tasks, not 3"
[ "$(ls "$WORK"/slurm/logs/batch-*.log | wc -l)" -eq 3 ] || fail "not three array task logs"
ids=(p0 p1 p2 p3 p4 bed)
for i in "${!ids[@]}"; do
    id=${ids[$i]}
    job=$(grep -o '"slurm_job": "[^"]*"' "$WORK/slurm/$id/run.json" | sed 's/.*_\([0-9]*\)"$/\1/')
    [ "$job" -eq $((i % 3)) ] || fail "$id (manifest row $i) ran in array task $job, not $((i % 3))"
    grep -q '"status": "ok"' "$WORK/slurm/$id/run.json" || fail "$id did not succeed on Slurm"
    strip() { sed 's/,"timings_ms":{[^}]*}//' "$1"; }
    cmp -s <(strip "$WORK/local/$id/metrics.jsonl") <(strip "$WORK/slurm/$id/metrics.jsonl") || fail "$id: metrics differ"
    cmp -s "$WORK/local/$id/report.html" "$WORK/slurm/$id/report.html" || fail "$id: reports differ"
done
[ -f "$WORK/slurm/bed/findings/findings.json" ] || fail "the wound-bed recording has no findings"
cmp -s "$WORK/local/cohort.csv" "$WORK/slurm/cohort.csv" || fail "the cohort tables differ"
"$BIN" cohort "$WORK/slurm" --out "$WORK/compare.html" --compare "$WORK/local" \
    --tolerance 0 --tbr-tolerance 0 --coverage-tolerance 0 || fail "cohort --compare found differences"
echo "slurm-test: passed: the 3-task array gave the one-machine outputs"
