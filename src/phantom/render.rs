//! Renders one frame of a phantom scene: the NIR image a 12-bit sensor would record (fluorescence ×
//! liver texture, tissue-scatter blur, excitation fall-off, specular glints, shot and read noise), the
//! co-registered white-light image, the ground-truth class map and the frame's ground-truth lesions.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::scene::{Glint, Scene, bezier, ellipse_distance};
use super::variation::Variation;
use super::truth::{InView, TruthFrame, TruthLesion, TruthSpot, truth_class};
use crate::analysis::LesionKind;
use crate::frame::{NirFrame, Plane, RgbFrame};

pub const NIR_MAX: f32 = 4095.0;

/// A specular highlight's level before the sensor clips it, in full scales: many times the full scale, so
/// that it clips, and stays clipped where motion blur smears it, in both images.
const GLINT_OVER_RANGE: f32 = 8.0;

/// The level a glint of strength `g` brings a pixel to, in full scales: over range in its core (g = 1; the
/// sensors clip it, so without blur the image is as a full-scale core gave), full scale in its soft skirt.
fn specular(g: f32) -> f32 {
    if g >= 1.0 { GLINT_OVER_RANGE } else { 1.0 }
}

pub struct RenderedFrame {
    pub wl: RgbFrame,
    pub nir: NirFrame,
    pub classes: Plane<u8>,
    pub truth: TruthFrame,
}

fn hash(ix: i32, iy: i32, seed: u32) -> f32 {
    let mut h = (ix as u32).wrapping_mul(0x8da6_b343) ^ (iy as u32).wrapping_mul(0xd816_3841) ^ seed.wrapping_mul(0xcb1a_b31f);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5bd1_e995);
    h ^= h >> 15;
    (h & 0xffff) as f32 / 32767.5 - 1.0
}

/// Smooth value noise in [-1, 1] with unit lattice spacing.
fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let (fx, fy) = (x.floor(), y.floor());
    let (ix, iy) = (fx as i32, fy as i32);
    let (tx, ty) = (x - fx, y - fy);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let a = hash(ix, iy, seed);
    let b = hash(ix + 1, iy, seed);
    let c = hash(ix, iy + 1, seed);
    let d = hash(ix + 1, iy + 1, seed);
    (a + (b - a) * sx) * (1.0 - sy) + (c + (d - c) * sx) * sy
}

/// Standard deviation of `value_noise` (uniform lattice values in [-1, 1], smoothstep-interpolated:
/// (1/3 · (2 · 13/35)²)^½), and of two octaves of it with weights 1 and 1/2.
const VALUE_NOISE_STD: f32 = 0.428_9;
const TWO_OCTAVE_STD: f32 = VALUE_NOISE_STD * 1.118_034;

/// Half the width of a lobule's bright wall, in cell widths (the gap between the distances to the
/// nearest and second-nearest cell centres at which the wall has fallen to 1/e).
const LOBULE_WALL: f32 = 0.12;

/// Each lobule's own level, against its wall's 1.
const LOBULE_CELL: f32 = 0.35;

/// Liver lobules in cell units: cells around centres jittered off a unit lattice, each at its own
/// level (`LOBULE_CELL` of a uniform draw), plus a bright wall where two cells meet. Skewed to bright
/// values: the walls are a minority of the area.
fn lobules(x: f32, y: f32, seed: u32) -> f32 {
    let (ix, iy) = (x.floor() as i32, y.floor() as i32);
    let (mut d1, mut d2, mut level) = (f32::INFINITY, f32::INFINITY, 0.0);
    for jy in iy - 1..=iy + 1 {
        for jx in ix - 1..=ix + 1 {
            let cx = jx as f32 + 0.5 + 0.4 * hash(jx, jy, seed ^ 0x10b1);
            let cy = jy as f32 + 0.5 + 0.4 * hash(jx, jy, seed ^ 0x10b2);
            let d = (x - cx).hypot(y - cy);
            if d < d1 {
                (d2, d1, level) = (d1, d, hash(jx, jy, seed ^ 0x10b3));
            } else if d < d2 {
                d2 = d;
            }
        }
    }
    (-((d2 - d1) / LOBULE_WALL).powi(2)).exp() + LOBULE_CELL * level
}

