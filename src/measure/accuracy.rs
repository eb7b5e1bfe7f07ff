//! Scoring against a phantom's ground truth: lesion matching (sensitivity, precision), figure errors
//! in mm, Dice of the core and rim masks. Used by the tests and by `evaluate`.

use serde::Serialize;

use crate::analysis::{Lesion, LesionKind, class};
use crate::frame::Plane;
use crate::measure::figures::RIM_COMPLETE;
use crate::phantom::{InView, TruthFrame, truth_class};

/// Running totals over any number of frames.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Score {
    pub true_positives: u32,
    pub false_positives: u32,
    pub false_negatives: u32,
    pub diameter_errors_mm: Vec<f32>,
    pub thickness_errors_mm: Vec<f32>,
    /// Thinnest rim (5th percentile) against the truth's, for rim lesions found.
    pub min_thickness_errors_mm: Vec<f32>,
    /// Rim coverage (the share of the core's boundary with rim) against the truth's, for found rim
    /// lesions whose rim has a gap.
    pub coverage_errors: Vec<f32>,
    /// Found rim lesions whose rim is complete in the truth: all of them, and those the analysis read
    /// as incomplete (coverage under `RIM_COMPLETE`: the margin verdict says "rim incomplete").
    pub complete_found: u32,
    pub complete_read_incomplete: u32,
    /// Coreless lesions wholly in view: found with the right kind, or missed; [homogeneous, diffuse].
    pub coreless_found: [u32; 2],
    pub coreless_missed: [u32; 2],
    /// Detections of any kind matching no lesion of the truth (on ducts, blobs, texture, glints ...).
    pub false_lesions: u32,
    pub frames: u32,
    /// What went wrong, for diagnosis: lesions wholly in view that were missed (rim lesions, and coreless
    /// ones not found with their kind), and detections of any kind near no lesion of the truth.
    #[serde(skip)]
    pub missed: Vec<crate::phantom::TruthLesion>,
    #[serde(skip)]
    pub false_detections: Vec<Lesion>,
    /// Rim lesions found with a figure far off the truth (core diameter off by more than
    /// `LARGE_ERROR_MM`, the thinnest rim by more than twice that, or a complete rim read incomplete),
    /// for diagnosis.
    #[serde(skip)]
    pub large_errors: Vec<(crate::phantom::TruthLesion, Lesion)>,
    pub core_intersection: u64,
    pub core_total: u64,
    pub rim_intersection: u64,
    pub rim_total: u64,
}

