#!/usr/bin/env python3
"""Independent NIRF laparoscopy phantom generator (written without reading nirf-margin's
own phantom or analysis code).  See README.md for the models.

    python gen.py --seed S --scenes N --beds B --out DIR

Every scene is drawn from np.random.default_rng([seed, kind, index]) so a scene does not
depend on how many other scenes were asked for.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
from PIL import Image
from scipy import fft as sfft
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

MARGIN = 16          # canvas margin (px) around the frame, room for camera motion
F32 = np.float32
TEXTURE_MODELS = ['fbm', 'lobules_bright', 'lobules_dark', 'central_veins',
                  'blotches', 'streaks', 'lognormal', 'gamma_speckle']


# ----------------------------------------------------------------------------- noise helpers

def _norm(z):
    z = z.astype(F32, copy=False)
    z = z - z.mean()
    s = float(z.std())
    return z / (s if s > 1e-12 else 1.0)


def _zoom_to(z, f, H, W):
    if f == 1:
        return z[:H, :W]
    out = ndi.zoom(z, f, order=1, prefilter=False, grid_mode=False)
    return out[:H, :W]


def _freqs(h, w):
    fy = sfft.fftfreq(h).astype(F32)[:, None]
    fx = sfft.rfftfreq(w).astype(F32)[None, :]
    return fy, fx


def spectral_noise(rng, H, W, finest_px, filt):
    """Gaussian noise shaped in the Fourier domain.  `filt(fy, fx, f)` gets frequencies in
    cycles per *full-resolution* pixel.  Computed at a reduced resolution when the finest
    scale allows it, then bilinearly upsampled."""
    f = max(1, int(finest_px / 5.0))
    h, w = -(-H // f) + 2, -(-W // f) + 2
    n = rng.standard_normal((h, w), dtype=F32)
    Fn = sfft.rfft2(n, workers=1)
    fy, fx = _freqs(h, w)
    fy = fy / f
    fx = fx / f
    fr = np.sqrt(fy * fy + fx * fx)
    Fn *= filt(fy, fx, fr)
    z = sfft.irfft2(Fn, s=(h, w), workers=1).astype(F32)
    return _norm(_zoom_to(z, f, H, W))


def ring(fr, fc, rel=0.45):
    return np.exp(-0.5 * ((fr - fc) / (rel * fc)) ** 2) / fc


def band_noise(rng, H, W, scale_px):
    return spectral_noise(rng, H, W, scale_px / 2, lambda fy, fx, fr: ring(fr, 1.0 / scale_px))


def lowpass_noise(rng, H, W, scale_px):
    return spectral_noise(rng, H, W, scale_px, lambda fy, fx, fr: np.exp(-0.5 * (fr * scale_px) ** 2))


def soft_clip(z, c=4.0):
    return (c * np.tanh(z / c)).astype(F32)


# ----------------------------------------------------------------------------- texture models

def tex_fbm(rng, H, W, g):
    pers = rng.uniform(0.45, 0.8)
    ks = range(-2, 3)

    def filt(fy, fx, fr):
        out = np.zeros_like(fr)
        for k in ks:
            out += (pers ** abs(k)) * ring(fr, 1.0 / (g * 2.0 ** k))
        return out
    return spectral_noise(rng, H, W, g / 4, filt), {'persistence': round(pers, 3)}


def _voronoi(rng, H, W, cell, jitter):
    f = max(1, int(cell // 9))
    h, w = -(-H // f) + 2, -(-W // f) + 2
    c = cell / f
    ny, nx = int(h / c) + 4, int(w / c) + 4
    jy = rng.random((ny, nx), dtype=F32)
    jx = rng.random((ny, nx), dtype=F32)
    val = rng.standard_normal((ny, nx), dtype=F32)
    yy = np.arange(h, dtype=F32)[:, None]
    xx = np.arange(w, dtype=F32)[None, :]
    ci = (yy // c).astype(np.int32)
    cj = (xx // c).astype(np.int32)
    d1 = np.full((h, w), np.inf, F32)
    d2 = np.full((h, w), np.inf, F32)
    v1 = np.zeros((h, w), F32)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            ii = np.clip(ci + di + 1, 0, ny - 1)
            jj = np.clip(cj + dj + 1, 0, nx - 1)
            py = (ci + di + 0.5 + jitter * (jy[ii, jj] - 0.5)) * c
            px = (cj + dj + 0.5 + jitter * (jx[ii, jj] - 0.5)) * c
            d = (yy - py) ** 2 + (xx - px) ** 2
            m = d < d1
            d2 = np.where(m, d1, np.minimum(d2, d))
            v1 = np.where(m, val[ii, jj], v1)
            d1 = np.where(m, d, d1)
    return np.sqrt(d1), np.sqrt(d2), v1, c, f


def tex_lobules(rng, H, W, g, walls):
    jit = rng.uniform(0.7, 1.0)
    d1, d2, v1, c, f = _voronoi(rng, H, W, g, jit)
    ww = c * rng.uniform(0.04, 0.11)
    wall = np.exp(-0.5 * (((d2 - d1) * 0.5) / ww) ** 2)
    a_val = rng.uniform(0.3, 1.0)
    sgn = 1.0 if walls == 'bright' else -1.0
    z = a_val * v1 + sgn * rng.uniform(1.5, 3.0) * wall
    z = _zoom_to(z.astype(F32), f, H, W)
    z = _norm(z) + 0.35 * band_noise(rng, H, W, max(g / 4, 3.0))
    return _norm(z), {'jitter': round(jit, 3), 'wall_frac': round(ww / c, 3)}


def tex_central_veins(rng, H, W, g):
    jit = rng.uniform(0.75, 1.0)
    d1, d2, v1, c, f = _voronoi(rng, H, W, g, jit)
    rd = c * rng.uniform(0.06, 0.15)
    dots = np.exp(-0.5 * (d1 / rd) ** 2)
    ww = c * rng.uniform(0.05, 0.1)
    wall = np.exp(-0.5 * (((d2 - d1) * 0.5) / ww) ** 2)
    # radial gradient inside the lobule (periportal brighter than pericentral, or reverse)
    rad = np.clip(d1 / (0.5 * c), 0, 1.5)
    z = -rng.uniform(2.0, 3.5) * dots + rng.uniform(-0.8, 0.8) * rad + rng.uniform(0, 0.6) * v1 \
        + rng.uniform(-1, 1) * wall
    z = _zoom_to(z.astype(F32), f, H, W)
    z = _norm(z) + 0.3 * band_noise(rng, H, W, max(g / 4, 3.0))
    return _norm(z), {'jitter': round(jit, 3), 'dot_frac': round(rd / c, 3)}


def tex_blotches(rng, H, W, g):
    z0 = lowpass_noise(rng, H, W, g * rng.uniform(0.8, 1.6))
    thr = rng.uniform(-0.3, 1.0)
    soft = rng.uniform(0.08, 0.35)
    z = 1.0 / (1.0 + np.exp(-(z0 - thr) / soft))
    if rng.random() < 0.5:
        z = -z                                      # dark blotches instead of bright
    z = _norm(z) + 0.4 * band_noise(rng, H, W, max(g / 3, 3.0))
    return _norm(z), {'threshold': round(thr, 3), 'softness': round(soft, 3)}


def tex_streaks(rng, H, W, g):
    ang = rng.uniform(0, math.pi)
    La = g * rng.uniform(4, 12)
    ca, sa = math.cos(ang), math.sin(ang)

    def filt(fy, fx, fr):
        fu = fx * ca + fy * sa
        fv = -fx * sa + fy * ca
        return np.exp(-0.5 * (fu * La) ** 2) * np.exp(-0.5 * ((np.abs(fv) - 1.0 / g) / (0.5 / g)) ** 2)
    z = spectral_noise(rng, H, W, g / 3, filt)
    warped = rng.random() < 0.5
    if warped:
        amp = g * rng.uniform(1, 3)
        wy = lowpass_noise(rng, H, W, g * 8) * amp
        wx = lowpass_noise(rng, H, W, g * 8) * amp
        yy, xx = np.mgrid[0:H, 0:W].astype(F32)
        z = ndi.map_coordinates(z, [np.clip(yy + wy, 0, H - 1), np.clip(xx + wx, 0, W - 1)],
                                order=1, mode='nearest').astype(F32)
    z = _norm(z) + 0.25 * band_noise(rng, H, W, max(g / 2, 3.0))
    return _norm(z), {'angle_deg': round(math.degrees(ang), 1), 'length_x': round(La / g, 2),
                      'warped': warped}


def tex_lognormal(rng, H, W, g):
    s = rng.uniform(0.5, 1.0)
    z0, _ = tex_fbm(rng, H, W, g)
    return _norm(np.exp(s * z0)), {'log_sigma': round(s, 3)}


def tex_gamma(rng, H, W, g):
    k = int(rng.choice([3, 4, 6]))
    z = np.zeros((H, W), F32)
    for _ in range(k):
        z += band_noise(rng, H, W, g) ** 2
    return _norm(z), {'dof': k}


def make_texture(rng, H, W, model, g):
    if model == 'fbm':
        return tex_fbm(rng, H, W, g)
    if model == 'lobules_bright':
        return tex_lobules(rng, H, W, g, 'bright')
    if model == 'lobules_dark':
        return tex_lobules(rng, H, W, g, 'dark')
    if model == 'central_veins':
        return tex_central_veins(rng, H, W, g)
    if model == 'blotches':
        return tex_blotches(rng, H, W, g)
    if model == 'streaks':
        return tex_streaks(rng, H, W, g)
    if model == 'lognormal':
        return tex_lognormal(rng, H, W, g)
    if model == 'gamma_speckle':
        return tex_gamma(rng, H, W, g)
    raise ValueError(model)


def liver_texture(rng, H, W, mmpp, primary=None, pct=None, grain_mm=None):
    """Returns (T, zprimary, info): T has mean 1 and std ~pct."""
    if primary is None:
        primary = TEXTURE_MODELS[int(rng.integers(len(TEXTURE_MODELS)))]
    if pct is None:
        pct = rng.uniform(0.05, 0.25)
    if grain_mm is None:
        grain_mm = rng.uniform(1.0, 5.0)
    g = grain_mm / mmpp
    z1, p1 = make_texture(rng, H, W, primary, g)
    others = [m for m in TEXTURE_MODELS if m != primary]
    nsec = int(rng.integers(1, 3))
    sec = list(rng.choice(others, size=nsec, replace=False))
    comps = [{'model': primary, 'grain_mm': round(grain_mm, 3), 'weight': 1.0, 'params': p1}]
    mix = 'additive' if rng.random() < 0.6 else 'spatial'
    z = z1.copy()
    if mix == 'additive':
        for m in sec:
            gm = float(np.clip(grain_mm * rng.uniform(0.5, 2.0), 1.0, 5.0))
            w = rng.uniform(0.2, 0.6)
            zs, ps = make_texture(rng, H, W, m, gm / mmpp)
            z += w * zs
            comps.append({'model': str(m), 'grain_mm': round(gm, 3), 'weight': round(w, 3), 'params': ps})
    else:
        m = sec[0]
        gm = float(np.clip(grain_mm * rng.uniform(0.5, 2.0), 1.0, 5.0))
        zs, ps = make_texture(rng, H, W, m, gm / mmpp)
        region = lowpass_noise(rng, H, W, rng.uniform(10, 25) / mmpp)
        cover = rng.uniform(0.25, 0.5)               # primary keeps >= half of the area
        thr = np.quantile(region[::8, ::8], 1 - cover)
        a = 1.0 / (1.0 + np.exp(-(region - thr) / 0.15))
        z = (1 - a) * z1 + a * zs
        comps.append({'model': str(m), 'grain_mm': round(gm, 3), 'weight': round(cover, 3),
                      'params': ps, 'spatial_region': True})
    z = soft_clip(_norm(z), 4.0)
    z = _norm(z)
    T = 1.0 + pct * z
    T = np.maximum(T, 0.2).astype(F32)
    T /= T.mean()
    info = {'texture_model': primary, 'texture_pct': round(pct * 100, 2),
            'texture_pct_actual': round(float(T.std() / T.mean()) * 100, 2),
            'grain_mm': round(grain_mm, 3), 'texture_mix': mix, 'texture_components': comps}
    return T, z1, info


# ----------------------------------------------------------------------------- shapes

class PolarShape:
    """Star-shaped closed curve r(theta) around (cx, cy), sampled on a fine theta table."""
    NT = 4096

    def __init__(self, rng, R, style):
        self.style = style
        th = np.linspace(0, 2 * np.pi, self.NT, endpoint=False)
        u = np.zeros_like(th)
        if style == 'round':
            for k in (2, 3):
                u += rng.uniform(0, 0.04) * np.cos(k * th + rng.uniform(0, 2 * np.pi))
        elif style == 'lobulated':
            ks = rng.choice(np.arange(3, 9), size=int(rng.integers(2, 4)), replace=False)
            for k in ks:
                u += rng.uniform(0.05, 0.14) * np.cos(k * th + rng.uniform(0, 2 * np.pi))
            u += rng.uniform(0, 0.08) * np.cos(2 * th + rng.uniform(0, 2 * np.pi))
        elif style == 'irregular':
            for k in range(2, 15):
                u += rng.normal(0, 0.12) / k ** 0.8 * np.cos(k * th + rng.uniform(0, 2 * np.pi))
        elif style == 'star':
            n = int(rng.integers(5, 10))
            a = rng.uniform(0.15, 0.35)
            p = rng.uniform(2, 6)
            s = np.abs(np.cos(n * th / 2 + rng.uniform(0, np.pi))) ** p
            u += a * (s - s.mean()) / max(s.max() - s.mean(), 1e-6) * 0.8
            u += rng.uniform(0, 0.06) * np.cos(2 * th + rng.uniform(0, 2 * np.pi))
        elif style == 'blob':          # small residual spot, mildly irregular
            for k in range(2, 6):
                u += rng.normal(0, 0.1) / k * np.cos(k * th + rng.uniform(0, 2 * np.pi))
        lo = u.min()
        if lo < -0.6:
            u *= 0.6 / -lo
        self.th = th
        self.r = R * (1 + u)

    def scale_to_diameter(self, D):
        area = 0.5 * np.sum(self.r ** 2) * (2 * np.pi / self.NT)
        d = 2 * math.sqrt(area / math.pi)
        self.r *= D / d

    def rc(self, th):
        idx = (np.mod(th, 2 * np.pi) / (2 * np.pi) * self.NT)
        i0 = np.floor(idx).astype(np.int64) % self.NT
        fr = (idx - np.floor(idx)).astype(F32)
        i1 = (i0 + 1) % self.NT
        return self.r[i0] * (1 - fr) + self.r[i1] * fr

    def drdth(self, th):
        d = (np.roll(self.r, -1) - np.roll(self.r, 1)) / (2 * (2 * np.pi / self.NT))
        idx = np.round(np.mod(th, 2 * np.pi) / (2 * np.pi) * self.NT).astype(np.int64) % self.NT
        return d[idx]

    @property
    def rmax(self):
        return float(self.r.max())

    @property
    def rmin(self):
        return float(self.r.min())

    def boundary(self, cx, cy, ds=0.25):
        """Uniform-arc-length samples: (x, y, theta, outward normal nx, ny, ds_actual)."""
        th = self.th
        x = cx + self.r * np.cos(th)
        y = cy + self.r * np.sin(th)
        xc = np.append(x, x[0])
        yc = np.append(y, y[0])
        seg = np.hypot(np.diff(xc), np.diff(yc))
        cum = np.concatenate([[0], np.cumsum(seg)])
        L = cum[-1]
        n = max(720, int(L / ds))
        s = np.arange(n) * (L / n)
        thc = np.append(th, 2 * np.pi)
        ths = np.interp(s, cum, thc)
        xs = np.interp(s, cum, xc)
        ys = np.interp(s, cum, yc)
        # tangent by central difference on the periodic sample
        tx = np.roll(xs, -1) - np.roll(xs, 1)
        ty = np.roll(ys, -1) - np.roll(ys, 1)
        tn = np.hypot(tx, ty) + 1e-12
        nx, ny = ty / tn, -tx / tn
        # make outward
        sgn = np.sign(nx * (xs - cx) + ny * (ys - cy))
        sgn[sgn == 0] = 1
        nx *= sgn
        ny *= sgn
        return xs, ys, ths, nx, ny, L / n

    def area_centroid(self, cx, cy):
        x = cx + self.r * np.cos(self.th)
        y = cy + self.r * np.sin(self.th)
        x1, y1 = np.roll(x, -1), np.roll(y, -1)
        cr = x * y1 - x1 * y
        A = 0.5 * cr.sum()
        gx = ((x + x1) * cr).sum() / (6 * A)
        gy = ((y + y1) * cr).sum() / (6 * A)
        return abs(A), gx, gy


def periodic_noise(rng, kmax=4):
    """Smooth periodic function of theta with max |h| = 1 (table of 4096)."""
    th = np.linspace(0, 2 * np.pi, PolarShape.NT, endpoint=False)
    h = np.zeros_like(th)
    for k in range(1, kmax + 1):
        h += rng.normal(0, 1) / k * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    h /= max(np.abs(h).max(), 1e-9)
    return h


def table_at(tab, th):
    idx = np.round(np.mod(th, 2 * np.pi) / (2 * np.pi) * len(tab)).astype(np.int64) % len(tab)
    return tab[idx]


def angdist(a, b):
    return np.abs((a - b + np.pi) % (2 * np.pi) - np.pi)


# ----------------------------------------------------------------------------- curves (ducts, veins)

def random_curve(rng, p0, heading, length_px, step, curl):
    n = max(2, int(length_px / step))
    k = rng.normal(0, curl, n)
    k = ndi.gaussian_filter1d(k, max(1.0, n / 12.0)) * math.sqrt(max(1.0, n / 12.0))
    hd = heading + np.cumsum(k * step)
    x = p0[0] + np.concatenate([[0], np.cumsum(np.cos(hd[:-1]) * step)])
    y = p0[1] + np.concatenate([[0], np.cumsum(np.sin(hd[:-1]) * step)])
    return np.stack([x, y], 1)


def curve_distance(pts, H, W, reach):
    """Distance (px) to a polyline sampled densely, within a bounding box; returns
    (slices, dist) with dist=inf beyond reach."""
    x0 = int(max(0, math.floor(pts[:, 0].min() - reach - 1)))
    x1 = int(min(W, math.ceil(pts[:, 0].max() + reach + 2)))
    y0 = int(max(0, math.floor(pts[:, 1].min() - reach - 1)))
    y1 = int(min(H, math.ceil(pts[:, 1].max() + reach + 2)))
    if x1 <= x0 or y1 <= y0:
        return None, None
    h, w = y1 - y0, x1 - x0
    img = np.ones((h, w), bool)
    ix = np.round(pts[:, 0] - x0).astype(int)
    iy = np.round(pts[:, 1] - y0).astype(int)
    ok = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    if not ok.any():
        return None, None
    img[iy[ok], ix[ok]] = False
    dapprox = ndi.distance_transform_edt(img)
    band = dapprox <= reach + 1
    yy, xx = np.nonzero(band)
    tree = cKDTree(pts)
    d, _ = tree.query(np.stack([xx + x0, yy + y0], 1).astype(np.float64), distance_upper_bound=reach + 2)
    dist = np.full((h, w), np.inf, F32)
    dist[yy, xx] = d
    return (slice(y0, y1), slice(x0, x1)), dist


def seg_distance(x, y, p0, p1):
    vx, vy = p1[0] - p0[0], p1[1] - p0[1]
    L2 = vx * vx + vy * vy
    t = np.clip(((x - p0[0]) * vx + (y - p0[1]) * vy) / L2, 0, 1)
    dx = x - (p0[0] + t * vx)
    dy = y - (p0[1] + t * vy)
    return np.sqrt(dx * dx + dy * dy), t


# ----------------------------------------------------------------------------- scene class

class Canvas:
    def __init__(self, W, H, mmpp):
        self.W, self.H = W, H                      # frame size
        self.CW, self.CH = W + 2 * MARGIN, H + 2 * MARGIN
        self.mmpp = mmpp
        CH, CW = self.CH, self.CW
        self.S = np.zeros((CH, CW), F32)           # fluorescence excess (ratio units)
        self.acore = np.zeros((CH, CW), F32)       # core alpha
        self.vcore = np.ones((CH, CW), F32)        # core ratio where acore>0
        self.cls = np.zeros((CH, CW), np.uint8)
        self.dark = np.ones((CH, CW), F32)         # multiplicative darkening (veins, char)
        self.occupied = []                         # (cx, cy, radius) of placed objects


def lesion_extent(shape, tmax):
    return shape.rmax + tmax


def free_spot(cv, cx, cy, rad, sep):
    for (ox, oy, orad) in cv.occupied:
        if math.hypot(cx - ox, cy - oy) < rad + orad + sep:
            return False
    return True


def place(rng, cv, rad, sep, allow_partial, center_box=None, tries=60):
    """Pick a centre (canvas coords) so the disc of radius rad fits (or, when allowed,
    straddles the frame edge)."""
    for _ in range(tries):
        if center_box is not None:
            fx0, fx1, fy0, fy1 = center_box
            cx = MARGIN + rng.uniform(fx0, fx1) * cv.W
            cy = MARGIN + rng.uniform(fy0, fy1) * cv.H
        elif allow_partial:
            cx = MARGIN + rng.uniform(-0.3 * rad, cv.W + 0.3 * rad)
            cy = MARGIN + rng.uniform(-0.3 * rad, cv.H + 0.3 * rad)
        else:
            lo_x, hi_x = MARGIN + rad + 8, MARGIN + cv.W - rad - 8
            lo_y, hi_y = MARGIN + rad + 8, MARGIN + cv.H - rad - 8
            if hi_x <= lo_x or hi_y <= lo_y:
                return None
            cx = rng.uniform(lo_x, hi_x)
            cy = rng.uniform(lo_y, hi_y)
        if free_spot(cv, cx, cy, rad, sep):
            return cx, cy
    return None


def window(cv, cx, cy, ext):
    """The canvas window within `ext` px of (cx, cy): its slices, the pixel coordinates in it and their
    offsets from (cx, cy)."""
    x0 = int(max(0, math.floor(cx - ext)))
    x1 = int(min(cv.CW, math.ceil(cx + ext) + 1))
    y0 = int(max(0, math.floor(cy - ext)))
    y1 = int(min(cv.CH, math.ceil(cy + ext) + 1))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(F32)
    return (slice(y0, y1), slice(x0, x1)), xx, yy, xx - cx, yy - cy


def polar(shape, dx, dy):
    """At offsets (dx, dy) from a shape's centre: the radius, the angle, and the shape's boundary radius
    at that angle with its derivative."""
    r = np.sqrt(dx * dx + dy * dy)
    th = np.arctan2(dy, dx)
    return r, th, shape.rc(th), shape.drdth(th)


def render_rim_lesion(rng, cv, T, zpatch, zcore, les):
    """Draw one rim lesion (core + rim) into the canvas and compute its geometric truth."""
    shape, cx, cy = les['_shape'], les['_cx'], les['_cy']
    tt, gap_c, gap_w = les['_ttab'], les['_gap_c'], les['_gap_w']
    tmax = float(tt.max())
    ext = shape.rmax + tmax + 3
    sl, xx, yy, dx, dy = window(cv, cx, cy, ext)
    r, th, rc, drc = polar(shape, dx, dy)
    cospsi = rc / np.sqrt(rc * rc + drc * drc)
    sd = (r - rc) * cospsi
    a_core = np.clip(0.5 - sd, 0, 1).astype(F32)

    bx, by, bth, bnx, bny, bds = shape.boundary(cx, cy, ds=0.25)
    tree = cKDTree(np.stack([bx, by], 1))
    band = (sd > -1.5) & (r < shape.rmax + tmax + 2.5)
    iy, ix = np.nonzero(band)
    d, idx = tree.query(np.stack([xx[iy, ix], yy[iy, ix]], 1).astype(np.float64),
                        distance_upper_bound=tmax + 2.5)
    far = ~np.isfinite(d)
    idx[far] = 0
    thn = bth[idx]
    tn = table_at(tt, thn)
    a_out = np.clip(tn + 0.5 - d, 0, 1)
    a_out[far] = 0
    if gap_w > 0:
        ad = angdist(thn, gap_c)
        gsoft = np.clip((ad - gap_w / 2) * table_at(shape.r, thn) + 0.5, 0, 1)
        a_out *= gsoft
    a_rim = np.zeros_like(a_core)
    a_rim[iy, ix] = a_out
    a_rim *= (1 - a_core)
    # rim intensity: fade inner->outer, angular patches, spatial patches
    u = np.zeros_like(a_core)
    u[iy, ix] = np.clip(d / np.maximum(tn, 1e-3), 0, 1)
    ang = np.zeros_like(a_core)
    ang[iy, ix] = table_at(les['_patch_tab'], thn)
    m = (1 - les['fade'] * u) * (1 + les['patchiness'] * ang) * (1 + 0.5 * les['patchiness'] * zpatch[sl])
    m = np.maximum(m, 0.25)
    sel = a_rim > 0.5
    mm = float(m[sel].mean()) if sel.any() else 1.0
    texmod = 0.5 + 0.5 * T[sl]
    exc = (les['rim_tbr'] - 1.0) * m / mm
    cv.S[sl] += a_rim * exc * texmod
    core_val = les['core_level'] * (1 + les['_core_tex'] * zcore[sl])
    newa = np.maximum(cv.acore[sl], a_core)
    cv.vcore[sl] = np.where(a_core > 0, core_val, cv.vcore[sl])
    cv.acore[sl] = newa
    c = cv.cls[sl]
    c[a_rim >= 0.5] = 1
    c[a_core >= 0.5] = 2

    # ---- geometric truth: thickness = distance from each core boundary point to the
    # nearest point of the rim's outer boundary (the background), along the boundary
    tb = table_at(tt, bth)
    in_gap = angdist(bth, gap_c) < gap_w / 2 if gap_w > 0 else np.zeros(len(bth), bool)
    ox = bx + tb * bnx
    oy = by + tb * bny
    ok = ~in_gap
    # offset points swallowed by the rim of another part of the boundary are not outer boundary
    dd, kk = tree.query(np.stack([ox, oy], 1))
    ok &= dd >= tb[kk] - 0.05
    orr = np.hypot(ox - cx, oy - cy)
    ok &= orr >= shape.rc(np.arctan2(oy - cy, ox - cx)) - 0.05
    outer = np.stack([ox[ok], oy[ok]], 1)
    cand = [outer]
    if gap_w > 0:
        cand.append(np.stack([bx[in_gap], by[in_gap]], 1))
        # the two gap edges: normals from the gap's end points
        edges = np.nonzero(in_gap != np.roll(in_gap, 1))[0]
        for e in edges:
            for j in (e, e - 1):
                j %= len(bx)
                if not in_gap[j]:
                    s = np.linspace(0, tb[j], max(2, int(tb[j] / 0.25)))
                    cand.append(np.stack([bx[j] + s * bnx[j], by[j] + s * bny[j]], 1))
    cand = np.concatenate(cand, 0)
    cov_sel = ~in_gap
    bpts = np.stack([bx, by], 1)
    # primary: distance from each covered core-boundary point to the nearest point of the
    # rim's OUTER boundary (the offset curve; the gap's end faces are not outer boundary)
    thick = cKDTree(outer).query(bpts[cov_sel])[0] * cv.mmpp
    # margin definition: distance to the nearest tissue that is neither rim nor core, the gap
    # included (smaller than the above next to a gap)
    thick_m = cKDTree(cand).query(bpts[cov_sel])[0] * cv.mmpp
    les['rim_coverage'] = round(float(cov_sel.mean()), 4)
    les['rim_thickness_median_mm'] = round(float(np.median(thick)), 4)
    les['rim_thickness_p5_mm'] = round(float(np.percentile(thick, 5)), 4)
    les['rim_thickness_margin_median_mm'] = round(float(np.median(thick_m)), 4)
    les['rim_thickness_margin_p5_mm'] = round(float(np.percentile(thick_m, 5)), 4)
    # the thickness as drawn along each boundary point's normal (equals the primary except in
    # concavities where neighbouring rim parts merge)
    les['rim_thickness_drawn_median_mm'] = round(float(np.median(tb[cov_sel]) * cv.mmpp), 4)
    les['rim_thickness_drawn_p5_mm'] = round(float(np.percentile(tb[cov_sel], 5) * cv.mmpp), 4)
    A, gx, gy = shape.area_centroid(cx, cy)
    les['core_diameter_mm'] = round(2 * math.sqrt(A / math.pi) * cv.mmpp, 4)
    les['_centroid'] = (gx, gy)
    # extent for in-view test: the rim's outer boundary (or the core's in the gap)
    allx = np.concatenate([bx, cand[:, 0]])
    ally = np.concatenate([by, cand[:, 1]])
    les['_ext'] = (float(allx.min()), float(ally.min()), float(allx.max()), float(ally.max()))
    les['_core_ext'] = (float(bx.min()), float(by.min()), float(bx.max()), float(by.max()))


def render_homogeneous(rng, cv, T, zcore, les):
    shape, cx, cy = les['_shape'], les['_cx'], les['_cy']
    ext = shape.rmax + 3
    sl, xx, yy, dx, dy = window(cv, cx, cy, ext)
    r, th, rc, drc = polar(shape, dx, dy)
    sd = (r - rc) * rc / np.sqrt(rc * rc + drc * drc)
    a = np.clip(0.5 - sd, 0, 1).astype(F32)
    val = les['tbr'] * (1 + les['_tex'] * zcore[sl])
    cv.S[sl] += a * (val - T[sl])
    c = cv.cls[sl]
    c[a >= 0.5] = 3
    A, gx, gy = shape.area_centroid(cx, cy)
    les['core_diameter_mm'] = round(2 * math.sqrt(A / math.pi) * cv.mmpp, 4)
    les['_centroid'] = (gx, gy)
    bx, by, *_ = shape.boundary(cx, cy, ds=1.0)
    les['_ext'] = (float(bx.min()), float(by.min()), float(bx.max()), float(by.max()))
    les['_core_ext'] = les['_ext']
    les['area_mm2'] = round(A * cv.mmpp ** 2, 4)


def render_deep(rng, cv, les):
    cx, cy = les['_cx'], les['_cy']
    sx = les['sigma_mm'] / cv.mmpp
    sy = sx * les['aspect']
    ang = les['_angle']
    ext = 4 * max(sx, sy)
    sl, xx, yy, dx, dy = window(cv, cx, cy, ext)
    u = dx * math.cos(ang) + dy * math.sin(ang)
    v = -dx * math.sin(ang) + dy * math.cos(ang)
    g = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)).astype(F32)
    cv.S[sl] += (les['tbr'] - 1) * g
    c = cv.cls[sl]
    c[(g >= 0.5) & (c == 0)] = 3
    les['_centroid'] = (cx, cy)
    e = 2 * max(sx, sy)
    les['_ext'] = (cx - e, cy - e, cx + e, cy + e)
    les['_core_ext'] = les['_ext']


# ----------------------------------------------------------------------------- scene assembly

def pick_size(rng):
    return (1280, 720) if rng.random() < 0.5 else (1920, 1080)


def shape_style(rng):
    return str(rng.choice(['round', 'lobulated', 'irregular', 'star'], p=[0.3, 0.3, 0.25, 0.15]))


def two_armed_curve(rng, p0, hd, length, step, curl):
    """A random curve of `length` px through `p0`, its two arms drawn from it in the directions `hd` and
    `hd + pi` (`random_curve`), as one polyline."""
    a1 = random_curve(rng, p0, hd, length / 2, step, curl)
    a2 = random_curve(rng, p0, hd + math.pi, length / 2, step, curl)
    return np.concatenate([a2[::-1], a1[1:]], 0)


def curve_profile(pts, cv, w):
    """A curve's Gaussian cross-section of FWHM `w` px, within 1.5 w + 2 px of it: the window's slices,
    the distance to the curve and the profile (0 where the distance is not finite); (None, None, None)
    where the window is empty."""
    sl, dist = curve_distance(pts, cv.CH, cv.CW, 1.5 * w + 2)
    if sl is None:
        return None, None, None
    s = w / 2.355
    prof = np.exp(-0.5 * (dist / s) ** 2)
    prof[~np.isfinite(dist)] = 0
    return sl, dist, prof


def add_curves(rng, cv, lesions, n_ducts, n_veins, touch_prob=0.4):
    mmpp = cv.mmpp
    ducts, veins = [], []
    rim_like = [l for l in lesions if l['kind'] in ('rim', 'homogeneous')]

    def blocked(pts, margin_fn):
        for l in lesions:
            if l['kind'] == 'deep':
                continue
            sh = l['_shape']
            dx = pts[:, 0] - l['_cx']
            dy = pts[:, 1] - l['_cy']
            rr = np.hypot(dx, dy)
            th = np.arctan2(dy, dx)
            lim = sh.rc(th) + margin_fn(l, th)
            if np.any(rr < lim):
                return True
        return False

    def place(propose, margin_fn, w):
        """The first of 25 proposed curves (`propose`: a polyline and what goes with it) clear of the
        lesions by `margin_fn`, with its cross-section of FWHM `w` (`curve_profile`): (slices, distance,
        profile, what went with it), or None where none is clear or its window is empty."""
        for _ in range(25):
            pts, extra = propose()
            if not blocked(pts, margin_fn):
                sl, dist, prof = curve_profile(pts, cv, w)
                return None if sl is None else (sl, dist, prof, extra)
        return None

    for _ in range(n_ducts):
        w = rng.uniform(0.3, 1.5) / mmpp            # FWHM width
        tbr = rng.uniform(1.5, 4.0)
        L = rng.uniform(10, 60) / mmpp

        def propose():
            touch = bool(rim_like) and rng.random() < touch_prob
            if touch:
                l = rim_like[int(rng.integers(len(rim_like)))]
                a = rng.uniform(0, 2 * np.pi)
                tt = float(table_at(l['_ttab'], np.array([a]))[0]) if l['kind'] == 'rim' else 0.0
                if l['kind'] == 'rim' and l['_gap_w'] > 0 and angdist(a, l['_gap_c']) < l['_gap_w']:
                    tt = 0.0
                rr = float(l['_shape'].rc(np.array([a]))[0]) + tt + 0.5 * w + rng.uniform(0, 0.3 / mmpp)
                p0 = (l['_cx'] + rr * math.cos(a), l['_cy'] + rr * math.sin(a))
                hd = a + math.pi / 2 * (1 if rng.random() < 0.5 else -1)
            else:
                p0 = (rng.uniform(0, cv.CW), rng.uniform(0, cv.CH))
                hd = rng.uniform(0, 2 * np.pi)
            curl = rng.uniform(0.2, 1.5) / (10 / mmpp)
            return two_armed_curve(rng, p0, hd, L, 1.0, curl), touch

        def marg(l, th):
            if l['kind'] == 'rim':
                t = table_at(l['_ttab'], th)
                if l['_gap_w'] > 0:
                    t = np.where(angdist(th, l['_gap_c']) < l['_gap_w'] / 2, 0, t)
                return t + 0.5 * w - 1.0
            return 0.5 * w - 1.0
        placed = place(propose, marg, w)
        if placed is None:
            continue
        sl, dist, prof, touch = placed
        cv.S[sl] += (tbr - 1) * prof
        c = cv.cls[sl]
        c[(dist <= w / 2) & (c == 0)] = 3
        ducts.append({'width_mm': round(w * mmpp, 3), 'tbr': round(tbr, 3), 'touches_lesion': bool(touch),
                      'length_mm': round(L * mmpp, 1)})

    for _ in range(n_veins):
        w = rng.uniform(1.5, 6.0) / mmpp
        depth = rng.uniform(0.15, 0.5)
        L = rng.uniform(15, 80) / mmpp

        def propose():
            p0 = (rng.uniform(0, cv.CW), rng.uniform(0, cv.CH))
            hd = rng.uniform(0, 2 * np.pi)
            curl = rng.uniform(0.1, 0.8) / (10 / mmpp)
            return two_armed_curve(rng, p0, hd, L, 2.0, curl), None
        placed = place(propose, lambda l, th: (table_at(l['_ttab'], th) if l['kind'] == 'rim' else 0) + w + 1.0 / mmpp, w)
        if placed is None:
            continue
        sl, dist, prof, _ = placed
        cv.dark[sl] *= (1 - depth * prof)
        veins.append({'width_mm': round(w * mmpp, 3), 'depth': round(depth, 3)})
    return ducts, veins


def add_instruments(rng, cv, n, lesions):
    """Shafts entering from the frame edge.  Returns list of dicts with the geometry and the
    per-pixel alpha / specular images (canvas)."""
    out = []
    yy = np.arange(cv.CH, dtype=F32)[:, None]
    xx = np.arange(cv.CW, dtype=F32)[None, :]
    for _ in range(n):
        rw = min(rng.uniform(2.5, 5.0) / cv.mmpp, 0.12 * cv.H)
        best = None
        for attempt in range(12):
            side = int(rng.integers(4))
            t = rng.uniform(0.1, 0.9)
            if side == 0:
                p0 = (MARGIN - 3 * rw, MARGIN + t * cv.H)
            elif side == 1:
                p0 = (MARGIN + cv.W + 3 * rw, MARGIN + t * cv.H)
            elif side == 2:
                p0 = (MARGIN + t * cv.W, MARGIN - 3 * rw)
            else:
                p0 = (MARGIN + t * cv.W, MARGIN + cv.H + 3 * rw)
            tip = (MARGIN + rng.uniform(0.2, 0.8) * cv.W, MARGIN + rng.uniform(0.2, 0.8) * cv.H)
            hits = 0
            for l in lesions:
                e = l['_ext']
                rad = 0.5 * math.hypot(e[2] - e[0], e[3] - e[1])
                d, _ = seg_distance(np.array([l['_cx']]), np.array([l['_cy']]), p0, tip)
                if d[0] < rad + rw + 4:
                    hits += 1
            if best is None or hits < best[0]:
                best = (hits, p0, tip)
            if hits == 0:
                break
        _, p0, tip = best
        d, tpar = seg_distance(xx, yy, p0, tip)
        a = np.clip(rw + 0.5 - d, 0, 1).astype(F32)
        # specular line along the axis, offset to one side
        vx, vy = tip[0] - p0[0], tip[1] - p0[1]
        L = math.hypot(vx, vy)
        nx, ny = -vy / L, vx / L
        off = rng.uniform(0.1, 0.4) * rw * (1 if rng.random() < 0.5 else -1)
        sw = rng.uniform(0.7, 2.5)
        perp = (xx - p0[0]) * nx + (yy - p0[1]) * ny - off
        spec = (np.exp(-0.5 * (perp / sw) ** 2) * (tpar < 0.97)).astype(F32) * a
        out.append({'alpha': a, 'spec': spec, 'width_mm': round(2 * rw * cv.mmpp, 2),
                    'nir_level': rng.uniform(0.03, 0.18), 'spec_level': rng.uniform(2.0, 8.0),
                    'wl_gray': rng.uniform(0.35, 0.6), 'p0': p0, 'tip': tip, 'rw': rw})
    return out


def add_glints(rng, cv, n_both, n_nir):
    yy = np.arange(cv.CH, dtype=F32)[:, None]
    xx = np.arange(cv.CW, dtype=F32)[None, :]
    both = np.zeros((cv.CH, cv.CW), F32)
    nir_only = np.zeros((cv.CH, cv.CW), F32)
    recs = []
    for i in range(n_both + n_nir):
        nir = i >= n_both
        a = rng.uniform(1.0, 3.0) if nir else rng.uniform(1.0, 7.0)
        b = a * rng.uniform(0.3, 1.0)
        ang = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(0, cv.CW), rng.uniform(0, cv.CH)
        e = int(4 * a + 3)
        x0, x1 = max(0, int(cx) - e), min(cv.CW, int(cx) + e + 1)
        y0, y1 = max(0, int(cy) - e), min(cv.CH, int(cy) + e + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        dx = xx[:, x0:x1] - cx
        dy = yy[y0:y1, :] - cy
        u = dx * math.cos(ang) + dy * math.sin(ang)
        v = -dx * math.sin(ang) + dy * math.cos(ang)
        g = np.exp(-0.5 * ((u / a) ** 2 + (v / b) ** 2))
        peak = rng.uniform(6, 25)
        tgt = nir_only if nir else both
        tgt[y0:y1, x0:x1] = np.maximum(tgt[y0:y1, x0:x1], peak * g)
        recs.append({'nir_only': nir, 'centroid_canvas': [round(cx, 1), round(cy, 1)],
                     'radius_px': round(a, 2)})
    return both, nir_only, recs


def motion_kernel(L, ang):
    if L < 0.5:
        return None
    K = int(math.ceil(L)) + 3
    K += (K + 1) % 2
    k = np.zeros((K, K), F32)
    c = K // 2
    for s in np.linspace(-L / 2, L / 2, 64):
        x = c + s * math.cos(ang)
        y = c + s * math.sin(ang)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        k[y0, x0] += (1 - fx) * (1 - fy)
        k[y0, x0 + 1] += fx * (1 - fy)
        k[y0 + 1, x0] += (1 - fx) * fy
        k[y0 + 1, x0 + 1] += fx * fy
    return k / k.sum()


def optics(img, psf, mk):
    img = ndi.gaussian_filter(img, psf, mode='nearest')
    if mk is not None:
        img = ndi.convolve(img, mk, mode='nearest')
    return img


def vignette_field(rng, W, H, vmax):
    v = rng.uniform(0, vmax)
    cx = W * (0.5 + rng.uniform(-0.1, 0.1))
    cy = H * (0.5 + rng.uniform(-0.1, 0.1))
    gx, gy = rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)
    yy = np.arange(H, dtype=F32)[:, None]
    xx = np.arange(W, dtype=F32)[None, :]
    rmax2 = (W / 2) ** 2 + (H / 2) ** 2
    V = (1 - v * ((xx - cx) ** 2 + (yy - cy) ** 2) / rmax2) * (1 + gx * (xx / W - 0.5) + gy * (yy / H - 0.5))
    return V.astype(F32), {'vignetting': round(v, 3), 'tilt': [round(gx, 3), round(gy, 3)]}


def draw_conditions(rng, W, H, mmpp):
    c = {}
    c['scatter'] = float(rng.uniform(0.05, 0.25)) if rng.random() < 0.7 else 0.0
    c['scatter_width_mm'] = float(rng.uniform(1.0, 2.0))
    c['motion_blur_px'] = float(rng.uniform(0.5, 5.0)) if rng.random() < 0.6 else 0.0
    c['psf_sigma_px'] = float(rng.uniform(0.5, 1.2))
    c['haze'] = float(rng.uniform(0.03, 0.25)) if rng.random() < 0.55 else 0.0
    c['bg_counts'] = float(rng.uniform(600, 1500))
    c['gain'] = round(c['bg_counts'] / 600.0, 3)
    c['shot_counts_per_e'] = float(rng.uniform(0.2, 1.5))
    c['read_noise_counts'] = float(rng.uniform(2, 10))
    c['mm_per_px'] = mmpp
    c['size'] = [W, H]
    return c


def finish_frames(rng, cv, cond, R, WL, nframes, outdir, V, Vwl, offsets):
    """R: canvas NIR ratio image; WL: canvas RGB radiance.  Writes frames."""
    os.makedirs(os.path.join(outdir, 'wl'), exist_ok=True)
    os.makedirs(os.path.join(outdir, 'nir'), exist_ok=True)
    os.makedirs(os.path.join(outdir, 'truth'), exist_ok=True)
    W, H = cv.W, cv.H
    B = cond['bg_counts']
    blurs = []
    for f in range(nframes):
        ox, oy = offsets[f]
        sl = (slice(oy, oy + H), slice(ox, ox + W))
        L = cond['motion_blur_px'] * rng.uniform(0.6, 1.0) if cond['motion_blur_px'] > 0 else 0.0
        ang = rng.uniform(0, np.pi)
        mk = motion_kernel(L, ang)
        blurs.append({'motion_blur_px': round(L, 2), 'motion_angle_deg': round(math.degrees(ang), 1)})
        # NIR
        r = R[sl]
        h = cond['haze']
        if h > 0:
            r = (1 - h) * r + h * 1.0
        r = optics(r, cond['psf_sigma_px'], mk)
        I = B * r * V
        k = cond['shot_counts_per_e']
        I = I + np.sqrt(np.maximum(I, 0) * k) * rng.standard_normal(I.shape, dtype=F32) \
            + cond['read_noise_counts'] * rng.standard_normal(I.shape, dtype=F32)
        I = np.clip(np.round(I), 0, 4095).astype(np.uint16)
        Image.fromarray(I).save(os.path.join(outdir, 'nir', '%05d.png' % f), compress_level=1)
        # WL
        wl = np.empty((H, W, 3), F32)
        for ch in range(3):
            x = WL[ch][sl]
            if h > 0:
                x = (1 - 0.6 * h) * x + 0.6 * h * 0.6
            x = optics(x, cond['psf_sigma_px'], mk)
            wl[:, :, ch] = x * Vwl
        wl = wl * 255.0 + rng.normal(0, 1.8, wl.shape).astype(F32)
        wl = np.clip(np.round(wl), 0, 255).astype(np.uint8)
        Image.fromarray(wl).save(os.path.join(outdir, 'wl', '%05d.png' % f), compress_level=1)
        Image.fromarray(cv.cls[sl].copy()).save(os.path.join(outdir, 'truth', '%05d.png' % f))
    return blurs


def camera_offsets(rng, n):
    offs = []
    x = MARGIN + int(rng.integers(-5, 6))
    y = MARGIN + int(rng.integers(-5, 6))
    for f in range(n):
        if f > 0:
            x = int(np.clip(x + rng.integers(-4, 5), 2, 2 * MARGIN - 2))
            y = int(np.clip(y + rng.integers(-4, 5), 2, 2 * MARGIN - 2))
        offs.append((x, y))
    return offs


def wl_image(rng, cv, zprim, instruments, glints_both, lesions, bed=False):
    CH, CW = cv.CH, cv.CW
    mmpp = cv.mmpp
    zw = _norm(0.45 * zprim + band_noise(rng, CH, CW, rng.uniform(1, 4) / mmpp))
    zh = lowpass_noise(rng, CH, CW, rng.uniform(5, 20) / mmpp)
    amp = rng.uniform(0.06, 0.15)
    bright = 1 + amp * zw
    if bed:
        base = np.array([0.62, 0.20, 0.18]) * rng.uniform(0.85, 1.1)
    else:
        base = np.array([0.70, 0.30, 0.27]) * rng.uniform(0.85, 1.1)
    chans = []
    for ch in range(3):
        hue = 1 + (0.05 if ch else 0.02) * zh * (1 if ch == 1 else -0.5)
        chans.append((base[ch] * bright * hue).astype(F32))
    # veins / char darkening also visible in white light (bluish-dark)
    dk = cv.dark
    chans[0] *= dk ** 1.2
    chans[1] *= dk ** 1.0
    chans[2] *= dk ** 0.7
    # superficial lesions: pale yellow-white patch
    a = np.clip(cv.acore, 0, 1) * F32(rng.uniform(0.05, 0.35))
    for ch, tgt in enumerate((0.85, 0.72, 0.60)):
        chans[ch] = chans[ch] * (1 - a) + tgt * a
    hom = (cv.cls == 3).astype(F32) * F32(rng.uniform(0.0, 0.15))
    for ch, tgt in enumerate((0.8, 0.7, 0.55)):
        chans[ch] = chans[ch] * (1 - hom) + tgt * hom
    for ins in instruments:
        a = ins['alpha']
        g = ins['wl_gray']
        for ch in range(3):
            chans[ch] = chans[ch] * (1 - a) + a * (g * (1 + 0.1 * ch) + 2.5 * ins['spec'])
    for ch in range(3):
        chans[ch] = chans[ch] + glints_both * 0.4
    return chans


def occlude_and_vignette(rng, cv, W, H, instruments, cond):
    """Hides what the instruments cover in the truth mask, and draws the NIR's and the white light's
    vignetting (its parameters into `cond`): the last draws a scene of either kind makes before its
    frames."""
    occl = np.zeros((cv.CH, cv.CW), bool)
    for ins in instruments:
        occl |= ins['alpha'] >= 0.5
    cv.cls[occl] = 0
    V, vinfo = vignette_field(rng, W, H, 0.4)
    Vwl, _ = vignette_field(rng, W, H, 0.3)
    cond.update(vinfo)
    return V, Vwl


def scene_start(seed, kind, idx):
    """A scene's first draws, in this order whatever its kind (1 survey, 2 wound bed): its generator,
    the start time, size, scale, canvas, conditions and liver texture."""
    rng = np.random.default_rng([seed, kind, idx])
    t0 = time.time()
    W, H = pick_size(rng)
    mmpp = float(np.exp(rng.uniform(math.log(0.04), math.log(0.15))))
    cv = Canvas(W, H, mmpp)
    cond = draw_conditions(rng, W, H, mmpp)
    T, zprim, tinfo = liver_texture(rng, cv.CH, cv.CW, mmpp)
    cond.update(tinfo)
    return rng, t0, W, H, mmpp, cv, cond, T, zprim


def make_survey_scene(seed, idx, outdir):
    rng, t0, W, H, mmpp, cv, cond, T, zprim = scene_start(seed, 1, idx)
    zpatch = band_noise(rng, cv.CH, cv.CW, rng.uniform(0.6, 1.5) / mmpp)
    zcore = band_noise(rng, cv.CH, cv.CW, rng.uniform(0.5, 2.0) / mmpp)

    n_rim = int(rng.choice(np.arange(6), p=[0.08, 0.2, 0.25, 0.2, 0.15, 0.12]))
    n_other = int(rng.choice([0, 1, 2], p=[0.4, 0.4, 0.2]))
    frame_mm = min(W, H) * mmpp
    lesions = []
    lid = 0
    for i in range(n_rim):
        D = float(np.exp(rng.uniform(math.log(3), math.log(30))))
        T0 = float(np.exp(rng.uniform(math.log(0.5), math.log(4.0))))
        var = float(rng.uniform(0, 0.5))
        for attempt in range(8):
            Dmax = 0.6 * frame_mm - 2 * T0 * (1 + var)
            Dd = min(D, Dmax)
            if Dd < 3:
                Dd = 3.0
            style = shape_style(rng)
            sh = PolarShape(rng, Dd / 2 / mmpp, style)
            sh.scale_to_diameter(Dd / mmpp)
            tmax_px = T0 * (1 + var) / mmpp
            rad = sh.rmax + tmax_px
            partial = rng.random() < 0.1
            pos = place(rng, cv, rad, 1.5 / mmpp, partial)
            if pos is not None:
                break
            D *= 0.7
        else:
            continue
        lid += 1
        gapped = rng.random() < 0.4
        ttab = (T0 * (1 + var * periodic_noise(rng, 4)) / mmpp).astype(np.float64)
        les = {'id': lid, 'kind': 'rim', 'shape': style, 'rim_tbr': float(rng.uniform(1.6, 6.0)),
               'core_level': float(rng.uniform(0.3, 1.05)),
               'rim_thickness_nominal_mm': round(T0, 4), 'rim_thickness_variation': round(var, 3),
               'fade': float(rng.uniform(0, 0.7)) if rng.random() < 0.5 else 0.0,
               'patchiness': float(rng.uniform(0, 0.4)) if rng.random() < 0.5 else 0.0,
               'gap_deg': float(rng.uniform(15, 50)) if gapped else 0.0,
               '_shape': sh, '_cx': pos[0], '_cy': pos[1], '_ttab': ttab,
               '_core_tex': float(rng.uniform(0.02, 0.1)), '_patch_tab': periodic_noise(rng, 8)}
        les['_gap_c'] = float(rng.uniform(0, 2 * np.pi))
        les['_gap_w'] = math.radians(les['gap_deg'])
        cv.occupied.append((pos[0], pos[1], rad))
        lesions.append(les)
    for i in range(n_other):
        kind = 'homogeneous' if rng.random() < 0.5 else 'deep'
        lid += 1
        if kind == 'homogeneous':
            D = float(rng.uniform(3, 15))
            sh = PolarShape(rng, D / 2 / mmpp, str(rng.choice(['round', 'lobulated', 'round'])))
            sh.scale_to_diameter(D / mmpp)
            rad = sh.rmax
            pos = place(rng, cv, rad, 1.5 / mmpp, rng.random() < 0.08)
            if pos is None:
                lid -= 1
                continue
            les = {'id': lid, 'kind': 'homogeneous', 'shape': sh.style, 'tbr': float(rng.uniform(1.8, 4.0)),
                   '_shape': sh, '_cx': pos[0], '_cy': pos[1], '_tex': float(rng.uniform(0.02, 0.08))}
        else:
            sig = float(rng.uniform(1.5, 6.0))
            asp = float(rng.uniform(1.0, 1.5))
            rad = 2.5 * sig * asp / mmpp
            pos = place(rng, cv, rad, 0.5 / mmpp, False)
            if pos is None:
                lid -= 1
                continue
            les = {'id': lid, 'kind': 'deep', 'sigma_mm': round(sig, 3), 'aspect': round(asp, 3),
                   'tbr': float(rng.uniform(1.5, 3.0)), '_cx': pos[0], '_cy': pos[1],
                   '_angle': float(rng.uniform(0, np.pi))}
        cv.occupied.append((pos[0], pos[1], rad))
        lesions.append(les)

    for les in lesions:
        if les['kind'] == 'rim':
            render_rim_lesion(rng, cv, T, zpatch, zcore, les)
        elif les['kind'] == 'homogeneous':
            render_homogeneous(rng, cv, T, zcore, les)
        else:
            render_deep(rng, cv, les)

    n_ducts = int(rng.choice([0, 1, 2, 3], p=[0.3, 0.35, 0.25, 0.1]))
    n_veins = int(rng.choice([0, 1, 2], p=[0.4, 0.4, 0.2]))
    ducts, veins = add_curves(rng, cv, lesions, n_ducts, n_veins)
    n_inst = int(rng.choice([0, 1, 2], p=[0.45, 0.4, 0.15]))
    instruments = add_instruments(rng, cv, n_inst, lesions)
    glb, gln, grecs = add_glints(rng, cv, int(rng.integers(0, 13)), int(rng.integers(0, 9)))

    R = compose_nir(cv, T, cond, instruments, glb, gln)
    WL = wl_image(rng, cv, zprim, instruments, glb, lesions)
    V, Vwl = occlude_and_vignette(rng, cv, W, H, instruments, cond)
    cond.update({'n_ducts': len(ducts), 'ducts': ducts, 'n_veins': len(veins), 'veins': veins,
                 'n_instruments': len(instruments),
                 'instruments': [{'width_mm': i['width_mm']} for i in instruments],
                 'n_glints': sum(1 for g in grecs if not g['nir_only']),
                 'n_nir_glints': sum(1 for g in grecs if g['nir_only'])})
    nframes = 2
    offsets = camera_offsets(rng, nframes)
    blurs = finish_frames(rng, cv, cond, R, WL, nframes, outdir, V, Vwl, offsets)

    # ---- truth
    B = cond['bg_counts']
    pub_les = []
    for l in lesions:
        pub_les.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in l.items()
                        if not k.startswith('_')})
    frames = []
    for f, (ox, oy) in enumerate(offsets):
        fl = []
        for l, pl in zip(lesions, pub_les):
            gx, gy = l['_centroid']
            e = l['_ext']
            ce = l['_core_ext']
            fx0, fy0, fx1, fy1 = e[0] - ox, e[1] - oy, e[2] - ox, e[3] - oy
            in_view = fx0 >= 2 and fy0 >= 2 and fx1 <= W - 3 and fy1 <= H - 3
            core_in = ce[0] - ox >= 1 and ce[1] - oy >= 1 and ce[2] - ox <= W - 2 and ce[3] - oy <= H - 2
            occluded = False
            for ins in instruments:
                rad = 0.5 * math.hypot(e[2] - e[0], e[3] - e[1])
                d, _ = seg_distance(np.array([l['_cx']]), np.array([l['_cy']]), ins['p0'], ins['tip'])
                if d[0] < rad + ins['rw'] + 1:
                    occluded = True
            rec = dict(pl)
            rec.update({'centroid_px': [round(gx - ox, 2), round(gy - oy, 2)],
                        'in_view': bool(in_view and not occluded), 'core_in_view': bool(core_in),
                        'occluded': occluded})
            if l['kind'] == 'rim':
                rec['rim_saturated'] = bool(B * l['rim_tbr'] * (1 - cond['haze']) + B * cond['haze'] > 4095)
            fl.append(rec)
        frames.append({'frame': f, 'offset_px': [ox - MARGIN, oy - MARGIN], **blurs[f], 'lesions': fl})
    cond_pub = dict(cond)
    truth = {'generator': 'probe-gen 1', 'scene': os.path.basename(outdir), 'type': 'survey',
             'seed': seed, 'index': idx, 'mm_per_px': mmpp, 'size': [W, H], 'n_frames': nframes,
             'conditions': cond_pub, 'lesions': pub_les, 'frames': frames,
             'glints': grecs, 'gen_seconds': round(time.time() - t0, 2)}
    with open(os.path.join(outdir, 'truth.json'), 'w') as fh:
        json.dump(truth, fh, indent=1, default=_jdefault)
    return truth


def _jdefault(o):
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def compose_nir(cv, T, cond, instruments, glb, gln):
    base = T * (1 - cv.acore) + cv.vcore * cv.acore
    base = base * cv.dark
    S = cv.S
    s = cond['scatter']
    R = base + S
    if s > 0:
        sig = cond['scatter_width_mm'] / 2.0 / cv.mmpp
        # two-scale kernel: roughly exponential tail of tissue scatter
        halo = 0.6 * ndi.gaussian_filter(S, sig) + 0.4 * ndi.gaussian_filter(S, 2 * sig)
        R = R + s * halo
    for ins in instruments:
        a = ins['alpha']
        R = R * (1 - a) + a * (ins['nir_level'] + ins['spec_level'] * ins['spec'])
    R = R + glb + gln
    return R.astype(F32)


# ----------------------------------------------------------------------------- wound beds

def make_bed_scene(seed, idx, outdir, spotted):
    # raw resection surface: coarse-grained texture, cautery char and blood
    rng, t0, W, H, mmpp, cv, cond, T, zprim = scene_start(seed, 2, idx)
    n_char = int(rng.integers(0, 6))
    for _ in range(n_char):
        rad = rng.uniform(1, 5) / mmpp
        cx, cy = rng.uniform(0, cv.CW), rng.uniform(0, cv.CH)
        sh = PolarShape(rng, rad, 'irregular')
        e = int(sh.rmax + 4)
        x0, x1 = max(0, int(cx) - e), min(cv.CW, int(cx) + e)
        y0, y1 = max(0, int(cy) - e), min(cv.CH, int(cy) + e)
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(F32)
        r = np.hypot(xx - cx, yy - cy)
        a = np.clip((sh.rc(np.arctan2(yy - cy, xx - cx)) - r) / 3.0 + 0.5, 0, 1)
        cv.dark[y0:y1, x0:x1] *= 1 - a * rng.uniform(0.3, 0.7)
    blood = rng.random() < 0.5
    if blood:
        zb = lowpass_noise(rng, cv.CH, cv.CW, rng.uniform(4, 12) / mmpp)
        a = 1 / (1 + np.exp(-(zb - 1.2) / 0.2))
        cv.dark *= (1 - a * rng.uniform(0.15, 0.4)).astype(F32)
    zcore = band_noise(rng, cv.CH, cv.CW, rng.uniform(0.5, 1.5) / mmpp)
    spots = []
    if spotted:
        n = int(rng.integers(1, 4))
        for i in range(n):
            A = float(rng.uniform(2, 20))
            D = 2 * math.sqrt(A / math.pi)
            sh = PolarShape(rng, D / 2 / mmpp, 'blob')
            sh.scale_to_diameter(D / mmpp)
            pos = place(rng, cv, sh.rmax, 2.0 / mmpp, False, center_box=(0.25, 0.75, 0.25, 0.75))
            if pos is None:
                continue
            les = {'id': i + 1, 'kind': 'homogeneous', 'tbr': float(rng.uniform(1.8, 4.0)),
                   '_shape': sh, '_cx': pos[0], '_cy': pos[1], '_tex': float(rng.uniform(0.02, 0.08))}
            render_homogeneous(rng, cv, T, zcore, les)
            cv.occupied.append((pos[0], pos[1], sh.rmax))
            spots.append(les)
    n_inst = int(rng.choice([0, 1, 2], p=[0.35, 0.45, 0.2]))
    instruments = add_instruments(rng, cv, n_inst, spots)
    glb, gln, grecs = add_glints(rng, cv, int(rng.integers(0, 13)), int(rng.integers(0, 9)))
    R = compose_nir(cv, T, cond, instruments, glb, gln)
    WL = wl_image(rng, cv, zprim, instruments, glb, [], bed=True)
    V, Vwl = occlude_and_vignette(rng, cv, W, H, instruments, cond)
    cond.update({'n_instruments': len(instruments), 'n_char': n_char, 'blood': blood,
                 'n_glints': sum(1 for g in grecs if not g['nir_only']),
                 'n_nir_glints': sum(1 for g in grecs if g['nir_only'])})
    nframes = 4
    offsets = camera_offsets(rng, nframes)
    blurs = finish_frames(rng, cv, cond, R, WL, nframes, outdir, V, Vwl, offsets)
    frames = []
    for f, (ox, oy) in enumerate(offsets):
        fl = []
        for s in spots:
            gx, gy = s['_centroid']
            e = s['_ext']
            occluded = False
            for ins in instruments:
                d, _ = seg_distance(np.array([s['_cx']]), np.array([s['_cy']]), ins['p0'], ins['tip'])
                if d[0] < ins['rw'] + 0.5 * math.hypot(e[2] - e[0], e[3] - e[1]) + 1:
                    occluded = True
            fl.append({'id': s['id'], 'centroid_px': [round(gx - ox, 2), round(gy - oy, 2)],
                       'area_mm2': s['area_mm2'], 'tbr': round(s['tbr'], 3),
                       'equiv_diameter_mm': s['core_diameter_mm'], 'occluded': occluded,
                       'in_view': bool(e[0] - ox >= 0 and e[1] - oy >= 0 and e[2] - ox <= W - 1
                                       and e[3] - oy <= H - 1 and not occluded)})
        frames.append({'frame': f, 'offset_px': [ox - MARGIN, oy - MARGIN], **blurs[f], 'spots': fl})
    bed = {'generator': 'probe-gen 1', 'scene': os.path.basename(outdir), 'type': 'bed',
           'bed': 'spotted' if spotted else 'clean', 'seed': seed, 'index': idx, 'mm_per_px': mmpp,
           'size': [W, H], 'n_frames': nframes, 'conditions': cond, 'frames': frames, 'glints': grecs,
           'gen_seconds': round(time.time() - t0, 2)}
    with open(os.path.join(outdir, 'bed.json'), 'w') as fh:
        json.dump(bed, fh, indent=1, default=_jdefault)
    return bed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--scenes', type=int, default=40)
    ap.add_argument('--beds', type=int, default=8, help='wound beds: first half clean, second half spotted')
    ap.add_argument('--out', required=True)
    ap.add_argument('--only', default=None, help='comma list of scene names to (re)generate')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    only = set(a.only.split(',')) if a.only else None
    for i in range(a.scenes):
        name = 's%03d' % i
        if only and name not in only:
            continue
        t = make_survey_scene(a.seed, i, os.path.join(a.out, name))
        nr = sum(1 for l in t['lesions'] if l['kind'] == 'rim')
        print('%s %dx%d %.3f mm/px rims=%d other=%d tex=%s %.1f%% %.2fs' % (
            name, t['size'][0], t['size'][1], t['mm_per_px'], nr, len(t['lesions']) - nr,
            t['conditions']['texture_model'], t['conditions']['texture_pct'], t['gen_seconds']), flush=True)
    nclean = a.beds // 2
    for i in range(a.beds):
        name = 'bed%02d' % i
        if only and name not in only:
            continue
        b = make_bed_scene(a.seed, i, os.path.join(a.out, name), spotted=i >= nclean)
        print('%s %s %dx%d %.3f mm/px spots=%d %.2fs' % (name, b['bed'], b['size'][0], b['size'][1], b['mm_per_px'],
                                                        len(b['frames'][0]['spots']), b['gen_seconds']), flush=True)


if __name__ == '__main__':
    main()