/// Mean and standard deviation of `lobules` over a large area (sampled once), so that a lobular
/// texture has the scene's standard deviation over mean as the others do.
fn lobule_moments() -> (f32, f32) {
    static MOMENTS: std::sync::OnceLock<(f32, f32)> = std::sync::OnceLock::new();
    *MOMENTS.get_or_init(|| {
        let n = 400usize;
        let samples: Vec<f64> = (0..n * n).map(|i| lobules((i % n) as f32 * 0.1 + 0.05, (i / n) as f32 * 0.1 + 0.05, 0x5eed) as f64).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let var = samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        (mean as f32, var.sqrt() as f32)
    })
}

/// Liver texture (multiplicative, around 1). The plain family: lobule-scale and larger-scale variation
/// of about 3% in all. The broad family: `texture` (standard deviation over mean) at `grain_mm`,
/// symmetric around 1, log-normal (`Variation::skewed`: exp(s·n − s²/2) with s² = ln(1 + texture²),
/// the same standard deviation over mean, skewed to bright grains) or lobules (`Variation::lobular`,
/// `lobules` scaled to the same standard deviation over mean).
fn texture(p: [f32; 2], seed: u32, v: &Variation) -> f32 {
    if v.texture > 0.0 && v.lobular {
        let (mean, std) = lobule_moments();
        return (1.0 + v.texture * (lobules(p[0] / v.grain_mm, p[1] / v.grain_mm, seed) - mean) / std).max(0.3);
    }
    if v.texture > 0.0 {
        let g = v.grain_mm;
        let n = value_noise(p[0] / g, p[1] / g, seed) + 0.5 * value_noise(2.0 * p[0] / g, 2.0 * p[1] / g, seed ^ 0x9e37);
        let n = n / TWO_OCTAVE_STD;
        if v.skewed {
            let s2 = (1.0 + v.texture * v.texture).ln();
            return (s2.sqrt() * n - 0.5 * s2).exp();
        }
        return (1.0 + v.texture * n).max(0.3);
    }
    1.0 + 0.06 * value_noise(p[0] / 0.9, p[1] / 0.9, seed) + 0.05 * value_noise(p[0] / 3.5, p[1] / 3.5, seed ^ 0x9e37)
}

struct Sample {
    fluo: f32,
    class: u8,
    pallor: f32,
    /// Fraction of the light a vein absorbs here.
    absorb: f32,
    /// An instrument: 0 none, 1 its shaft, 2 its specular line.
    shaft: u8,
}

/// A curve (a duct or a vein) as a polyline, with its bounding box grown by the distance beyond which
/// it has no effect: points outside the box are not measured.
struct CurvePath {
    pts: Vec<[f32; 2]>,
    min: [f32; 2],
    max: [f32; 2],
}

impl CurvePath {
    /// The quadratic Bézier curve `p` as `segments` segments; effects reach `reach` mm from it.
    fn new(p: &[[f32; 2]; 3], segments: usize, reach: f32) -> Self {
        let pts: Vec<[f32; 2]> = (0..=segments).map(|k| bezier(p, k as f32 / segments as f32)).collect();
        let min = pts.iter().fold([f32::INFINITY; 2], |m, q| [m[0].min(q[0] - reach), m[1].min(q[1] - reach)]);
        let max = pts.iter().fold([f32::NEG_INFINITY; 2], |m, q| [m[0].max(q[0] + reach), m[1].max(q[1] + reach)]);
        Self { pts, min, max }
    }

