// cut.wgsl — appended to morphology.wgsl and hysteresis.wgsl, which bind the ratio map as `ratio` and the
// white light's glint bits as `glint` (a bit a pixel, rows padded to whole words, set where the darkest
// channel reaches glint_level: made on the CPU as the frame is uploaded, `gpu::analyzer::glint_bits`, so
// that the white light itself goes to the device on the drawn tiles only). CPU twin:
// src/reference/threshold.rs (`threshold`): a pixel is fluorescent at a cut when its ratio reaches it and
// it is no glint.

fn ratio_px(x: u32, y: u32) -> f32 {
    return ratio_decode(ratio[ratio_index(x, y)], x);
}

fn fluorescent(x: u32, y: u32, cut: f32) -> bool {
    let is_glint = (glint[y * ((P.width + 31u) / 32u) + (x >> 5u)] >> (x & 31u)) & 1u;
    return ratio_px(x, y) >= cut && is_glint == 0u;
}
