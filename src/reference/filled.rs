//! Cores that scatter, haze or blur filled. A small core inside a bright rim takes light from it: NIR
//! scattered in the liver (a halo 1–2 mm wide), a veil of haze and motion blur all lift the core, and a
//! core that cleared no more ICG than the liver (core level near 1× the background) then stands above
//! the fluorescence level: the mask is solid, no non-fluorescent region is enclosed, and the lesion would
//! read as a homogeneous one. Yet the ratio still encloses the core: seen as a relief, it is a basin of
//! the fluorescent region (`basins`). The enclosure by brighter fluorescence is the signature, not the
//! darkness; so here, within each fluorescent component large enough to hold a core (and whose box holds
//! no core the mask shows), a basin is a core
//! when it is significant against the frame's texture (its water `filled_core_sigmas` noise sigmas deep
//! over a core's area) and deep against its own rim (its floor at least `MIN_DEPTH_SHARE` of the way
//! down from its spill level to the background's mode: a dip of liver texture inside a homogeneous
//! lesion goes a fraction of the way). The core is the basin's pixels below the half level between its
//! floor and its spill level (4-connected to its lowest pixel); it must be round. It is carved out of the
//! fluorescence (mask 0, no fluorescent label) and made a non-fluorescent component of its own flagged
//! `FLAG_FILLED`, so that the core rules (`regions::select_cores`) and every later stage treat it as any
//! core; its edge is then located direction by direction (`edges`). CPU only so far: the GPU backend has
//! no twin of this stage yet (`AnalysisParams::cpu_only_stages`).

use crate::analysis::FluoLevel;
use crate::frame::Plane;
use crate::params::AnalysisParams;
use super::basins;
use super::regions::{FLAG_FILLED, RegionTable, core_boxes, holds_core, is_core, min_core_area_px, split_off};

/// A filled core's floor lies at least this share of the way down from its spill level to the
/// background's mode.
pub const MIN_DEPTH_SHARE: f32 = 0.5;

/// A filled core is round at least this much (4π area / perimeter²; a disc about 0.9 with the pixel
/// edges' perimeter, lobulated cores 0.5–0.8; a texture dip between grains is ragged).
const MIN_COMPACTNESS: f32 = 0.5;

/// Carves the filled cores out of the fluorescence (see the module's doc). Returns how many.
#[allow(clippy::too_many_arguments)]
pub fn carve_filled_cores(
    fluo: &mut Plane<u8>,
    fluo_labels: &mut Plane<u32>,
    fl: &mut RegionTable,
    bg_labels: &mut Plane<u32>,
    bg: &mut RegionTable,
    ratio: &Plane<f32>,
    level: &FluoLevel,
    p: &AnalysisParams,
) -> usize {
    if p.filled_core_sigmas <= 0.0 || level.noise <= 0.0 {
        return 0; // off, or no measure of the texture to be significant against
    }
    let (w, h) = (fluo.width, fluo.height);
    let min_area = min_core_area_px(p);
    // A basin within a cell or two of the component's edge still lies inside the box.
    let margin = (2.0 * p.mm_to_px(basins::CELL_MM)).ceil() as usize + 2;
    // A component whose box holds a core the mask shows is that core's rim (its basin is that core): the
    // common frame's rims pay nothing for the relief.
    let cores = core_boxes(bg, w * h, p);
    let mut carved = 0;
    // Membership of the basin's pixels being carved: a frame's worth, all false between basins.
    let mut seen: Vec<bool> = Vec::new();
    for r in 0..fl.labels.len() {
        let (b, label) = (fl.bbox[r], fl.labels[r]);
        if !holds_core(b, fl.area[r] as f32, p) || cores.iter().any(|c| b.contains(c)) {
            continue;
        }
        let found = basins::significant_basins(ratio, b.expand(margin, w, h), p.filled_core_sigmas, level, p);
        for basin in &found.basins {
            if basin.spill - basin.floor < MIN_DEPTH_SHARE * (basin.spill - level.mode) {
                continue;
            }
            let half = 0.5 * (basin.spill + basin.floor);
            let mut in_lake = vec![false; found.width * found.height];
            basin.lake.iter().for_each(|&c| in_lake[c] = true);
            let lake_cell = |i: usize| found.cell_of(i % w, i / w).is_some_and(|c| in_lake[c]);
            // The basin's lowest pixel, then its pixels below the half level, 4-connected to it.
            let Some(seed) = basin
                .lake
                .iter()
                .flat_map(|&c| {
                    let (cx, cy) = (found.x0 + (c % found.width) * found.cell, found.y0 + (c / found.width) * found.cell);
                    (cy..(cy + found.cell).min(h)).flat_map(move |y| (cx..(cx + found.cell).min(w)).map(move |x| y * w + x))
                })
                .min_by(|&i, &j| ratio.data[i].total_cmp(&ratio.data[j]))
            else {
                continue;
            };
            if ratio.data[seed] >= half {
                continue;
            }
            seen.resize(w * h, false);
            let region = crate::raster::flood(seed, w, h, |j| ratio.data[j] < half && lake_cell(j), &mut seen);
            // Round: 4π area / perimeter², the perimeter from the region's pixel edges.
            let member = |i: usize| seen[i];
            let edges: usize = region
                .iter()
                .map(|&i| {
                    let (x, y) = (i % w, i / w);
                    [x == 0 || !member(i - 1), x + 1 == w || !member(i + 1), y == 0 || !member(i - w), y + 1 == h || !member(i + w)]
                        .iter()
                        .filter(|&&e| e)
                        .count()
                })
                .sum();
            region.iter().for_each(|&i| seen[i] = false);
            let perimeter = edges as f32 * std::f32::consts::FRAC_PI_4;
            let round = 4.0 * std::f32::consts::PI * region.len() as f32 / (perimeter * perimeter).max(1.0) >= MIN_COMPACTNESS;
            if (region.len() as f32) < min_area || !round || !carvable(&region, label, fluo, fluo_labels, bg_labels, bg, b, w * h, p) {
                continue;
            }
            for &i in &region {
                if fluo_labels.data[i] == label {
                    fluo.data[i] = 0;
                    fluo_labels.data[i] = 0;
                    fl.area[r] = fl.area[r].saturating_sub(1);
                }
            }
            split_off(&region, FLAG_FILLED, bg_labels, bg, ratio);
            carved += 1;
        }
    }
    carved
}