/// A core diameter error (mm) beyond which a found lesion is listed in `Score::large_errors`.
pub const LARGE_ERROR_MM: f32 = 0.4;

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
    pub fn min_thickness_mae_mm(&self) -> Option<f32> {
        mean_abs(&self.min_thickness_errors_mm)
    }
    pub fn coverage_mae(&self) -> Option<f32> {
        mean_abs(&self.coverage_errors)
    }
    /// Share of the coreless lesions of `kind` (homogeneous 0, diffuse 1) found with that kind.
    pub fn coreless_sensitivity(&self, k: usize) -> Option<f32> {
        let n = self.coreless_found[k] + self.coreless_missed[k];
        (n > 0).then(|| self.coreless_found[k] as f32 / n as f32)
    }
    pub fn false_lesions_per_frame(&self) -> f32 {
        self.false_lesions as f32 / self.frames.max(1) as f32
    }

    /// Adds another score's totals to this one.
    pub fn merge(&mut self, o: &Score) {
        self.true_positives += o.true_positives;
        self.false_positives += o.false_positives;
        self.false_negatives += o.false_negatives;
        self.diameter_errors_mm.extend(&o.diameter_errors_mm);
        self.thickness_errors_mm.extend(&o.thickness_errors_mm);
        self.min_thickness_errors_mm.extend(&o.min_thickness_errors_mm);
        self.coverage_errors.extend(&o.coverage_errors);
        self.complete_found += o.complete_found;
        self.complete_read_incomplete += o.complete_read_incomplete;
        for k in 0..2 {
            self.coreless_found[k] += o.coreless_found[k];
            self.coreless_missed[k] += o.coreless_missed[k];
        }
        self.false_lesions += o.false_lesions;
        self.frames += o.frames;
        self.missed.extend(o.missed.iter().cloned());
        self.false_detections.extend(o.false_detections.iter().cloned());
        self.large_errors.extend(o.large_errors.iter().cloned());
        self.core_intersection += o.core_intersection;
        self.core_total += o.core_total;
        self.rim_intersection += o.rim_intersection;
        self.rim_total += o.rim_total;
    }

    /// Coreless lesions and false lesions of one frame: each homogeneous or diffuse lesion wholly in view
    /// is found when a detection of its kind lies within its radius (3 mm for a deep glow) of its
    /// centre; a detection of any kind near no lesion of the truth (in view or partial) is false.
    pub fn add_any_kind(&mut self, detected: &[Lesion], truth: &TruthFrame, mm_per_px: f32) {
        self.frames += 1;
        let radius_px = |t: &crate::phantom::TruthLesion| t.core_diameter_mm.map_or(3.0, |d| 0.5 * d) / mm_per_px;
        let near = |l: &Lesion, t: &crate::phantom::TruthLesion| {
            (l.centroid_px[0] - t.centroid_px[0]).hypot(l.centroid_px[1] - t.centroid_px[1]) <= radius_px(t).max(5.0)
        };
        for t in truth.lesions.iter().filter(|t| t.kind != LesionKind::Rim && t.in_view == InView::Full) {
            let k = (t.kind == LesionKind::Diffuse) as usize;
            if detected.iter().any(|l| l.kind == t.kind && near(l, t)) {
                self.coreless_found[k] += 1;
            } else {
                self.coreless_missed[k] += 1;
                self.missed.push(t.clone());
            }
        }
        let in_view: Vec<_> = truth.lesions.iter().filter(|t| t.in_view != InView::Out).collect();
        let false_ones: Vec<&Lesion> = detected.iter().filter(|l| !in_view.iter().any(|t| near(l, t))).collect();
        self.false_lesions += false_ones.len() as u32;
        self.false_detections.extend(false_ones.into_iter().cloned());
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
                    let mut large = false;
                    if let (Some(d), Some(td)) = (l.core_diameter_mm, t.core_diameter_mm) {
                        self.diameter_errors_mm.push(d - td);
                        large |= (d - td).abs() > LARGE_ERROR_MM;
                    }
                    if let (Some(r), Some(tr)) = (l.rim_thickness_mm, t.rim_thickness_mm) {
                        self.thickness_errors_mm.push(r - tr);
                    }
                    if let (Some(r), Some(tr)) = (l.min_rim_thickness_mm, t.min_rim_thickness_mm.or(t.rim_thickness_mm)) {
                        self.min_thickness_errors_mm.push(r - tr);
                        large |= (r - tr).abs() > 2.0 * LARGE_ERROR_MM;
                    }
                    match (l.rim_coverage, t.rim_coverage) {
                        (Some(c), Some(tc)) if tc < 1.0 => self.coverage_errors.push(c - tc),
                        (Some(c), _) => {
                            self.complete_found += 1;
                            self.complete_read_incomplete += (c < RIM_COMPLETE) as u32;
                            large |= c < RIM_COMPLETE;
                        }
                        _ => {}
                    }
                    if large {
                        self.large_errors.push((t.clone(), l.clone()));
                    }
                }
                (Some((i, _)), _) => used[i] = true, // a partial lesion: found or not, no claim either way
                (None, InView::Full) => {
                    self.false_negatives += 1;
                    self.missed.push(t.clone());
                }
                (None, _) => {}
            }
        }
        self.false_positives += used.iter().filter(|u| !**u).count() as u32;
    }

    /// Add one frame's masks: Dice of the cores, and of the rims (mask value 1 against the true rim;
    /// pixels of other fluorescence in the truth, ducts and deep glow, are left out).
    pub fn add_masks(&mut self, predicted: &Plane<u8>, truth: &Plane<u8>) {
        for (&p, &t) in predicted.data.iter().zip(&truth.data) {
            let (pc, tc) = (p == class::CORE, t == truth_class::CORE);
            self.core_intersection += (pc && tc) as u64;
            self.core_total += pc as u64 + tc as u64;
            if t == truth_class::OTHER_FLUORESCENCE {
                continue;
            }
            let (pr, tr) = (p == class::RIM, t == truth_class::RIM);
            self.rim_intersection += (pr && tr) as u64;
            self.rim_total += pr as u64 + tr as u64;
        }
    }
}
