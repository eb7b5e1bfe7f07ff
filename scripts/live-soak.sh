#!/usr/bin/env bash
# Soak of the live path on the element: `live --phantom WxH` (a phantom fed as a live camera pair) for
# SECONDS, with and without --record, at 1280x720 and 1920x1080, CPU backend, display fakevideosink (it
# syncs on the pipeline clock and counts what it renders). Prints each run's summary lines and, per
# recording, the frames the file plays back (decoded and counted at a fakesink).
# REC_SECS caps the --record runs (the recordings are large: about 90 MB/s of HuffYUV white light at 1080p;
# mind the disk), SIZES and MODES select the runs, RECORD (default "no yes") which of the two, EXTRA adds
# flags to every run (an A/B: EXTRA="--record-nice 0"). Recordings go to a fresh /tmp/soak-* folder and are
# deleted as soon as they are counted; a --record run is skipped when the disk has less than MIN_FREE_GB
# (default 15) free. Each run prints the load average (1, 5, 15 min) before it and the 1-min load after it:
# the figures are only as good as the machine was idle.
set -uo pipefail
SECS=${1:-60}
REC_SECS=${REC_SECS:-$SECS}
BIN=${2:-$(ls -t target/release/nirf-margin target/debug/nirf-margin 2>/dev/null | head -1)}
OUT=$(mktemp -d /tmp/soak-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
read -ra EXTRA_ARGS <<< "${EXTRA:-}"
count() { # frames that play back from a recording
  gst-launch-1.0 filesrc location="$1" ! decodebin ! fakesink name=s silent=false -v 2>/dev/null | grep -c "s: last-message = chain"
}
echo "live-soak: ${SECS}s a run, $BIN, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for size in ${SIZES:-1280x720 1920x1080}; do
  # The analysis alone at the runs' scale and this load (bench's default scale, 0.08 mm/px, puts 2.6
  # times fewer pixels in the lesions and costs about half): its median against the budget (0.8 of a
  # frame period, 26.7 ms at 30 frames/s) says whether the overlay can be on at all.
  echo "== bench $size --mm-per-px 0.05 --backend cpu (load $(cut -d' ' -f1 /proc/loadavg)): $("$BIN" bench --size "$size" --mm-per-px 0.05 --backend cpu --frames 60 2>/dev/null | head -2 | tail -1)"
  for mode in ${MODES:-survey transection}; do
    [ "$size" = 1280x720 ] && [ "$mode" = transection ] && continue
    for rec in ${RECORD:-no yes}; do
      secs=$SECS
      [ "$rec" = yes ] && secs=$REC_SECS
      free_gb=$(df -BG --output=avail "$OUT" | tail -1 | tr -dc 0-9)
      if [ "$rec" = yes ] && [ "$free_gb" -lt "${MIN_FREE_GB:-15}" ]; then
        echo "== $size $mode --record yes: skipped, only ${free_gb} GB free on $OUT's disk"; continue
      fi
      args=(live --phantom "$size" --mm-per-px 0.05 --duration "$secs" --display fakevideosink --backend cpu --mode "$mode" "${EXTRA_ARGS[@]}")
      [ "$rec" = yes ] && args+=(--record "$OUT/rec-$size-$mode" --overwrite)
      echo "== $size $mode --record $rec ${EXTRA:-}, ${secs}s, $(date -u +%TZ) (load before $(cut -d' ' -f1-3 /proc/loadavg), ${free_gb} GB free)"
      "$BIN" "${args[@]}" 2>/dev/null | sed 's/^/   /'
      echo "   (1-min load after: $(cut -d' ' -f1 /proc/loadavg))"
      if [ "$rec" = yes ]; then
        for f in wl.mkv nir.mov overlay.mkv; do echo "   $f plays back $(count "$OUT/rec-$size-$mode/$f") frames, $(du -m "$OUT/rec-$size-$mode/$f" | cut -f1) MB"; done
        rm -rf "$OUT/rec-$size-$mode"
      fi
    done
  done
done
