//! Temporal smoothing of a tracked lesion's figures: the median of its last three frames, which
//! ignores a single-frame glitch and follows a real change within two frames (a lag well under the
//! three frames allowed). Positions are not smoothed: the overlay must sit on the current frame.

use std::collections::HashMap;

use crate::measure::figures::Figures;

const WINDOW: usize = 3;

#[derive(Default)]
pub struct Smoother {
    history: HashMap<u32, (u64, Vec<Figures>)>,
    frame: u64,
}

fn median_opt(vals: impl Iterator<Item = Option<f32>>) -> Option<f32> {
    crate::stats::median(&mut vals.flatten().collect::<Vec<f32>>())
}

impl Smoother {
    /// Smooth this frame's figures, one per tracked `id` (same order).
    pub fn update(&mut self, ids: &[u32], figs: &[Figures]) -> Vec<Figures> {
        self.frame += 1;
        let frame = self.frame;
        let out = ids
            .iter()
            .zip(figs)
            .map(|(&id, f)| {
                let entry = self.history.entry(id).or_insert_with(|| (frame, Vec::new()));
                // A lesion that left the view starts its window afresh on return.
                if entry.0 + 1 < frame {
                    entry.1.clear();
                }
                entry.0 = frame;
                entry.1.push(f.clone());
                if entry.1.len() > WINDOW {
                    entry.1.remove(0);
                }
                let h = &entry.1;
                Figures {
                    core_diameter_px: if f.core_diameter_px.is_some() { median_opt(h.iter().map(|g| g.core_diameter_px)) } else { None },
                    feret_px: f.feret_px.map(|_| {
                        (
                            median_opt(h.iter().map(|g| g.feret_px.map(|x| x.0))).unwrap_or(0.0),
                            median_opt(h.iter().map(|g| g.feret_px.map(|x| x.1))).unwrap_or(0.0),
                        )
                    }),
                    rim_thickness_px: median_opt(h.iter().map(|g| g.rim_thickness_px)).filter(|_| f.rim_thickness_px.is_some()),
                    min_rim_thickness_px: median_opt(h.iter().map(|g| g.min_rim_thickness_px)).filter(|_| f.min_rim_thickness_px.is_some()),
                    rim_coverage: median_opt(h.iter().map(|g| g.rim_coverage)).filter(|_| f.rim_coverage.is_some()),
                    tbr: median_opt(h.iter().map(|g| Some(g.tbr))).unwrap_or(f.tbr),
                    area_px: median_opt(h.iter().map(|g| Some(g.area_px))).unwrap_or(f.area_px),
                    ..f.clone()
                }
            })
            .collect();
        self.history.retain(|_, (seen, _)| *seen + 120 >= frame);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::LesionKind;

    fn fig(d: f32) -> Figures {
        Figures {
            label: 1,
            kind: LesionKind::Rim,
            partial: false,
            centroid_px: [10.0, 10.0],
            core_diameter_px: Some(d),
            feret_px: Some((d, d)),
            rim_thickness_px: Some(5.0),
            min_rim_thickness_px: Some(4.0),
            rim_coverage: Some(1.0),
            tbr: 2.0,
            area_px: 100.0,
            radius_px: d / 2.0,
        }
    }

    #[test]
    fn a_single_frame_glitch_is_ignored_and_a_step_followed_within_two_frames() {
        let mut s = Smoother::default();
        let d = |s: &mut Smoother, v: f32| s.update(&[1], &[fig(v)])[0].core_diameter_px.unwrap();
        for _ in 0..3 {
            assert_eq!(d(&mut s, 50.0), 50.0);
        }
        assert_eq!(d(&mut s, 80.0), 50.0); // glitch
        assert_eq!(d(&mut s, 50.0), 50.0);
        assert_eq!(d(&mut s, 50.0), 50.0);
        // A real step from 50 to 60: shown from the second frame on.
        assert_eq!(d(&mut s, 60.0), 50.0);
        assert_eq!(d(&mut s, 60.0), 60.0);
    }
}
