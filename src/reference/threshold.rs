//! CPU twin of `shaders/threshold.wgsl`: the fluorescence mask. A pixel is fluorescent when its
//! background ratio reaches `fluo_ratio` and it is not a specular glint (a white-light pixel whose
//! darkest channel is at least `glint_level`: speculars are white, liver is red).

use rayon::prelude::*;

use crate::frame::{Plane, RgbFrame};

/// Writes 1 for fluorescent pixels, 0 otherwise.
pub fn threshold(ratio: &Plane<f32>, wl: &RgbFrame, fluo_ratio: f32, glint_level: u8, out: &mut Plane<u8>) {
    let w = ratio.width;
    out.ensure_size(w, ratio.height);
    out.data.par_chunks_mut(w).enumerate().for_each(|(y, dst)| {
        let r = ratio.row(y);
        let px = &wl.data[y * w * 3..(y + 1) * w * 3];
        for x in 0..w {
            let c = &px[x * 3..x * 3 + 3];
            let glint = c[0].min(c[1]).min(c[2]) >= glint_level;
            dst[x] = (r[x] >= fluo_ratio && !glint) as u8;
        }
    });
}
