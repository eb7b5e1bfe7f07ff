//! The CPU's half of the GPU composite. The composite (composite.wgsl) runs in the segmentation's own
//! submission, before the processor has decided the style table (tracking, smoothing, the margin
//! verdict), and sees neither the styles nor the white light: it leaves a mark a pixel of the drawn tiles
//! (`prelude::mark`: the fluorescence colour's opacity, whether the pixel is fluorescent or a core pixel,
//! and the nearest core's slot with the pixel's distance to it where one of that core's lines has
//! coverage). Here the marks are coloured over the white light by the style table, with the colour
//! function the CPU backend's composite uses (`overlay::lines::shade`), a drawn tile after another on
//! all cores. Imports `analysis`, `overlay` and the prelude only.

use rayon::prelude::*;

use super::prelude::mark;
use crate::analysis::{MAX_CORES, style};
use crate::overlay::lines::{Lines, boundary_drawn, shade};

/// Pixels of a 16×16 tile (a drawn tile's marks, a word each).
pub const TILE_PIXELS: usize = 256;

/// The colour of the pixel at (`x`, `y`) with mark `m` over white light `wl`, by the style table
/// (`styles[slot]`: `LesionStyle::word`, 0 where the lesion is not drawn) and the margins' distances the
/// composite had (the uniform's).
#[inline]
pub fn finish(m: u32, wl: [u8; 3], x: usize, y: usize, styles: &[u32; MAX_CORES], margins_px: &[f32]) -> [u8; 3] {
    if m == 0 {
        return wl;
    }
    let alpha = ((m >> mark::ALPHA_SHIFT) & mark::ALPHA_MASK) as f32 / mark::ALPHA_SCALE;
    let fl = m & mark::FL != 0;
    let slot = (m >> mark::SLOT_SHIFT) & mark::SLOT_MASK;
    let core = slot == mark::CORE;
    let lines = match styles.get((slot as usize).wrapping_sub(1)) {
        Some(&word) if !core && word & style::DRAWN != 0 => {
            let line = ((m >> mark::LINE_SHIFT) & mark::LINE_MASK) as usize;
            let at = if line == 0 { 1.0 } else { margins_px.get(line - 1).map_or(f32::INFINITY, |mp| mp + 0.5) };
            let offset = ((m >> mark::OFFSET_SHIFT) & mark::OFFSET_MASK) as f32 - mark::OFFSET_ZERO as f32;
            Some(Lines { d: at + offset / mark::OFFSET_SCALE, boundary: boundary_drawn(x, y, fl), warn: word & style::WARN != 0, margins_px })
        }
        _ => None,
    };
    shade(wl, alpha, core, lines)
}

