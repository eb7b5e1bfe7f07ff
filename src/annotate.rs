//! Everything drawn on the composited frame after a backend's composite, on the CPU, whichever backend
//! made it: per-lesion labels, corner banners and badges (the public-domain 8×8 bitmap font of
//! `font8x8`), a homogeneous lesion's outline and margins, rectangles. Called by the processor (and by
//! `live` for its badges on plain white light); the backends never call it. Colours: `analysis::palette`.

use font8x8::UnicodeFonts;

use crate::analysis::{LesionKind, LesionStyle};
use crate::frame::RgbFrame;

pub const GLYPH: i64 = 8;

pub use crate::analysis::palette;

/// Text drawn in the frame's corners (scale, mode, state badges).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Banner {
    pub top_left: Vec<String>,
    pub bottom_left: Vec<String>,
}

fn blend(dst: &mut [u8], c: [u8; 3], a: f32) {
    for k in 0..3 {
        dst[k] = (dst[k] as f32 * (1.0 - a) + c[k] as f32 * a).round() as u8;
    }
}

/// Text size in pixels at `scale`.
pub fn text_size(text: &str, scale: i64) -> (i64, i64) {
    (text.chars().count() as i64 * GLYPH * scale, GLYPH * scale)
}

/// Draw `text` with its top-left corner at (x, y) on a dark box; clipped to the frame.
pub fn draw_text(frame: &mut RgbFrame, x: i64, y: i64, text: &str, scale: i64, color: [u8; 3]) {
    let (tw, th) = text_size(text, scale);
    let (w, h) = (frame.width as i64, frame.height as i64);
    let pad = scale * 2;
    for yy in (y - pad).max(0)..(y + th + pad).min(h) {
        for xx in (x - pad).max(0)..(x + tw + pad).min(w) {
            let i = ((yy * w + xx) * 3) as usize;
            blend(&mut frame.data[i..i + 3], [0, 0, 0], 0.55);
        }
    }
    for (n, ch) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(ch).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
        for (gy, bits) in glyph.iter().enumerate() {
            for gx in 0..8 {
                if bits >> gx & 1 == 0 {
                    continue;
                }
                for sy in 0..scale {
                    for sx in 0..scale {
                        let px = x + n as i64 * GLYPH * scale + gx * scale + sx;
                        let py = y + gy as i64 * scale + sy;
                        if px >= 0 && py >= 0 && px < w && py < h {
                            let i = ((py * w + px) * 3) as usize;
                            frame.data[i..i + 3].copy_from_slice(&color);
                        }
                    }
                }
            }
        }
    }
}

/// Glyph scale for a frame: 1 below 800 px wide, 2 up to 2000, 3 above.
pub fn scale_for(width: usize) -> i64 {
    match width {
        0..800 => 1,
        800..2000 => 2,
        _ => 3,
    }
}

/// The largest glyph scale, at most one above the frame's, at which `text` fits the frame's width.
fn fitting_scale(frame: &RgbFrame, text: &str) -> i64 {
    let mut s = scale_for(frame.width) + 1;
    while s > 1 && text_size(text, s).0 + 8 * s > frame.width as i64 {
        s -= 1;
    }
    s
}

/// A state badge in the top-right corner ("OVERLAY OFF", "NIR LOST"), large and on a dark box.
pub fn badge(frame: &mut RgbFrame, text: &str) {
    let s = fitting_scale(frame, text);
    let (tw, _) = text_size(text, s);
    let x = (frame.width as i64 - tw - 6 * s).max(2);
    draw_text(frame, x, 4 * s, text, s, palette::MARGIN_WARN);
}

/// A badge in the bottom-right corner ("REC DROPPING"), so that it never covers the top-right one.
pub fn badge_bottom(frame: &mut RgbFrame, text: &str) {
    let s = fitting_scale(frame, text);
    let (tw, th) = text_size(text, s);
    let x = (frame.width as i64 - tw - 6 * s).max(2);
    let y = (frame.height as i64 - th - 4 * s).max(2);
    draw_text(frame, x, y, text, s, palette::MARGIN_WARN);
}

