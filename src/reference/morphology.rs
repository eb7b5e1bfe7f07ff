//! CPU twin of `shaders/morphology.wgsl`: clean-up of the fluorescence mask by a 3×3 opening (drops
//! noise speckles) followed by a 5×5 closing (bridges gaps of up to three pixels in faint, thin rims, so
//! that their cores stay enclosed). Pixels outside the
//! image are neutral: foreground for erosion, background for dilation, so nothing shrinks at the border.
//!
//! The CPU works on a bit-packed copy of the mask (64 pixels a word, bit j of word k = pixel 64k + j):
//! a 3-tap pass is two shifts and two ANDs or ORs a word along rows, and three a word across them.

use rayon::prelude::*;

use crate::frame::Plane;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Erode,
    Dilate,
}

impl Op {
    /// The value of pixels outside the image: neutral, so nothing shrinks or grows at the border.
    fn outside(self) -> u64 {
        match self {
            Op::Erode => !0,
            Op::Dilate => 0,
        }
    }

    #[inline]
    fn combine(self, a: u64, b: u64) -> u64 {
        match self {
            Op::Erode => a & b,
            Op::Dilate => a | b,
        }
    }
}

/// Bit planes reused between frames.
#[derive(Default)]
pub struct MorphScratch {
    a: Vec<u64>,
    b: Vec<u64>,
}

/// Gathers the low bit of each of 8 bytes into one byte (byte i to bit i).
#[inline]
fn pack8(bytes: &[u8]) -> u64 {
    let v = u64::from_le_bytes(bytes.try_into().expect("8 bytes")) & 0x0101_0101_0101_0101;
    v.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Byte b spread to eight bytes of 0/1 (bit i to byte i).
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            t[b] |= (((b >> i) & 1) as u64) << (8 * i);
            i += 1;
        }
        b += 1;
    }
    t
};

/// One 3-tap pass along each row of `src` into `dst`; `pad` holds the bits past the row's end.
fn horizontal(op: Op, src: &[u64], dst: &mut [u64], words: usize, pad: u64) {
    let out = op.outside();
    for (s, d) in src.chunks_exact(words).zip(dst.chunks_exact_mut(words)) {
        for k in 0..words {
            let mut x = s[k];
            if k + 1 == words {
                x = (x & !pad) | (out & pad);
            }
            let prev = if k > 0 { s[k - 1] } else { out };
            let next = if k + 1 < words {
                let n = s[k + 1];
                if k + 2 == words { (n & !pad) | (out & pad) } else { n }
            } else {
                out
            };
            let left = (x << 1) | (prev >> 63);
            let right = (x >> 1) | (next << 63);
            d[k] = op.combine(op.combine(left, x), right);
        }
    }
}

/// One 3-tap pass across rows (edge rows see themselves beyond the image: neutral for both ops).
fn vertical(op: Op, src: &[u64], dst: &mut [u64], words: usize, h: usize) {
    for y in 0..h {
        let mid = &src[y * words..(y + 1) * words];
        let up = if y > 0 { &src[(y - 1) * words..y * words] } else { mid };
        let down = if y + 1 < h { &src[(y + 1) * words..(y + 2) * words] } else { mid };
        for (k, d) in dst[y * words..(y + 1) * words].iter_mut().enumerate() {
            *d = op.combine(op.combine(up[k], mid[k]), down[k]);
        }
    }
}

/// 3×3 opening, then 5×5 closing (two 3×3 dilations, two 3×3 erosions). Values are 0/1.
pub fn clean_mask(mask: &mut Plane<u8>, scratch: &mut MorphScratch) {
    let (w, h) = (mask.width, mask.height);
    if w == 0 || h == 0 {
        return;
    }
    let words = w.div_ceil(64);
    let tail = w % 64;
    let pad = if tail == 0 { 0 } else { !0u64 << tail };
    let (a, b) = (&mut scratch.a, &mut scratch.b);
    a.clear();
    a.resize(words * h, 0);
    b.clear();
    b.resize(words * h, 0);
    a.par_chunks_mut(words).zip(mask.data.par_chunks(w)).for_each(|(dst, row)| {
        for (k, d) in dst.iter_mut().enumerate() {
            let px = &row[64 * k..(64 * k + 64).min(w)];
            let mut word = 0u64;
            let mut chunks = px.chunks_exact(8);
            for (j, c) in chunks.by_ref().enumerate() {
                word |= pack8(c) << (8 * j);
            }
            let done = px.len() - chunks.remainder().len();
            for (j, &v) in chunks.remainder().iter().enumerate() {
                word |= ((v & 1) as u64) << (done + j);
            }
            *d = word;
        }
    });
    for op in [Op::Erode, Op::Dilate, Op::Dilate, Op::Dilate, Op::Erode, Op::Erode] {
        horizontal(op, a, b, words, pad);
        vertical(op, b, a, words, h);
    }
    let a = &scratch.a;
    mask.data.par_chunks_mut(w).zip(a.par_chunks(words)).for_each(|(row, src)| {
        let mut chunks = row.chunks_exact_mut(8);
        for (j, c) in chunks.by_ref().enumerate() {
            let byte = (src[j / 8] >> (8 * (j % 8))) & 0xff;
            c.copy_from_slice(&SPREAD[byte as usize].to_le_bytes());
        }
        let done = w - chunks.into_remainder().len();
        for x in done..w {
            row[x] = ((src[x / 64] >> (x % 64)) & 1) as u8;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain byte-per-pixel definition: 3-tap passes along rows then columns, pixels outside neutral.
    fn reference(mask: &Plane<u8>) -> Plane<u8> {
        let (w, h) = (mask.width, mask.height);
        let mut m = mask.clone();
        for op in [Op::Erode, Op::Dilate, Op::Dilate, Op::Dilate, Op::Erode, Op::Erode] {
            let at = |m: &Plane<u8>, x: i64, y: i64| {
                if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 { (op.outside() & 1) as u8 } else { m.get(x as usize, y as usize) }
            };
            let mut out = m.clone();
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let mut v = at(&m, x, y);
                    for (dx, dy) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
                        v = op.combine(v as u64, at(&m, x + dx, y + dy) as u64) as u8;
                    }
                    out.set(x as usize, y as usize, v);
                }
            }
            m = out;
        }
        m
    }

    #[test]
    fn bit_packed_passes_equal_the_byte_definition() {
        let mut state = 5u32;
        let mut scratch = MorphScratch::default();
        for (w, h) in [(1, 1), (1, 7), (7, 1), (63, 5), (64, 9), (65, 8), (130, 17), (200, 3)] {
            for density in [1u32, 2, 3] {
                let data = (0..w * h)
                    .map(|_| {
                        state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                        ((state >> 28) % 4 < density) as u8
                    })
                    .collect();
                let mut m = Plane::from_vec(w, h, data).unwrap();
                let want = reference(&m);
                clean_mask(&mut m, &mut scratch);
                assert_eq!(m, want, "{w}x{h} density {density}");
            }
        }
    }

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
        clean_mask(&mut m, &mut MorphScratch::default());
        assert_eq!(m.get(2, 2), 0);
        assert_eq!(m.get(11, 4), 1);
        assert_eq!(m.get(8, 4), 1);
    }
}
