//! CPU twin of `shaders/composite.wgsl`: the overlay. On the white-light frame: fluorescence in
//! pseudo-colour (green, opacity rising with the background ratio), tumour cores lightly tinted, each
//! core's boundary (yellow) and its margin contours (the first in cyan, red when the processor's style
//! table says the lesion's verdict warns; further ones in white), anti-aliased from the distance field,
//! for the lesions the table holds, in the colours and line coverage of `overlay::{palette, lines}`.
//! Nothing is decided here. Text and every other mark are added after by `overlay`.

use rayon::prelude::*;

use crate::analysis::{LesionStyle, style};
use crate::overlay::lines::{Lines, boundary_drawn, fluorescence_alpha, shade};
use crate::frame::{Plane, RgbFrame, RgbView};
use crate::raster::rect::row_spans;
use crate::raster::rect::Rect;

/// Per-pixel inputs of the composite.
pub struct CompositeInputs<'a> {
    pub wl: RgbView<'a>,
    pub ratio: &'a Plane<f32>,
    pub fluo: &'a Plane<u8>,
    pub seeds: &'a Plane<u32>,
    pub dist: &'a Plane<f32>,
    pub nearest: &'a Plane<u32>,
    /// The distance transform's rectangles: outside them there are no cores and no nearest core.
    pub rects: &'a [Rect],
}

/// Pixels tested at once for having nothing drawn on them.
const CHUNK: usize = 16;

/// The overlay: a copy of the white light with every layer drawn on it.
pub fn composite(inp: &CompositeInputs, styles: &[LesionStyle], margins_px: &[f32]) -> RgbFrame {
    let (w, h) = (inp.wl.width, inp.wl.height);
    // The white light first, copied in parallel into the new frame (not zeroed first): a pixel nothing
    // is drawn on keeps it.
    let mut data = Vec::with_capacity(w * h * 3);
    data.par_extend(inp.wl.data[..w * h * 3].par_iter().copied());
    let mut out = RgbFrame { width: w, height: h, data };
    // The style table: a word a styled lesion (`analysis::style`), by label.
    let mut by_label: Vec<(u32, u32)> = styles.iter().map(|s| (s.label, s.word())).collect();
    by_label.sort_unstable();
    // Beyond this distance from a core no line has coverage (`line_alpha` is 0 from 1.5 px off its target).
    let reach = margins_px.iter().fold(1.0f32, |a, &m| a.max(m + 0.5)) + 1.5;
    out.data.par_chunks_mut(w * 3).enumerate().for_each(|(y, row)| {
        // Outside the rectangles only the fluorescence colour can apply (where the ratio is over 1.15 or
        // the mask is set), inside them every layer.
        let (ratio, fluo) = (inp.ratio.row(y), inp.fluo.row(y));
        let mut x = 0;
        for (s0, s1) in row_spans(inp.rects, y).chain([(w, w)]) {
            for c0 in (x..s0).step_by(CHUNK) {
                let c1 = (c0 + CHUNK).min(s0);
                // Chunks with no pixel to colour go by in one test.
                if !ratio[c0..c1].iter().zip(&fluo[c0..c1]).fold(false, |a, (&r, &f)| a | (r > 1.15) | (f != 0)) {
                    continue;
                }
                for x in c0..c1 {
                    if ratio[x] > 1.15 || fluo[x] != 0 {
                        let dst = &mut row[x * 3..x * 3 + 3];
                        let c = shade([dst[0], dst[1], dst[2]], fluorescence_alpha(ratio[x], fluo[x] != 0), false, None);
                        dst.copy_from_slice(&c);
                    }
                }
            }
            let (seeds, nearest, dist) = (inp.seeds.row(y), inp.nearest.row(y), inp.dist.row(y));
            for c0 in (s0..s1).step_by(CHUNK) {
                let c1 = (c0 + CHUNK).min(s1);
                // Chunks where `composite_pixel` draws nothing (no fluorescence colour, no core, no
                // line within reach; beyond the bound `dist` is infinite) go by in one test, most of
                // the rectangles at a fine scale.
                let busy = ratio[c0..c1].iter().zip(&fluo[c0..c1]).zip(&seeds[c0..c1]).zip(&dist[c0..c1]).fold(false, |a, (((&r, &f), &s), &d)| {
                    a | !(r <= 1.15) | (f != 0) | (s != 0) | (d < reach)
                });
                if !busy {
                    continue;
                }
                for x in c0..c1 {
                    let px = Pixel { x, y, ratio: ratio[x], fluo: fluo[x], seed: seeds[x], nearest: nearest[x], dist: dist[x] };
                    composite_pixel(&px, &by_label, margins_px, reach, &mut row[x * 3..x * 3 + 3]);
                }
            }
            x = s1;
        }
    });
    out
}

