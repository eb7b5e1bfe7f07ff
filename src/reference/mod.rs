//! The CPU reference of the per-frame analysis: plain, readable Rust, one file per GPU shader with the
//! same name. The same stages and the same results (tests/gpu_vs_cpu.rs), but not always the same
//! algorithm: normalize, threshold, regions and composite follow their shaders closely; morphology
//! (bit-packed), components (run union rather than block union-find), distance and reduce (worked in
//! rectangles around the cores) are written for a CPU; the threshold's hysteresis
//! (`threshold::keep_strong`: run union-find here, the block labelling's passes on the GPU) has its
//! twin, and these stages have none yet: `enclosure` (rims with a gap, with `basins`: the ratio's
//! enclosed dark basins, which tell the arcs of a texture-broken rim apart), `filled` (cores that
//! scatter lifted above the level), `blobs` (coreless lesions cut from a touching duct), `shape` (arcs
//! and strips are no homogeneous lesions; a homogeneous lesion's edge judged at half its height), `texture` (coreless lesions and small rim cores judged
//! against the frame's own grains, rim cores against its crowd of holes), `glow` (deep lesions found on the median-filtered ratio), `occluders` (what an instrument's shaft hides is not in view: the cores it cuts off and the lesions it touches are partial), `edges` (the core's edge direction by direction, with the rim's thickness by sector in `reduce::subpixel`), the rim as the fluorescence touching
//! its core (in `reduce`) and the largest cores kept where the table overflows (in `regions`); see
//! `AnalysisParams::cpu_only_stages`. The class map shows the reported lesions' cores only (`class_map`). It is the
//! oracle the GPU backend is tested against and the fallback where no GPU adapter exists. Owns the
//! per-frame maps between `segment` and `composite`; knows nothing of GStreamer, files or the CLI.
//!
//! Stages: normalize → threshold → morphology → components → regions (with the cores an occluder cuts off,
//! `occluders`) → enclosure → distance → reduce
//! (blobs, shape and texture within it: arcs and strips are no homogeneous lesions, nor grains of the
//! frame's texture; the rim's coverage by direction, `reduce::coverage_by_direction`; the core's edges
//! direction by direction after it, `edges`; then the texture's
//! pockets dropped and the deep glows found, `glow`; the lesions an occluder touches made partial) → composite. The distance stage's twin of `shaders/distance.wgsl` and the
//! rectangles the stages work in are `crate::raster` (`raster::distance`, `raster::rect`), a layer
//! below, since the overlay's outlines use the same transform.

pub mod basins;
pub mod blobs;
pub mod components;
pub mod composite;
pub mod edges;
pub mod enclosure;
pub mod filled;
pub mod glow;
pub mod morphology;
pub mod normalize;
pub mod occluders;
pub mod reduce;
pub mod regions;
pub mod scale_texture;
pub mod shape;
pub mod texture;
pub mod threshold;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::analysis::{Analyzer, Cancel, Composite, FluoLevel, LesionStyle, MAX_CORES, MAX_DIFFUSE, PixelMaps, Segmentation, StageTimings, class};
use crate::frame::{NirView, Plane, RgbView, check_pair};
use crate::params::AnalysisParams;
use crate::raster::distance::{LabeledDistance, distance_transform};
use crate::raster::rect::Rect;
use components::{Connectivity, label_components};