    /// Distance from `p` to the polyline, or `None` outside the box.
    fn distance(&self, p: [f32; 2]) -> Option<f32> {
        if p[0] < self.min[0] || p[1] < self.min[1] || p[0] > self.max[0] || p[1] > self.max[1] {
            return None;
        }
        let mut best = f32::INFINITY;
        for w in self.pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (vx, vy) = (b[0] - a[0], b[1] - a[1]);
            let t = (((p[0] - a[0]) * vx + (p[1] - a[1]) * vy) / (vx * vx + vy * vy).max(1e-9)).clamp(0.0, 1.0);
            best = best.min((p[0] - a[0] - t * vx).hypot(p[1] - a[1] - t * vy));
        }
        Some(best)
    }
}

/// The scene's curves as polylines, built once a frame.
struct Curves {
    ducts: Vec<CurvePath>,
    veins: Vec<CurvePath>,
}

fn sample(scene: &Scene, p: [f32; 2], curves: &Curves) -> Sample {
    let mut s = Sample { fluo: 1.0, class: truth_class::BACKGROUND, pallor: 0.0, absorb: 0.0, shaft: 0 };
    for l in &scene.rims {
        let (dx, dy) = (p[0] - l.center[0], p[1] - l.center[1]);
        let r = l.outer_radius();
        if dx.abs() > r || dy.abs() > r {
            continue;
        }
        let (c, sn) = (l.theta.cos(), l.theta.sin());
        let (qx, qy) = (c * dx + sn * dy, -sn * dx + c * dy);
        if let Some((shape, _)) = &l.shape {
            let (rho, ang) = (qx.hypot(qy), qy.atan2(qx));
            let core = shape.core_radius(l.a, l.b, ang);
            if rho <= core {
                s = Sample { fluo: l.core_level, class: truth_class::CORE, pallor: l.pallor, ..s };
            } else if rho <= core + shape.thickness(l.rim_mm, ang) {
                let level = l.tbr * (1.0 + l.rim_wobble * (3.0 * ang + l.phase).sin());
                let fluo = l.profile.ratio(level, (rho - core) / shape.thickness(l.rim_mm, ang), ang);
                s = Sample { fluo, class: truth_class::RIM, pallor: 0.4 * l.pallor, ..s };
            }
            continue;
        }
        if (qx / l.a).powi(2) + (qy / l.b).powi(2) <= 1.0 {
            s = Sample { fluo: l.core_level, class: truth_class::CORE, pallor: l.pallor, ..s };
        } else if ellipse_distance(qx, qy, l.a, l.b) <= l.rim_mm {
            let ang = qy.atan2(qx);
            s = Sample { fluo: l.tbr * (1.0 + l.rim_wobble * (3.0 * ang + l.phase).sin()), class: truth_class::RIM, pallor: 0.4 * l.pallor, ..s };
        }
    }
    for d in &scene.diffuse {
        let r2 = (p[0] - d.center[0]).powi(2) + (p[1] - d.center[1]).powi(2);
        let glow = (d.tbr - 1.0) * (-r2 / (2.0 * d.sigma_mm * d.sigma_mm)).exp();
        s.fluo += glow;
        if glow > 0.3 && s.class == truth_class::BACKGROUND {
            s.class = truth_class::OTHER_FLUORESCENCE;
        }
    }
    for l in &scene.homogeneous {
        if l.contains(p) {
            s.fluo = s.fluo.max(l.tbr);
            s.pallor = 0.3;
            if s.class == truth_class::BACKGROUND {
                s.class = truth_class::OTHER_FLUORESCENCE;
            }
        }
    }
    for r in &scene.residuals {
        if r.contains(p) {
            s.fluo = s.fluo.max(r.tbr);
            if s.class == truth_class::BACKGROUND {
                s.class = truth_class::OTHER_FLUORESCENCE;
            }
        }
    }
    for b in &scene.blobs {
        if (p[0] - b.center[0]).hypot(p[1] - b.center[1]) <= b.radius_mm {
            s.fluo = s.fluo.max(b.tbr);
            if s.class == truth_class::BACKGROUND {
                s.class = truth_class::OTHER_FLUORESCENCE;
            }
        }
    }
    for (v, path) in scene.veins.iter().zip(&curves.veins) {
        let Some(d) = path.distance(p) else { continue };
        let half = 0.5 * v.width_mm;
        if d <= half + 0.3 {
            s.absorb = s.absorb.max(v.depth * (1.0 - (d / (half + 0.3)).powi(4)));
        }
    }
    for sh in &scene.shafts {
        match sh.hit(p) {
            (true, true) => s.shaft = 2,
            (true, false) => s.shaft = s.shaft.max(1),
            _ => {}
        }
    }
    for (duct, path) in scene.ducts.iter().zip(&curves.ducts) {
        let Some(best) = path.distance(p) else { continue };
        let half = 0.5 * duct.width_mm;
        if best <= half {
            s.fluo = s.fluo.max(duct.tbr);
            if s.class == truth_class::BACKGROUND {
                s.class = truth_class::OTHER_FLUORESCENCE;
            }
        }
    }
    s
}

