//! The trial's checks after the survey: during the cut (`transection`) any fluorescence in the region of
//! interest above a TBR threshold is flagged; in the wound bed after it (`wound-bed`) the same, plus a
//! tally of the distinct spots seen over the procedure and a verdict that says only what was measured.
//! The flag is steady: raised when two of the last three frames hold a spot, lowered when two of the last
//! three hold none (no flicker from one noisy frame; at most two frames of lag).

use std::collections::VecDeque;

use serde::Serialize;

use crate::analysis::LesionKind;
use crate::frame::Plane;
use crate::measure::figures::Figures;
use crate::measure::tracking::Tracker;
use crate::reference::components::{Connectivity, label_components};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Before resection: lesions, kinds, cores and margin contours.
    Survey,
    /// During the cut: fluorescence in the region of interest is flagged at once.
    Transection,
    /// After resection: as transection, with a tally of spots and a verdict.
    WoundBed,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Survey => "survey",
            Mode::Transection => "transection",
            Mode::WoundBed => "wound-bed",
        }
    }
}

/// Region of interest in px: x, y, width, height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Roi {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Roi {
    /// The central 60% of the view.
    pub fn central(width: usize, height: usize) -> Self {
        Self { x: width / 5, y: height / 5, w: width * 3 / 5, h: height * 3 / 5 }
    }

    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let v: Vec<usize> = s.split(',').map(|p| p.trim().parse()).collect::<Result<_, _>>().map_err(|_| anyhow::anyhow!("--roi {s}: expected x,y,w,h in px"))?;
        match v.as_slice() {
            &[x, y, w, h] if w > 0 && h > 0 => Ok(Self { x, y, w, h }),
            _ => anyhow::bail!("--roi {s}: expected x,y,w,h in px with positive size"),
        }
    }

    pub fn clamp_to(self, width: usize, height: usize) -> Self {
        let x = self.x.min(width.saturating_sub(1));
        let y = self.y.min(height.saturating_sub(1));
        Self { x, y, w: self.w.min(width - x), h: self.h.min(height - y) }
    }

    pub fn contains(&self, x: usize, y: usize) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spot {
    pub id: u32,
    pub centroid_px: [f32; 2],
    pub area_px: u32,
    pub area_mm2: Option<f32>,
    pub peak_tbr: f32,
    /// Bounding box x0, y0, x1, y1 (exclusive), px.
    pub bbox: [usize; 4],
}

/// Fluorescent regions inside the ROI whose peak ratio reaches `min_tbr` and whose area reaches
/// `min_area_px` (pixels outside the ROI do not count). Uses the cleaned fluorescence mask (glints out).
pub fn find_spots(ratio: &Plane<f32>, fluo: &Plane<u8>, roi: Roi, min_tbr: f32, min_area_px: u32) -> Vec<Spot> {
    let (w, h) = (fluo.width, fluo.height);
    let mut inside = Plane::<u8>::new(w, h);
    for y in roi.y..roi.y + roi.h {
        for x in roi.x..roi.x + roi.w {
            inside.set(x, y, fluo.get(x, y));
        }
    }
    let mut parent = Vec::new();
    let mut labels = Plane::new(0, 0);
    let list: Vec<u32> = label_components(&inside, 1, Connectivity::Eight, &mut parent, &mut labels).iter().map(|c| c.label).collect();
    let mut acc: Vec<(u32, f64, f64, f32, [usize; 4])> = vec![(0, 0.0, 0.0, 0.0, [usize::MAX, usize::MAX, 0, 0]); list.len()];
    for y in roi.y..roi.y + roi.h {
        for x in roi.x..roi.x + roi.w {
            let l = labels.get(x, y);
            if l == 0 {
                continue;
            }
            let k = list.binary_search(&l).expect("listed label");
            let a = &mut acc[k];
            a.0 += 1;
            a.1 += x as f64 + 0.5;
            a.2 += y as f64 + 0.5;
            a.3 = a.3.max(ratio.get(x, y));
            a.4 = [a.4[0].min(x), a.4[1].min(y), a.4[2].max(x + 1), a.4[3].max(y + 1)];
        }
    }
    acc.into_iter()
        .filter(|a| a.0 >= min_area_px && a.3 >= min_tbr)
        .map(|(n, sx, sy, peak, bbox)| Spot {
            id: 0,
            centroid_px: [(sx / n as f64) as f32, (sy / n as f64) as f32],
            area_px: n,
            area_mm2: None,
            peak_tbr: peak,
            bbox,
        })
        .collect()
}

/// A spot recorded in the wound-bed tally.
#[derive(Clone, Debug, Serialize)]
pub struct TalliedSpot {
    pub id: u32,
    pub first_frame: u64,
    pub frames: u32,
    pub max_area_mm2: Option<f32>,
    pub max_area_px: u32,
    pub peak_tbr: f32,
}

/// Per-frame state of the transection / wound-bed check.
#[derive(Clone, Debug, Serialize)]
pub struct FrameFindings {
    pub mode: Mode,
    pub flag: bool,
    pub spots: Vec<Spot>,
    /// Spot IDs first confirmed on this frame (a snapshot is due).
    pub new_spots: Vec<u32>,
}

