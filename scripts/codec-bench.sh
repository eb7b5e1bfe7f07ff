#!/usr/bin/env bash
# Which lossless coding of the raw recordings keeps up at 1080p30 on this machine: each candidate encodes
# the same 1920x1080 phantom frames (white light as RGB, NIR as 16-bit gray, read from raw files so that
# decoding costs nothing), muxed as `live --record` writes them (Matroska, or fragmented QuickTime for PNG,
# which Matroska does not take). Prints, per candidate, the
# CPU seconds (user + system) one second of 30 frames/s video costs (1.0 = a whole core; 2 cores here,
# shared with the analysis and the display), the wall time, and the bitrate.
# Usage: scripts/codec-bench.sh [FRAMES] [WIDTHxHEIGHT]   (needs target/*/nirf-margin for the phantom, or BIN=...)
# FILTER=REGEX runs only the candidates whose name it matches. In use (src/media/recorder.rs): HuffYUV, 16-bit
# PNG stored in fragmented QuickTime, x264 ultrafast/zerolatency.
set -euo pipefail
N=${1:-90}
SIZE=${2:-1920x1080}
W=${SIZE%x*}; H=${SIZE#*x}
BIN=${BIN:-$(ls -t target/release/nirf-margin target/debug/nirf-margin 2>/dev/null | head -1)}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$BIN" phantom --out "$T/ph" --size "$SIZE" --frames 30 --seed 7 --mm-per-px 0.05 >/dev/null
# Raw frames once: RGB and GRAY16_LE, as the camera pair delivers them to the recordings.
gst-launch-1.0 -q multifilesrc location="$T/ph/wl/%05d.png" index=0 stop-index=29 caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! video/x-raw,format=RGB ! filesink location="$T/wl.raw"
gst-launch-1.0 -q multifilesrc location="$T/ph/nir/%05d.png" index=0 stop-index=29 caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! video/x-raw,format=GRAY16_LE ! filesink location="$T/nir.raw"
# N frames of each: the 30 phantom frames repeated.
for f in wl nir; do for _ in $(seq $(( (N + 29) / 30 ))); do cat "$T/$f.raw"; done > "$T/$f.n.raw"; done
src() { # $1 raw file, $2 format
  local bpp=2 fmt=gray16-le
  if [ "$2" = RGB ]; then bpp=3 fmt=rgb; fi
  echo "filesrc location=$T/${1%.raw}.n.raw blocksize=$(( W * H * bpp )) num-buffers=$N ! rawvideoparse width=$W height=$H format=$fmt framerate=30/1"
}
run() { # name, raw, format, encoder chain[, muxer (default matroskamux; "none": the chain writes the file)[, decoder chain]]
  # With a decoder chain (file → GRAY16_LE), the file is decoded back and compared byte for byte with the input.
  [ -n "${FILTER:-}" ] && ! [[ "$1" =~ $FILTER ]] && return 0 # FILTER=REGEX: only the candidates it matches
  local out="$T/out.mkv"
  local t mux="${5:-matroskamux}"
  local tail="! $mux ! filesink location=$out"
  [ "$mux" = none ] && tail="! filesink location=$out"
  if ! t=$( { /usr/bin/time -f "%U %S %e" gst-launch-1.0 -q $(src "$2" "$3") ! $4 $tail >/dev/null; } 2>&1 | tail -1); then
    printf "%-34s does not run here (%s)\n" "$1" "$t"; return 0
  fi
  read -r u s e <<<"$t"
  local bytes; bytes=$(stat -c %s "$out")
  local same=""
  if [ -n "${6:-}" ]; then
    gst-launch-1.0 -q filesrc location="$out" ! $6 ! video/x-raw,format=GRAY16_LE ! filesink location="$T/back.raw" >/dev/null 2>&1
    if cmp -s "$T/back.raw" <(head -c $(( W * H * 2 * N )) "$T/${2%.raw}.n.raw"); then same="  lossless: yes"; else same="  lossless: NO"; fi
    rm -f "$T/back.raw"
  fi
  awk -v n="$1" -v u="$u" -v s="$s" -v e="$e" -v b="$bytes" -v N="$N" -v base="${BASE:-0}" -v same="$same" 'BEGIN {
    cpu = (u + s - base) / (N / 30.0);
    printf "%-34s %6.2f cpu-s per video s  wall %5.1f s for %d frames  %7.1f Mbit/s%s\n", n, cpu, e, N, b * 8 / (N / 30.0) / 1e6, same }'
  rm -f "$out"
}
# The reading alone (subtracted from every figure below).
BASE=0
t=$( { /usr/bin/time -f "%U %S" gst-launch-1.0 -q $(src wl.raw RGB) ! fakesink >/dev/null; } 2>&1 | tail -1); read -r u s <<<"$t"
BASE=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
echo "codec-bench: $SIZE, $N frames, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); reading costs $BASE cpu-s (subtracted)"
# The recordings are streamable files, playable after kill -9: Matroska where it carries the coding (its raw
# video is 8-bit only here), else a fragmented QuickTime file or a GDP stream. ONLY=nir: the NIR candidates only.
if [ "${ONLY:-}" != nir ]; then
echo "white light (RGB):"
run "  raw RGB in Matroska"            wl.raw RGB "identity"
run "  HuffYUV (avenc_huffyuv, RGB)"   wl.raw RGB "videoconvert ! avenc_huffyuv"
run "  FFV1 (avenc_ffv1, rice)"        wl.raw RGB "videoconvert ! avenc_ffv1"

