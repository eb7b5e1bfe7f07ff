//! The broad phantom family: what a scene may hold beyond the plain family, so that a set of seeds spans
//! the conditions patients show rather than the one this project's method was first tuned on. Drawn per
//! scene from its own random stream (the plain family's draws are untouched): liver texture of 5–25% at a
//! grain of 1–5 mm (symmetric, skewed to bright grains, or lobules with bright walls), lobulated and irregular cores, rim thickness
//! varying by up to ±50% around a lesion, rim gaps of 15–50°, rims fading outwards and patchy along their length, core levels of 0.3–1.05 of the background, a scatter halo, dark veins, blobs
//! touching rims, instrument shafts with a specular line, NIR-only glints, motion blur, haze and gain up
//! to saturation. The ground truth stays geometric: the shapes drawn here, never what an algorithm sees.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A scene's departures from the plain family. All zero in the plain family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Variation {
    /// Liver texture: standard deviation over mean of the NIR background (0: the plain family's, about 3%).
    pub texture: f32,
    /// Grain of that texture (the lattice spacing of its coarser octave), mm.
    pub grain_mm: f32,
    /// The texture's law: symmetric (false: value noise around 1) or log-normal (true: skewed towards
    /// bright grains, up to about twice the background at 25%; an independent phantom set's texture is
    /// skewed so, and ours was symmetric only until the seventh session).
    #[serde(default)]
    pub skewed: bool,
    /// The texture is liver lobules (overrides `skewed`): cells of about `grain_mm` across, each at its
    /// own level, with brighter walls where cells meet, joined into a network (an independent phantom
    /// set's lobule texture, which walls dozens of dark pockets a frame like cores, and the pattern
    /// hepatic lobules give in NIRF). Drawn only where asked (`SceneOptions::lobular`).
    #[serde(default)]
    pub lobular: bool,
    /// Scatter halo: this fraction of the fluorescence spread as a glow of Gaussian sigma `halo_mm`.
    pub halo: f32,
    pub halo_mm: f32,
    /// Motion blur: length in px along `motion_angle` (rad).
    pub motion_blur_px: f32,
    pub motion_angle: f32,
    /// Haze: fraction of each channel replaced by a uniform veil.
    pub haze: f32,
    /// NIR gain relative to the plain family, up to a background of half the sensor's range (rims of TBR 2
    /// and more then saturate).
    pub gain: f32,
}

/// Shape of a rim lesion of the broad family: a star-shaped core (an ellipse whose radius is modulated
/// by lobes) inside a rim whose radial thickness varies around it and which may have a gap.
#[derive(Clone, Debug, PartialEq)]
pub struct RimShape {
    /// Lobes: (order, relative amplitude, phase) modulating the ellipse's polar radius.
    pub lobes: Vec<(f32, f32, f32)>,
    /// Thickness modulation: relative amplitude, order, phase.
    pub thickness_var: f32,
    pub thickness_order: f32,
    pub thickness_phase: f32,
    /// Angular gap in the rim (start, span), rad, in the lesion's own frame.
    pub gap: Option<(f32, f32)>,
}

/// How a broad-family rim's brightness varies across and along it. Half the rims are even, as the plain
/// family's (`RimProfile::EVEN`); the other half are brightest next to the tumour, where the compressed
/// hepatocytes hold the most ICG, their excess over the background falling to `1 - fade` of it at the rim's
/// outer edge, and patchy along their length by up to ±`patch`. Drawn from a stream of its own, so every
/// other draw of a scene is what it was before rims had a profile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RimProfile {
    /// Fraction of the rim's excess over the background lost from its inner edge to its outer edge.
    pub fade: f32,
    /// Relative amplitude of the brightness's variation along the rim, its order and its phase.
    pub patch: f32,
    pub patch_order: f32,
    pub patch_phase: f32,
}

impl RimProfile {
    pub const EVEN: RimProfile = RimProfile { fade: 0.0, patch: 0.0, patch_order: 0.0, patch_phase: 0.0 };