/// Is `region` a core filled inside component `label` (box `b`): that component's fluorescence and
/// non-fluorescent pockets inside its box that are no core already (a hole the mask shows, too small
/// or too bright for a core: under texture the fluorescence level rises above `core_max_ratio`), and
/// nothing of another fluorescent component?
#[allow(clippy::too_many_arguments)]
fn carvable(
    region: &[usize],
    label: u32,
    fluo: &Plane<u8>,
    fluo_labels: &Plane<u32>,
    bg_labels: &Plane<u32>,
    bg: &RegionTable,
    b: crate::raster::rect::Rect,
    n_pixels: usize,
    p: &AnalysisParams,
) -> bool {
    for &i in region {
        if fluo.data[i] != 0 {
            if fluo_labels.data[i] != label {
                return false;
            }
        } else {
            let r = bg.index(bg_labels.data[i]);
            if is_core(bg, r, n_pixels, p) || !b.contains(&bg.bbox[r]) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::components::{Connectivity, label_components};
    use crate::reference::regions::{region_stats, select_cores};

    /// A frame at background 1.0 with a disc of `core` inside a ring at `rim` (radius 12 and 20 px at
    /// 0.1 mm/px), thresholded at 1.3; its tables after labelling.
    fn ring(core: f32, rim: f32, noise: f32) -> (Plane<u8>, Plane<u32>, RegionTable, Plane<u32>, RegionTable, Plane<f32>, FluoLevel, AnalysisParams) {
        let (w, h) = (120usize, 100usize);
        let mut ratio = Plane::<f32>::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let r = (x as f32 + 0.5 - 60.0).hypot(y as f32 + 0.5 - 50.0);
                ratio.data[y * w + x] = if r < 12.0 { core } else if r < 20.0 { rim } else { 1.0 };
            }
        }
        let p = AnalysisParams { mm_per_px: 0.1, ..AnalysisParams::default() };
        let level = FluoLevel { level: 1.3, mode: 1.0, noise, edge_noise: 0.0 };
        let fluo = Plane { width: w, height: h, data: ratio.data.iter().map(|&v| (v >= level.level) as u8).collect() };
        let (mut parent, mut parent_fl) = (Vec::new(), Vec::new());
        let (mut bg_labels, mut fl_labels) = (Plane::new(w, h), Plane::new(w, h));
        let bgc = label_components(&fluo, 0, Connectivity::Four, &mut parent, &mut bg_labels);
        let flc = label_components(&fluo, 1, Connectivity::Eight, &mut parent_fl, &mut fl_labels);
        let (mut bg, mut fl) = (RegionTable::default(), RegionTable::default());
        region_stats(&bg_labels, &bgc, &fl_labels, &flc, &fluo, &ratio, &p, 0.0, &mut bg, &mut fl);
        (fluo, fl_labels, fl, bg_labels, bg, ratio, level, p)
    }

    fn cores_after_carving(core: f32, rim: f32, noise: f32) -> (usize, Vec<u32>, Plane<u32>) {
        let (mut fluo, mut fl_labels, mut fl, mut bg_labels, mut bg, ratio, level, p) = ring(core, rim, noise);
        let carved = carve_filled_cores(&mut fluo, &mut fl_labels, &mut fl, &mut bg_labels, &mut bg, &ratio, &level, &p);
        let (mut seeds, mut boxes) = (Plane::new(0, 0), Vec::new());
        let cores = select_cores(&bg_labels, &mut bg, &p, &mut seeds, &mut boxes);
        (carved, cores, seeds)
    }

    /// A core lifted to 1.7 by scatter inside a rim at 3.0 is above the level, so the mask is solid; it
    /// is carved out and becomes the lesion's core, at its true size (the half level between floor and
    /// rim falls on the core's edge).
    #[test]
    fn a_core_filled_above_the_level_is_carved_out() {
        let (carved, cores, seeds) = cores_after_carving(1.7, 3.0, 0.05);
        assert_eq!((carved, cores.len()), (1, 1));
        let area = seeds.data.iter().filter(|&&s| s != 0).count() as f32;
        let truth = std::f32::consts::PI * 12.0 * 12.0;
        assert!((area - truth).abs() < 0.05 * truth, "core area {area} px against {truth}");
        assert_ne!(seeds.data[50 * 120 + 60], 0, "the core's centre is core");
    }

    /// A dip too shallow against its rim (2.6 in 3.0: a tenth of the way to the background, as liver
    /// texture dims a homogeneous lesion), or not significant against the frame's texture (noise 0.3:
    /// 0.6 deep is 2 sigmas), is carved from nothing; nor is a core the mask already shows (0.8).
    #[test]
    fn shallow_or_insignificant_dips_and_open_cores_are_left() {
        assert_eq!(cores_after_carving(2.6, 3.0, 0.05).0, 0, "shallow against the rim");
        assert_eq!(cores_after_carving(1.5, 2.1, 0.3).0, 0, "not significant against the texture");
        let (carved, cores, _) = cores_after_carving(0.8, 3.0, 0.05);
        assert_eq!((carved, cores.len()), (0, 1), "a dark core is found as before, not carved");
    }
}
