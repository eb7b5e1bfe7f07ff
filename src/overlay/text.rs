//! Text on the overlay, in the public-domain 8×8 bitmap font of `font8x8` on a dark box: per-lesion
//! labels, the corner banners, the centred banner of the transection / wound-bed check and the state
//! badges ("NIR LOST", "OVERLAY OFF", "LESIONS TRUNCATED" top right; "REC DROPPING" bottom right).

use font8x8::UnicodeFonts;

use super::lines::blend;
use super::palette;
use crate::analysis::{LesionKind, LesionStyle};
use crate::frame::RgbFrame;

/// Glyph size in pixels at scale 1.
pub const GLYPH: i64 = 8;

/// Text drawn in the frame's corners (scale, mode, state badges).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Banner {
    pub top_left: Vec<String>,
    pub bottom_left: Vec<String>,
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
    // The dark box: one blend of a channel's value, looked up (the same `blend`, 256 values).
    let dark: [u8; 256] = std::array::from_fn(|v| {
        let mut px = [v as u8; 3];
        blend(&mut px, [0, 0, 0], 0.55);
        px[0]
    });
    let (bx0, bx1) = ((x - pad).max(0), (x + tw + pad).min(w));
    for yy in (y - pad).max(0)..(y + th + pad).min(h) {
        if bx0 < bx1 {
            let row = ((yy * w + bx0) * 3) as usize..((yy * w + bx1) * 3) as usize;
            frame.data[row].iter_mut().for_each(|c| *c = dark[*c as usize]);
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

/// A line of text centred at the top of the frame, below the corner badges.
pub fn banner_center(frame: &mut RgbFrame, text: &str, color: [u8; 3]) {
    let s = fitting_scale(frame, text);
    let (tw, th) = text_size(text, s);
    let top = GLYPH * (scale_for(frame.width) + 1) * 2 + 8;
    draw_text(frame, (frame.width as i64 - tw) / 2, top.max(2 * th), text, s, color);
}

/// Each lesion's label above it, in its kind's colour (a rim lesion's in the warning colour when its
/// verdict warns).
pub fn labels(frame: &mut RgbFrame, styles: &[LesionStyle]) {
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
}

/// The corner banners: `top_left` in the badge colour, `bottom_left` in the text colour.
pub fn corners(frame: &mut RgbFrame, banner: &Banner) {
    let s = scale_for(frame.width);
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