/// Three box blurs of radius chosen for Gaussian sigma `sigma` (px): cost independent of the width.
fn box_blur3(src: &Plane<f32>, sigma: f32) -> Plane<f32> {
    // Box radius r gives variance ((2r+1)² - 1)/12 a pass; three passes add up.
    let r = ((((4.0 * sigma * sigma) + 1.0).sqrt() - 1.0) / 2.0).round().max(1.0) as usize;
    let mut a = src.clone();
    for _ in 0..3 {
        a = box_pass(&box_pass(&a, r, true), r, false);
    }
    a
}

/// One box blur of radius `r` along rows (`horizontal`) or columns, edges clamped.
fn box_pass(src: &Plane<f32>, r: usize, horizontal: bool) -> Plane<f32> {
    let (w, h) = (src.width, src.height);
    let mut out = Plane::<f32>::new(w, h);
    let (n, lines, at): (usize, usize, Box<dyn Fn(usize, usize) -> usize + Sync>) =
        if horizontal { (w, h, Box::new(move |line, k| line * w + k)) } else { (h, w, Box::new(move |line, k| k * w + line)) };
    let norm = 1.0 / (2 * r + 1) as f32;
    let sums: Vec<Vec<f32>> = (0..lines)
        .into_par_iter()
        .map(|line| {
            let v = |k: isize| src.data[at(line, k.clamp(0, n as isize - 1) as usize)];
            let mut acc: f32 = (-(r as isize)..=r as isize).map(v).sum();
            let mut row = Vec::with_capacity(n);
            for k in 0..n as isize {
                row.push(acc * norm);
                acc += v(k + r as isize + 1) - v(k - r as isize);
            }
            row
        })
        .collect();
    for (line, row) in sums.iter().enumerate() {
        for (k, &v) in row.iter().enumerate() {
            out.data[at(line, k)] = v;
        }
    }
    out
}

/// Motion blur: the mean of samples along a line of `len` px at `angle` (bilinear, edges clamped).
fn motion_blur(src: &Plane<f32>, len: f32, angle: f32) -> Plane<f32> {
    let (w, h) = (src.width, src.height);
    let taps = len.ceil() as usize + 1;
    let (dx, dy) = (angle.cos(), angle.sin());
    let mut out = Plane::<f32>::new(w, h);
    out.data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, o) in row.iter_mut().enumerate() {
            let mut acc = 0.0;
            for k in 0..taps {
                let t = (k as f32 / (taps - 1) as f32 - 0.5) * len;
                let (sx, sy) = ((x as f32 + t * dx).clamp(0.0, (w - 1) as f32), (y as f32 + t * dy).clamp(0.0, (h - 1) as f32));
                let (x0, y0) = (sx as usize, sy as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let top = src.get(x0, y0) * (1.0 - fx) + src.get(x1, y0) * fx;
                let bottom = src.get(x0, y1) * (1.0 - fx) + src.get(x1, y1) * fx;
                acc += top * (1.0 - fy) + bottom * fy;
            }
            *o = acc / taps as f32;
        }
    });
    out
}

