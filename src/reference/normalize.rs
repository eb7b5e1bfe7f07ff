//! CPU twin of `shaders/normalize.wgsl` (and `background.wgsl`): flat-field the NIR image against a
//! robust estimate of the local background, so that each pixel holds its ratio to background (1.0 =
//! liver background, >1 fluorescence, <1 dark tumour core).
//!
//! Background: medians of square blocks, then a quadratic surface fitted to their logarithms by
//! iteratively trimmed least squares (excitation fall-off is smooth; rims, cores, ducts and glints are
//! outliers that the trimming rejects). The ratio is taken on a 3×3 binomial smoothing of the NIR signal.
//! As it makes each row it takes what later stages would otherwise read the whole map again for
//! (`RowTallies`: the level histogram, the glow's block means).

use rayon::prelude::*;

use crate::analysis::{LEVEL_BINS, quantise_ratio};
use super::glow::BlockSums;
use super::threshold::count_row;
use crate::frame::{NirView, Plane};

/// Background level as `exp(c0 + c1 u + c2 v + c3 u² + c4 uv + c5 v²)` with `u = (x - cx) / s`,
/// `v = (y - cy) / s` in pixel-centre coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackgroundModel {
    pub coeffs: [f32; 6],
    pub cx: f32,
    pub cy: f32,
    pub inv_s: f32,
}

impl BackgroundModel {
    pub fn for_size(width: usize, height: usize) -> Self {
        Self {
            coeffs: [0.0; 6],
            cx: width as f32 * 0.5,
            cy: height as f32 * 0.5,
            inv_s: 2.0 / width.max(height) as f32,
        }
    }

    #[inline]
    pub fn log_level(&self, x: f32, y: f32) -> f32 {
        let u = (x - self.cx) * self.inv_s;
        let v = (y - self.cy) * self.inv_s;
        let c = &self.coeffs;
        c[0] + c[1] * u + c[2] * v + c[3] * u * u + c[4] * u * v + c[5] * v * v
    }

    #[inline]
    pub fn level(&self, x: f32, y: f32) -> f32 {
        self.log_level(x, y).exp()
    }
}

/// Trimming thresholds (log units) of the successive fit iterations.
pub const TRIM_SCHEDULE: [f32; 6] = [1.0, 0.6, 0.4, 0.3, 0.2, 0.2];

/// Median of each `block`×`block` tile (partial tiles at the right and bottom edges included), taken over
/// the tile's pixels with x + y even: a checkerboard holds half the pixels, spread evenly, and estimates
/// the background as well for half the work.
pub fn block_medians<'a>(nir: impl Into<NirView<'a>>, block: usize) -> Plane<f32> {
    let nir = nir.into();
    let gw = nir.width.div_ceil(block);
    let gh = nir.height.div_ceil(block);
    // A band of blocks at a time: its rows read in order, each row's pixels handed to its blocks (the
    // NIR is read as it lies in memory, not a block's short row pieces in turn).
    let data: Vec<f32> = (0..gh)
        .into_par_iter()
        .map_init(Vec::new, |bufs: &mut Vec<Vec<u16>>, by| {
            bufs.resize_with(gw, Vec::new);
            bufs.iter_mut().for_each(Vec::clear);
            for y in by * block..((by + 1) * block).min(nir.height) {
                let row = nir.row(y);
                for (bx, buf) in bufs.iter_mut().enumerate() {
                    let (x0, x1) = (bx * block, ((bx + 1) * block).min(nir.width));
                    let start = x0 + ((x0 + y) & 1);
                    if start < x1 {
                        // Every other pixel: the first of each pair. Exact pairs and a lone last
                        // pixel make a plain loop, unlike `step_by` or `chunks` (a third faster).
                        let pairs = row[start..x1].chunks_exact(2);
                        let last = pairs.remainder().first().copied();
                        buf.extend(pairs.map(|pair| pair[0]));
                        buf.extend(last);
                    }
                }
            }
            bufs.iter_mut()
                .enumerate()
                .map(|(bx, buf)| {
                    if buf.is_empty() {
                        buf.push(nir.get(bx * block, by * block)); // a lone pixel with x + y odd stands for itself
                    }
                    nth_smallest(buf, buf.len() / 2) as f32
                })
                .collect::<Vec<f32>>()
        })
        .flatten_iter()
        .collect();
    Plane { width: gw, height: gh, data }
}

