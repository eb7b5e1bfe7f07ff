// labels.wgsl — appended to distance.wgsl and reduce.wgsl, which bind the labels as `labels` and the
// tile-local roots as `local_roots`, and append near.wgsl (`near_tiles_x`). The labelling
// (components.wgsl's compress) leaves each pixel's tile-local root, a byte a pixel in the mask's layout,
// and each tile-local root's label at word 256 t + r of `labels` (tile t in raster order, r the root's
// index in the tile): a pixel's label is its root's.

fn label_at(x: u32, y: u32) -> u32 {
    let r = mask_byte(local_roots[mask_index(x, y)], x);
    return labels[256u * ((y >> 4u) * near_tiles_x() + (x >> 4u)) + r];
}