fn gaussian_blur(src: &Plane<f32>, sigma: f32) -> Plane<f32> {
    if sigma < 0.3 {
        return src.clone();
    }
    let r = (3.0 * sigma).ceil() as i64;
    let k: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / norm).collect();
    let (w, h) = (src.width, src.height);
    let mut tmp = Plane::<f32>::new(w, h);
    tmp.data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let s = src.row(y);
        for (x, o) in row.iter_mut().enumerate() {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let xx = (x as i64 + j as i64 - r).clamp(0, w as i64 - 1) as usize;
                acc += kv * s[xx];
            }
            *o = acc;
        }
    });
    let mut out = Plane::<f32>::new(w, h);
    out.data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (j, kv) in k.iter().enumerate() {
            let yy = (y as i64 + j as i64 - r).clamp(0, h as i64 - 1) as usize;
            let s = tmp.row(yy);
            for (o, v) in row.iter_mut().zip(s) {
                *o += kv * v;
            }
        }
    });
    out
}

fn in_view(cx: f32, cy: f32, r: f32, w: usize, h: usize) -> InView {
    let (w, h) = (w as f32, h as f32);
    if cx - r >= 0.0 && cy - r >= 0.0 && cx + r <= w && cy + r <= h {
        InView::Full
    } else if cx + r < 0.0 || cy + r < 0.0 || cx - r > w || cy - r > h {
        InView::Out
    } else {
        InView::Partial
    }
}