/// The per-pixel maps of one frame, kept between `segment` and `composite` and reused across frames.
#[derive(Default)]
pub struct FrameMaps {
    /// Shared with `pixel_maps`' callers; written in place when they have let go (else copied first).
    pub ratio: Arc<Plane<f32>>,
    pub fluo: Arc<Plane<u8>>,
    pub bg_labels: Plane<u32>,
    /// Shared with `fluo_labels`' callers, as `ratio` and `fluo` with `pixel_maps`'.
    pub fluo_labels: Arc<Plane<u32>>,
    pub seeds: Plane<u32>,
    /// Boxes of this frame's cores (where `seeds` is non-zero).
    pub seed_boxes: Vec<Rect>,
    /// The fluorescent components that touch a core (`reduce::rim_labels`), when only they are rim.
    pub rim_labels: Option<Vec<u32>>,
    /// The labels (ascending) of the cores whose lesions were reported: a core the texture stages
    /// dropped (a pocket) keeps its seed for the distance field, but is no core in the class map.
    pub reported_cores: Vec<u32>,
    /// Where each core's rim lies direction by direction (`edges::RimSpans`, by core label, ascending),
    /// when the edges stage is on: the class map's rim and core follow them.
    pub rim_spans: Vec<(u32, edges::RimSpans)>,
    pub distance: LabeledDistance,
    pub bg_table: regions::RegionTable,
    pub fluo_table: regions::RegionTable,
    morph: morphology::MorphScratch,
    /// The buffer of `scale_texture::ScaleTexture`'s summed-area table, kept between frames.
    texture_sums: Vec<u32>,
    parent: Vec<u32>,
    parent_fl: Vec<u32>,
}

impl FrameMaps {
    /// The maps `reduce` reads.
    fn reduce_maps(&self) -> reduce::Maps<'_> {
        reduce::Maps {
            ratio: &self.ratio,
            fluo: &self.fluo,
            seeds: &self.seeds,
            dist: &self.distance.dist,
            nearest: &self.distance.nearest,
            bg_labels: &self.bg_labels,
            fluo_labels: &self.fluo_labels,
            rects: &self.distance.rects,
            rim_labels: self.rim_labels.as_deref(),
        }
    }
}

