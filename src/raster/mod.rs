//! Geometry on the pixel grid, below both the CPU backend and the overlay, which share it: rectangles
//! of pixels and the disjoint regions of interest the CPU works in (`rect`), and the exact Euclidean
//! distance transform carrying labels (`distance`, the CPU twin of `shaders/distance.wgsl`, which the
//! overlay's outlines also draw from), the sector a direction falls in (`sector`, with `Sectors`, the
//! same answer for runs of neighbouring pixels without an arctangent each), values by sector filled
//! around the circle (`interpolate_around`), a pixel's 4-neighbours and the 4-connected region about a
//! pixel (`four_neighbours`, `flood`) and the length of an offset (`hypot`). Imports only `frame`.

pub mod distance;
pub mod rect;

/// The sector, of `sectors` equal ones about a point, that holds the direction (dx, dy) from it:
/// sector 0 begins at the direction −x, and they follow the angle `atan2(dy, dx)` upwards.
#[inline]
pub fn sector(dx: f32, dy: f32, sectors: usize) -> usize {
    ((dy.atan2(dx) / std::f32::consts::TAU + 0.5) * sectors as f32) as usize % sectors
}

/// The 4-neighbours of pixel (or cell) `i` of a `w`×`h` grid, inside it: left, right, up, down.
pub fn four_neighbours(i: usize, w: usize, h: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % w, i / w);
    [(x > 0).then(|| i - 1), (x + 1 < w).then(|| i + 1), (y > 0).then(|| i - w), (y + 1 < h).then(|| i + w)].into_iter().flatten()
}

/// 4-connected component of the cells (or pixels) of a `w`×`h` grid where `inside` holds, from `start`
/// (first), in breadth-first order; marks them `seen`.
pub fn flood(start: usize, w: usize, h: usize, inside: impl Fn(usize) -> bool, seen: &mut [bool]) -> Vec<usize> {
    let mut out = vec![start];
    seen[start] = true;
    let mut k = 0;
    while let Some(&i) = out.get(k) {
        k += 1;
        for j in four_neighbours(i, w, h) {
            if !seen[j] && inside(j) {
                seen[j] = true;
                out.push(j);
            }
        }
    }
    out
}

/// Values by sector around a point, those that are NaN (no value of their own) interpolated linearly
/// around the circle between the nearest sectors with one on either side. At least one must have one.
pub fn interpolate_around(values: &[f32]) -> Vec<f32> {
    let n = values.len();
    let filled: Vec<usize> = (0..n).filter(|&k| !values[k].is_nan()).collect();
    (0..n)
        .map(|k| {
            if !values[k].is_nan() {
                return values[k];
            }
            let after = filled.iter().copied().find(|&f| f > k).unwrap_or(filled[0] + n);
            let before = filled.iter().rev().copied().find(|&f| f < k).map_or(filled[filled.len() - 1] as isize - n as isize, |f| f as isize);
            let (ra, rb) = (values[after % n], values[before.rem_euclid(n as isize) as usize]);
            let t = (k as isize - before) as f32 / (after as isize - before) as f32;
            rb + t * (ra - rb)
        })
        .collect()
}

/// The length of (dx, dy), as `f32::hypot` gives it with glibc (whose `hypotf` is this: the double
/// square root of the double sum of squares, rounded once; the squares of floats are exact in double),
/// without the library call. `hypot_is_glibcs` checks that the two agree.
#[inline]
pub fn hypot(dx: f32, dy: f32) -> f32 {
    let (x, y) = (dx as f64, dy as f64);
    (x * x + y * y).sqrt() as f32
}

/// `sector` for many directions, most of them in the sector of the one before (the pixels of a row
/// about a centre; the caller keeps the last answer, one a row): a direction well inside the last
/// answer's sector (two cross products with its bounding directions) takes it without an arctangent; one within `MARGIN` of a boundary, or in
/// another sector, is asked of `sector` itself. The answers are `sector`'s exactly: the margin, a
/// thousandth of a sector, is far wider than `sector`'s rounding (a few 1e-5 of a sector).
pub struct Sectors {
    sectors: usize,
    /// The unit direction where each sector begins (and, last, sector 0's again).
    bounds: Vec<[f64; 2]>,
    /// sin² of the margin's angle.
    sin2_margin: f64,
}

impl Sectors {
    /// Of a sector's width, how near a boundary a direction is asked of `sector`.
    const MARGIN: f64 = 1e-3;

