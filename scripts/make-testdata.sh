#!/usr/bin/env bash
# Regenerates the bundled phantom clip in testdata/phantom/ (how it was made, so it can be made again):
# 20 frames of 640x360 at 0.1 mm/px, seed 7; white light as H.264 (quantiser 20), NIR as lossless FFV1
# 16-bit gray, ground truth and class maps as written by `nirf-margin phantom`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NIRF_MARGIN:-target/release/nirf-margin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" phantom --out "$tmp" --frames 20 --size 640x360 --seed 7 --mm-per-px 0.1
out=testdata/phantom
rm -rf "$out" && mkdir -p "$out"
gst-launch-1.0 -q multifilesrc location="$tmp/wl/%05d.png" index=0 caps="image/png,framerate=30/1" ! pngdec \
  ! videoconvert ! x264enc speed-preset=slow pass=quant quantizer=20 ! matroskamux ! filesink location="$out/wl.mkv"
gst-launch-1.0 -q multifilesrc location="$tmp/nir/%05d.png" index=0 caps="image/png,framerate=30/1" ! pngdec \
  ! videoconvert ! video/x-raw,format=GRAY16_LE ! avenc_ffv1 ! matroskamux ! filesink location="$out/nir.mkv"
cp -r "$tmp/truth" "$tmp/ground_truth.json" "$out/"
ls -la "$out"
