#!/usr/bin/env python3
"""Zoomed crops of given lesions: NIR (stretched to the crop's range), truth contours, tool mask.
    python zoom.py DRAW RUNS out.png scene:frame:id [scene:frame:id ...]"""
import json, sys
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi
COL = {1: (0, 255, 0), 2: (255, 40, 40), 3: (60, 140, 255)}
draw, runs, out = sys.argv[1:4]
tiles = []
for spec in sys.argv[4:]:
    sc, f, lid = spec.split(':'); f = int(f)
    t = json.load(open('%s/%s/truth.json' % (draw, sc)))
    mm = t['mm_per_px']
    if lid.startswith('@'):
        cx, cy, rmm = map(float, lid[1:].split(','))
        r = rmm / mm
        l = {'kind': 'position', 'id': 0}
    else:
        l = [x for x in t['frames'][f]['lesions'] if x['id'] == int(lid)][0]
        r = ((l.get('core_diameter_mm') or 4 * l.get('sigma_mm', 2)) / 2 + 2 * (l.get('rim_thickness_nominal_mm') or 1) + 2) / mm
        cx, cy = l['centroid_px']
    nir = np.array(Image.open('%s/%s/nir/%05d.png' % (draw, sc, f))).astype(float)
    cls = np.array(Image.open('%s/%s/truth/%05d.png' % (draw, sc, f)))
    try:
        pm = np.array(Image.open('%s/%s-masks/%05d.png' % (runs, sc, f)))
    except Exception:
        pm = np.zeros_like(cls)
    H, W = nir.shape
    x0, x1 = int(max(0, cx - r)), int(min(W, cx + r)); y0, y1 = int(max(0, cy - r)), int(min(H, cy + r))
    sub = nir[y0:y1, x0:x1]
    lo, hi = np.percentile(sub, [0.5, 99.9])
    g = (np.clip((sub - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    g3 = np.stack([g] * 3, -1); c3 = g3.copy()
    for k, col in COL.items():
        m = cls[y0:y1, x0:x1] == k; e = m & ~ndi.binary_erosion(m); c3[e] = col
    p3 = np.zeros_like(g3)
    for k, col in COL.items():
        p3[pm[y0:y1, x0:x1] == k] = col
    row = np.concatenate([g3, c3, p3], 1)
    im = Image.fromarray(row).resize((900, int(900 * row.shape[0] / row.shape[1])), Image.NEAREST)
    ImageDraw.Draw(im).text((3, 3), '%s f%d id%d %s counts %d..%d' % (sc, f, l['id'], l['kind'], lo, hi), fill=(255, 255, 0))
    tiles.append(np.array(im))
Image.fromarray(np.concatenate(tiles, 0)).save(out)
