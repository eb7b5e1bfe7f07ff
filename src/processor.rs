//! One frame pair in, one `FrameResult` out: composes a backend (`Analyzer`), the measurement
//! (`measure::figures`), lesion tracking and the overlay's text. The media and CLI layers call only
//! this; it knows nothing of where frames come from or go.

use std::time::Instant;

use anyhow::Result;

use crate::analysis::{Analyzer, Banner, Lesion, LesionKind, LesionStyle, StageTimings};
use crate::frame::{NirFrame, Plane, RgbFrame};
use crate::measure::figures::{Figures, figures};
use crate::measure::tracking::Tracker;
use crate::params::AnalysisParams;

#[derive(Clone, Debug)]
pub struct FrameResult {
    pub lesions: Vec<Lesion>,
    pub overlay: RgbFrame,
    pub classes: Option<Plane<u8>>,
    pub timings: StageTimings,
}

pub struct FrameProcessor {
    analyzer: Box<dyn Analyzer>,
    params: AnalysisParams,
    tracker: Tracker,
    scale_note: String,
}

/// The label drawn beside a lesion.
pub fn label_text(id: u32, f: &Figures) -> String {
    match f.kind {
        LesionKind::Rim => {
            let d = f.core_diameter_mm.unwrap_or(0.0);
            let rim = f.min_rim_thickness_mm.map(|t| format!(" rim>={t:.1}")).unwrap_or_default();
            format!("#{id} {d:.1}mm{rim} TBR{:.1}", f.tbr)
        }
        LesionKind::Diffuse => format!("#{id} diffuse TBR{:.1}", f.tbr),
    }
}

/// How the overlay draws a lesion: warning colour when its thinnest rim is under the first margin.
pub fn lesion_style(f: &Figures, id: u32, params: &AnalysisParams) -> LesionStyle {
    let margin = params.margins_mm[0];
    let margin_px = params.mm_to_px(margin);
    LesionStyle {
        label: f.label,
        kind: f.kind,
        warn: f.kind == LesionKind::Rim && f.min_rim_thickness_mm.is_some_and(|t| t < margin),
        text: label_text(id, f),
        anchor_px: [f.centroid_px[0], f.centroid_px[1] - f.radius_px - margin_px - 6.0],
    }
}

impl FrameProcessor {
    /// `fps` sets how long a lesion may leave the view and keep its ID (one second).
    pub fn new(analyzer: Box<dyn Analyzer>, params: AnalysisParams, fps: f64) -> Self {
        let scale_note = format!(
            "scale {:.3} mm/px  margin {} mm",
            params.mm_per_px,
            params.margins_mm.iter().map(|m| format!("{m}")).collect::<Vec<_>>().join(",")
        );
        Self { analyzer, params, tracker: Tracker::new(fps.round().max(1.0) as u32), scale_note }
    }

    pub fn describe(&self) -> String {
        self.analyzer.describe()
    }

    pub fn params(&self) -> &AnalysisParams {
        &self.params
    }

    pub fn process(&mut self, wl: &RgbFrame, nir: &NirFrame, want_classes: bool) -> Result<FrameResult> {
        let seg = self.analyzer.segment(wl, nir, want_classes)?;
        let mut timings = seg.timings;
        let t = Instant::now();
        let figs: Vec<Figures> = seg.lesions.iter().map(|s| figures(s, self.params.mm_per_px)).collect();
        let ids = self.tracker.update(&figs);
        let styles: Vec<LesionStyle> = figs.iter().zip(&ids).map(|(f, &id)| lesion_style(f, id, &self.params)).collect();
        let lesions: Vec<Lesion> = figs
            .iter()
            .zip(&ids)
            .map(|(f, &id)| Lesion {
                id,
                kind: f.kind,
                centroid_px: f.centroid_px,
                core_diameter_mm: f.core_diameter_mm,
                rim_thickness_mm: f.rim_thickness_mm,
                min_rim_thickness_mm: f.min_rim_thickness_mm,
                tbr: f.tbr,
                area_mm2: f.area_mm2,
            })
            .collect();
        timings.push("measure", t.elapsed().as_secs_f64() * 1e3);
        let banner = Banner {
            top_left: vec![self.scale_note.clone()],
            bottom_left: vec!["decision support - validated on synthetic phantoms only".into()],
        };
        let comp = self.analyzer.composite(&styles, &banner)?;
        timings.0.extend(comp.timings.0);
        Ok(FrameResult { lesions, overlay: comp.overlay, classes: comp.classes, timings })
    }
}
