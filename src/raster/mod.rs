//! Geometry on the pixel grid, below both the CPU backend and the overlay, which share it: rectangles
//! of pixels and the disjoint regions of interest the CPU works in (`rect`), and the exact Euclidean
//! distance transform carrying labels (`distance`, the CPU twin of `shaders/distance.wgsl`, which the
//! overlay's outlines also draw from). Imports only `frame`.

pub mod distance;
pub mod rect;
