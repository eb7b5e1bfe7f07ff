//! Accuracy per condition of the phantom family, so that a weakness shows where it lives: scores bucketed
//! by the scene's conditions (family, texture band, scatter halo, motion blur, haze, gain, size, scale)
//! and, for rim lesions, by the lesion's own (complete rim or gap, rim profile, core level). Scene buckets hold every
//! figure; lesion buckets hold what belongs to a lesion (found or missed, figure errors).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::{Lesion, LesionKind};
use crate::frame::Plane;
use crate::measure::accuracy::Score;
use crate::phantom::{TruthFrame, TruthLesion, Variation};

/// A bucket's name: (condition, band), e.g. ("texture", "18-25%").
pub type Bucket = (String, String);

/// The scene-level conditions of a phantom (`None`: the plain family).
pub fn scene_buckets(variation: Option<&Variation>, width: usize, height: usize, mm_per_px: f32) -> Vec<Bucket> {
    let b = |c: &str, v: &str| (c.to_string(), v.to_string());
    let mut out = vec![b("all", "all"), b("size", &format!("{width}x{height}"))];
    out.push(b("scale", if mm_per_px < 0.07 { "0.04-0.07 mm/px" } else if mm_per_px < 0.11 { "0.07-0.11 mm/px" } else { "0.11-0.15 mm/px" }));
    match variation {
        None => {
            out.push(b("family", "plain"));
            out.push(b("texture", "plain (~3%)"));
        }
        Some(v) => {
            out.push(b("family", "broad"));
            out.push(b("texture", if v.texture < 0.10 { "05-10%" } else if v.texture < 0.18 { "10-18%" } else { "18-25%" }));
            out.push(b("texture law", if v.lobular { "lobules (bright walls)" } else if v.skewed { "skewed (log-normal)" } else { "symmetric" }));
            out.push(b("scatter halo", if v.halo > 0.0 { "5-25%" } else { "none" }));
            out.push(b("motion blur", if v.motion_blur_px > 0.0 { "1-5 px" } else { "none" }));
            out.push(b("haze", if v.haze > 0.0 { "5-25%" } else { "none" }));
            out.push(b("gain", if v.gain > 1.0 { "1.5-4x (saturating)" } else { "1x" }));
        }
    }
    out
}

/// The lesion-level conditions of a rim lesion of the truth.
pub fn lesion_buckets(t: &TruthLesion) -> Vec<Bucket> {
    let b = |c: &str, v: &str| (c.to_string(), v.to_string());
    let mut out = Vec::new();
    if let Some(c) = t.rim_coverage {
        out.push(b("rim", if c >= 0.999 { "complete" } else { "gap 15-50 deg" }));
        out.push(b("rim profile", if t.rim_fade.is_some() { "fading outwards 20-60%, patchy" } else { "even" }));
    }
    if let Some(l) = t.core_level {
        out.push(b("core level", if l < 0.6 { "0.15-0.6" } else if l < 0.9 { "0.6-0.9" } else { "0.9-1.05" }));
    }
    out
}

/// Scores by bucket.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConditionScores {
    pub scene: BTreeMap<String, BTreeMap<String, Score>>,
    /// Lesion buckets: false detections are not counted here (they belong to no lesion).
    pub lesion: BTreeMap<String, BTreeMap<String, Score>>,
}

impl ConditionScores {
    /// Adds one analysed frame of a scene in `buckets`.
    pub fn add_frame(&mut self, buckets: &[Bucket], detected: &[Lesion], truth: &TruthFrame, classes: &Plane<u8>, truth_classes: &Plane<u8>, mm_per_px: f32) {
        let mut frame = Score::default();
        frame.add_lesions(detected, truth, mm_per_px);
        frame.add_any_kind(detected, truth, mm_per_px);
        frame.add_masks(classes, truth_classes);
        for (c, v) in buckets {
            self.scene.entry(c.clone()).or_default().entry(v.clone()).or_default().merge(&frame);
        }
        // Per lesion: score the frame against the truth reduced to that lesion.
        for t in truth.lesions.iter().filter(|t| t.kind == LesionKind::Rim) {
            let one = TruthFrame { frame: truth.frame, lesions: vec![t.clone()], spots: Vec::new() };
            let mut s = Score::default();
            s.add_lesions(detected, &one, mm_per_px);
            s.false_positives = 0;
            for (c, v) in lesion_buckets(t) {
                self.lesion.entry(c).or_default().entry(v).or_default().merge(&s);
            }
        }
    }

    /// The overall score (the "all" bucket).
    pub fn all(&self) -> Score {
        self.scene.get("all").and_then(|m| m.get("all")).cloned().unwrap_or_default()
    }
}