    pub fn new(sectors: usize) -> Self {
        let bounds = (0..=sectors)
            .map(|k| {
                let a = std::f64::consts::TAU * (k as f64 / sectors as f64 - 0.5);
                [a.cos(), a.sin()]
            })
            .collect();
        let margin = std::f64::consts::TAU / sectors as f64 * Self::MARGIN;
        Self { sectors, bounds, sin2_margin: margin.sin().powi(2) }
    }

    /// `sector(dx, dy, sectors)`; `last`: the answer for the direction before (any sector at first),
    /// updated.
    #[inline]
    pub fn of(&self, dx: f32, dy: f32, last: &mut usize) -> usize {
        let (x, y) = (dx as f64, dy as f64);
        let ([ax, ay], [bx, by]) = (self.bounds[*last], self.bounds[*last + 1]);
        // |d| sin of the angle from the sector's first bound to d, and from d to its second; both over
        // |d| sin(margin): d lies between them, off both by more than the margin (a sector is under
        // half a turn wide, so two positive sines leave no other place).
        let (from_a, to_b) = (ax * y - ay * x, x * by - y * bx);
        let m2 = self.sin2_margin * (x * x + y * y);
        if !(from_a > 0.0 && to_b > 0.0 && from_a * from_a > m2 && to_b * to_b > m2) {
            *last = sector(dx, dy, self.sectors);
        }
        *last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sectors without a value take one linearly between their nearest neighbours with one, around
    /// the circle (the last sector's neighbour after it is the first).
    #[test]
    fn interpolate_around_fills_across_the_wrap() {
        let nan = f32::NAN;
        assert_eq!(interpolate_around(&[1.0, nan, 3.0, nan]), vec![1.0, 2.0, 3.0, 2.0]);
        assert_eq!(interpolate_around(&[nan, 4.0, nan, nan]), vec![4.0, 4.0, 4.0, 4.0]);
        assert_eq!(interpolate_around(&[nan, 2.0, nan, 8.0, nan, nan]), vec![3.5, 2.0, 5.0, 8.0, 6.5, 5.0]);
    }

    /// Uniform numbers in [0, 1) from a linear congruential generator seeded with `state`.
    fn uniform(mut state: u32) -> impl FnMut() -> f32 {
        move || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        }
    }

    /// Pixel centres about fractional centres, near and far, every sector count the stages use: the
    /// same sector as `sector`'s arctangent, row by row as the stages ask, and by single directions
    /// placed on and around each boundary.
    #[test]
    fn sectors_answer_as_sector() {
        let mut next = uniform(7);
        for n in (12..=64).chain([72, 5, 3]) {
            for _ in 0..3 {
                let (cx, cy) = (200.0 * next(), 200.0 * next());
                let s = Sectors::new(n);
                for y in 0..260 {
                    let mut last = 0;
                    for x in 0..260 {
                        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                        assert_eq!(s.of(dx, dy, &mut last), sector(dx, dy, n), "n {n} ({dx}, {dy})");
                    }
                }
            }
            let (s, mut last) = (Sectors::new(n), 0);
            for k in 0..n {
                let a = std::f64::consts::TAU * (k as f64 / n as f64 - 0.5);
                for eps in [-1e-3, -1e-5, -1e-7, 0.0, 1e-7, 1e-5, 1e-3] {
                    for r in [0.7f64, 13.0, 400.0] {
                        let (dx, dy) = ((r * (a + eps).cos()) as f32, (r * (a + eps).sin()) as f32);
                        assert_eq!(s.of(dx, dy, &mut last), sector(dx, dy, n), "n {n} ({dx}, {dy})");
                    }
                }
            }
            for (dx, dy) in [(0.0, 0.0), (-0.0, 0.0), (-3.0, 0.0), (-3.0, -0.0), (3.0, 0.0), (0.0, 3.0), (0.0, -3.0)] {
                assert_eq!(s.of(dx, dy, &mut last), sector(dx, dy, n), "n {n} ({dx}, {dy})");
            }
        }
    }

    #[test]
    fn hypot_is_glibcs() {
        let mut next = uniform(11);
        for _ in 0..200_000 {
            let (dx, dy) = (1000.0 * (next() - 0.5), 1000.0 * (next() - 0.5));
            assert_eq!(hypot(dx, dy).to_bits(), dx.hypot(dy).to_bits(), "({dx}, {dy})");
        }
        for y in -300..300 {
            for x in -300..300 {
                let (dx, dy) = (x as f32 + 0.5 - 0.37, y as f32 + 0.5 - 0.81);
                assert_eq!(hypot(dx, dy).to_bits(), dx.hypot(dy).to_bits(), "({dx}, {dy})");
            }
        }
    }
}