pub struct CpuAnalyzer {
    params: AnalysisParams,
    maps: FrameMaps,
    want_classes: bool,
    /// Checked between the stages of `segment` (`Analyzer::set_cancel`).
    cancel: Option<Cancel>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl CpuAnalyzer {
    pub fn new(params: AnalysisParams) -> Result<Self> {
        params.validate()?;
        Ok(Self { params, maps: FrameMaps::default(), want_classes: false, cancel: None })
    }

    pub fn params(&self) -> &AnalysisParams {
        &self.params
    }

    /// The maps of the last segmented frame (for tests and the GPU comparison).
    pub fn maps(&self) -> &FrameMaps {
        &self.maps
    }
}

impl Analyzer for CpuAnalyzer {
    fn describe(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn set_cancel(&mut self, cancel: Option<Cancel>) {
        self.cancel = cancel;
    }

    fn segment(&mut self, wl: RgbView<'_>, nir: NirView<'_>, want_classes: bool) -> Result<Segmentation> {
        in_pool(|| self.segment_in_pool(wl, nir, want_classes))
    }

    fn composite(&mut self, wl: RgbView<'_>, styles: &[LesionStyle]) -> Result<Composite> {
        in_pool(|| self.composite_in_pool(wl, styles))
    }

    fn pixel_maps(&mut self) -> Result<PixelMaps> {
        Ok((self.maps.ratio.clone(), self.maps.fluo.clone()))
    }

    fn fluo_labels(&mut self) -> Result<Arc<Plane<u32>>> {
        Ok(self.maps.fluo_labels.clone())
    }
}

/// Runs `work` on a thread of rayon's pool (at once where the caller is one). The stages hand dozens of
/// parallel loops a frame to the pool: from a thread outside it each one is sent in and waited for
/// (the caller and an idle worker put to sleep and woken each time: at 1080p about a millisecond a
/// frame went to the scheduler), from a worker it is run there, the other worker helping.
fn in_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

impl CpuAnalyzer {
    fn segment_in_pool(&mut self, wl: RgbView<'_>, nir: NirView<'_>, want_classes: bool) -> Result<Segmentation> {
        check_pair(wl, nir)?;
        // Called off between stages: the maps are left half made, and the next frame remakes them.
        let cancel = self.cancel.clone().unwrap_or_default();
        let p = &self.params;
        let m = &mut self.maps;
        let mut timings = StageTimings::default();

        let t = Instant::now();
        let block = p.background_block_px as usize;
        let medians = normalize::block_medians(nir, block);
        let model = normalize::fit_background(&medians, block, nir.width, nir.height);
        let tallies = normalize::normalize_and_count(nir, &model, Arc::make_mut(&mut m.ratio), glow::block_px(p));
        timings.push("normalize", ms(t));
        cancel.check()?;

        let t = Instant::now();
        let level = threshold::fluo_level(&tallies.histogram, p);
        let fluo = Arc::make_mut(&mut m.fluo);
        let low = threshold::low_level(&level, p);
        threshold::threshold(&m.ratio, wl, low, p.glint_level, fluo);
        if low < level.level {
            threshold::keep_strong(&m.ratio, level.level, fluo, &mut m.parent);
        }
        morphology::clean_mask(fluo, &mut m.morph);
        // The edge tests judged above the frame's own gradient noise (CPU only, with the plateau test).
        let level = if p.plateau_edge_mm > 0.0 { FluoLevel { edge_noise: shape::edge_noise(&m.ratio, &m.fluo), ..level } } else { level };
        timings.push("threshold", ms(t));
        cancel.check()?;

        let t = Instant::now();
        let (bg_components, fl_components) = rayon::join(
            || label_components(&m.fluo, 0, Connectivity::Four, &mut m.parent, &mut m.bg_labels),
            || label_components(&m.fluo, 1, Connectivity::Eight, &mut m.parent_fl, Arc::make_mut(&mut m.fluo_labels)),
        );
        regions::region_stats(&m.bg_labels, &bg_components, &m.fluo_labels, &fl_components, &m.fluo, &m.ratio, p, level.edge_noise, &mut m.bg_table, &mut m.fluo_table);
        let occluders = occluders::Occluders::find(&m.ratio, wl, p);
        if let Some(o) = &occluders {
            occluders::split_cores(o, &mut m.bg_labels, &mut m.bg_table, &m.ratio, p);
        }
        enclosure::split_gapped_cores(&m.fluo, &m.fluo_labels, &m.fluo_table, &mut m.bg_labels, &mut m.bg_table, &m.ratio, &level, p);
        filled::carve_filled_cores(Arc::make_mut(&mut m.fluo), Arc::make_mut(&mut m.fluo_labels), &mut m.fluo_table, &mut m.bg_labels, &mut m.bg_table, &m.ratio, &level, p);
        let cores = regions::select_cores(&m.bg_labels, &mut m.bg_table, p, &mut m.seeds, &mut m.seed_boxes);
        timings.push("components", ms(t));
        cancel.check()?;

        let t = Instant::now();
        distance_transform(&m.seeds, &m.seed_boxes, p.distance_bound_px(), &mut m.distance);
        timings.push("distance", ms(t));
        cancel.check()?;

        let t = Instant::now();
        let mut fluo_table = std::mem::take(&mut m.fluo_table);
        reduce::mark_rims(&m.reduce_maps(), &m.seed_boxes, &mut fluo_table);
        m.rim_labels = p.rim_touches_core.then(|| reduce::rim_labels(&fluo_table));
        m.fluo_table = fluo_table;
        blobs::split_blobs(Arc::make_mut(&mut m.fluo_labels), &mut m.fluo_table, &m.ratio, p, level.edge_noise);
        shape::flag_shapeless(&m.fluo_labels, &mut m.fluo_table, p);
        shape::flag_sharp_plateaus(&m.fluo_labels, &mut m.fluo_table, &m.ratio, &level, p);
        // The texture's and the glow's tests are timed apart from `reduce` (`texture`, `glow`).
        let tt = Instant::now();
        let grains = texture::Grains::of(&m.fluo_labels, &m.fluo_table, &m.ratio, &level, p);
        let scale_texture = (p.texture_alpha > 0.0).then(|| {
            let reach = p.mm_to_px(p.rim_search_mm).ceil() as usize;
            let lesions = cores.iter().map(|&l| m.bg_table.bbox[m.bg_table.index(l)].expand(reach, wl.width, wl.height)).collect();
            scale_texture::ScaleTexture::of(&m.ratio, lesions, std::mem::take(&mut m.texture_sums))
        });
        texture::flag_texture(&grains, scale_texture.as_ref(), &mut m.fluo_table, p);
        let mut texture_ms = ms(tt);
        let maps = m.reduce_maps();
        // More lesions than the table holds: the first by label were kept (as on the GPU); say so.
        let n = wl.width * wl.height;
        let truncated = (0..m.bg_table.labels.len()).filter(|&r| regions::is_core(&m.bg_table, r, n, p)).count() > MAX_CORES
            || (0..m.fluo_table.labels.len()).filter(|&r| reduce::coreless_kind(&m.fluo_table, r, p).is_some()).count() > MAX_DIFFUSE;
        let (mut lesions, core_hists) = reduce::lesion_stats(&maps, &cores, &m.bg_table, &m.fluo_table, p);
        let core_boxes: Vec<Rect> = cores.iter().map(|&l| m.bg_table.bbox[m.bg_table.index(l)]).collect();
        reduce::coverage_by_direction(&m.ratio, &m.seeds, &m.fluo, level.mode, &core_boxes, occluders.as_ref(), &mut lesions[..cores.len()], p);
        let levels: Vec<reduce::Levels> = cores.iter().enumerate().map(|(s, _)| reduce::boundary_level(&lesions[s], &core_hists[s])).collect();
        cancel.check()?;
        // The core's edge direction by direction where the stage is on (else one level a core); timed
        // apart from `reduce`.
        let te = Instant::now();
        let by_direction = if p.core_edge_rise_sigmas > 0.0 {
            let queries: Vec<edges::CoreEdgeQuery> =
                cores.iter().zip(&lesions).zip(&levels).map(|((&label, st), lv)| edges::query(label, m.bg_table.bbox[m.bg_table.index(label)], st, lv)).collect();
            let edge_maps = edges::EdgeMaps { ratio: &m.ratio, seeds: &m.seeds, nearest: &m.distance.nearest, dist: &m.distance.dist, background: level.mode };
            edges::core_edges(&edge_maps, &queries, p.core_edge_rise_sigmas * level.noise)
        } else {
            vec![edges::CoreEdges::default(); cores.len()]
        };
        let edges_ms = ms(te);
        // Where the edges are located direction by direction, so is the rim's thickness.
        // The outer edge's pixels sample it only for the cores whose directions read too few thicknesses.
        let centres: Option<Vec<Option<[f32; 2]>>> = (p.core_edge_rise_sigmas > 0.0)
            .then(|| lesions[..cores.len()].iter().zip(&by_direction).map(|(l, e)| (e.thickness.len() < edges::MIN_THICKNESS_DIRECTIONS).then(|| l.centroid())).collect());
        let subpixel = reduce::subpixel(&maps, &cores, &levels, &m.bg_table, centres.as_deref(), p);
        m.rim_spans.clear();
        for ((st, (area, by_pixel)), direct) in lesions.iter_mut().zip(subpixel).zip(by_direction) {
            st.core_area_subpx = direct.area.unwrap_or(area);
            if !direct.spans.spans.is_empty() {
                m.rim_spans.push((st.label, direct.spans));
            }
            // The thickness from the edges direction by direction where enough directions read one,
            // else from the outer edge's pixels refined to its level (either replaces the threshold's).
            st.thickness_hist = if direct.thickness.len() >= edges::MIN_THICKNESS_DIRECTIONS {
                let mut hist = vec![0u32; crate::analysis::THICKNESS_BINS];
                direct.thickness.iter().for_each(|&t| hist[reduce::thickness_bin(t)] += 1);
                hist
            } else {
                by_pixel
            };
        }
        shape::trim_to_plateau(&m.fluo_labels, &m.fluo_table, &m.ratio, &level, &mut lesions, p);
        reduce::drop_dim_rings(&mut lesions, p);
        let tt = Instant::now();
        texture::drop_texture_pockets(&grains, &mut lesions, &level, p);
        let holes = texture::Holes::of(&m.bg_labels, &m.bg_table, &m.fluo, &m.ratio, &level, p);
        texture::drop_pocket_crowds(&holes, &m.bg_labels, &mut lesions, p);
        if let Some(scale) = &scale_texture {
            texture::drop_faint_rings(scale, &m.bg_table, &mut lesions, p);
        }
        texture_ms += ms(tt);
        let tg = Instant::now();
        glow::find_glows(&m.ratio, tallies.block_means.as_ref(), &level, scale_texture.as_ref(), &mut lesions, p);
        let glow_ms = ms(tg);
        if let Some(o) = &occluders {
            occluders::mark_partial(o, &m.bg_labels, &m.fluo_labels, &m.distance.nearest, &m.distance.dist, &mut lesions, p);
        }
        if let Some(scale) = scale_texture {
            m.texture_sums = scale.into_buffer();
        }
        m.reported_cores = cores.iter().copied().filter(|&l| lesions.iter().any(|st| st.label == l)).collect();
        timings.push("reduce", ms(t) - edges_ms - texture_ms - glow_ms);
        timings.push("edges", edges_ms);
        timings.push("texture", texture_ms);
        timings.push("glow", glow_ms);

        self.want_classes = want_classes;
        Ok(Segmentation { lesions, truncated, background: level, timings })
    }

