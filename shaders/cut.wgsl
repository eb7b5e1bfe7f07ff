// cut.wgsl — appended to morphology.wgsl and hysteresis.wgsl, which bind the ratio map as `ratio` and the
// white light (packed RGB8) as `wl_in`. CPU twin: src/reference/threshold.rs (`threshold`): a pixel is
// fluorescent at a cut when its ratio reaches it and it is no glint (its darkest channel under
// glint_level).

fn wl_byte(b: u32) -> u32 {
    return (wl_in[b >> 2u] >> (8u * (b & 3u))) & 255u;
}

fn ratio_px(x: u32, y: u32) -> f32 {
    return ratio_decode(ratio[ratio_index(x, y)], x);
}

fn fluorescent(x: u32, y: u32, cut: f32) -> bool {
    let i = y * P.width + x;
    let darkest = min(wl_byte(3u * i), min(wl_byte(3u * i + 1u), wl_byte(3u * i + 2u)));
    return ratio_px(x, y) >= cut && darkest < P.glint_level;
}

