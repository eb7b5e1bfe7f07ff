//! One frame pair in, one `FrameResult` out: composes a backend (`Analyzer`), the measurement
//! (`measure::figures`), lesion tracking and smoothing, the margin verdict (`margin_verdict`, decided
//! here only, from the smoothed figures: it sets each lesion's `verdict` and the style table the
//! backend composites from) and what is drawn after the composite: it gathers the frame's marks
//! (labels, banners, homogeneous outlines from the backend's component labels, the checks' boxes and
//! banner, the truncation badge) and has `overlay::draw` put them on in one call. The media and CLI
//! layers call only this; it knows nothing of where frames come from or go.

use std::cell::OnceCell;
use std::time::Instant;

use anyhow::Result;

use crate::analysis::{Analyzer, Cancel, SpotQuery, FluoLevel, Lesion, LesionKind, LesionStyle, MarginVerdict, StageTimings};
use crate::frame::{NirView, Plane, RgbFrame, RgbView};
use crate::measure::figures::{Figures, RIM_COMPLETE, figures, significant};
use crate::measure::findings::{FindingsTracker, FrameFindings, GlintCheck, Mode, Roi, Spot, SpotEvidence, clip_level, find_spots, min_spot_area_px, without_glint};
use crate::measure::smoothing::Smoother;
use crate::measure::tracking::Tracker;
use crate::overlay::{self, Banner, CheckMarks, Marks, Outlines};
use crate::params::AnalysisParams;

/// Drawn top right on a frame that held more lesions than the table (`FrameResult::truncated`).
pub const TRUNCATED_BADGE: &str = "LESIONS TRUNCATED";

#[derive(Clone, Debug)]
pub struct FrameResult {
    pub lesions: Vec<Lesion>,
    pub overlay: RgbFrame,
    pub classes: Option<Plane<u8>>,
    pub timings: StageTimings,
    /// The frame's fluorescence level and the background mode and noise behind it.
    pub background: FluoLevel,
    /// Transection / wound-bed check of this frame (absent in survey mode).
    pub findings: Option<FrameFindings>,
    /// More lesions than the table holds: the first by label are reported (`Segmentation::truncated`).
    pub truncated: bool,
}

/// Settings of the transection and wound-bed checks.
#[derive(Clone, Debug)]
pub struct CheckSettings {
    pub mode: Mode,
    /// Region of interest; `None`: the central 60% of the view.
    pub roi: Option<Roi>,
    /// Fluorescence counts when its peak ratio to the background reaches this.
    pub min_tbr: f32,
}

/// The TBR from which fluorescence in the region of interest counts, unless told otherwise (the command
/// line, a `batch` manifest and the element share it).
pub const DEFAULT_MIN_TBR: f32 = 1.5;

impl Default for CheckSettings {
    fn default() -> Self {
        Self { mode: Mode::Survey, roi: None, min_tbr: DEFAULT_MIN_TBR }
    }
}

pub struct FrameProcessor {
    analyzer: Box<dyn Analyzer>,
    params: AnalysisParams,
    tracker: Tracker,
    smoother: Smoother,
    scale_note: String,
    checks: CheckSettings,
    findings: FindingsTracker,
    frame: u64,
}

/// The label drawn beside a lesion: sizes in mm where the scale is known, else in px.
pub fn label_text(id: u32, f: &Figures, mm_per_px: Option<f32>) -> String {
    let (scale, unit) = match mm_per_px {
        Some(s) => (s, "mm"),
        None => (1.0, "px"),
    };
    match f.kind {
        LesionKind::Rim => {
            let rim = match f.rim_coverage {
                Some(c) if c < RIM_COMPLETE => format!(" rim incomplete {:.0}%", 100.0 * c),
                _ => f.min_rim_thickness_px.map(|t| format!(" rim>={:.1}", t * scale)).unwrap_or_default(),
            };
            match f.core_diameter_px {
                Some(d) if !f.partial => format!("#{id} {:.1}{unit}{rim} TBR{:.1}", d * scale, f.tbr),
                _ => format!("#{id} partial{rim} TBR{:.1}", f.tbr),
            }
        }
        LesionKind::Diffuse => format!("#{id} diffuse TBR{:.1}", f.tbr),
        LesionKind::Homogeneous => {
            let d = f.core_diameter_px.map(|d| format!(" {:.1}{unit}", d * scale)).unwrap_or_default();
            format!("#{id} homogeneous{d} TBR{:.1}", f.tbr)
        }
    }
}

