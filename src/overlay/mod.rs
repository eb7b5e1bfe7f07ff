//! The overlay's look and everything drawn on it after a backend's composite, defined once.
//!
//! - `palette` (colours) and `lines` (a contour's anti-aliased coverage, the dashes of a boundary
//!   without rim, the fluorescence opacity, rectangles) are leaves that both backends' composites and
//!   `gpu::prelude` use: the backends draw only the fluorescence, the cores and their contours, from the
//!   processor's style table.
//! - `text` (labels, corner banners, the check's centred banner, badges) and `outline` (homogeneous
//!   lesions from the component label image) draw on the CPU whichever backend composited; `draw` puts
//!   all of a frame's marks on it in one call, made by the processor. `live` and the element draw only
//!   their badges on plain white light (`badge`, `badge_bottom`).
//!
//! Layering: the overlay imports only `frame`, `raster` (the distance transform `outline` draws from,
//! the one the CPU backend's distance stage uses) and `analysis` (the style table), so it sits below
//! both backends, whose composites use `palette` and `lines`, and below the processor, which calls
//! `draw`. No file imports one that imports it back (tests/layers.rs).

pub(crate) mod lines;
mod outline;
pub(crate) mod palette;
mod text;

use crate::analysis::LesionStyle;
use crate::frame::{Plane, RgbFrame};

pub use outline::outline_lesions;
pub use text::{Banner, badge, badge_bottom, banner_center, draw_text, scale_for, text_size};

/// The transection / wound-bed check's marks: the region of interest, a box around each spot found,
/// and a centred banner (in the warning colour when `alarm`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckMarks {
    /// [x0, y0, x1, y1) of the region of interest.
    pub roi: [usize; 4],
    /// [x0, y0, x1, y1) of each spot found in it.
    pub spots: Vec<[usize; 4]>,
    pub text: String,
    pub alarm: bool,
}

/// Homogeneous lesions to outline: their labels in the backend's component label image, with the
/// margins drawn outside them.
pub struct Outlines<'a> {
    pub labels: &'a Plane<u32>,
    pub lesions: &'a [u32],
    pub margins_px: &'a [f32],
}

/// Everything the processor draws on one composited frame.
pub struct Marks<'a> {
    /// One label a lesion, at its anchor.
    pub styles: &'a [LesionStyle],
    pub banner: Banner,
    pub outlines: Option<Outlines<'a>>,
    pub check: Option<CheckMarks>,
    /// A state badge, top right ("LESIONS TRUNCATED").
    pub badge: Option<&'a str>,
}

/// Draws `marks` on `frame`: outlines and boxes first, then the text over them.
pub fn draw(frame: &mut RgbFrame, marks: &Marks) {
    if let Some(o) = &marks.outlines {
        outline_lesions(frame, o.labels, o.lesions, o.margins_px, palette::HOMOGENEOUS);
    }
    if let Some(c) = &marks.check {
        lines::rect(frame, c.roi, 1, palette::WHITE);
        for &[x0, y0, x1, y1] in &c.spots {
            lines::rect(frame, [x0.saturating_sub(3), y0.saturating_sub(3), x1 + 3, y1 + 3], 2, palette::MARGIN_WARN);
        }
    }
    text::labels(frame, marks.styles);
    text::corners(frame, &marks.banner);
    if let Some(c) = &marks.check {
        banner_center(frame, &c.text, if c.alarm { palette::MARGIN_WARN } else { palette::TEXT });
    }
    if let Some(b) = marks.badge {
        badge(frame, b);
    }
}