pub struct FindingsTracker {
    pub mode: Mode,
    pub min_tbr: f32,
    history: VecDeque<bool>,
    flag: bool,
    tracker: Tracker,
    frames: u64,
    tally: Vec<TalliedSpot>,
}

impl FindingsTracker {
    pub fn new(mode: Mode, min_tbr: f32, fps: f64) -> Self {
        Self { mode, min_tbr, history: VecDeque::new(), flag: false, tracker: Tracker::new(fps.round().max(1.0) as u32), frames: 0, tally: Vec::new() }
    }

    /// Switch mode (a key press in `live`): the steady flag starts afresh, the tally is kept.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.history.clear();
        self.flag = false;
    }

    pub fn update(&mut self, frame: u64, mut spots: Vec<Spot>, mm_per_px: Option<f32>) -> FrameFindings {
        self.frames += 1;
        self.history.push_back(!spots.is_empty());
        if self.history.len() > 3 {
            self.history.pop_front();
        }
        let present = self.history.iter().filter(|&&b| b).count();
        if present >= 2 {
            self.flag = true;
        } else if self.history.len() - present >= 2 {
            self.flag = false;
        }
        let figs: Vec<Figures> = spots
            .iter()
            .map(|s| Figures {
                label: 0,
                kind: LesionKind::Diffuse,
                partial: false,
                centroid_px: s.centroid_px,
                core_diameter_px: None,
                feret_px: None,
                rim_thickness_px: None,
                min_rim_thickness_px: None,
                tbr: s.peak_tbr,
                area_px: s.area_px as f32,
                radius_px: (s.area_px as f32 / std::f32::consts::PI).sqrt(),
            })
            .collect();
        let ids = self.tracker.update(&figs);
        let mut new_spots = Vec::new();
        for (s, id) in spots.iter_mut().zip(ids) {
            s.id = id;
            s.area_mm2 = mm_per_px.map(|m| s.area_px as f32 * m * m);
            match self.tally.iter_mut().find(|t| t.id == id) {
                Some(t) => {
                    t.frames += 1;
                    t.max_area_px = t.max_area_px.max(s.area_px);
                    t.max_area_mm2 = s.area_mm2.map(|a| t.max_area_mm2.unwrap_or(0.0).max(a));
                    t.peak_tbr = t.peak_tbr.max(s.peak_tbr);
                    if t.frames == 2 && self.mode == Mode::WoundBed {
                        new_spots.push(id); // confirmed on a second frame: worth a snapshot
                    }
                }
                None => self.tally.push(TalliedSpot {
                    id,
                    first_frame: frame,
                    frames: 1,
                    max_area_mm2: s.area_mm2,
                    max_area_px: s.area_px,
                    peak_tbr: s.peak_tbr,
                }),
            }
        }
        FrameFindings { mode: self.mode, flag: self.flag, spots, new_spots }
    }

    /// Spots seen on at least two frames (single-frame noise is not a finding).
    pub fn confirmed(&self) -> Vec<&TalliedSpot> {
        self.tally.iter().filter(|t| t.frames >= 2).collect()
    }

    /// What was measured, and nothing more.
    pub fn verdict(&self) -> String {
        let spots = self.confirmed();
        if spots.is_empty() {
            return format!("no fluorescence above TBR {} in {} frames", self.min_tbr, self.frames);
        }
        let peak = spots.iter().map(|t| t.peak_tbr).fold(0.0f32, f32::max);
        let largest = match spots.iter().filter_map(|t| t.max_area_mm2).reduce(f32::max) {
            Some(a) => format!("{a:.0} mm²"),
            None => format!("{} px", spots.iter().map(|t| t.max_area_px).max().unwrap_or(0)),
        };
        let n = spots.len();
        format!("{n} fluorescent spot{}, largest {largest}, peak TBR {peak:.1} in {} frames", if n == 1 { "" } else { "s" }, self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot() -> Spot {
        Spot { id: 0, centroid_px: [50.0, 50.0], area_px: 40, area_mm2: None, peak_tbr: 2.0, bbox: [45, 45, 55, 55] }
    }

    #[test]
    fn the_flag_ignores_a_single_frame_and_follows_within_two() {
        let mut t = FindingsTracker::new(Mode::Transection, 1.5, 30.0);
        let mut flags = Vec::new();
        for present in [false, true, false, false, true, true, true, false, true, false, false] {
            flags.push(t.update(0, if present { vec![spot()] } else { vec![] }, Some(0.1)).flag);
        }
        assert_eq!(flags, [false, false, false, false, false, true, true, true, true, false, false]);
    }

    #[test]
    fn spots_outside_the_roi_do_not_count() {
        let mut fluo = Plane::<u8>::new(100, 100);
        let mut ratio = Plane::<f32>::filled(100, 100, 1.0);
        for y in 10..16 {
            for x in 10..16 {
                fluo.set(x, y, 1); // outside the ROI
                ratio.set(x, y, 3.0);
            }
        }
        for y in 50..56 {
            for x in 50..56 {
                fluo.set(x, y, 1);
                ratio.set(x, y, 2.0);
            }
        }
        let spots = find_spots(&ratio, &fluo, Roi::central(100, 100), 1.5, 10);
        assert_eq!(spots.len(), 1);
        assert_eq!(spots[0].area_px, 36);
        assert!((spots[0].peak_tbr - 2.0).abs() < 1e-6);
    }
}
