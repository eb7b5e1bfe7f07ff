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

/// Pixels outside the rectangles tested at once for having no colour to take.
const CHUNK: usize = 16;

/// The overlay: a copy of the white light with every layer drawn on it.
pub fn composite(inp: &CompositeInputs, styles: &[LesionStyle], margins_px: &[f32]) -> RgbFrame {
    let (w, h) = (inp.wl.width, inp.wl.height);
    // The white light first (copied, not zeroed then copied): a pixel nothing is drawn on keeps it.
    let mut data = Vec::new();
    inp.wl.data[..w * h * 3].par_iter().copied().collect_into_vec(&mut data);
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
            let (seeds, nearest, dist) = (&inp.seeds.row(y)[s0..s1], &inp.nearest.row(y)[s0..s1], &inp.dist.row(y)[s0..s1]);
            for (k, x) in (s0..s1).enumerate() {
                let px = Pixel { x, y, ratio: ratio[x], fluo: fluo[x], seed: seeds[k], nearest: nearest[k], dist: dist[k] };
                composite_pixel(&px, &by_label, margins_px, reach, &mut row[x * 3..x * 3 + 3]);
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
