//! Geometry on the pixel grid, below both the CPU backend and the overlay, which share it: rectangles
//! of pixels and the disjoint regions of interest the CPU works in (`rect`), and the exact Euclidean
//! distance transform carrying labels (`distance`, the CPU twin of `shaders/distance.wgsl`, which the
//! overlay's outlines also draw from), and the sector a direction falls in (`sector`). Imports only
//! `frame`.

pub mod distance;
pub mod rect;

/// The sector, of `sectors` equal ones about a point, that holds the direction (dx, dy) from it:
/// sector 0 begins at the direction −x, and they follow the angle `atan2(dy, dx)` upwards.
#[inline]
pub fn sector(dx: f32, dy: f32, sectors: usize) -> usize {
    ((dy.atan2(dx) / std::f32::consts::TAU + 0.5) * sectors as f32) as usize % sectors
}