/// The `k`-th smallest of `values` (from 0; `k < values.len()`), what `select_nth_unstable(k)` picks:
/// a histogram of 256 bins over the values' range finds the bin that holds it, and only that bin's
/// values are then selected among (a block's background spans a few hundred levels: often each bin is
/// one level and the bin is the answer). `values` is reordered.
fn nth_smallest(values: &mut Vec<u16>, k: usize) -> u16 {
    let (lo, hi) = values.iter().fold((u16::MAX, 0u16), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let shift = 32 - ((hi - lo) as u32 >> 8).leading_zeros(); // (hi - lo) >> shift < 256
    let mut hist = [0u32; 256];
    for &v in values.iter() {
        hist[((v - lo) as u32 >> shift) as usize] += 1;
    }
    let (mut below, mut bin) = (0usize, 0usize);
    while below + hist[bin] as usize <= k {
        below += hist[bin] as usize;
        bin += 1;
    }
    if shift == 0 {
        return lo + bin as u16;
    }
    values.retain(|&v| ((v - lo) as u32 >> shift) as usize == bin);
    *values.select_nth_unstable(k - below).1
}

/// Fit the log-quadratic background to block medians, trimming outliers each iteration.
pub fn fit_background(medians: &Plane<f32>, block: usize, width: usize, height: usize) -> BackgroundModel {
    let mut model = BackgroundModel::for_size(width, height);
    let samples: Vec<(f32, f32, f32)> = (0..medians.height)
        .flat_map(|by| (0..medians.width).map(move |bx| (bx, by)))
        .map(|(bx, by)| {
            let x0 = (bx * block) as f32;
            let y0 = (by * block) as f32;
            let x1 = (((bx + 1) * block).min(width)) as f32;
            let y1 = (((by + 1) * block).min(height)) as f32;
            let m = medians.get(bx, by).max(1.0);
            ((x0 + x1) * 0.5, (y0 + y1) * 0.5, m.ln())
        })
        .collect();
    // Start from the median level (at the resolution of a 1024-bin histogram of the logs, as the GPU does):
    // robust to lesions filling much of the view.
    model.coeffs[0] = histogram_median_log(samples.iter().map(|s| s.2));
    let mut stopped = false;
    for &trim in TRIM_SCHEDULE.iter() {
        let mut ata = [[0f64; 6]; 6];
        let mut atb = [0f64; 6];
        let mut used = 0usize;
        for &(x, y, l) in &samples {
            let r = l - model.log_level(x, y);
            if r.abs() > trim {
                continue;
            }
            let u = ((x - model.cx) * model.inv_s) as f64;
            let v = ((y - model.cy) * model.inv_s) as f64;
            let basis = [1.0, u, v, u * u, u * v, v * v];
            for i in 0..6 {
                for j in 0..6 {
                    ata[i][j] += basis[i] * basis[j];
                }
                atb[i] += basis[i] * l as f64;
            }
            used += 1;
        }
        if stopped {
            break;
        }
        // Too few inliers to move the surface, or a singular system: keep the last fit.
        match solve6(ata, atb).filter(|_| used >= 12) {
            Some(c) => {
                for (dst, src) in model.coeffs.iter_mut().zip(c) {
                    *dst = src as f32;
                }
            }
            None => stopped = true,
        }
    }
    model
}

pub const LOG_BINS: usize = 1024;
pub const LOG_RANGE: f32 = 12.0;

/// Centre of the histogram bin holding the median of `logs` (1024 bins over [0, 12)).
pub fn histogram_median_log(logs: impl Iterator<Item = f32> + Clone) -> f32 {
    let mut hist = [0u32; LOG_BINS];
    let mut n = 0u32;
    for l in logs {
        hist[(l / LOG_RANGE * LOG_BINS as f32).floor().clamp(0.0, (LOG_BINS - 1) as f32) as usize] += 1;
        n += 1;
    }
    let mut acc = 0;
    let mut b = 0;
    while b < LOG_BINS - 1 && acc + hist[b] <= n / 2 {
        acc += hist[b];
        b += 1;
    }
    (b as f32 + 0.5) * LOG_RANGE / LOG_BINS as f32
}

/// Gaussian elimination with partial pivoting; a tiny ridge keeps degenerate grids (one row of blocks) solvable.
fn solve6(mut a: [[f64; 6]; 6], mut b: [f64; 6]) -> Option<[f64; 6]> {
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += 1e-6;
    }
    for col in 0..6 {
        let piv = (col..6).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for r in col + 1..6 {
            let f = a[r][col] / a[col][col];
            for c in col..6 {
                a[r][c] -= f * a[col][c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0f64; 6];
    for r in (0..6).rev() {
        let mut s = b[r];
        for c in r + 1..6 {
            s -= a[r][c] * x[c];
        }
        x[r] = s / a[r][r];
    }
    Some(x)
}

/// Lanes of the background recurrence: independent chains, so the loop vectorises.
const LANES: usize = 8;

/// Ratio of the 3×3 binomial-smoothed NIR signal to the background model. Edge pixels replicate.
/// Along a row the log-level is a quadratic in x, so the background is stepped by multiplication (in
/// f64, to stay within 1e-9 of a per-pixel `exp`), `LANES` columns apart in independent chains; the
/// smoothing is separable (a vertical 1-2-1 sum, then a horizontal one). Each ratio is rounded to the
/// ratio map's 16-bit fixed point (`analysis::quantise_ratio`), as the GPU twin stores it.
pub fn normalize<'a>(nir: impl Into<NirView<'a>>, model: &BackgroundModel, out: &mut Plane<f32>) {
    normalize_rows(nir.into(), model, out, false, None);
}

/// What `normalize_and_count` takes of the map's rows as it makes them, while they are in cache,
/// instead of in passes over the map of their own (at 1080p each such pass reads 8 MB).
pub struct RowTallies {
    /// `threshold::ratio_histogram` of the map (its even rows' even columns).
    pub histogram: Vec<u32>,
    /// `glow::block_means` of the map at the block side asked for, bit for bit.
    pub block_means: Option<Plane<f32>>,
}

/// `normalize`, with the map's `RowTallies`: its histogram, and its block means where `block` gives
/// their side (`glow::block_px`).
pub fn normalize_and_count<'a>(nir: impl Into<NirView<'a>>, model: &BackgroundModel, out: &mut Plane<f32>, block: Option<usize>) -> RowTallies {
    let nir = nir.into();
    let (histogram, means) = normalize_rows(nir, model, out, true, block);
    let block_means = block.map(|b| Plane { width: nir.width.div_ceil(b), height: nir.height.div_ceil(b), data: means });
    RowTallies { histogram, block_means }
}

/// Rows a task of `normalize` where no block side sets the bands.
const BAND_ROWS: usize = 16;

/// `normalize`; with `count`, the histogram of `normalize_and_count` (else an empty one); with
/// `block`, the block means (raster order; else none). A band of rows a task: where block means are
/// taken, one row of blocks, whose column sums (`glow::BlockSums`) then give its blocks' means.
fn normalize_rows(nir: NirView<'_>, model: &BackgroundModel, out: &mut Plane<f32>, count: bool, block: Option<usize>) -> (Vec<u32>, Vec<f32>) {
    let (w, h) = (nir.width, nir.height);
    out.ensure_size(w, h);
    let c = model.coeffs.map(|v| v as f64);
    let (cx, cy, s) = (model.cx as f64, model.cy as f64, model.inv_s as f64);
    // The same arithmetic in wider vectors where the CPU has them (the build targets baseline x86-64):
    // IEEE operations round alike at any width, and nothing is fused, so the ratios are the same.
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    let row = RatioRow { nir, c, cx, cy, s };
    let bins = if count { LEVEL_BINS } else { 0 };
    let band = block.unwrap_or(BAND_ROWS);
    let bands: Vec<(Vec<u32>, Vec<f32>)> = out
        .data
        .par_chunks_mut(w * band)
        .enumerate()
        .map_init(
            || (Vec::<i32>::new(), Vec::<f64>::new()),
            |(vsum, inv_bg), (b, rows)| {
                let mut hist = vec![0u32; bins];
                let mut sums = block.map(|side| BlockSums::new(w, side));
                for (k, dst) in rows.chunks_mut(w).enumerate() {
                    let y = b * band + k;
                    #[cfg(target_arch = "x86_64")]
                    let done = avx2 && {
                        // SAFETY: the CPU has AVX2 (detected above).
                        unsafe { row.fill_avx2(y, dst, vsum, inv_bg) };
                        true
                    };
                    #[cfg(not(target_arch = "x86_64"))]
                    let done = avx2;
                    if !done {
                        row.fill(y, dst, vsum, inv_bg);
                    }
                    if count && y % 2 == 0 {
                        count_row(dst, &mut hist);
                    }
                    if let Some(sums) = &mut sums {
                        sums.add_row(dst);
                    }
                }
                (hist, sums.map_or_else(Vec::new, |s| s.means().collect()))
            },
        )
        .collect();
    let mut hist = vec![0u32; bins];
    let mut means = Vec::new();
    for (band_hist, band_means) in bands {
        hist.iter_mut().zip(band_hist).for_each(|(x, y)| *x += y);
        means.extend(band_means);
    }
    (hist, means)
}

/// What each row of `normalize` reads: the NIR and the background model's coefficients in f64.
struct RatioRow<'a> {
    nir: NirView<'a>,
    c: [f64; 6],
    cx: f64,
    cy: f64,
    s: f64,
}

