//! The overlay's colours, defined once: the composite's (both backends' `composite`, emitted into the
//! shaders as WGSL constants by `gpu::prelude`) and those of everything `overlay` draws after it. A leaf:
//! it imports nothing of the crate.

pub const FLUORESCENCE: [u8; 3] = [40, 255, 90];
pub const BOUNDARY: [u8; 3] = [255, 230, 0];
pub const MARGIN_OK: [u8; 3] = [0, 220, 255];
pub const MARGIN_WARN: [u8; 3] = [255, 50, 50];
/// Cores are tinted with it (20%).
pub const CORE_TINT: [u8; 3] = [120, 60, 200];
pub const DIFFUSE: [u8; 3] = [255, 170, 40];
pub const HOMOGENEOUS: [u8; 3] = [255, 90, 255];
pub const TEXT: [u8; 3] = [255, 255, 255];
pub const BADGE: [u8; 3] = [255, 200, 0];
/// Further margin contours (after the first) and the region-of-interest box.
pub const WHITE: [u8; 3] = [255, 255, 255];