pub fn render(scene: &Scene, frame: u32) -> RenderedFrame {
    let (w, h) = (scene.width, scene.height);
    let mmpp = scene.mm_per_px;
    let cam = scene.camera(frame);
    let curves = Curves {
        ducts: scene.ducts.iter().map(|d| CurvePath::new(&d.p, 48, d.width_mm)).collect(),
        veins: scene.veins.iter().map(|v| CurvePath::new(&v.p, 32, v.width_mm + 0.3)).collect(),
    };

    // Fluorescence (2×2 supersampled), class map at pixel centres, white-light pallor, veins and
    // instruments; the fluorescence's excess over the background feeds the scatter halo.
    let var = &scene.variation;
    let mut fluo = Plane::<f32>::new(w, h);
    let mut excess = Plane::<f32>::new(w, h);
    let mut classes = Plane::<u8>::new(w, h);
    let mut pallor = Plane::<f32>::new(w, h);
    let mut absorb = Plane::<f32>::new(w, h);
    let mut shaft = Plane::<u8>::new(w, h);
    fluo.data
        .par_chunks_mut(w)
        .zip(excess.data.par_chunks_mut(w))
        .zip(classes.data.par_chunks_mut(w))
        .zip(pallor.data.par_chunks_mut(w))
        .zip(absorb.data.par_chunks_mut(w).zip(shaft.data.par_chunks_mut(w)))
        .enumerate()
        .for_each(|(y, ((((frow, erow), crow), prow), (arow, srow)))| {
            for x in 0..w {
                let centre = [cam[0] + (x as f32 + 0.5) * mmpp, cam[1] + (y as f32 + 0.5) * mmpp];
                let c = sample(scene, centre, &curves);
                crow[x] = c.class;
                prow[x] = c.pallor;
                arow[x] = c.absorb;
                srow[x] = c.shaft;
                let (mut acc, mut ex) = (0.0, 0.0);
                for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                    let p = [cam[0] + (x as f32 + ox) * mmpp, cam[1] + (y as f32 + oy) * mmpp];
                    let f = sample(scene, p, &curves).fluo;
                    acc += f;
                    ex += (f - 1.0).max(0.0);
                }
                // A tumour has no lobules: the lobular texture is the liver's (rim and background).
                let liver = if var.lobular && c.class == truth_class::CORE { 1.0 } else { texture(centre, scene.texture_seed, var) };
                frow[x] = 0.25 * acc * liver;
                erow[x] = 0.25 * ex;
            }
        });
    if var.halo > 0.0 {
        let glow = box_blur3(&excess, var.halo_mm / mmpp);
        fluo.data.par_iter_mut().zip(&glow.data).for_each(|(f, g)| *f += var.halo * g);
    }
    let blurred = gaussian_blur(&fluo, scene.scatter_mm / mmpp);

    let k = -scene.corner_level.ln();
    let excitation = |x: usize, y: usize| {
        let u = (x as f32 + 0.5) / w as f32 * 2.0 - 1.0 - scene.falloff_center[0];
        let v = (y as f32 + 0.5) / h as f32 * 2.0 - 1.0 - scene.falloff_center[1];
        (-k * 0.5 * (u * u + v * v)).exp()
    };
    // Glint strength at a pixel: 1 inside, a soft skirt outside.
    let glint_at = |glints: &[Glint], x: usize, y: usize| -> f32 {
        let mut g: f32 = 0.0;
        for gl in glints {
            let cx = gl.pos[0] + gl.vel[0] * frame as f32;
            let cy = gl.pos[1] + gl.vel[1] * frame as f32;
            let (cx, cy) = (cx.rem_euclid(w as f32), cy.rem_euclid(h as f32));
            let dx = (x as f32 + 0.5 - cx) / gl.radius_px[0];
            let dy = (y as f32 + 0.5 - cy) / gl.radius_px[1];
            let r2 = dx * dx + dy * dy;
            g = g.max(if r2 <= 1.0 { 1.0 } else { (-(r2 - 1.0) * 2.0).exp() * 0.6 });
        }
        g
    };

    // The light reaching the sensors before noise: NIR counts and white light per channel.
    let gain = if var.gain > 0.0 { var.gain } else { 1.0 };
    let background = scene.background_counts * gain;
    let mut signal = Plane::<f32>::new(w, h);
    let mut light: [Plane<f32>; 3] = std::array::from_fn(|_| Plane::<f32>::new(w, h));
    {
        let [l0, l1, l2] = &mut light;
        signal
            .data
            .par_chunks_mut(w)
            .zip(l0.data.par_chunks_mut(w).zip(l1.data.par_chunks_mut(w).zip(l2.data.par_chunks_mut(w))))
            .enumerate()
            .for_each(|(y, (nrow, (r0, (r1, r2))))| {
                let lrows = [r0, r1, r2];
                for x in 0..w {
                    let e = excitation(x, y);
                    let g = glint_at(&scene.glints, x, y);
                    let a = 1.0 - absorb.get(x, y);
                    let sh = shaft.get(x, y);
                    let mut sig = background * e * blurred.get(x, y) * a;
                    if sh != 0 {
                        sig = 0.05 * background * e; // an opaque instrument: only stray light
                    }
                    if var.haze > 0.0 {
                        sig = sig * (1.0 - var.haze) + var.haze * 0.8 * background;
                    }
                    let g = g.max(if sh == 2 { 1.0 } else { 0.0 });
                    let sig = sig + (specular(g) * NIR_MAX - sig).max(0.0) * g;
                    let gn = glint_at(&scene.nir_glints, x, y);
                    nrow[x] = sig + (specular(gn) * NIR_MAX - sig).max(0.0) * gn;

                    let centre = [cam[0] + (x as f32 + 0.5) * mmpp, cam[1] + (y as f32 + 0.5) * mmpp];
                    let t = value_noise(centre[0] / 1.3, centre[1] / 1.3, scene.texture_seed ^ 0x51ed) * 0.12
                        + value_noise(centre[0] / 6.0, centre[1] / 6.0, scene.texture_seed ^ 0x7f4a) * 0.1;
                    let lit = (0.55 + 0.45 * e.sqrt()) * (1.0 + t);
                    let pa = pallor.get(x, y);
                    let base = [150.0, 62.0, 50.0];
                    let pale = [205.0, 170.0, 150.0];
                    let metal = [85.0, 88.0, 95.0];
                    let vein = [0.75, 0.8, 1.0];
                    for c in 0..3 {
                        let mut v = if sh != 0 { metal[c] * lit } else { (base[c] * (1.0 - pa) + pale[c] * pa) * lit * (1.0 - (1.0 - a) * vein[c]) };
                        if var.haze > 0.0 {
                            v = v * (1.0 - var.haze) + var.haze * 210.0;
                        }
                        lrows[c][x] = v + (specular(g) * 255.0 - v).max(0.0) * g;
                    }
                }
            });
    }
    if var.motion_blur_px >= 1.0 {
        signal = motion_blur(&signal, var.motion_blur_px, var.motion_angle);
        for l in light.iter_mut() {
            *l = motion_blur(l, var.motion_blur_px, var.motion_angle);
        }
    }

    // Shot and read noise of the 12-bit NIR sensor; the white light's 8-bit noise.
    let mut nir = NirFrame::new(w, h);
    let mut wl = RgbFrame::new(w, h);
    let seed = scene.seed;
    nir.data
        .par_chunks_mut(w)
        .zip(wl.data.par_chunks_mut(w * 3))
        .enumerate()
        .for_each(|(y, (nrow, wrow))| {
            let mut rng = Pcg64Mcg::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((frame as u64) << 32) ^ y as u64);
            for x in 0..w {
                let sig = signal.get(x, y);
                let n: f32 = rng.sample(StandardNormal);
                let noisy = sig + n * scene.nir_noise_gain * (0.5 * sig + 9.0).sqrt();
                nrow[x] = noisy.round().clamp(0.0, NIR_MAX) as u16;
                for c in 0..3 {
                    let n: f32 = rng.sample(StandardNormal);
                    wrow[x * 3 + c] = (light[c].get(x, y) + 1.5 * n).round().clamp(0.0, 255.0) as u8;
                }
            }
        });

    // Truth of a lesion centred at `c` (world mm) whose extent reaches `extent_mm` from its centre.
    let truth = |id, kind, c: [f32; 2], diameter, rim, tbr, extent_mm: f32| {
        let (cx, cy) = ((c[0] - cam[0]) / mmpp, (c[1] - cam[1]) / mmpp);
        TruthLesion {
            id,
            kind,
            centroid_px: [cx, cy],
            core_diameter_mm: diameter,
            rim_thickness_mm: rim,
            tbr,
            in_view: in_view(cx, cy, extent_mm / mmpp, w, h),
            min_rim_thickness_mm: None,
            rim_coverage: None,
            core_level: None,
            rim_fade: None,
        }
    };
    let mut lesions = Vec::new();
    for l in &scene.rims {
        let extent = l.outer_radius() + 2.0 * mmpp;
        lesions.push(TruthLesion {
            min_rim_thickness_mm: Some(l.min_thickness_mm()),
            rim_coverage: Some(l.coverage()),
            core_level: Some(l.core_level),
            rim_fade: (!l.profile.is_even()).then_some(l.profile.fade),
            ..truth(l.id, LesionKind::Rim, l.center, Some(l.core_diameter_mm()), Some(l.thickness_mm()), l.tbr, extent)
        });
    }
    for d in &scene.diffuse {
        lesions.push(truth(d.id, LesionKind::Diffuse, d.center, None, None, d.tbr, 2.0 * d.sigma_mm));
    }
    for l in &scene.homogeneous {
        let extent = l.a + 2.0 * mmpp;
        lesions.push(truth(l.id, LesionKind::Homogeneous, l.center, Some(2.0 * (l.a * l.b).sqrt()), None, l.tbr, extent));
    }
    let spots = scene
        .residuals
        .iter()
        .map(|r| TruthSpot { centroid_px: [(r.center[0] - cam[0]) / mmpp, (r.center[1] - cam[1]) / mmpp], area_mm2: r.area_mm2(), tbr: r.tbr })
        .collect();
    RenderedFrame { wl, nir, classes, truth: TruthFrame { frame, lesions, spots } }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean, standard deviation over mean and third standardised moment of a texture over 200 mm
    /// square, sampled every 0.1 mm.
    fn moments(v: &Variation) -> (f64, f64, f64) {
        let n = 2000usize;
        let t: Vec<f64> = (0..n * n).map(|i| texture([(i % n) as f32 * 0.1, (i / n) as f32 * 0.1], 77, v) as f64).collect();
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        let var = t.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / t.len() as f64;
        let skew = t.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / t.len() as f64 / var.powf(1.5);
        (mean, var.sqrt() / mean, skew)
    }

    /// A broad scene's rims are drawn with their profiles: along a ray from the centre, an even rim is as
    /// bright at its outer edge as next to the core, a fading one loses its `fade` of the excess; the
    /// truth names the fading ones.
    #[test]
    fn fading_rims_are_brightest_next_to_the_core() {
        let (mut even, mut fading) = (0, 0);
        for seed in 0..40u64 {
            let scene = Scene::generate(480, 270, 0.2, 30.0, seed, &super::super::SceneOptions::broad());
            let curves = Curves { ducts: Vec::new(), veins: Vec::new() };
            let truth = render(&scene, 0).truth;
            // The rims alone: the glows add to the fluorescence, the rest take its place.
            let mut bare = scene.clone();
            (bare.diffuse.clear(), bare.homogeneous.clear(), bare.residuals.clear(), bare.blobs.clear());
            for l in &scene.rims {
                let Some((shape, _)) = &l.shape else { continue };
                assert_eq!(truth.lesions.iter().find(|t| t.id == l.id).unwrap().rim_fade, (!l.profile.is_even()).then_some(l.profile.fade));
                // The first angle (lesion frame) with rim, away from the gap.
                let Some(ang) = (0..36).map(|k| k as f32 * 10f32.to_radians()).find(|&a| shape.thickness(l.rim_mm, a) > 0.3) else { continue };
                let (core, thick) = (shape.core_radius(l.a, l.b, ang), shape.thickness(l.rim_mm, ang));
                let at = |rho: f32| {
                    let (qx, qy) = (rho * ang.cos(), rho * ang.sin());
                    let (c, s) = (l.theta.cos(), l.theta.sin());
                    sample(&bare, [l.center[0] + c * qx - s * qy, l.center[1] + s * qx + c * qy], &curves)
                };
                let (inner, outer) = (at(core + 0.02 * thick), at(core + 0.98 * thick));
                if inner.class != truth_class::RIM || outer.class != truth_class::RIM || scene.rims.iter().filter(|o| o.id != l.id).any(|o| (o.center[0] - l.center[0]).hypot(o.center[1] - l.center[1]) < o.outer_radius() + l.outer_radius()) {
                    continue; // another lesion drawn over this one
                }
                let (ei, eo) = (inner.fluo - 1.0, outer.fluo - 1.0);
                if l.profile.is_even() {
                    even += 1;
                    assert!((ei - eo).abs() < 1e-5, "seed {seed} lesion {}: {} -> {}", l.id, inner.fluo, outer.fluo);
                } else {
                    fading += 1;
                    let kept = 1.0 - l.profile.fade * 0.96;
                    assert!((eo / ei - kept).abs() < 0.02, "seed {seed} lesion {}: {} -> {}, fade {}", l.id, inner.fluo, outer.fluo, l.profile.fade);
                }
            }
        }
        assert!(even >= 10 && fading >= 10, "{even} even and {fading} fading rims sampled");
    }

    /// Each texture law gives the scene's standard deviation over mean around a mean of 1; the
    /// skewed and lobular laws lean to bright values (grains, walls), the symmetric one does not.
    #[test]
    fn every_texture_law_has_the_drawn_spread() {
        let base = Variation { texture: 0.2, grain_mm: 2.0, ..Variation::default() };
        for (v, skewed) in [(base.clone(), false), (Variation { skewed: true, ..base.clone() }, true), (Variation { lobular: true, ..base.clone() }, true)] {
            let (mean, cv, skew) = moments(&v);
            assert!((mean - 1.0).abs() < 0.03, "{v:?}: mean {mean}");
            assert!((cv - 0.2).abs() < 0.03, "{v:?}: standard deviation over mean {cv}, drawn 0.2");
            assert_eq!(skew > 0.3, skewed, "{v:?}: skewness {skew}");
        }
    }
}
