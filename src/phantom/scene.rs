//! A phantom scene in world millimetres: rim lesions (elliptical dark cores in fluorescent rims),
//! deep diffuse lesions, bile-duct-like curves, specular glints, the liver's background and the
//! camera's slow motion. Drawn from a seeded generator, so a seed names a scene.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::variation::{Blob, RimProfile, RimShape, Shaft, ShapeTruth, Variation, Vein};

#[derive(Clone, Debug)]
pub struct RimLesion {
    pub id: u32,
    pub center: [f32; 2],
    /// Semi-axes of the core ellipse, mm.
    pub a: f32,
    pub b: f32,
    pub theta: f32,
    pub rim_mm: f32,
    pub tbr: f32,
    /// Core signal as a fraction of background.
    pub core_level: f32,
    /// Modulation of the rim's brightness along its length (fraction).
    pub rim_wobble: f32,
    pub phase: f32,
    /// Paleness of the lesion in white light (0..1).
    pub pallor: f32,
    /// Broad family: a lobulated core, a rim of varying thickness, a gap (`None`: a plain ellipse), and
    /// the geometric truth of that shape.
    pub shape: Option<(RimShape, ShapeTruth)>,
    /// Broad family: how the rim's brightness varies across and along it (`RimProfile::EVEN` elsewhere).
    pub profile: RimProfile,
}

impl RimLesion {
    pub fn core_diameter_mm(&self) -> f32 {
        match &self.shape {
            Some((_, t)) => 2.0 * (t.area_mm2 / std::f32::consts::PI).sqrt(),
            None => 2.0 * (self.a * self.b).sqrt(),
        }
    }
    pub fn outer_radius(&self) -> f32 {
        match &self.shape {
            Some((_, t)) => t.extent_mm,
            None => self.a.max(self.b) + self.rim_mm,
        }
    }
    /// Median rim thickness (the truth the analysis's median is scored against), mm.
    pub fn thickness_mm(&self) -> f32 {
        self.shape.as_ref().map_or(self.rim_mm, |(_, t)| t.thickness_mm)
    }
    /// Thinnest rim (5th percentile along the boundary), mm.
    pub fn min_thickness_mm(&self) -> f32 {
        self.shape.as_ref().map_or(self.rim_mm, |(_, t)| t.min_thickness_mm)
    }
    /// Fraction of the core's boundary that has rim.
    pub fn coverage(&self) -> f32 {
        self.shape.as_ref().map_or(1.0, |(_, t)| t.coverage)
    }
}

/// A lesion that takes up ICG evenly: a sharp-edged fluorescent ellipse with no dark core.
#[derive(Clone, Debug)]
pub struct HomogeneousLesion {
    pub id: u32,
    pub center: [f32; 2],
    pub a: f32,
    pub b: f32,
    pub theta: f32,
    pub tbr: f32,
}

impl HomogeneousLesion {
    pub fn contains(&self, p: [f32; 2]) -> bool {
        let (dx, dy) = (p[0] - self.center[0], p[1] - self.center[1]);
        let (c, s) = (self.theta.cos(), self.theta.sin());
        let (qx, qy) = (c * dx + s * dy, -s * dx + c * dy);
        (qx / self.a).powi(2) + (qy / self.b).powi(2) <= 1.0
    }
}

#[derive(Clone, Debug)]
pub struct DiffuseLesion {
    pub id: u32,
    pub center: [f32; 2],
    pub sigma_mm: f32,
    pub tbr: f32,
}

#[derive(Clone, Debug)]
pub struct Duct {
    /// Quadratic Bézier control points, mm.
    pub p: [[f32; 2]; 3],
    pub width_mm: f32,
    pub tbr: f32,
}

/// Residual fluorescence on a cut surface or in a wound bed: a sharp-edged blob, or an arc (a cut through
/// part of a rim).
#[derive(Clone, Debug)]
pub struct Residual {
    pub center: [f32; 2],
    pub radius_mm: f32,
    /// For an arc: start angle, angular span (rad) and band thickness (mm) around `radius_mm`.
    pub arc: Option<(f32, f32, f32)>,
    pub tbr: f32,
}

impl Residual {
    pub fn contains(&self, p: [f32; 2]) -> bool {
        let (dx, dy) = (p[0] - self.center[0], p[1] - self.center[1]);
        let r = dx.hypot(dy);
        match self.arc {
            None => r <= self.radius_mm,
            Some((start, span, thick)) => {
                let a = (dy.atan2(dx) - start).rem_euclid(std::f32::consts::TAU);
                (r - self.radius_mm).abs() <= thick * 0.5 && a <= span
            }
        }
    }

