#!/usr/bin/env python3
"""Contact sheet: per scene, NIR (contrast-stretched) | NIR with truth contours | white light,
and optionally zoomed crops around each rim lesion.

    python sheet.py DIR --scenes s000,s001 --out sheet.png [--frame 0] [--zoom] [--masks RUNDIR]

With --masks RUNDIR the tool's masks (RUNDIR/SCENE-masks/%05d.png) are drawn as a 4th panel.
"""
import argparse
import json
import os

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

COL = {1: (0, 255, 0), 2: (255, 40, 40), 3: (60, 140, 255)}


def stretch(a):
    lo, hi = np.percentile(a, [0.5, 99.7])
    return (np.clip((a - lo) / max(hi - lo, 1), 0, 1) * 255).astype(np.uint8)


def contours(rgb, cls):
    out = rgb.copy()
    for c, col in COL.items():
        m = cls == c
        edge = m & ~ndi.binary_erosion(m)
        out[edge] = col
    return out


def colour_mask(cls):
    out = np.zeros(cls.shape + (3,), np.uint8)
    for c, col in COL.items():
        out[cls == c] = col
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--scenes', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--frame', type=int, default=0)
    ap.add_argument('--width', type=int, default=560)
    ap.add_argument('--zoom', action='store_true')
    ap.add_argument('--masks', default=None)
    a = ap.parse_args()
    rows = []
    for sc in a.scenes.split(','):
        d = os.path.join(a.dir, sc)
        nir = np.array(Image.open(os.path.join(d, 'nir', '%05d.png' % a.frame))).astype(np.float32)
        wl = np.array(Image.open(os.path.join(d, 'wl', '%05d.png' % a.frame)))
        cls = np.array(Image.open(os.path.join(d, 'truth', '%05d.png' % a.frame)))
        g = stretch(nir)
        g3 = np.stack([g] * 3, -1)
        panels = [g3, contours(g3, cls), wl]
        if a.masks:
            mp = os.path.join(a.masks, sc + '-masks', '%05d.png' % a.frame)
            if os.path.exists(mp):
                panels.append(colour_mask(np.array(Image.open(mp))))
        H, W = g.shape
        s = a.width / W
        row = [np.array(Image.fromarray(p).resize((a.width, int(H * s)), Image.BILINEAR)) for p in panels]
        row = np.concatenate(row, 1)
        img = Image.fromarray(row)
        dr = ImageDraw.Draw(img)
        meta = json.load(open(os.path.join(d, 'truth.json' if os.path.exists(os.path.join(d, 'truth.json')) else 'bed.json')))
        c = meta['conditions']
        dr.text((4, 4), '%s %s %.1f%% g%.1fmm %.3fmm/px sc%.2f bl%.1f hz%.2f' % (
            sc, c['texture_model'], c['texture_pct'], c['grain_mm'], meta['mm_per_px'], c['scatter'],
            c['motion_blur_px'], c['haze']), fill=(255, 255, 0))
        rows.append(np.array(img))
        if a.zoom and 'frames' in meta and 'lesions' in meta['frames'][a.frame]:
            crops = []
            for l in meta['frames'][a.frame]['lesions']:
                if l['kind'] != 'rim':
                    continue
                cx, cy = l['centroid_px']
                r = (l['core_diameter_mm'] / 2 + 2 * l['rim_thickness_nominal_mm'] + 2) / meta['mm_per_px']
                x0, x1 = int(max(0, cx - r)), int(min(W, cx + r))
                y0, y1 = int(max(0, cy - r)), int(min(H, cy + r))
                if x1 - x0 < 8 or y1 - y0 < 8:
                    continue
                sub = nir[y0:y1, x0:x1]
                gs = stretch(sub)
                gs3 = np.stack([gs] * 3, -1)
                pair = np.concatenate([gs3, contours(gs3, cls[y0:y1, x0:x1])], 1)
                pi = Image.fromarray(pair).resize((360, int(360 * pair.shape[0] / pair.shape[1])), Image.NEAREST)
                ImageDraw.Draw(pi).text((2, 2), 'id%d D%.1f t%.2f cov%.2f tbr%.1f cl%.2f' % (
                    l['id'], l['core_diameter_mm'], l['rim_thickness_median_mm'], l['rim_coverage'],
                    l['rim_tbr'], l['core_level']), fill=(255, 255, 0))
                crops.append(np.array(pi))
            if crops:
                hmax = max(c.shape[0] for c in crops)
                crops = [np.pad(c, ((0, hmax - c.shape[0]), (0, 0), (0, 0))) for c in crops]
                strip = np.concatenate(crops, 1)
                tw = rows[-1].shape[1]
                if strip.shape[1] > tw:
                    strip = np.array(Image.fromarray(strip).resize((tw, int(strip.shape[0] * tw / strip.shape[1]))))
                strip = np.pad(strip, ((0, 0), (0, tw - strip.shape[1]), (0, 0)))
                rows.append(strip)
    wmax = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, wmax - r.shape[1]), (0, 0))) for r in rows]
    Image.fromarray(np.concatenate(rows, 0)).save(a.out)


if __name__ == '__main__':
    main()
