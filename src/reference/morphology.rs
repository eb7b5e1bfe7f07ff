//! CPU twin of `shaders/morphology.wgsl`: clean-up of the fluorescence mask by a 3×3 opening (drops
//! noise speckles) followed by a 3×3 closing (bridges one-pixel gaps in thin rims). Pixels outside the
//! image are neutral: foreground for erosion, background for dilation, so nothing shrinks at the border.

use rayon::prelude::*;

use crate::frame::Plane;

#[derive(Clone, Copy)]
enum Op {
    Erode,
    Dilate,
}

fn pass3x3(src: &Plane<u8>, op: Op, dst: &mut Plane<u8>) {
    let (w, h) = (src.width, src.height);
    dst.resize(w, h);
    dst.data.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        for (x, o) in out.iter_mut().enumerate() {
            let mut any = false;
            let mut all = true;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                    let v = if xx < 0 || yy < 0 || xx >= w as i64 || yy >= h as i64 {
                        matches!(op, Op::Erode) as u8
                    } else {
                        src.data[yy as usize * w + xx as usize]
                    };
                    any |= v != 0;
                    all &= v != 0;
                }
            }
            *o = match op {
                Op::Erode => all as u8,
                Op::Dilate => any as u8,
            };
        }
    });
}

/// Opening then closing, each with a 3×3 square. `scratch` is reused between frames.
pub fn clean_mask(mask: &mut Plane<u8>, scratch: &mut Plane<u8>) {
    for op in [Op::Erode, Op::Dilate, Op::Dilate, Op::Erode] {
        pass3x3(mask, op, scratch);
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
        let mut s = Plane::new(0, 0);
        clean_mask(&mut m, &mut s);
        assert_eq!(m.get(2, 2), 0);
        assert_eq!(m.get(11, 4), 1);
        assert_eq!(m.get(8, 4), 1);
    }
}
