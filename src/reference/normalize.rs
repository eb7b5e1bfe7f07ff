//! CPU twin of `shaders/normalize.wgsl` (and `background.wgsl`): flat-field the NIR image against a
//! robust estimate of the local background, so that each pixel holds its ratio to background (1.0 =
//! liver background, >1 fluorescence, <1 dark tumour core).
//!
//! Background: medians of square blocks, then a quadratic surface fitted to their logarithms by
//! iteratively trimmed least squares (excitation fall-off is smooth; rims, cores, ducts and glints are
//! outliers that the trimming rejects). The ratio is taken on a 3×3 binomial smoothing of the NIR signal.

use rayon::prelude::*;

use crate::frame::{NirFrame, Plane};

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

/// Median of each `block`×`block` tile (partial tiles at the right and bottom edges included).
pub fn block_medians(nir: &NirFrame, block: usize) -> Plane<f32> {
    let gw = nir.width.div_ceil(block);
    let gh = nir.height.div_ceil(block);
    let data: Vec<f32> = (0..gw * gh)
        .into_par_iter()
        .map_init(Vec::new, |buf: &mut Vec<u16>, i| {
            let (bx, by) = (i % gw, i / gw);
            buf.clear();
            for y in by * block..((by + 1) * block).min(nir.height) {
                let row = nir.row(y);
                buf.extend_from_slice(&row[bx * block..((bx + 1) * block).min(nir.width)]);
            }
            let mid = buf.len() / 2;
            *buf.select_nth_unstable(mid).1 as f32
        })
        .collect();
    Plane { width: gw, height: gh, data }
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

/// Ratio of the 3×3 binomial-smoothed NIR signal to the background model. Edge pixels replicate.
/// Along a row the log-level is a quadratic in x, so the background is stepped by multiplication (in
/// f64, to stay within 1e-9 of a per-pixel `exp`).
pub fn normalize(nir: &NirFrame, model: &BackgroundModel, out: &mut Plane<f32>) {
    let (w, h) = (nir.width, nir.height);
    out.ensure_size(w, h);
    let c = model.coeffs.map(|v| v as f64);
    let (cx, cy, s) = (model.cx as f64, model.cy as f64, model.inv_s as f64);
    out.data.par_chunks_mut(w).enumerate().for_each(|(y, dst)| {
        let rows = [nir.row(y.saturating_sub(1)), nir.row(y), nir.row((y + 1).min(h - 1))];
        // log L(u) = a + b u + c3 u², u = (x + 0.5 - cx) s; L(x+1)/L(x) = exp(b s + c3 s² (2u/s + 1)) = step.
        let v = (y as f64 + 0.5 - cy) * s;
        let a = c[0] + c[2] * v + c[5] * v * v;
        let b = c[1] + c[4] * v;
        let u0 = (0.5 - cx) * s;
        let mut inv_level = (-(a + b * u0 + c[3] * u0 * u0)).exp();
        let mut inv_step = (-(b * s + c[3] * s * s * (2.0 * u0 / s + 1.0))).exp();
        let inv_step_step = (-(2.0 * c[3] * s * s)).exp();
        for (x, d) in dst.iter_mut().enumerate() {
            let xl = x.saturating_sub(1);
            let xr = (x + 1).min(w - 1);
            let mut acc = 0u32;
            for (r, wgt) in rows.iter().zip([1u32, 2, 1]) {
                acc += wgt * (r[xl] as u32 + 2 * r[x] as u32 + r[xr] as u32);
            }
            *d = (acc as f64 * (1.0 / 16.0) * inv_level) as f32;
            inv_level *= inv_step;
            inv_step *= inv_step_step;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
