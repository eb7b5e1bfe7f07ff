//! CPU twin of `shaders/morphology.wgsl`: clean-up of the fluorescence mask by a 3×3 opening (drops
//! noise speckles) followed by a 5×5 closing (bridges gaps of up to three pixels in faint, thin rims, so
//! that their cores stay enclosed). Pixels outside the
//! image are neutral: foreground for erosion, background for dilation, so nothing shrinks at the border.

use rayon::prelude::*;

use crate::frame::Plane;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Erode,
    Dilate,
}

#[inline]
fn combine(op: Op, a: u8, b: u8) -> u8 {
    match op {
        Op::Erode => a & b,
        Op::Dilate => a | b,
    }
}

/// One 3×3 pass as two separable 3-tap passes (a square is the product of two segments). Values are 0/1.
fn pass3x3(src: &Plane<u8>, op: Op, tmp: &mut Plane<u8>, dst: &mut Plane<u8>) {
    let (w, h) = (src.width, src.height);
    tmp.ensure_size(w, h);
    dst.ensure_size(w, h);
    // Horizontal: the outside is neutral, so edge pixels combine only their in-image neighbours.
    tmp.data.par_chunks_mut(w).zip(src.data.par_chunks(w)).for_each(|(o, r)| {
        if w == 1 {
            o[0] = r[0];
            return;
        }
        o[0] = combine(op, r[0], r[1]);
        for x in 1..w - 1 {
            o[x] = combine(op, combine(op, r[x - 1], r[x]), r[x + 1]);
        }
        o[w - 1] = combine(op, r[w - 2], r[w - 1]);
    });
    let t = &tmp.data;
    dst.data.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        let mid = &t[y * w..(y + 1) * w];
        let up = if y > 0 { &t[(y - 1) * w..y * w] } else { mid };
        let down = if y + 1 < h { &t[(y + 1) * w..(y + 2) * w] } else { mid };
        for x in 0..w {
            o[x] = combine(op, combine(op, up[x], mid[x]), down[x]);
        }
    });
}

/// 3×3 opening, then 5×5 closing (two 3×3 dilations, two 3×3 erosions). `scratch` and `tmp` are reused
/// between frames.
pub fn clean_mask(mask: &mut Plane<u8>, scratch: &mut Plane<u8>, tmp: &mut Plane<u8>) {
    for op in [Op::Erode, Op::Dilate, Op::Dilate, Op::Dilate, Op::Erode, Op::Erode] {
        pass3x3(mask, op, tmp, scratch);
        std::mem::swap(mask, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_drops_speckle_and_closing_bridges_a_gap() {
        let mut m = Plane::<u8>::new(20, 10);
        m.set(2, 2, 1); // isolated speckle
        for y in 3..7 {
            for x in 5..18 {
                if x != 11 {
                    m.set(x, y, 1); // a thick bar with a one-pixel gap
                }
            }
        }
        let (mut s, mut t) = (Plane::new(0, 0), Plane::new(0, 0));
        clean_mask(&mut m, &mut s, &mut t);
        assert_eq!(m.get(2, 2), 0);
        assert_eq!(m.get(11, 4), 1);
        assert_eq!(m.get(8, 4), 1);
    }
}