    /// Even (half the rims) or fading outwards by 20–60% and patchy by up to ±25% (orders 2–6).
    pub fn draw(rng: &mut impl Rng) -> RimProfile {
        // Every number is drawn whatever the outcome, so that each rim takes as many draws.
        let (even, fade, patch) = (rng.random_bool(0.5), rng.random_range(0.2..0.6), rng.random_range(0.0..0.25));
        let (patch_order, patch_phase) = (rng.random_range(2..=6) as f32, rng.random_range(0.0..std::f32::consts::TAU));
        if even { RimProfile::EVEN } else { RimProfile { fade, patch, patch_order, patch_phase } }
    }

    pub fn is_even(&self) -> bool {
        self.fade == 0.0 && self.patch == 0.0
    }

    /// The rim's ratio at relative depth `t` (0 at the core's edge, 1 at the rim's outer edge) and angle
    /// `ang` (lesion frame), where an even rim's is `level`.
    #[inline]
    pub fn ratio(&self, level: f32, t: f32, ang: f32) -> f32 {
        if self.is_even() {
            return level;
        }
        1.0 + (level - 1.0) * (1.0 - self.fade * t.clamp(0.0, 1.0)) * (1.0 + self.patch * (self.patch_order * ang + self.patch_phase).sin())
    }
}

/// Samples of a shape's boundary used for its geometric truth.
const TRUTH_SAMPLES: usize = 720;

impl RimShape {
    /// Polar radius of the core at angle `t` (lesion frame) for an ellipse of semi-axes a, b.
    #[inline]
    pub fn core_radius(&self, a: f32, b: f32, t: f32) -> f32 {
        let (c, s) = (t.cos(), t.sin());
        let ellipse = a * b / ((b * c).powi(2) + (a * s).powi(2)).sqrt();
        ellipse * (1.0 + self.lobes.iter().map(|&(k, amp, ph)| amp * (k * t + ph).cos()).sum::<f32>())
    }

    /// Radial rim thickness at angle `t`, mm (0 inside the gap).
    #[inline]
    pub fn thickness(&self, rim_mm: f32, t: f32) -> f32 {
        if self.in_gap(t) {
            return 0.0;
        }
        rim_mm * (1.0 + self.thickness_var * (self.thickness_order * t + self.thickness_phase).sin())
    }

    #[inline]
    pub fn in_gap(&self, t: f32) -> bool {
        self.gap.is_some_and(|(start, span)| (t - start).rem_euclid(std::f32::consts::TAU) <= span)
    }