impl RatioRow<'_> {
    /// `fill` compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn fill_avx2(&self, y: usize, dst: &mut [f32], vsum: &mut Vec<i32>, inv_bg: &mut Vec<f64>) {
        self.fill(y, dst, vsum, inv_bg)
    }

    /// Row `y`'s ratios into `dst` (`vsum`, `inv_bg`: scratch).
    #[inline(always)]
    fn fill(&self, y: usize, dst: &mut [f32], vsum: &mut Vec<i32>, inv_bg: &mut Vec<f64>) {
        let (nir, c, cx, cy, s) = (self.nir, self.c, self.cx, self.cy, self.s);
        let (w, h) = (nir.width, nir.height);
        let (r0, r1, r2) = (nir.row(y.saturating_sub(1)), nir.row(y), nir.row((y + 1).min(h - 1)));
        vsum.clear();
        // i32 (at most 4 × 65535): its conversion to f64 vectorises, a u32's does not.
        vsum.extend(r0.iter().zip(r1).zip(r2).map(|((&a, &b), &c)| a as i32 + 2 * b as i32 + c as i32));
        // log L(u) = a + b u + c3 u², u = (x + 0.5 - cx) s. Lane j starts at column j; from column x to
        // x + LANES, 1/L is multiplied by exp(-(b LANES s + c3 (2 LANES s u + (LANES s)²))), and that
        // step by exp(-2 c3 (LANES s)²) each time.
        let v = (y as f64 + 0.5 - cy) * s;
        let a = c[0] + c[2] * v + c[5] * v * v;
        let b = c[1] + c[4] * v;
        let ls = LANES as f64 * s;
        let mut level = [0f64; LANES];
        let mut step = [0f64; LANES];
        for j in 0..LANES {
            let u = (j as f64 + 0.5 - cx) * s;
            level[j] = (-(a + b * u + c[3] * u * u)).exp();
            step[j] = (-(b * ls + c[3] * (2.0 * ls * u + ls * ls))).exp();
        }
        let step_step = (-(2.0 * c[3] * ls * ls)).exp();
        inv_bg.clear();
        inv_bg.resize(w.next_multiple_of(LANES), 0.0);
        for chunk in inv_bg.chunks_exact_mut(LANES) {
            for j in 0..LANES {
                chunk[j] = level[j];
                level[j] *= step[j];
                step[j] *= step_step;
            }
        }
        let hsum = |l: i32, m: i32, r: i32| (l + 2 * m + r) as f64 * (1.0 / 16.0);
        dst[0] = quantise_ratio((hsum(vsum[0], vsum[0], vsum[1.min(w - 1)]) * inv_bg[0]) as f32);
        if w > 1 {
            // Three shifted slices rather than `windows(3)`: the loop vectorises.
            let (l, m, r) = (&vsum[..w - 2], &vsum[1..w - 1], &vsum[2..]);
            for ((((d, &l), &m), &r), &inv) in dst[1..w - 1].iter_mut().zip(l).zip(m).zip(r).zip(&inv_bg[1..]) {
                *d = quantise_ratio((hsum(l, m, r) * inv) as f32);
            }
            dst[w - 1] = quantise_ratio((hsum(vsum[w - 2], vsum[w - 1], vsum[w - 1]) * inv_bg[w - 1]) as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::NirFrame;

    /// A `w`×`h` frame of 12-bit values from a linear congruential generator at `state`.
    fn random_nir(w: usize, h: usize, state: &mut u32) -> NirFrame {
        let data = (0..w * h)
            .map(|_| {
                *state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                (*state >> 20) as u16
            })
            .collect();
        NirFrame::from_vec(w, h, data).unwrap()
    }

    /// `nth_smallest` picks what sorting does, whatever the values' spread (one level, a background's
    /// few hundred, the whole 16-bit range) and rank, extremes too.
    #[test]
    fn nth_smallest_is_the_sorted_rank() {
        let mut state = 7u32;
        for spread in [1u32, 3, 200, 255, 256, 257, 4096, 65536] {
            for len in [1usize, 2, 5, 512] {
                let values: Vec<u16> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                        (1000 + (state >> 8) % spread).min(65535) as u16
                    })
                    .collect();
                let mut sorted = values.clone();
                sorted.sort_unstable();
                for k in [0, len / 2, len - 1] {
                    assert_eq!(nth_smallest(&mut values.clone(), k), sorted[k], "spread {spread}, {len} values, rank {k}");
                }
            }
        }
        assert_eq!(nth_smallest(&mut vec![0, 65535, 65535, 0, 1, 256, 255], 3), 255);
    }

    /// The AVX2 copy of a row's ratios is the baseline copy's bit for bit (where the CPU has AVX2), on
    /// random 16-bit NIR and a tilted, curved background, rows of widths around the lanes.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_rows_are_the_baseline_rows() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut state = 3u32;
        for (w, h) in [(1usize, 3usize), (2, 2), (9, 4), (67, 5), (1920, 3)] {
            let nir = random_nir(w, h, &mut state);
            let mut model = BackgroundModel::for_size(w, h);
            model.coeffs = [6.5, 0.1, -0.05, -0.6, 0.02, -0.5];
            let c = model.coeffs.map(|v| v as f64);
            let row = RatioRow { nir: nir.view(), c, cx: model.cx as f64, cy: model.cy as f64, s: model.inv_s as f64 };
            let (mut a, mut b) = (vec![0f32; w], vec![0f32; w]);
            let (mut vs, mut ib) = (Vec::new(), Vec::new());
            for y in 0..h {
                row.fill(y, &mut a, &mut vs, &mut ib);
                // SAFETY: AVX2 detected above.
                unsafe { row.fill_avx2(y, &mut b, &mut vs, &mut ib) };
                assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{w}x{h}, row {y}");
            }
        }
    }

    #[test]
    fn fit_recovers_a_vignetted_background_despite_a_bright_blob() {
        let (w, h) = (320, 240);
        let mut truth = BackgroundModel::for_size(w, h);
        truth.coeffs = [6.5, 0.1, -0.05, -0.6, 0.02, -0.5];
        let mut nir = NirFrame::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let mut v = truth.level(x as f32 + 0.5, y as f32 + 0.5);
                let (dx, dy) = (x as f32 - 100.0, y as f32 - 90.0);
                if dx * dx + dy * dy < 40.0 * 40.0 {
                    v *= 4.0; // a lesion-sized outlier
                }
                nir.set(x, y, v as u16);
            }
        }
        let med = block_medians(&nir, 16);
        let fit = fit_background(&med, 16, w, h);
        let mut ratio = Plane::new(w, h);
        normalize(&nir, &fit, &mut ratio);
        // Far from the blob the ratio is ~1 everywhere, corners included.
        for &(x, y) in &[(5, 5), (314, 5), (5, 234), (314, 234), (250, 200)] {
            assert!((ratio.get(x, y) - 1.0).abs() < 0.02, "ratio at {x},{y} = {}", ratio.get(x, y));
        }
        assert!((ratio.get(100, 90) - 4.0).abs() < 0.1);
    }

    /// The stepped, separable version equals the definition: a 3×3 binomial average with replicated
    /// edges over `exp` of the model at each pixel centre, on widths that are not a multiple of the lanes.
    #[test]
    fn normalize_equals_the_per_pixel_definition() {
        for (w, h) in [(1, 5), (2, 3), (37, 11), (203, 17)] {
            let mut model = BackgroundModel::for_size(w, h);
            model.coeffs = [6.0, 0.3, -0.2, -0.7, 0.15, -0.4];
            let mut state = 3u32;
            let nir = random_nir(w, h, &mut state);
            let mut got = Plane::new(0, 0);
            normalize(&nir, &model, &mut got);
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0f64;
                    for (dy, wy) in [(-1i64, 1.0), (0, 2.0), (1, 1.0)] {
                        for (dx, wx) in [(-1i64, 1.0), (0, 2.0), (1, 1.0)] {
                            let sx = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
                            let sy = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
                            acc += wy * wx * nir.get(sx, sy) as f64;
                        }
                    }
                    let u = (x as f64 + 0.5 - model.cx as f64) * model.inv_s as f64;
                    let v = (y as f64 + 0.5 - model.cy as f64) * model.inv_s as f64;
                    let c = model.coeffs.map(|k| k as f64);
                    let level = (c[0] + c[1] * u + c[2] * v + c[3] * u * u + c[4] * u * v + c[5] * v * v).exp();
                    let want = (acc / 16.0 / level) as f32;
                    let g = got.get(x, y);
                    // Rounded to the 16-bit fixed point: within half a step, plus the stepping's 1e-6.
                    let half_step = 0.5 / crate::analysis::RATIO_STEPS;
                    assert!(g == crate::analysis::quantise_ratio(g), "{w}x{h} ({x},{y}): {g} is off the ratio's grid");
                    assert!((g - want.min(crate::analysis::RATIO_MAX)).abs() <= half_step + 1e-6 * want.abs().max(1.0), "{w}x{h} ({x},{y}): {g} vs {want}");
                }
            }
        }
    }

    /// `normalize_and_count` writes what `normalize` writes, and its histogram is `ratio_histogram` of
    /// that map (odd and even sizes; ratios about 1, so that most fall in the histogram's range).
    #[test]
    fn the_counted_histogram_is_the_ratio_histogram() {
        for (w, h) in [(1, 5), (37, 11), (203, 17)] {
            let mut model = BackgroundModel::for_size(w, h);
            model.coeffs = [7.6, 0.1, -0.1, 0.0, 0.0, 0.0];
            let nir = random_nir(w, h, &mut 5u32);
            let (mut plain, mut counted) = (Plane::new(0, 0), Plane::new(0, 0));
            normalize(&nir, &model, &mut plain);
            let hist = normalize_and_count(&nir, &model, &mut counted, None).histogram;
            assert_eq!(counted.data, plain.data, "{w}x{h}");
            assert!(hist.iter().sum::<u32>() > 0, "{w}x{h}: no ratio in range");
            assert_eq!(hist, crate::reference::threshold::ratio_histogram(&counted), "{w}x{h}");
        }
    }

    /// The block means `normalize_and_count` takes as it makes the rows are `glow::block_means` of the
    /// map bit for bit (blocks that divide the frame and blocks that leave partial ones; ratios over
    /// the glow's clip among them), and its histogram is the same whatever the bands.
    #[test]
    fn the_block_means_taken_with_the_rows_are_the_glows() {
        for (w, h) in [(5usize, 3usize), (37, 11), (203, 67)] {
            let mut model = BackgroundModel::for_size(w, h);
            model.coeffs = [5.0, 0.1, -0.1, 0.0, 0.0, 0.0];
            let nir = random_nir(w, h, &mut 9u32);
            let mut plain = Plane::new(0, 0);
            let plain_hist = normalize_and_count(&nir, &model, &mut plain, None).histogram;
            assert!(plain.data.iter().any(|&v| v > crate::reference::scale_texture::RATIO_CLIP), "{w}x{h}: nothing over the clip");
            for b in [2usize, 3, 12, 64] {
                let mut counted = Plane::new(0, 0);
                let tallies = normalize_and_count(&nir, &model, &mut counted, Some(b));
                assert_eq!(counted.data, plain.data, "{w}x{h}, blocks of {b}");
                assert_eq!(tallies.histogram, plain_hist, "{w}x{h}, blocks of {b}");
                let want = crate::reference::glow::block_means(&plain, b);
                let got = tallies.block_means.expect("block means asked for");
                assert_eq!((got.width, got.height), (want.width, want.height), "{w}x{h}, blocks of {b}");
                assert_eq!(got.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{w}x{h}, blocks of {b}");
            }
        }
    }

    /// Each block's median is the exact median (upper middle) of its pixels with x + y even, or of its
    /// lone pixel, for odd block sizes and partial edge blocks too.
    #[test]
    fn block_medians_are_checkerboard_medians() {
        let mut state = 11u32;
        for (w, h, block) in [(10, 1, 9), (37, 23, 8), (64, 64, 32), (70, 33, 9), (33, 65, 32)] {
            let nir = random_nir(w, h, &mut state);
            let got = block_medians(&nir, block);
            for by in 0..h.div_ceil(block) {
                for bx in 0..w.div_ceil(block) {
                    let mut v = Vec::new();
                    let mut all = Vec::new();
                    for y in by * block..((by + 1) * block).min(h) {
                        for x in bx * block..((bx + 1) * block).min(w) {
                            all.push(nir.get(x, y));
                            if (x + y) % 2 == 0 {
                                v.push(nir.get(x, y));
                            }
                        }
                    }
                    if v.is_empty() {
                        v = all;
                    }
                    v.sort_unstable();
                    assert_eq!(got.get(bx, by), v[v.len() / 2] as f32, "{w}x{h} block {block} at ({bx},{by})");
                }
            }
        }
    }
}