fi
echo "NIR (GRAY16_LE):"
run "  FFV1 (avenc_ffv1, rice)"        nir.raw GRAY16_LE "avenc_ffv1" matroskamux "matroskademux ! avdec_ffv1"
# (avenc_ffv1 slices=4 threads=0 writes a byte-identical file here: no slice threading reachable)
run "  FFV1 range coder"               nir.raw GRAY16_LE "avenc_ffv1 coder=range_def"
# Raw 16-bit: Matroska in GStreamer 1.22 takes 8-bit raw only, so the GRAY16_LE rows go in as GRAY8 rows
# of twice the width (the same bytes; a reader must know to take them back as GRAY16_LE).
run "  raw GRAY16 as 2W GRAY8, Matroska" nir.raw GRAY16_LE "capssetter caps=video/x-raw,format=GRAY8,width=$((2 * W))" matroskamux \
  "matroskademux ! capssetter caps=video/x-raw,format=GRAY16_LE,width=$W"
run "  raw GRAY16, GDP stream (gdppay)"  nir.raw GRAY16_LE "gdppay" none "gdpdepay"
# PNG takes GRAY16_BE (a byte swap first; without the caps videoconvert picks 8-bit RGBA: lossy); Matroska
# takes no PNG here, fragmented QuickTime does.
run "  PNG 16-bit pngenc level 1, QT frag" nir.raw GRAY16_LE "videoconvert ! video/x-raw,format=GRAY16_BE ! pngenc compression-level=1" "qtmux fragment-duration=1000" "qtdemux ! pngdec ! videoconvert"
run "  PNG 16-bit pngenc level 0 (stored)" nir.raw GRAY16_LE "videoconvert ! video/x-raw,format=GRAY16_BE ! pngenc compression-level=0" "qtmux fragment-duration=1000" "qtdemux ! pngdec ! videoconvert"
run "  PNG 16-bit avenc_png none, stored"  nir.raw GRAY16_LE "videoconvert ! video/x-raw,format=GRAY16_BE ! avenc_png pred=none compression-level=0" "qtmux fragment-duration=1000" "qtdemux ! pngdec ! videoconvert"
run "  PNG 16-bit avenc_png pred=sub lv1"  nir.raw GRAY16_LE "videoconvert ! video/x-raw,format=GRAY16_BE ! avenc_png pred=sub compression-level=1" "qtmux fragment-duration=1000" "qtdemux ! pngdec ! videoconvert"
# No container of GStreamer 1.22 takes these: their cost alone (written to a file as the bare stream).
run "  FFVHuff GRAY16 (no container here)" nir.raw GRAY16_LE "avenc_ffvhuff" none
if [ "${X265:-0}" = 1 ]; then # slow: X265=1 to include; 12-bit only (videoconvert scales GRAY16 to 12 bits)
run "  x265 lossless 12-bit (cost only)"  nir.raw GRAY16_LE "videoconvert ! video/x-raw,format=I420_12LE ! x265enc speed-preset=ultrafast option-string=lossless=1 ! h265parse"
fi
[ "${ONLY:-}" = nir ] && exit 0
echo "overlay (RGB), lossy:"
run "  H.264 x264 ultrafast zerolatency" wl.raw RGB "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=8000 key-int-max=30"
run "  H.264 x264 veryfast zerolatency"  wl.raw RGB "videoconvert ! x264enc tune=zerolatency speed-preset=veryfast bitrate=8000 key-int-max=30"
# Threads: x264enc's default (threads=0: as many as x264 picks, sliced with zerolatency) against one and two.
run "  H.264 ultrafast zerolatency thr 1" wl.raw RGB "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=8000 key-int-max=30 threads=1"
run "  H.264 ultrafast zerolatency thr 2" wl.raw RGB "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=8000 key-int-max=30 threads=2"
run "  H.264 ultrafast zerolat. 4 Mbit/s" wl.raw RGB "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=4000 key-int-max=30"