/// What `composite_pixel` reads of a pixel in the rectangles: its position and its maps' values.
struct Pixel {
    x: usize,
    y: usize,
    ratio: f32,
    fluo: u8,
    seed: u32,
    nearest: u32,
    dist: f32,
}

/// Every layer at pixel `p`, on `dst`, which holds its white light: fluorescence, core tint, boundary
/// and margin lines.
#[inline]
fn composite_pixel(p: &Pixel, by_label: &[(u32, u32)], margins_px: &[f32], reach: f32, dst: &mut [u8]) {
    let alpha = fluorescence_alpha(p.ratio, p.fluo != 0);
    // Nothing drawn here (no fluorescence, no core, no line within reach): `dst` holds the white light
    // as it is (what mixing at opacity 0 and storing would give).
    if alpha == 0.0 && p.seed == 0 && (p.nearest == 0 || !(p.dist < reach)) {
        return;
    }
    // The nearest core's lines, where the style table holds its lesion.
    let styled = (p.seed == 0 && p.nearest != 0 && p.dist < reach).then(|| by_label.binary_search_by_key(&p.nearest, |s| s.0).ok()).flatten();
    let lines = styled.map(|k| Lines { d: p.dist, boundary: boundary_drawn(p.x, p.y, p.fluo != 0), warn: by_label[k].1 & style::WARN != 0, margins_px });
    let c = shade([dst[0], dst[1], dst[2]], alpha, p.seed != 0, lines);
    dst.copy_from_slice(&c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Analyzer, LesionKind};
    use crate::params::AnalysisParams;
    use crate::phantom::{PhantomConfig, render};
    use crate::reference::CpuAnalyzer;

    /// The chunks gone by in one test change no pixel: the composite equals its reference, every pixel
    /// coloured on its own (`composite_pixel` in the rectangles, the fluorescence colour outside), on
    /// phantoms at fine and coarse scales (at 0.05 mm/px the rectangles cover most of the frame), the
    /// lesions styled alternately as warning and not.
    #[test]
    fn chunks_gone_by_at_once_change_no_pixel() {
        for (seed, mm) in [(3u64, 0.05f32), (4, 0.05), (5, 0.12)] {
            let cfg = PhantomConfig { width: 480, height: 272, frames: 1, seed, mm_per_px: mm, ..Default::default() };
            let f = render(&cfg.scene(), 0);
            let p = AnalysisParams::with_scale(mm);
            let mut cpu = CpuAnalyzer::new(p.clone()).unwrap();
            let seg = cpu.segment(f.wl.view(), f.nir.view(), false).unwrap();
            let styles: Vec<LesionStyle> = seg
                .lesions
                .iter()
                .enumerate()
                .map(|(k, l)| LesionStyle { label: l.label, kind: LesionKind::Rim, warn: k % 2 == 1, text: String::new(), anchor_px: [0.0; 2] })
                .collect();
            assert!(!styles.is_empty(), "seed {seed}: a phantom with lesions");
            let fast = cpu.composite(f.wl.view(), &styles).unwrap().overlay;
            let (m, margins) = (cpu.maps(), p.margins_px());
            let mut by_label: Vec<(u32, u32)> = styles.iter().map(|s| (s.label, s.word())).collect();
            by_label.sort_unstable();
            let reach = margins.iter().fold(1.0f32, |a, &mg| a.max(mg + 0.5)) + 1.5;
            let (w, h) = (f.wl.width, f.wl.height);
            let mut slow = f.wl.data[..w * h * 3].to_vec();
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    let dst = &mut slow[i * 3..i * 3 + 3];
                    if m.distance.rects.iter().any(|r| (r.x0..r.x1).contains(&x) && (r.y0..r.y1).contains(&y)) {
                        let px = Pixel { x, y, ratio: m.ratio.data[i], fluo: m.fluo.data[i], seed: m.seeds.data[i], nearest: m.distance.nearest.data[i], dist: m.distance.dist.data[i] };
                        composite_pixel(&px, &by_label, &margins, reach, dst);
                    } else if m.ratio.data[i] > 1.15 || m.fluo.data[i] != 0 {
                        let c = shade([dst[0], dst[1], dst[2]], fluorescence_alpha(m.ratio.data[i], m.fluo.data[i] != 0), false, None);
                        dst.copy_from_slice(&c);
                    }
                }
            }
            let differing = fast.data.chunks(3).zip(slow.chunks(3)).filter(|(a, b)| a != b).count();
            assert_eq!(differing, 0, "seed {seed} at {mm} mm/px: {differing} pixels differ");
        }
    }
}
