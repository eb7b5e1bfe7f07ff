//! Scoring against a phantom's ground truth: lesion matching (sensitivity, precision), figure errors
//! in mm, Dice of the core and rim masks. Used by the tests and by `evaluate`.

use serde::Serialize;

use crate::analysis::{Lesion, LesionKind, class};
use crate::frame::Plane;
use crate::phantom::{InView, TruthFrame, truth_class};

/// Running totals over any number of frames.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Score {
    pub true_positives: u32,
    pub false_positives: u32,
    pub false_negatives: u32,
    pub diameter_errors_mm: Vec<f32>,
    pub thickness_errors_mm: Vec<f32>,
    pub core_intersection: u64,
    pub core_total: u64,
    pub rim_intersection: u64,
    pub rim_total: u64,
}

fn mean_abs(v: &[f32]) -> Option<f32> {
    (!v.is_empty()).then(|| v.iter().map(|e| e.abs()).sum::<f32>() / v.len() as f32)
}

impl Score {
    pub fn sensitivity(&self) -> f32 {
        let p = self.true_positives + self.false_negatives;
        if p == 0 { 1.0 } else { self.true_positives as f32 / p as f32 }
    }
    pub fn precision(&self) -> f32 {
        let d = self.true_positives + self.false_positives;
        if d == 0 { 1.0 } else { self.true_positives as f32 / d as f32 }
    }
    pub fn diameter_mae_mm(&self) -> Option<f32> {
        mean_abs(&self.diameter_errors_mm)
    }
    pub fn thickness_mae_mm(&self) -> Option<f32> {
        mean_abs(&self.thickness_errors_mm)
    }
    pub fn dice_core(&self) -> f32 {
        if self.core_total == 0 { 1.0 } else { 2.0 * self.core_intersection as f32 / self.core_total as f32 }
    }
    pub fn dice_rim(&self) -> f32 {
        if self.rim_total == 0 { 1.0 } else { 2.0 * self.rim_intersection as f32 / self.rim_total as f32 }
    }

    /// Match one frame's rim lesions to the truth. A truth lesion wholly in view must be found; a
    /// detection matching no truth lesion (in view or partial) is a false positive.
    pub fn add_lesions(&mut self, detected: &[Lesion], truth: &TruthFrame, mm_per_px: f32) {
        let rims: Vec<&Lesion> = detected.iter().filter(|l| l.kind == LesionKind::Rim).collect();
        let mut used = vec![false; rims.len()];
        for t in truth.lesions.iter().filter(|t| t.kind == LesionKind::Rim && t.in_view != InView::Out) {
            let radius_px = 0.5 * t.core_diameter_mm.unwrap_or(0.0) / mm_per_px;
            let gate = (0.5 * radius_px).max(5.0);
            let best = rims
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, l)| (i, (l.centroid_px[0] - t.centroid_px[0]).hypot(l.centroid_px[1] - t.centroid_px[1])))
                .filter(|&(_, d)| d <= gate)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match (best, t.in_view) {
                (Some((i, _)), InView::Full) => {
                    used[i] = true;
                    self.true_positives += 1;
                    let l = rims[i];
                    if let (Some(d), Some(td)) = (l.core_diameter_mm, t.core_diameter_mm) {
                        self.diameter_errors_mm.push(d - td);
                    }
                    if let (Some(r), Some(tr)) = (l.rim_thickness_mm, t.rim_thickness_mm) {
                        self.thickness_errors_mm.push(r - tr);
                    }
                }
                (Some((i, _)), _) => used[i] = true, // a partial lesion: found or not, no claim either way
                (None, InView::Full) => self.false_negatives += 1,
                (None, _) => {}
            }
        }
        self.false_positives += used.iter().filter(|u| !**u).count() as u32;
    }

    /// Add one frame's masks. Rim Dice ignores truth pixels of other fluorescence (ducts, deep glow).
    pub fn add_masks(&mut self, predicted: &Plane<u8>, truth: &Plane<u8>) {
        for (&p, &t) in predicted.data.iter().zip(&truth.data) {
            let (pc, tc) = (p == class::CORE, t == truth_class::CORE);
            self.core_intersection += (pc && tc) as u64;
            self.core_total += pc as u64 + tc as u64;
            if t == truth_class::OTHER_FLUORESCENCE {
                continue;
            }
            let (pr, tr) = (p == class::FLUORESCENT, t == truth_class::RIM);
            self.rim_intersection += (pr && tr) as u64;
            self.rim_total += pr as u64 + tr as u64;
        }
    }
}