/// Boundary and margin contours of a homogeneous lesion, whose own edge is the tumour boundary: the
/// fluorescent region holding `seed_px` (in the cleaned mask `fluo`), and lines at `margins_px` outside
/// it, anti-aliased from its distance field as the composite stage draws a core's. Both backends' frames
/// get it here, on the CPU, from the same mask.
pub fn outline_region(frame: &mut RgbFrame, fluo: &crate::frame::Plane<u8>, seed_px: [f32; 2], margins_px: &[f32], color: [u8; 3]) {
    use crate::reference::composite::line_alpha;
    let (w, h) = (fluo.width, fluo.height);
    let (sx, sy) = (seed_px[0] as usize, seed_px[1] as usize);
    if sx >= w || sy >= h || fluo.get(sx, sy) == 0 {
        return;
    }
    // Flood fill the region (4-connected), keeping its bounding box.
    let mut inside = vec![false; w * h];
    let mut stack = vec![sy * w + sx];
    inside[sy * w + sx] = true;
    let (mut x0, mut y0, mut x1, mut y1) = (sx, sy, sx, sy);
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        for (nx, ny) in [(x.wrapping_sub(1), y), (x + 1, y), (x, y.wrapping_sub(1)), (x, y + 1)] {
            if nx < w && ny < h && !inside[ny * w + nx] && fluo.get(nx, ny) != 0 {
                inside[ny * w + nx] = true;
                stack.push(ny * w + nx);
            }
        }
    }
    let reach = margins_px.iter().cloned().fold(2.0f32, f32::max).ceil() as usize + 2;
    let (cx0, cy0) = (x0.saturating_sub(reach), y0.saturating_sub(reach));
    let (cx1, cy1) = ((x1 + reach + 1).min(w), (y1 + reach + 1).min(h));
    let (cw, ch) = (cx1 - cx0, cy1 - cy0);
    let mut seeds = crate::frame::Plane::<u32>::new(cw, ch);
    for y in 0..ch {
        for x in 0..cw {
            if inside[(cy0 + y) * w + cx0 + x] {
                seeds.set(x, y, 1);
            }
        }
    }
    let mut field = crate::reference::distance::LabeledDistance::default();
    crate::reference::distance::distance_transform(&seeds, &[crate::reference::roi::Rect::full(cw, ch)], reach as f32, &mut field);
    for y in 0..ch {
        for x in 0..cw {
            let d = field.dist.get(x, y);
            if d == 0.0 || !d.is_finite() {
                continue;
            }
            let mut a = line_alpha(d, 1.0);
            let mut c = color;
            for &m in margins_px {
                let am = line_alpha(d, m + 0.5);
                if am > a {
                    (a, c) = (am, palette::MARGIN_OK);
                }
            }
            if a > 0.0 {
                let i = ((cy0 + y) * frame.width + cx0 + x) * 3;
                blend(&mut frame.data[i..i + 3], c, a);
            }
        }
    }
}

/// Outline of a rectangle [x0, x1) × [y0, y1), `thick` px wide, clipped to the frame.
pub fn rect(frame: &mut RgbFrame, x0: usize, y0: usize, x1: usize, y1: usize, thick: usize, color: [u8; 3]) {
    let (w, h) = (frame.width, frame.height);
    for y in y0..y1.min(h) {
        for x in x0..x1.min(w) {
            let edge = x < x0 + thick || y < y0 + thick || x + thick >= x1 || y + thick >= y1;
            if edge {
                frame.put(x, y, color);
            }
        }
    }
}

/// A line of text centred at the top of the frame, below the corner badges.
pub fn banner_center(frame: &mut RgbFrame, text: &str, color: [u8; 3]) {
    let s = fitting_scale(frame, text);
    let (tw, th) = text_size(text, s);
    let top = GLYPH * (scale_for(frame.width) + 1) * 2 + 8;
    draw_text(frame, (frame.width as i64 - tw) / 2, top.max(2 * th), text, s, color);
}

/// Lesion labels and banners.
pub fn annotate(frame: &mut RgbFrame, styles: &[LesionStyle], banner: &Banner) {
    let s = scale_for(frame.width);
    for st in styles {
        let color = match (st.kind, st.warn) {
            (LesionKind::Diffuse, _) => palette::DIFFUSE,
            (LesionKind::Homogeneous, _) => palette::HOMOGENEOUS,
            (_, true) => palette::MARGIN_WARN,
            _ => palette::TEXT,
        };
        let (tw, th) = text_size(&st.text, s);
        let x = (st.anchor_px[0] as i64 - tw / 2).clamp(2, (frame.width as i64 - tw - 2).max(2));
        let y = (st.anchor_px[1] as i64 - th).clamp(2, (frame.height as i64 - th - 2).max(2));
        draw_text(frame, x, y, &st.text, s, color);
    }
    let line = GLYPH * s + 4 * s;
    for (k, t) in banner.top_left.iter().enumerate() {
        draw_text(frame, 4 * s, 4 * s + k as i64 * line, t, s, palette::BADGE);
    }
    let n = banner.bottom_left.len() as i64;
    for (k, t) in banner.bottom_left.iter().enumerate() {
        let y = frame.height as i64 - (n - k as i64) * line;
        draw_text(frame, 4 * s, y, t, s, palette::TEXT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_marks_pixels_inside_its_box_only() {
        let mut f = RgbFrame::new(64, 32);
        draw_text(&mut f, 4, 4, "A1", 1, [255, 255, 255]);
        let lit: Vec<(usize, usize)> = (0..32)
            .flat_map(|y| (0..64).map(move |x| (x, y)))
            .filter(|&(x, y)| f.pixel(x, y) == [255, 255, 255])
            .collect();
        assert!(lit.len() > 10);
        assert!(lit.iter().all(|&(x, y)| (4..20).contains(&x) && (4..12).contains(&y)));
    }
}