    /// Area, mm².
    pub fn area_mm2(&self) -> f32 {
        match self.arc {
            None => std::f32::consts::PI * self.radius_mm * self.radius_mm,
            Some((_, span, thick)) => span * self.radius_mm * thick,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Glint {
    /// Position in view pixels at frame 0 and its drift a frame.
    pub pos: [f32; 2],
    pub vel: [f32; 2],
    pub radius_px: [f32; 2],
}

#[derive(Clone, Debug)]
pub struct Scene {
    pub width: usize,
    pub height: usize,
    pub mm_per_px: f32,
    pub fps: f32,
    pub seed: u64,
    pub rims: Vec<RimLesion>,
    pub diffuse: Vec<DiffuseLesion>,
    pub ducts: Vec<Duct>,
    pub glints: Vec<Glint>,
    pub residuals: Vec<Residual>,
    pub homogeneous: Vec<HomogeneousLesion>,
    /// Camera: view origin (world mm) at frame 0, drift mm a frame, tremor amplitude mm.
    pub origin: [f32; 2],
    pub drift: [f32; 2],
    pub tremor_mm: f32,
    /// Background signal at the centre of the view, sensor counts (12-bit sensor).
    pub background_counts: f32,
    /// Excitation fall-off: relative level at the view's corners, and the centre's offset (fraction).
    pub corner_level: f32,
    pub falloff_center: [f32; 2],
    /// Tissue scatter blur, mm (Gaussian sigma).
    pub scatter_mm: f32,
    pub texture_seed: u32,
    /// Multiplier of the NIR noise (`SceneOptions::nir_noise_gain`).
    pub nir_noise_gain: f32,
    /// Broad family: the scene's conditions and the structures only it holds (all empty otherwise).
    pub variation: Variation,
    pub veins: Vec<Vein>,
    pub shafts: Vec<Shaft>,
    pub blobs: Vec<Blob>,
    /// Specular glints seen in the NIR image only (no twin in the white light).
    pub nir_glints: Vec<Glint>,
}

/// What kinds of structures a scene holds. Tests turn confounders off to isolate one behaviour.
#[derive(Clone, Debug)]
pub struct SceneOptions {
    pub rim_lesions: std::ops::RangeInclusive<usize>,
    pub diffuse_lesions: std::ops::RangeInclusive<usize>,
    pub ducts: std::ops::RangeInclusive<usize>,
    pub glints: std::ops::RangeInclusive<usize>,
    /// Residual fluorescent spots (blobs or arcs) inside the central 60% of the first frame.
    pub residuals: std::ops::RangeInclusive<usize>,
    /// Homogeneously enhancing lesions (drawn after everything else, so other draws keep their values).
    pub homogeneous: std::ops::RangeInclusive<usize>,
    pub camera_motion: bool,
    /// Multiplies the NIR sensor noise (1: the modelled shot and read noise; more: a higher-gain camera
    /// or lower excitation).
    pub nir_noise_gain: f32,
    /// Draw from the broad family (`variation`): textures, shapes, gaps, halos, veins, instruments, blur,
    /// haze, gain and NIR-only glints as patients show them. Off: the plain family.
    pub broad: bool,
    /// The broad family's liver texture as lobules with bright walls (`Variation::lobular`), every scene:
    /// a condition measured apart (`evaluate --family lobular`) while the method does not hold on it.
    pub lobular: bool,
}

impl Default for SceneOptions {
    fn default() -> Self {
        Self { rim_lesions: 2..=4, diffuse_lesions: 0..=1, ducts: 1..=2, glints: 2..=6, residuals: 0..=0, homogeneous: 0..=1, camera_motion: true, nir_noise_gain: 1.0, broad: false, lobular: false }
    }
}

impl SceneOptions {
    /// A transection plane or wound bed: no lesions or ducts; `residuals` fluorescent spots (0 for a clean one).
    pub fn cut_surface(residuals: std::ops::RangeInclusive<usize>) -> Self {
        Self { rim_lesions: 0..=0, diffuse_lesions: 0..=0, ducts: 0..=0, glints: 2..=6, residuals, homogeneous: 0..=0, camera_motion: true, nir_noise_gain: 1.0, broad: false, lobular: false }
    }

    /// The broad family with the plain family's lesion counts.
    pub fn broad() -> Self {
        Self { broad: true, ..Self::default() }
    }
}

/// The broad family's gain keeps the background at or under this many counts of the 12-bit sensor.
const MAX_BACKGROUND_COUNTS: f32 = 2000.0;

fn overlaps(c: [f32; 2], r: f32, placed: &[([f32; 2], f32)], gap: f32) -> bool {
    placed.iter().any(|&(p, pr)| ((c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2)).sqrt() < r + pr + gap)
}

impl Scene {
    pub fn generate(width: usize, height: usize, mm_per_px: f32, fps: f32, seed: u64, opts: &SceneOptions) -> Scene {
        let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x6e69_7266_6d61_7267);
        // The broad family draws from a stream of its own, so that the plain family's scenes stay as
        // they were for every seed.
        let mut rng2 = Pcg64Mcg::seed_from_u64(seed ^ 0x6272_6f61_645f_6661);
        let broad = opts.broad;
        let view_w = width as f32 * mm_per_px;
        let view_h = height as f32 * mm_per_px;
        let (drift, tremor_mm) = if opts.camera_motion {
            let speed = rng.random_range(0.3..1.2) / fps; // mm a frame
            let ang: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            ([speed * ang.cos(), speed * ang.sin()], rng.random_range(0.05..0.25))
        } else {
            ([0.0, 0.0], 0.0)
        };
        let mut placed: Vec<([f32; 2], f32)> = Vec::new();
        let mut rims = Vec::new();
        let n_rims = rng.random_range(opts.rim_lesions.clone());
        let max_d = (0.45 * view_h.min(view_w)).clamp(3.5, 30.0);
        let mut next_id = 1;
        for _ in 0..n_rims {
            for _attempt in 0..60 {
                let d = (rng.random_range(3.0f32.ln()..max_d.ln())).exp();
                let aspect: f32 = rng.random_range(0.65..1.0);
                // Equivalent diameter d with axes ratio `aspect`.
                let a = 0.5 * d / aspect.sqrt();
                let b = 0.5 * d * aspect.sqrt();
                let rim_mm = rng.random_range(0.5..4.0f32).min(0.6 * d);
                let shape = broad.then(|| {
                    let shape = RimShape::draw(&mut rng2);
                    let truth = shape.truth(a, b, rim_mm);
                    (shape, truth)
                });
                let r = shape.as_ref().map_or(a + rim_mm, |s| s.1.extent_mm);
                let margin = 0.5;
                if 2.0 * (r + margin) > view_w.min(view_h) {
                    continue;
                }
                let c = [rng.random_range(r + margin..view_w - r - margin), rng.random_range(r + margin..view_h - r - margin)];
                if overlaps(c, r, &placed, 2.0) {
                    continue;
                }
                placed.push((c, r));
                let mut lesion = RimLesion {
                    id: next_id,
                    center: c,
                    a,
                    b,
                    theta: rng.random_range(0.0..std::f32::consts::PI),
                    rim_mm,
                    tbr: (rng.random_range(1.5f32.ln()..6.0f32.ln())).exp(),
                    core_level: rng.random_range(0.15..0.6),
                    rim_wobble: rng.random_range(0.0..0.12),
                    phase: rng.random_range(0.0..std::f32::consts::TAU),
                    pallor: rng.random_range(0.1..0.45),
                    shape,
                    profile: RimProfile::EVEN,
                };
                if broad {
                    // By the time of surgery the liver has cleared most of its ICG: a core can be as
                    // bright as the liver around it. Rims from TBR 1.6.
                    lesion.core_level = rng2.random_range(0.3..1.05);
                    lesion.tbr = (rng2.random_range(1.6f32.ln()..6.0f32.ln())).exp();
                }
                rims.push(lesion);
                next_id += 1;
                break;
            }
        }
        if broad {
            // A stream of its own: the profiles leave every other draw of the scene as it was.
            let mut rng3 = Pcg64Mcg::seed_from_u64(seed ^ 0x7269_6d5f_7072_6f66);
            rims.iter_mut().for_each(|l| l.profile = RimProfile::draw(&mut rng3));
        }
        let mut diffuse = Vec::new();
        for _ in 0..rng.random_range(opts.diffuse_lesions.clone()) {
            for _attempt in 0..60 {
                // The broad family's glows reach a deeper lesion's breadth and a fainter TBR (the same draws).
                let (sigmas, tbrs) = if broad { (1.5..6.0f32, 1.5..3.0f32) } else { (1.5..3.5f32, 1.8..3.0f32) };
                let sigma_mm = rng.random_range(sigmas).min(0.12 * view_h);
                let r = 2.5 * sigma_mm;
                if 2.0 * r > view_w.min(view_h) {
                    break;
                }
                let c = [rng.random_range(r..view_w - r), rng.random_range(r..view_h - r)];
                if overlaps(c, r, &placed, 2.0) {
                    continue;
                }
                placed.push((c, r));
                diffuse.push(DiffuseLesion { id: next_id, center: c, sigma_mm, tbr: rng.random_range(tbrs) });
                next_id += 1;
                break;
            }
        }
        let mut ducts = Vec::new();
        for _ in 0..rng.random_range(opts.ducts.clone()) {
            for _attempt in 0..60 {
                let p = random_curve(&mut rng, 0.35..0.8, view_w, view_h);
                let duct = Duct { p, width_mm: rng.random_range(0.6..1.4), tbr: rng.random_range(2.0..4.0) };
                // Keep ducts clear of lesions so that the ground truth stays unambiguous.
                if curve_clear(&duct.p, duct.width_mm, &placed, 2.5) {
                    ducts.push(duct);
                    break;
                }
            }
        }
        let mut residuals = Vec::new();
        for _ in 0..rng.random_range(opts.residuals.clone()) {
            for _attempt in 0..60 {
                let arc = rng.random_bool(0.4);
                let radius_mm: f32 = if arc { rng.random_range(2.0..5.0) } else { rng.random_range(0.6..2.5) };
                let extent = radius_mm + 0.5;
                // Inside the central 60% of the view, with room for the camera's drift.
                let (x0, x1) = (0.25 * view_w + extent, 0.75 * view_w - extent);
                let (y0, y1) = (0.25 * view_h + extent, 0.75 * view_h - extent);
                if x1 <= x0 || y1 <= y0 {
                    break;
                }
                let c = [rng.random_range(x0..x1), rng.random_range(y0..y1)];
                if overlaps(c, extent, &placed, 1.5) {
                    continue;
                }
                placed.push((c, extent));
                let arc = arc.then(|| (rng.random_range(0.0..std::f32::consts::TAU), rng.random_range(1.2..3.0), rng.random_range(0.6..1.5)));
                residuals.push(Residual { center: c, radius_mm, arc, tbr: rng.random_range(1.8..4.0) });
                break;
            }
        }
        let glints = (0..rng.random_range(opts.glints.clone())).map(|_| Glint::draw(&mut rng, width, height, 1.5..6.0, 0.4..1.0)).collect();
        let background_counts = rng.random_range(350.0..900.0);
        let corner_level = rng.random_range(0.45..0.75);
        let falloff_center = [rng.random_range(-0.1..0.1), rng.random_range(-0.1..0.1)];
        let scatter_mm = rng.random_range(0.06..0.16);
        let texture_seed = rng.random();
        let mut homogeneous = Vec::new();
        for _ in 0..rng.random_range(opts.homogeneous.clone()) {
            for _attempt in 0..60 {
                let d = (rng.random_range(3.0f32.ln()..(0.3 * view_h.min(view_w)).clamp(3.5, 15.0).ln())).exp();
                let aspect: f32 = rng.random_range(0.7..1.0);
                let (a, b) = (0.5 * d / aspect.sqrt(), 0.5 * d * aspect.sqrt());
                let margin = 1.0;
                if 2.0 * (a + margin) > view_w.min(view_h) {
                    continue;
                }
                let c = [rng.random_range(a + margin..view_w - a - margin), rng.random_range(a + margin..view_h - a - margin)];
                if overlaps(c, a, &placed, 2.0) {
                    continue;
                }
                placed.push((c, a));
                homogeneous.push(HomogeneousLesion {
                    id: next_id,
                    center: c,
                    a,
                    b,
                    theta: rng.random_range(0.0..std::f32::consts::PI),
                    tbr: (rng.random_range(1.6f32.ln()..4.0f32.ln())).exp(),
                });
                next_id += 1;
                break;
            }
        }
        let (variation, veins, shafts, blobs, nir_glints) = if broad {
            let mut variation = Variation::draw(&mut rng2);
            // The texture's law from the texture seed's own top bit, so that no other draw of the
            // family moves: half the scenes symmetric, half skewed to bright grains.
            variation.skewed = texture_seed >> 31 == 1u32;
            variation.lobular = opts.lobular;
            // Gain up to saturating the bright rims, not the liver: the background stays under half
            // of the sensor's range (a rim of TBR 2 or more then clips).
            variation.gain = variation.gain.min(MAX_BACKGROUND_COUNTS / background_counts).max(1.0);
            let blobs = touching_blobs(&rims, &mut rng2);
            let veins = (0..rng2.random_range(0..=2)).filter_map(|_| {
                (0..40).find_map(|_| {
                    let p = random_curve(&mut rng2, 0.3..0.8, view_w, view_h);
                    let vein = Vein { p, width_mm: rng2.random_range(0.5..2.0), depth: rng2.random_range(0.3..0.6) };
                    curve_clear(&vein.p, vein.width_mm, &placed, 2.0).then_some(vein)
                })
            });
            let veins: Vec<Vein> = veins.collect();
            let shafts: Vec<Shaft> = rng2
                .random_bool(0.3)
                .then(|| {
                    (0..40).find_map(|_| {
                        let width_mm = rng2.random_range(4.0..8.0f32);
                        let ang: f32 = rng2.random_range(0.0..std::f32::consts::TAU);
                        let tip = [rng2.random_range(0.2..0.8) * view_w, rng2.random_range(0.2..0.8) * view_h];
                        let reach = 2.0 * (view_w + view_h);
                        let from = [tip[0] + reach * ang.cos(), tip[1] + reach * ang.sin()];
                        let shaft = Shaft { from, tip, width_mm };
                        let clear = (0..=200).all(|k| {
                            let t = k as f32 / 200.0;
                            let q = [tip[0] + (from[0] - tip[0]) * t, tip[1] + (from[1] - tip[1]) * t];
                            !overlaps(q, 0.5 * width_mm, &placed, 2.0)
                        });
                        clear.then_some(shaft)
                    })
                })
                .flatten()
                .into_iter()
                .collect();
            // NIR-only glints from a speck to 8 px across the clipped core, with the soft skirt of optics and
            // blur (an independent phantom set's soft, larger glints were called spots and lesions).
            let nir_glints = (0..rng2.random_range(0..=4)).map(|_| Glint::draw(&mut rng2, width, height, 1.0..8.0, 0.5..1.0)).collect();
            (variation, veins, shafts, blobs, nir_glints)
        } else {
            Default::default()
        };
        Scene {
            width,
            height,
            mm_per_px,
            fps,
            seed,
            rims,
            diffuse,
            ducts,
            glints,
            residuals,
            homogeneous,
            origin: [0.0, 0.0],
            drift,
            tremor_mm,
            background_counts,
            corner_level,
            falloff_center,
            scatter_mm,
            texture_seed,
            nir_noise_gain: opts.nir_noise_gain,
            variation,
            veins,
            shafts,
            blobs,
            nir_glints,
        }
    }

    /// View origin in world mm at `frame`: drift plus a slow tremor.
    pub fn camera(&self, frame: u32) -> [f32; 2] {
        let f = frame as f32;
        let t = f / self.fps.max(1.0);
        [
            self.origin[0] + self.drift[0] * f + self.tremor_mm * (t * 2.1).sin(),
            self.origin[1] + self.drift[1] * f + self.tremor_mm * (t * 1.7 + 1.0).cos(),
        ]
    }
}

impl Glint {
    /// A glint anywhere in a `width`×`height` view, drifting up to 0.8 px a frame, of radius `radius` px
    /// and the ratio of its axes in `aspect`.
    fn draw(rng: &mut impl Rng, width: usize, height: usize, radius: std::ops::Range<f32>, aspect: std::ops::Range<f32>) -> Glint {
        let r = rng.random_range(radius);
        Glint {
            pos: [rng.random_range(0.0..width as f32), rng.random_range(0.0..height as f32)],
            vel: [rng.random_range(-0.8..0.8), rng.random_range(-0.8..0.8)],
            radius_px: [r, r * rng.random_range(aspect)],
        }
    }
}

/// A gently bent curve (a duct or a vein) anywhere in the view: a quadratic Bézier curve whose length is
/// `len` of the view's larger side, bent by up to 30% of its length.
fn random_curve(rng: &mut impl Rng, len: std::ops::Range<f32>, view_w: f32, view_h: f32) -> [[f32; 2]; 3] {
    let len = rng.random_range(len) * view_w.max(view_h);
    let ang: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let p0 = [rng.random_range(0.0..view_w), rng.random_range(0.0..view_h)];
    let p2 = [p0[0] + len * ang.cos(), p0[1] + len * ang.sin()];
    let bend = rng.random_range(-0.3..0.3) * len;
    let mid = [(p0[0] + p2[0]) * 0.5 - bend * ang.sin(), (p0[1] + p2[1]) * 0.5 + bend * ang.cos()];
    [p0, mid, p2]
}

/// Is a curve of `width` mm clear (by `gap` mm) of everything placed, at 49 points along it?
fn curve_clear(p: &[[f32; 2]; 3], width: f32, placed: &[([f32; 2], f32)], gap: f32) -> bool {
    (0..=48).all(|k| !overlaps(bezier(p, k as f32 / 48.0), width, placed, gap))
}

/// Point at `t` of a quadratic Bézier curve.
pub fn bezier(p: &[[f32; 2]; 3], t: f32) -> [f32; 2] {
    let u = 1.0 - t;
    let [a, b, c] = *p;
    [u * u * a[0] + 2.0 * u * t * b[0] + t * t * c[0], u * u * a[1] + 2.0 * u * t * b[1] + t * t * c[1]]
}

/// Blobs touching about a third of the broad family's rims from outside: each intrudes into the rim by
/// at most half its local thickness (never into the core), away from the rim's gap.
fn touching_blobs(rims: &[RimLesion], rng: &mut impl Rng) -> Vec<Blob> {
    let mut blobs = Vec::new();
    for l in rims {
        let Some((shape, _)) = &l.shape else { continue };
        if !rng.random_bool(0.3) {
            continue;
        }
        let phi: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        if shape.in_gap(phi) || shape.in_gap(phi + 0.3) || shape.in_gap(phi - 0.3) {
            continue;
        }
        let radius_mm = rng.random_range(0.8..2.0f32);
        let t = shape.thickness(l.rim_mm, phi);
        let r = shape.core_radius(l.a, l.b, phi) + t + radius_mm - (0.5 * t).min(0.3 * radius_mm);
        let (c, s) = (l.theta.cos(), l.theta.sin());
        let (qx, qy) = (r * phi.cos(), r * phi.sin());
        blobs.push(Blob { center: [l.center[0] + c * qx - s * qy, l.center[1] + s * qx + c * qy], radius_mm, tbr: rng.random_range(1.5..3.0) });
    }
    blobs
}

/// Unsigned distance from a point (in the ellipse's frame) to the ellipse with semi-axes a, b.
/// Trig-free fixed-point iteration on the closest point; accurate to ~1e-4 of the axes.
pub fn ellipse_distance(px: f32, py: f32, a: f32, b: f32) -> f32 {
    let (px, py) = (px.abs(), py.abs());
    let (mut tx, mut ty) = (std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2);
    for _ in 0..4 {
        let (x, y) = (a * tx, b * ty);
        let ex = (a * a - b * b) * tx * tx * tx / a;
        let ey = (b * b - a * a) * ty * ty * ty / b;
        let (rx, ry) = (x - ex, y - ey);
        let (qx, qy) = (px - ex, py - ey);
        let r = rx.hypot(ry);
        let q = qx.hypot(qy).max(1e-9);
        tx = ((qx * r / q + ex) / a).clamp(0.0, 1.0);
        ty = ((qy * r / q + ey) / b).clamp(0.0, 1.0);
        let t = tx.hypot(ty).max(1e-9);
        tx /= t;
        ty /= t;
    }
    (px - a * tx).hypot(py - b * ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipse_distance_matches_dense_sampling() {
        let (a, b) = (5.0, 2.5);
        for &(x, y) in &[(7.0, 0.3), (0.2, 4.0), (3.0, 3.0), (1.0, 0.5), (-6.0, -1.0)] {
            let best = (0..20000)
                .map(|k| {
                    let t = k as f32 / 20000.0 * std::f32::consts::TAU;
                    ((x - a * t.cos()).powi(2) + (y - b * t.sin()).powi(2)).sqrt()
                })
                .fold(f32::INFINITY, f32::min);
            let got = ellipse_distance(x, y, a, b);
            assert!((got - best).abs() < 2e-3, "({x},{y}): {got} vs {best}");
        }
    }
}
