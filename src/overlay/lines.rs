//! How a line looks, defined once: the coverage of an anti-aliased contour at a distance, the dashes of
//! a boundary without rim, the fluorescence colour's opacity (all three used by both backends'
//! composites, the GPU's through `gpu::prelude`'s constants and the WGSL twins in
//! `shaders/composite.wgsl`, and by `overlay::outline`), a composite pixel's colour from them (`shade`),
//! a pixel blended with a colour, and rectangles. Imports only `frame` and `overlay::palette`.

use super::palette;
use crate::frame::RgbFrame;

/// Opacity of the fluorescence colour at a background ratio (0 at and below 1.15, 0.65 from 2.65 up;
/// the CPU composite relies on the 0 below 1.15); fluorescent pixels get at least 0.3.
#[inline]
pub fn fluorescence_alpha(ratio: f32, fluorescent: bool) -> f32 {
    let a = ((ratio - 1.15) / 1.5).clamp(0.0, 0.65);
    if fluorescent { a.max(0.3) } else { a }
}

/// Where the core's boundary has no rim (the pixel is not fluorescent), its line is dashed: drawn on
/// alternate cells of `DASH_PX`-pixel squares, so a gap in the rim shows as a dashed stretch of the line.
pub const DASH_PX: usize = 3;

/// Is the boundary line drawn at pixel (`x`, `y`): always where fluorescent, on alternate cells elsewhere.
#[inline]
pub fn boundary_drawn(x: usize, y: usize, fluorescent: bool) -> bool {
    fluorescent || (x / DASH_PX + y / DASH_PX) % 2 == 0
}

/// Coverage of a 2-px line at `target` distance, for a pixel at distance `d` (0 from 1.5 px off).
#[inline]
pub fn line_alpha(d: f32, target: f32) -> f32 {
    (1.5 - (d - target).abs()).clamp(0.0, 1.0)
}

/// The lines a composite pixel gets from its nearest core where the processor styled that core's lesion:
/// its distance `d` to the core, whether the boundary is drawn there (`boundary_drawn`), whether the
/// first margin is in the warning colour, and the margins' distances.
pub struct Lines<'a> {
    pub d: f32,
    pub boundary: bool,
    pub warn: bool,
    pub margins_px: &'a [f32],
}

/// A composite pixel's colour (the GPU's marks are finished with it, `gpu::marks`): the white light `wl`
/// under the fluorescence colour at opacity `alpha`, then on a core pixel the core tint (20%), else the
/// nearest core's `lines`: the boundary at 1 px, the first margin at its distance + 0.5 px in cyan (red
/// when it warns), further ones in white at 60%. Mixed in f32 and stored as floor(c + 0.5), as the
/// shader does (WGSL's round() rounds halves to even). The CPU backend's composite
/// (`reference::composite`) colours each pixel with it.
#[inline]
pub fn shade(wl: [u8; 3], alpha: f32, core: bool, lines: Option<Lines<'_>>) -> [u8; 3] {
    let mut c = wl.map(|v| v as f32);
    let mut mix = |k: [u8; 3], a: f32| {
        for i in 0..3 {
            c[i] = c[i] * (1.0 - a) + k[i] as f32 * a;
        }
    };
    mix(palette::FLUORESCENCE, alpha);
    if core {
        mix(palette::CORE_TINT, 0.2);
    } else if let Some(l) = lines {
        if l.boundary {
            mix(palette::BOUNDARY, line_alpha(l.d, BOUNDARY_AT_PX));
        }
        for (m, &mp) in l.margins_px.iter().enumerate() {
            let (color, weight) = match (m, l.warn) {
                (0, true) => (palette::MARGIN_WARN, 1.0),
                (0, false) => (palette::MARGIN_OK, 1.0),
                _ => (palette::WHITE, 0.6),
            };
            mix(color, line_alpha(l.d, margin_line_at(mp)) * weight);
        }
    }
    // c >= 0: the truncating cast is the floor.
    c.map(|v| (v + 0.5) as u8)
}

/// Where `shade` draws the boundary line: at this distance from the core.
const BOUNDARY_AT_PX: f32 = 1.0;

/// Where `shade` draws a margin line of `margin_px`: half a pixel beyond it.
#[inline]
fn margin_line_at(margin_px: f32) -> f32 {
    margin_px + 0.5
}

/// An RGB pixel blended with `c` at opacity `a`, rounded.
pub fn blend(dst: &mut [u8], c: [u8; 3], a: f32) {
    for k in 0..3 {
        dst[k] = (dst[k] as f32 * (1.0 - a) + c[k] as f32 * a).round() as u8;
    }
}

/// Outline of a rectangle [x0, x1) × [y0, y1), `thick` px wide, clipped to the frame.
pub fn rect(frame: &mut RgbFrame, [x0, y0, x1, y1]: [usize; 4], thick: usize, color: [u8; 3]) {
    let (xe, ye) = (x1.min(frame.width), y1.min(frame.height));
    // The edge's pixels only (x < x0 + thick, y < y0 + thick, x + thick >= x1 or y + thick >= y1): whole
    // rows in the top and bottom bands, the two side bands' columns between them, not the inside.
    for y in y0..ye {
        if y < y0 + thick || y + thick >= y1 {
            (x0..xe).for_each(|x| frame.put(x, y, color));
        } else {
            (x0..(x0 + thick).min(xe)).for_each(|x| frame.put(x, y, color));
            (x1.saturating_sub(thick).max(x0)..xe).for_each(|x| frame.put(x, y, color));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rectangle_is_its_edge_only() {
        // One pixel thick inside the frame, two thick and cut by the frame's right and bottom edges,
        // thicker than the box: against the edge's definition pixel by pixel.
        for (b, thick) in [([2, 3, 12, 9], 1), ([5, 4, 25, 14], 2), ([1, 1, 4, 9], 2), ([0, 0, 0, 0], 1)] {
            let [x0, y0, x1, y1] = b;
            let mut f = RgbFrame::new(20, 10);
            rect(&mut f, b, thick, [9, 9, 9]);
            for y in 0..10 {
                for x in 0..20 {
                    let on_edge = (x0..x1).contains(&x) && (y0..y1).contains(&y) && (x < x0 + thick || y < y0 + thick || x + thick >= x1 || y + thick >= y1);
                    assert_eq!(f.pixel(x, y) == [9, 9, 9], on_edge, "{b:?} thick {thick}: ({x}, {y})");
                }
            }
        }
    }
}
