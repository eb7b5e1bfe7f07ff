//! Lesion identity across frames: each frame's lesions are matched to the tracks of earlier frames by
//! the distance from their centroid to the track's predicted position (constant velocity), same kind
//! only, nearest pairs first. A track unseen for longer than `max_missing` frames is dropped, so a lesion
//! leaving the view keeps its ID if it comes back within that time.

use crate::analysis::LesionKind;
use crate::measure::figures::Figures;

#[derive(Clone, Debug)]
struct Track {
    id: u32,
    kind: LesionKind,
    centroid: [f32; 2],
    velocity: [f32; 2],
    radius: f32,
    missing: u32,
}

#[derive(Clone, Debug)]
pub struct Tracker {
    next_id: u32,
    tracks: Vec<Track>,
    max_missing: u32,
}

impl Tracker {
    /// `max_missing`: frames a lesion may be unseen and keep its ID (one second of video is right).
    pub fn new(max_missing: u32) -> Self {
        Self { next_id: 1, tracks: Vec::new(), max_missing }
    }

    /// IDs for this frame's lesions, in the order given.
    pub fn update(&mut self, lesions: &[Figures]) -> Vec<u32> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            let steps = (t.missing + 1) as f32;
            let pred = [t.centroid[0] + t.velocity[0] * steps, t.centroid[1] + t.velocity[1] * steps];
            for (li, l) in lesions.iter().enumerate() {
                if l.kind != t.kind {
                    continue;
                }
                let d = ((l.centroid_px[0] - pred[0]).powi(2) + (l.centroid_px[1] - pred[1]).powi(2)).sqrt();
                let gate = (0.75 * t.radius.max(l.radius_px)).max(15.0) + 3.0 * t.missing as f32;
                if d <= gate {
                    pairs.push((d, ti, li));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut ids = vec![0u32; lesions.len()];
        let mut track_used = vec![false; self.tracks.len()];
        for (_, ti, li) in pairs {
            if track_used[ti] || ids[li] != 0 {
                continue;
            }
            track_used[ti] = true;
            let t = &mut self.tracks[ti];
            let l = &lesions[li];
            let steps = (t.missing + 1) as f32;
            let v = [(l.centroid_px[0] - t.centroid[0]) / steps, (l.centroid_px[1] - t.centroid[1]) / steps];
            t.velocity = [0.5 * t.velocity[0] + 0.5 * v[0], 0.5 * t.velocity[1] + 0.5 * v[1]];
            t.centroid = l.centroid_px;
            t.radius = l.radius_px;
            t.missing = 0;
            ids[li] = t.id;
        }
        for (ti, used) in track_used.iter().enumerate() {
            if !used {
                self.tracks[ti].missing += 1;
            }
        }
        let max_missing = self.max_missing;
        self.tracks.retain(|t| t.missing <= max_missing);
        for (li, l) in lesions.iter().enumerate() {
            if ids[li] == 0 {
                let id = self.next_id;
                self.next_id += 1;
                self.tracks.push(Track { id, kind: l.kind, centroid: l.centroid_px, velocity: [0.0; 2], radius: l.radius_px, missing: 0 });
                ids[li] = id;
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(x: f32, y: f32) -> Figures {
        Figures {
            label: 1,
            kind: LesionKind::Rim,
            centroid_px: [x, y],
            partial: false,
            core_diameter_px: Some(60.0),
            feret_px: Some((55.0, 65.0)),
            rim_thickness_px: Some(12.0),
            min_rim_thickness_px: Some(10.0),
            rim_coverage: Some(1.0),
            tbr: 2.0,
            area_px: 2800.0,
            radius_px: 30.0,
        }
    }

    #[test]
    fn ids_follow_moving_lesions_and_survive_a_short_absence() {
        let mut t = Tracker::new(30);
        let a = t.update(&[fig(100.0, 100.0), fig(400.0, 100.0)]);
        assert_eq!(a, vec![1, 2]);
        // Both move 5 px right; order swapped in the input.
        let b = t.update(&[fig(405.0, 100.0), fig(105.0, 100.0)]);
        assert_eq!(b, vec![2, 1]);
        // Lesion 1 gone for ten frames, then back near its predicted path.
        for _ in 0..10 {
            assert_eq!(t.update(&[fig(410.0, 100.0)]), vec![2]);
        }
        let c = t.update(&[fig(160.0, 100.0), fig(415.0, 100.0)]);
        assert_eq!(c, vec![1, 2]);
        // A lesion far from any track is new.
        assert_eq!(t.update(&[fig(700.0, 500.0)]), vec![3]);
    }
}