    /// Geometric truth of the lesion: core area (mm²), the arc-length-weighted median and 5th
    /// percentile of the distance from the rim's outer curve to the core's boundary (mm), the fraction
    /// of the core's boundary that has rim, and the largest extent from the centre (mm).
    pub fn truth(&self, a: f32, b: f32, rim_mm: f32) -> ShapeTruth {
        let n = TRUTH_SAMPLES;
        let dt = std::f32::consts::TAU / n as f32;
        let angle = |i: usize| i as f32 * dt;
        let core: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                let (t, r) = (angle(i), self.core_radius(a, b, angle(i)));
                [r * t.cos(), r * t.sin()]
            })
            .collect();
        let area: f32 = (0..n).map(|i| 0.5 * self.core_radius(a, b, angle(i)).powi(2) * dt).sum();
        let seg = |p: &[[f32; 2]], i: usize| {
            let (u, v) = (p[i], p[(i + 1) % p.len()]);
            (v[0] - u[0]).hypot(v[1] - u[1])
        };
        let (mut covered, mut perimeter) = (0.0f32, 0.0f32);
        for i in 0..n {
            let l = seg(&core, i);
            perimeter += l;
            if !self.in_gap(angle(i)) {
                covered += l;
            }
        }
        let outer: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                let t = angle(i);
                let r = self.core_radius(a, b, t) + self.thickness(rim_mm, t).max(0.0);
                [r * t.cos(), r * t.sin()]
            })
            .collect();
        let mut samples: Vec<(f32, f32)> = (0..n)
            .filter(|&i| !self.in_gap(angle(i)))
            .map(|i| {
                let o = outer[i];
                let d = core.iter().map(|c| (o[0] - c[0]).hypot(o[1] - c[1])).fold(f32::INFINITY, f32::min);
                (d, seg(&outer, i))
            })
            .collect();
        samples.sort_by(|x, y| x.0.total_cmp(&y.0));
        let total: f32 = samples.iter().map(|s| s.1).sum();
        let quantile = |q: f32| {
            let mut acc = 0.0;
            for &(d, w) in &samples {
                acc += w;
                if acc >= q * total {
                    return d;
                }
            }
            samples.last().map_or(0.0, |s| s.0)
        };
        let extent = outer.iter().chain(&core).map(|p| p[0].hypot(p[1])).fold(0.0f32, f32::max);
        ShapeTruth { area_mm2: area, thickness_mm: quantile(0.5), min_thickness_mm: quantile(0.05), coverage: covered / perimeter, extent_mm: extent }
    }

    /// Draws a shape: lobulated or irregular cores on about half the lesions, thickness varying by up to
    /// ±50% on about half, a gap of 15–50° on about 40%.
    pub fn draw(rng: &mut impl Rng) -> RimShape {
        let mut lobes = Vec::new();
        let style: f32 = rng.random();
        if style < 0.35 {
            // Lobulated: a few low orders.
            for _ in 0..rng.random_range(1..=3) {
                lobes.push((rng.random_range(2..=5) as f32, rng.random_range(0.03..0.09), rng.random_range(0.0..std::f32::consts::TAU)));
            }
        } else if style < 0.55 {
            // Irregular: more, higher orders, smaller each.
            for _ in 0..rng.random_range(3..=5) {
                lobes.push((rng.random_range(3..=9) as f32, rng.random_range(0.01..0.04), rng.random_range(0.0..std::f32::consts::TAU)));
            }
        }
        let thickness_var = if rng.random_bool(0.5) { rng.random_range(0.1..0.5) } else { 0.0 };
        let gap = rng.random_bool(0.4).then(|| (rng.random_range(0.0..std::f32::consts::TAU), rng.random_range(15f32..50.0).to_radians()));
        RimShape {
            lobes,
            thickness_var,
            thickness_order: rng.random_range(1..=3) as f32,
            thickness_phase: rng.random_range(0.0..std::f32::consts::TAU),
            gap,
        }
    }
}

/// The geometric truth of a broad-family rim lesion (see `RimShape::truth`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapeTruth {
    pub area_mm2: f32,
    pub thickness_mm: f32,
    pub min_thickness_mm: f32,
    pub coverage: f32,
    pub extent_mm: f32,
}

/// A dark vein: absorbs in both channels along a quadratic Bézier curve.
#[derive(Clone, Debug)]
pub struct Vein {
    pub p: [[f32; 2]; 3],
    pub width_mm: f32,
    /// Fraction of the light absorbed on the vein's axis.
    pub depth: f32,
}

/// A laparoscopic instrument's shaft: an opaque band from outside the view to its tip, dark in NIR, with
/// a specular line along its axis (bright in both channels).
#[derive(Clone, Debug)]
pub struct Shaft {
    pub from: [f32; 2],
    pub tip: [f32; 2],
    pub width_mm: f32,
}

impl Shaft {
    /// (inside the shaft, on its specular line) for a point in world mm.
    pub fn hit(&self, p: [f32; 2]) -> (bool, bool) {
        let (vx, vy) = (self.tip[0] - self.from[0], self.tip[1] - self.from[1]);
        let len2 = (vx * vx + vy * vy).max(1e-9);
        let t = ((p[0] - self.from[0]) * vx + (p[1] - self.from[1]) * vy) / len2;
        if !(0.0..=1.0).contains(&t) {
            return (false, false);
        }
        // Signed offset across the shaft.
        let off = ((p[0] - self.from[0]) * vy - (p[1] - self.from[1]) * vx) / len2.sqrt();
        let inside = off.abs() <= 0.5 * self.width_mm;
        (inside, inside && (off - 0.15 * self.width_mm).abs() <= 0.06 * self.width_mm)
    }
}