/// The drawn tiles finished: the k-th tile of `list` (its raster index, `width.div_ceil(16)` tiles a
/// row) has its marks at `marks[256 k..]` (16 rows of 16) and its white light in `wl` (the frame, 3 bytes
/// a pixel). Into `out`: 768 bytes a tile, 16 rows of 16 RGB pixels, 0 beyond the frame (as
/// `GpuAnalyzer`'s `lay_tiles` lays them).
#[allow(clippy::too_many_arguments)]
pub fn finish_tiles(wl: &[u8], width: usize, height: usize, list: &[u32], marks: &[u32], styles: &[u32; MAX_CORES], margins_px: &[f32], out: &mut Vec<u8>) {
    let tx = width.div_ceil(16);
    out.clear();
    out.resize(list.len() * TILE_PIXELS * 3, 0);
    out.par_chunks_mut(TILE_PIXELS * 3).zip(list.par_iter()).zip(marks.par_chunks(TILE_PIXELS)).for_each(|((tile, &t), marks)| {
        let (x0, y0) = (16 * (t as usize % tx), 16 * (t as usize / tx));
        for ly in 0..16.min(height - y0) {
            for lx in 0..16.min(width - x0) {
                let (x, y) = (x0 + lx, y0 + ly);
                let i = 3 * (y * width + x);
                let c = finish(marks[16 * ly + lx], [wl[i], wl[i + 1], wl[i + 2]], x, y, styles, margins_px);
                tile[3 * (16 * ly + lx)..][..3].copy_from_slice(&c);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::lines::fluorescence_alpha;

    /// The mark composite.wgsl writes, made here for the test: the nearest line within reach.
    fn mark_of(alpha: f32, fl: bool, core: bool, near: Option<(u32, f32)>, margins_px: &[f32]) -> u32 {
        let mut m = ((alpha * mark::ALPHA_SCALE).round() as u32) << mark::ALPHA_SHIFT | if fl { mark::FL } else { 0 };
        if core {
            return m | mark::CORE << mark::SLOT_SHIFT;
        }
        if let Some((slot, d)) = near {
            let targets = std::iter::once(1.0).chain(margins_px.iter().map(|mp| mp + 0.5));
            let (line, off) = targets.enumerate().map(|(k, at)| (k as u32, d - at)).fold((0, d - 1.0), |b, c| if c.1.abs() < b.1.abs() { c } else { b });
            if off.abs() < mark::LINE_REACH {
                let code = ((off * mark::OFFSET_SCALE).round() as i32 + mark::OFFSET_ZERO as i32) as u32;
                m |= (slot + 1) << mark::SLOT_SHIFT | line << mark::LINE_SHIFT | code << mark::OFFSET_SHIFT;
            }
        }
        m
    }

    /// A finished mark is the colour `shade` gives from the exact quantities, within 1 of 255 a channel
    /// (the opacity to 1/3072, the distance to 1/1024 px), over distances that sweep every line, margins
    /// that bring lines within reach of each other, every style, fluorescent or not, core or not; and a
    /// pixel no line reaches, or of a lesion not drawn, gets no line.
    #[test]
    fn a_finished_mark_is_the_exact_shade() {
        let wl = [180u8, 60, 40];
        let mut styles = [0u32; MAX_CORES];
        styles[3] = style::DRAWN;
        styles[4] = style::DRAWN | style::WARN;
        for margins_px in [vec![], vec![20.0], vec![2.0, 3.0, 4.5, 30.0]] {
            for slot in [3u32, 4, 5] {
                for ratio in [1.0f32, 1.3, 1.9, 3.0] {
                    for fl in [false, true] {
                        for core in [false, true] {
                            for step in 0..4000 {
                                let d = step as f32 * 0.0117;
                                let (x, y) = (step % 7, step % 5);
                                let alpha = fluorescence_alpha(ratio, fl);
                                let m = mark_of(alpha, fl, core, Some((slot, d)), &margins_px);
                                let got = finish(m, wl, x, y, &styles, &margins_px);
                                let word = styles[slot as usize];
                                let lines = (word & style::DRAWN != 0).then_some(Lines { d, boundary: boundary_drawn(x, y, fl), warn: word & style::WARN != 0, margins_px: &margins_px });
                                let want = shade(wl, alpha, core, lines);
                                let off = (0..3).map(|k| got[k].abs_diff(want[k])).max().unwrap_or(0);
                                assert!(off <= 1, "margins {margins_px:?} slot {slot} ratio {ratio} fl {fl} core {core} d {d}: {got:?} vs {want:?}");
                            }
                        }
                    }
                }
            }
        }
        // Nothing marked: the white light as it is; no nearest core: the fluorescence colour alone (a
        // quantum of opacity off).
        assert_eq!(finish(0, wl, 0, 0, &styles, &[10.0]), wl);
        let alpha = fluorescence_alpha(1.7, true);
        let quantised = (alpha * mark::ALPHA_SCALE).round() / mark::ALPHA_SCALE;
        assert_eq!(finish(mark_of(alpha, true, false, None, &[10.0]), wl, 0, 0, &styles, &[10.0]), shade(wl, quantised, false, None));
    }
}