    fn composite_in_pool(&mut self, wl: RgbView<'_>, styles: &[LesionStyle]) -> Result<Composite> {
        let m = &self.maps;
        if (wl.width, wl.height) != (m.ratio.width, m.ratio.height) {
            bail!("composite of a {}x{} frame after segmenting a {}x{} one", wl.width, wl.height, m.ratio.width, m.ratio.height);
        }
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let margins_px = self.params.margins_px();
        let inputs = composite::CompositeInputs {
            wl,
            ratio: &m.ratio,
            fluo: &m.fluo,
            seeds: &m.seeds,
            dist: &m.distance.dist,
            nearest: &m.distance.nearest,
            rects: &m.distance.rects,
        };
        // The frame is handed out, so it is a new one each time (a kept buffer would only be copied).
        let overlay = composite::composite(&inputs, styles, &margins_px);
        timings.push("composite", ms(t));
        // The cores of the lesions the caller kept and draws (`styles`): a lesion reported here but
        // dropped after (too faint against the background, a glint) is no core in the mask either.
        let classes = self.want_classes.then(|| {
            let kept: Vec<u32> = m.reported_cores.iter().copied().filter(|&l| styles.iter().any(|st| st.label == l)).collect();
            class_map(&m.reduce_maps(), &kept, self.params.mm_to_px(self.params.rim_search_mm), &m.rim_spans)
        });
        Ok(Composite { overlay, classes, timings })
    }
}

/// The mask PNG's classes (those of the phantom's truth): the cores of reported lesions (`reported`,
/// ascending labels) from the seeds, rims where fluorescence that counts as rim
/// (`reduce::Maps::rim_pixel`) lies within `search_px` of such a core, other fluorescence elsewhere. A
/// seed whose lesion was not reported (a pocket of the texture) is background, its wall other
/// fluorescence: the mask shows what the metrics report. Where a core's rim was located direction by
/// direction (`spans`, by core label), the mask follows the figures: what lies inside the core's edge
/// is core (the mask's edge, under a scatter halo, lies inside it), rim only out to the rim's outer
/// edge (a halo's fluorescence beyond it is other fluorescence).
pub fn class_map(maps: &reduce::Maps, reported: &[u32], search_px: f32, spans: &[(u32, edges::RimSpans)]) -> Plane<u8> {
    let fluo = maps.fluo;
    let w = fluo.width;
    let is_reported = |l: u32| reported.binary_search(&l).is_ok();
    let span_of = |l: u32, i: usize| spans.binary_search_by_key(&l, |s| s.0).ok().and_then(|k| spans[k].1.at(i % w, i / w));
    let data = (0..fluo.data.len())
        .map(|i| {
            let seed = maps.seeds.data[i];
            if seed != 0 && is_reported(seed) {
                return class::CORE;
            }
            let near = maps.nearest.data.get(i).copied().filter(|&n| n != 0 && is_reported(n) && maps.dist.data[i] <= search_px);
            // The pixel's distance from its core's mask (its centre's) against that direction's edges.
            match near.and_then(|n| span_of(n, i)) {
                Some((inner, _)) if maps.dist.data[i] < inner => return class::CORE,
                Some((_, outer)) if maps.dist.data[i] > outer => return if fluo.data[i] == 0 { class::BACKGROUND } else { class::OTHER },
                _ => {}
            }
            if fluo.data[i] == 0 {
                class::BACKGROUND
            } else if near.is_some() && maps.rim_pixel(i) {
                class::RIM
            } else {
                class::OTHER
            }
        })
        .collect();
    Plane { width: fluo.width, height: fluo.height, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class map shows the cores of the lesions the caller kept (`composite`'s styles): with every
    /// lesion of a phantom frame drawn it has its cores, with none of them drawn (the processor dropped
    /// them after the segmentation) it has no core and no rim.
    #[test]
    fn the_class_map_follows_the_lesions_kept() {
        use crate::analysis::LesionKind;
        let cfg = crate::phantom::PhantomConfig { frames: 1, seed: 7, ..Default::default() };
        let frame = crate::phantom::render(&cfg.scene(), 0);
        let mut a = CpuAnalyzer::new(AnalysisParams::with_scale(cfg.mm_per_px)).expect("analyzer");
        let count = |classes: &Plane<u8>, c: u8| classes.data.iter().filter(|&&v| v == c).count();
        let seg = a.segment((&frame.wl).into(), (&frame.nir).into(), true).expect("segment");
        assert!(seg.lesions.iter().any(|st| st.kind == LesionKind::Rim), "the phantom's rims are found");
        let styles: Vec<LesionStyle> = seg
            .lesions
            .iter()
            .map(|st| LesionStyle { label: st.label, kind: st.kind, warn: false, text: String::new(), anchor_px: [0.0; 2] })
            .collect();
        let all = a.composite((&frame.wl).into(), &styles).expect("composite").classes.expect("classes");
        assert!(count(&all, class::CORE) > 0 && count(&all, class::RIM) > 0, "cores and rims of the lesions drawn");
        a.segment((&frame.wl).into(), (&frame.nir).into(), true).expect("segment");
        let none = a.composite((&frame.wl).into(), &[]).expect("composite").classes.expect("classes");
        assert_eq!((count(&none, class::CORE), count(&none, class::RIM)), (0, 0), "no lesion drawn, no core and no rim");
        assert!(count(&none, class::OTHER) > 0, "the rims' fluorescence is other fluorescence then");
    }

    /// Two cores side by side, each in a ring: the class map shows the reported one's core and rim, and
    /// the other (a pocket the texture stages dropped) as background in a wall of other fluorescence.
    #[test]
    fn the_class_map_shows_only_reported_cores() {
        let (w, h) = (40usize, 20usize);
        let plane = |f: &dyn Fn(usize, usize) -> u32| Plane { width: w, height: h, data: (0..w * h).map(|i| f(i % w, i / w)).collect::<Vec<u32>>() };
        let core = |x: usize, y: usize| (5..=8).contains(&y) && ((5..=8).contains(&x) || (25..=28).contains(&x));
        let ring = |x: usize, y: usize| !core(x, y) && (3..=10).contains(&y) && ((3..=10).contains(&x) || (23..=30).contains(&x));
        let label = |x: usize, _: usize| if x < 20 { 1 + (5 * w + 5) as u32 } else { 1 + (5 * w + 25) as u32 };
        let seeds = plane(&|x, y| if core(x, y) { label(x, y) } else { 0 });
        let fluo = Plane { width: w, height: h, data: (0..w * h).map(|i| ring(i % w, i / w) as u8).collect() };
        let nearest = plane(&|x, y| if core(x, y) || ring(x, y) { label(x, y) } else { 0 });
        let dist = Plane { width: w, height: h, data: vec![1.0f32; w * h] };
        let ratio = Plane { width: w, height: h, data: vec![1.0f32; w * h] };
        let zeros = plane(&|_, _| 0);
        let maps = reduce::Maps {
            ratio: &ratio,
            fluo: &fluo,
            seeds: &seeds,
            dist: &dist,
            nearest: &nearest,
            bg_labels: &zeros,
            fluo_labels: &zeros,
            rects: &[],
            rim_labels: None,
        };
        let reported = [label(5, 5)];
        let classes = class_map(&maps, &reported, 10.0, &[]);
        let at = |x: usize, y: usize| classes.data[y * w + x];
        assert_eq!((at(6, 6), at(3, 3)), (class::CORE, class::RIM), "the reported lesion");
        assert_eq!((at(26, 6), at(23, 3)), (class::BACKGROUND, class::OTHER), "the dropped pocket");
        assert_eq!(at(15, 15), class::BACKGROUND);
    }

    /// Where the rim was located direction by direction, the class map follows it: a core (label 1, a
    /// disc of radius 10 px) whose fluorescence runs 12 px out (a scatter halo beyond the rim), with the
    /// rim's edges 2 and 7 px out in the right half's directions and none found in the left's: on the
    /// right, core out to 2 px, rim to 7 px, other fluorescence beyond; on the left, rim all the way.
    #[test]
    fn the_class_map_follows_the_rims_edges() {
        let (w, h) = (60usize, 60usize);
        let r = |x: usize, y: usize| (x as f32 + 0.5 - 30.0).hypot(y as f32 + 0.5 - 30.0);
        let seeds = Plane { width: w, height: h, data: (0..w * h).map(|i| (r(i % w, i / w) < 10.0) as u32).collect() };
        let fluo = Plane { width: w, height: h, data: (0..w * h).map(|i| (10.0..22.0).contains(&r(i % w, i / w)) as u8).collect() };
        let nearest = Plane { width: w, height: h, data: vec![1u32; w * h] };
        let dist = Plane { width: w, height: h, data: (0..w * h).map(|i| (r(i % w, i / w) - 9.5).max(0.0)).collect() };
        let ratio = Plane { width: w, height: h, data: vec![1.0f32; w * h] };
        let zeros = Plane { width: w, height: h, data: vec![0u32; w * h] };
        let maps = reduce::Maps { ratio: &ratio, fluo: &fluo, seeds: &seeds, dist: &dist, nearest: &nearest, bg_labels: &zeros, fluo_labels: &zeros, rects: &[], rim_labels: None };
        // Eight directions from −x upwards: 2..6 hold +x (the right half).
        let spans = edges::RimSpans { centroid: [30.0, 30.0], spans: (0..8).map(|k| (2..6).contains(&k).then_some((2.0, 7.0))).collect() };
        let classes = class_map(&maps, &[1], 30.0, &[(1, spans)]);
        let at = |x: usize, y: usize| classes.data[y * w + x];
        // Right (+x): radius 10.5 (1 px from the mask) core, 15.5 (6) rim, 19.5 (10) other; left (−x):
        // all rim.
        assert_eq!([at(40, 30), at(45, 30), at(49, 30)], [class::CORE, class::RIM, class::OTHER], "right");
        assert_eq!([at(19, 30), at(14, 30), at(10, 30)], [class::RIM, class::RIM, class::RIM], "left");
        assert_eq!(at(30, 30), class::CORE);
    }
}