/// A fluorescent blob (class "other fluorescence"): placed touching a rim to test that each lesion's
/// figures stay its own.
#[derive(Clone, Debug)]
pub struct Blob {
    pub center: [f32; 2],
    pub radius_mm: f32,
    pub tbr: f32,
}

impl Variation {
    /// Draws a scene's conditions: each departure on a share of scenes, so that every condition is seen
    /// alone and in combination.
    pub fn draw(rng: &mut impl Rng) -> Variation {
        let texture = rng.random_range(0.05..0.25);
        let grain_mm = rng.random_range(1.0..5.0);
        let (halo, halo_mm) = if rng.random_bool(0.5) { (rng.random_range(0.05..0.25), rng.random_range(0.5..1.0)) } else { (0.0, 0.0) };
        let motion_blur_px = if rng.random_bool(0.4) { rng.random_range(1.0..5.0) } else { 0.0 };
        let motion_angle = rng.random_range(0.0..std::f32::consts::PI);
        let haze = if rng.random_bool(0.3) { rng.random_range(0.05..0.25) } else { 0.0 };
        let gain = if rng.random_bool(0.25) { rng.random_range(1.5..4.0) } else { 1.0 };
        Variation { texture, grain_mm, skewed: false, lobular: false, halo, halo_mm, motion_blur_px, motion_angle, haze, gain }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain ellipse shape: area πab, thickness the rim's, full coverage.
    #[test]
    fn truth_of_a_plain_ellipse() {
        let s = RimShape { lobes: vec![], thickness_var: 0.0, thickness_order: 1.0, thickness_phase: 0.0, gap: None };
        let t = s.truth(5.0, 5.0, 1.5);
        assert!((t.area_mm2 - std::f32::consts::PI * 25.0).abs() < 0.05, "{t:?}");
        assert!((t.thickness_mm - 1.5).abs() < 0.02 && (t.min_thickness_mm - 1.5).abs() < 0.02, "{t:?}");
        assert!((t.coverage - 1.0).abs() < 1e-4 && (t.extent_mm - 6.5).abs() < 0.01, "{t:?}");
        // A 36 degree gap leaves 90% of a circle's boundary covered; a ±50% thickness swing puts the
        // 5th percentile near half the thickness.
        let g = RimShape { gap: Some((1.0, 36f32.to_radians())), thickness_var: 0.5, ..s };
        let t = g.truth(5.0, 5.0, 2.0);
        assert!((t.coverage - 0.9).abs() < 0.01, "{t:?}");
        assert!(t.min_thickness_mm < 1.2 && t.min_thickness_mm > 0.9, "{t:?}");
    }

    /// About half the rims are even; the others lose 20–60% of their excess towards the outer edge,
    /// and their patches stay within ±25% along the rim.
    #[test]
    fn rim_profiles_are_even_or_fade_outwards() {
        use rand::SeedableRng;
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let profiles: Vec<RimProfile> = (0..400).map(|_| RimProfile::draw(&mut rng)).collect();
        let even = profiles.iter().filter(|p| p.is_even()).count();
        assert!((160..240).contains(&even), "{even} of 400 even");
        for p in profiles.iter().filter(|p| !p.is_even()) {
            assert!((0.2..0.6).contains(&p.fade) && (0.0..0.25).contains(&p.patch), "{p:?}");
            for ang in [0.0f32, 1.0, 2.5, 4.0] {
                let (inner, outer) = (p.ratio(2.5, 0.0, ang), p.ratio(2.5, 1.0, ang));
                assert!(((outer - 1.0) / (inner - 1.0) - (1.0 - p.fade)).abs() < 1e-4, "{p:?} at {ang}: {inner} -> {outer}");
                assert!((inner - 2.5).abs() <= 1.5 * p.patch + 1e-4, "{p:?} at {ang}: {inner}");
            }
        }
        assert_eq!(RimProfile::EVEN.ratio(2.5, 0.7, 1.0), 2.5);
    }
}