/// How far over the margin (px) the thinnest rim must read before it vouches for it: its resolution, a
/// pixel (the edges are located between pixels and binned by half pixel; the thinnest rim is one
/// direction's figure). On the independent phantoms, complete rims whose true thinnest part lies 0.01–0.35
/// mm under the 1 mm margin read 1.00–1.05 mm (twenty-sixth session): each within a pixel of it.
pub const VERDICT_GUARD_PX: f32 = 1.0;

/// The margin verdict of a lesion, decided here and nowhere else: against the first margin, from the
/// (smoothed) figures. Rim lesions only. An incomplete rim warns whatever the scale (no thickness can
/// vouch for a gap); a thinnest rim under the margin, or over it by less than `VERDICT_GUARD_PX`, warns
/// where the scale is known.
pub fn margin_verdict(f: &Figures, params: &AnalysisParams) -> Option<MarginVerdict> {
    if f.kind != LesionKind::Rim {
        return None;
    }
    Some(if f.rim_coverage.is_some_and(|c| c < RIM_COMPLETE) {
        MarginVerdict::RimIncomplete
    } else if !params.scale_known {
        MarginVerdict::NoScale
    } else {
        match f.min_rim_thickness_px {
            Some(t) if t < params.mm_to_px(params.margins_mm[0]) + VERDICT_GUARD_PX => MarginVerdict::UnderMargin,
            Some(_) => MarginVerdict::Ok,
            None => MarginVerdict::Unmeasured,
        }
    })
}

/// How the overlay draws a lesion: in the warning colour when its verdict warns.
pub fn lesion_style(f: &Figures, id: u32, params: &AnalysisParams) -> LesionStyle {
    let margin_px = if params.scale_known { params.mm_to_px(params.margins_mm[0]) } else { 0.0 };
    LesionStyle {
        label: f.label,
        kind: f.kind,
        warn: margin_verdict(f, params).is_some_and(MarginVerdict::warns),
        text: label_text(id, f, params.scale_known.then_some(params.mm_per_px)),
        anchor_px: [f.centroid_px[0], f.centroid_px[1] - f.radius_px - margin_px - 6.0],
    }
}

impl FrameProcessor {
    /// `fps` sets how long a lesion may leave the view and keep its ID (one second).
    pub fn new(analyzer: Box<dyn Analyzer>, params: AnalysisParams, fps: f64) -> Self {
        let scale_note = if params.scale_known {
            format!(
                "scale {:.4} mm/px ({})  margin {} mm",
                params.mm_per_px,
                params.scale_source,
                params.margins_mm.iter().map(|m| format!("{m}")).collect::<Vec<_>>().join(",")
            )
        } else {
            "NO SCALE: figures in px, no margin contour".to_string()
        };
        Self {
            analyzer,
            params,
            tracker: Tracker::new(fps.round().max(1.0) as u32),
            smoother: Smoother::default(),
            scale_note,
            checks: CheckSettings::default(),
            findings: FindingsTracker::new(Mode::Survey, 1.5, fps),
            frame: 0,
        }
    }

    pub fn describe(&self) -> String {
        self.analyzer.describe()
    }

    /// Set the mode and the settings of the transection / wound-bed checks.
    pub fn set_checks(&mut self, checks: CheckSettings) {
        self.findings.min_tbr = checks.min_tbr;
        self.findings.set_mode(checks.mode);
        self.checks = checks;
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.checks.mode = mode;
        self.findings.set_mode(mode);
    }

    pub fn mode(&self) -> Mode {
        self.checks.mode
    }

    /// The wound-bed tally so far and its verdict.
    pub fn findings(&self) -> &FindingsTracker {
        &self.findings
    }

    pub fn params(&self) -> &AnalysisParams {
        &self.params
    }

    /// The last frame's device-memory traffic by stage (`None` on the CPU backend).
    pub fn traffic(&self) -> Option<crate::analysis::Traffic> {
        self.analyzer.traffic()
    }

    /// One frame pair: an owned `RgbFrame` / `NirFrame` lends its view, or a view of another layer's
    /// buffer comes as it is (no copy).
    pub fn process<'a>(&mut self, wl: impl Into<RgbView<'a>>, nir: impl Into<NirView<'a>>, want_classes: bool) -> Result<FrameResult> {
        self.run(wl.into(), nir.into(), want_classes, None)
    }

    /// As `process`, but called off by `cancel` (the live path's budget passed): it stops with
    /// `analysis::Cancelled` at the backend's next stage boundary (the CPU's) or once the segmentation
    /// is done, before the measurement, so that the tracking and smoothing never see a frame that was
    /// not shown.
    pub fn process_cancellable<'a>(&mut self, wl: impl Into<RgbView<'a>>, nir: impl Into<NirView<'a>>, want_classes: bool, cancel: &Cancel) -> Result<FrameResult> {
        self.analyzer.set_cancel(Some(cancel.clone()));
        let out = self.run(wl.into(), nir.into(), want_classes, Some(cancel));
        self.analyzer.set_cancel(None);
        out
    }

    fn run(&mut self, wl: RgbView<'_>, nir: NirView<'_>, want_classes: bool, cancel: Option<&Cancel>) -> Result<FrameResult> {
        // The check's spots are asked for before the segmentation (a GPU finds them with it).
        let query = (self.checks.mode != Mode::Survey).then(|| self.spot_query(wl.width, wl.height));
        self.analyzer.set_spot_query(query);
        let seg = self.analyzer.segment(wl, nir, want_classes)?;
        if let Some(c) = cancel {
            c.check()?;
        }
        let mut timings = seg.timings;
        let t = Instant::now();
        let figs: Vec<Figures> = seg.lesions.iter().map(figures).filter(|f| significant(f, &seg.background, &self.params)).collect();
        // The NIR's clipping level, measured at most once a frame, when a glint test first needs it.
        let clip = OnceCell::new();
        let figs = self.drop_glints(figs, nir, &seg.background, &clip)?;
        let ids = self.tracker.update(&figs);
        let figs = self.smoother.update(&ids, &figs);
        let styles: Vec<LesionStyle> = figs.iter().zip(&ids).map(|(f, &id)| lesion_style(f, id, &self.params)).collect();
        let scale = self.params.scale_known.then_some(self.params.mm_per_px);
        let lesions: Vec<Lesion> =
            figs.iter().zip(&ids).map(|(f, &id)| Lesion { verdict: margin_verdict(f, &self.params), ..f.to_lesion(id, scale) }).collect();
        timings.push("measure", t.elapsed().as_secs_f64() * 1e3);
        let comp = self.analyzer.composite(wl, &styles)?;
        timings.0.extend(comp.timings.0);
        let mut overlay = comp.overlay;
        // A homogeneous lesion's edge is its tumour boundary: it is outlined from the component labels.
        let homogeneous: Vec<u32> = figs.iter().filter(|f| f.kind == LesionKind::Homogeneous).map(|f| f.label).collect();
        let labels = if homogeneous.is_empty() {
            None
        } else {
            let t = Instant::now();
            let labels = self.analyzer.fluo_labels()?;
            timings.push("labels", t.elapsed().as_secs_f64() * 1e3);
            Some(labels)
        };
        // The transection / wound-bed check: the candidate spots and the maps around them (on a GPU
        // found with the segmentation, the maps read back with the composite).
        let (findings, check) = match query {
            None => (None, None),
            Some(query) => {
                let t = Instant::now();
                let (candidates, (ratio, fluo)) = match self.analyzer.spots(&query)? {
                    Some(found) => found,
                    None => {
                        let (ratio, fluo) = self.analyzer.pixel_maps()?;
                        (find_spots(&ratio, &fluo, query.roi, query.min_tbr, query.min_area), (ratio, fluo))
                    }
                };
                timings.push("spots", t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let (f, marks) = self.check(wl, nir, &query, candidates, &ratio, &fluo, &clip);
                timings.push("checks", t.elapsed().as_secs_f64() * 1e3);
                (Some(f), Some(marks))
            }
        };
        let t = Instant::now();
        let margins_px = self.params.margins_px();
        let marks = Marks {
            styles: &styles,
            banner: Banner {
                top_left: vec![self.scale_note.clone()],
                bottom_left: vec!["decision support - validated on synthetic phantoms only".into()],
            },
            outlines: labels.as_deref().map(|labels| Outlines { labels, lesions: &homogeneous, margins_px: &margins_px }),
            check,
            badge: seg.truncated.then_some(TRUNCATED_BADGE),
        };
        overlay::draw(&mut overlay, &marks);
        timings.push("overlay", t.elapsed().as_secs_f64() * 1e3);
        self.frame += 1;
        Ok(FrameResult { lesions, overlay, classes: comp.classes, timings, background: seg.background, findings, truncated: seg.truncated })
    }

    /// Drops the coreless lesions that are NIR-only glints (`findings::without_glint`: a clipped core far
    /// over the background and only its skirt beyond it; in the white light such a glint has no twin, so
    /// the threshold's white-light test cannot exclude it). Reads the labels and the ratio map (a
    /// readback on a GPU) only where a coreless lesion stands on a frame that clips.
    fn drop_glints(&mut self, figs: Vec<Figures>, nir: NirView<'_>, background: &FluoLevel, clip: &OnceCell<Option<u16>>) -> Result<Vec<Figures>> {
        if figs.iter().all(|f| f.kind == LesionKind::Rim) {
            return Ok(figs);
        }
        let Some(clip) = *clip.get_or_init(|| clip_level(nir)) else { return Ok(figs) };
        let labels = self.analyzer.fluo_labels()?;
        let (ratio, _) = self.analyzer.pixel_maps()?;
        let p = &self.params;
        let min_tbr = background.coreless_min_tbr(p);
        let min_area = crate::params::min_coreless_area_px(p);
        let (w, h) = (labels.width, labels.height);
        Ok(figs
            .into_iter()
            .filter(|f| {
                if f.kind == LesionKind::Rim {
                    return true;
                }
                // A coreless lesion is compact: its pixels lie within a few radii of its centroid.
                let reach = 4.0 * f.radius_px + 2.0;
                let (x0, x1) = ((f.centroid_px[0] - reach).max(0.0) as usize, ((f.centroid_px[0] + reach).max(0.0) as usize).min(w));
                let (y0, y1) = ((f.centroid_px[1] - reach).max(0.0) as usize, ((f.centroid_px[1] + reach).max(0.0) as usize).min(h));
                let (x0, labels) = (x0.min(x1), &*labels);
                let pixels = || {
                    (y0..y1).flat_map(move |y| labels.row(y)[x0..x1].iter().enumerate().filter(move |&(_, &l)| l == f.label).map(move |(k, _)| (x0 + k, y)))
                };
                // Beside a glint, what lies beyond its reach must be a lesion of its own size: a clipped
                // reflection's skirt joined to a grain or two of textured liver is not (an independent
                // phantom set: glints of 9-10 mm² clipped at 7 times the background, 17 in 144 frames).
                match without_glint(nir, &ratio, Some(clip), pixels, false, min_tbr) {
                    GlintCheck::Glint => false,
                    GlintCheck::Beside { area_px, .. } => area_px as f32 >= min_area,
                    GlintCheck::NoGlint => true,
                }
            })
            .collect())
    }

    /// What the check asks of a `w`×`h` frame: its ROI, TBR and least area.
    fn spot_query(&self, w: usize, h: usize) -> SpotQuery {
        let roi = self.checks.roi.unwrap_or_else(|| Roi::central(w, h)).clamp_to(w, h);
        let scale = self.params.scale_known.then_some(self.params.mm_per_px);
        let min_area = min_spot_area_px(scale);
        SpotQuery { roi, min_tbr: self.checks.min_tbr, min_area }
    }

    /// The transection / wound-bed check: fluorescence in the ROI and the steady flag, with the marks
    /// that show it (the ROI, the spots' boxes, the banner). `candidates`: the query's spots at the
    /// frame's level (the peak ratio to the fitted background), judged here against the tissue around
    /// each and the glint signatures.
    #[allow(clippy::too_many_arguments)]
    fn check(&mut self, wl: RgbView<'_>, nir: NirView<'_>, query: &SpotQuery, candidates: Vec<Spot>, ratio: &Plane<f32>, fluo: &Plane<u8>, clip: &OnceCell<Option<u16>>) -> (FrameFindings, CheckMarks) {
        let roi = query.roi;
        let scale = self.params.scale_known.then_some(self.params.mm_per_px);
        let evidence = SpotEvidence {
            ratio,
            wl,
            nir,
            glint_level: self.params.glint_level,
            min_tbr: self.checks.min_tbr,
            mm_per_px: scale,
            sharp_per_px: self.params.homogeneous_edge_gradient_per_mm * self.params.mm_per_px,
        };
        let spots = evidence.keep(candidates, fluo, clip);
        let f = self.findings.update(self.frame, spots, scale);
        let mode = self.checks.mode.name().to_uppercase();
        let text = if f.flag {
            let area: f32 = f.spots.iter().map(|s| s.area_mm2.unwrap_or(s.area_px as f32)).sum();
            let unit = if scale.is_some() { "mm2" } else { "px" };
            let peak = f.spots.iter().map(|s| s.peak_tbr).fold(0.0f32, f32::max);
            format!("{mode}: FLUORESCENCE IN ROI  {area:.1} {unit}  peak TBR {peak:.1}")
        } else {
            format!("{mode}: no fluorescence above TBR {}", self.checks.min_tbr)
        };
        let marks = CheckMarks { roi: [roi.x, roi.y, roi.x + roi.w, roi.y + roi.h], spots: f.spots.iter().map(|s| s.bbox).collect(), text, alarm: f.flag };
        (f, marks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::is_cancelled;
    use crate::phantom::{PhantomConfig, render};
    use crate::reference::CpuAnalyzer;

    /// A complete rim's verdict against the 1 mm margin at 0.1 mm/px: under it warns, over it by a
    /// pixel or more is `ok`, and over it by less than a pixel (its resolution) warns too.
    #[test]
    fn a_thinnest_rim_within_a_pixel_of_the_margin_does_not_vouch_for_it() {
        let p = AnalysisParams::with_scale(0.1);
        let rim = |thinnest_px: f32| Figures {
            label: 1,
            kind: LesionKind::Rim,
            partial: false,
            centroid_px: [50.0, 50.0],
            core_diameter_px: Some(80.0),
            feret_px: None,
            rim_thickness_px: Some(thinnest_px + 2.0),
            min_rim_thickness_px: Some(thinnest_px),
            rim_coverage: Some(1.0),
            tbr: 3.0,
            area_px: 5000.0,
            radius_px: 40.0,
        };
        for (px, want) in [(9.5, MarginVerdict::UnderMargin), (10.3, MarginVerdict::UnderMargin), (10.9, MarginVerdict::UnderMargin), (11.0, MarginVerdict::Ok), (14.0, MarginVerdict::Ok)] {
            assert_eq!(margin_verdict(&rim(px), &p), Some(want), "thinnest rim {px} px against a margin of 10 px");
        }
    }

    /// A frame called off stops with `Cancelled` and leaves no trace: the frames after it come out as
    /// from a processor that never saw it (tracking, smoothing, the half-made maps all as if it had
    /// never come).
    #[test]
    fn a_called_off_frame_stops_and_leaves_no_trace() {
        let cfg = PhantomConfig { width: 320, height: 240, frames: 3, seed: 5, mm_per_px: 0.1, ..Default::default() };
        let scene = cfg.scene();
        let frames: Vec<_> = (0..3).map(|f| render(&scene, f)).collect();
        let p = AnalysisParams::with_scale(0.1);
        let make = || FrameProcessor::new(Box::new(CpuAnalyzer::new(p.clone()).unwrap()), p.clone(), 30.0);
        let (mut called_off, mut never) = (make(), make());
        let off = Cancel::default();
        off.cancel();
        let e = called_off.process_cancellable(&frames[0].wl, &frames[0].nir, false, &off).unwrap_err();
        assert!(is_cancelled(&e), "{e:#}");
        for r in &frames[1..] {
            let a = called_off.process_cancellable(&r.wl, &r.nir, false, &Cancel::default()).unwrap();
            let b = never.process(&r.wl, &r.nir, false).unwrap();
            assert!(!b.lesions.is_empty(), "the phantom has lesions");
            assert_eq!(a.lesions, b.lesions);
            assert_eq!(a.overlay, b.overlay);
        }
    }
}
