//! CPU twin of `shaders/components.wgsl`: connected-component labelling. Every pixel of the selected
//! value gets the label `1 + (raster index of its component's first pixel)`, others 0. Canonical labels
//! make the CPU and GPU partitions comparable label for label.

use crate::frame::Plane;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connectivity {
    Four,
    Eight,
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize]; // path halving
        i = p;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // Link to the smaller index: the root is then the component's first pixel in raster order.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}

/// Label the components of pixels equal to `value`. `parent` is scratch reused between frames.
pub fn label_components(mask: &Plane<u8>, value: u8, conn: Connectivity, parent: &mut Vec<u32>, out: &mut Plane<u32>) {
    let (w, h) = (mask.width, mask.height);
    parent.clear();
    parent.extend(0..(w * h) as u32);
    let m = &mask.data;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if m[i] != value {
                continue;
            }
            if x > 0 && m[i - 1] == value {
                union(parent, i as u32, (i - 1) as u32);
            }
            if y > 0 {
                if m[i - w] == value {
                    union(parent, i as u32, (i - w) as u32);
                }
                if conn == Connectivity::Eight {
                    if x > 0 && m[i - w - 1] == value {
                        union(parent, i as u32, (i - w - 1) as u32);
                    }
                    if x + 1 < w && m[i - w + 1] == value {
                        union(parent, i as u32, (i - w + 1) as u32);
                    }
                }
            }
        }
    }
    out.resize(w, h);
    for i in 0..w * h {
        out.data[i] = if m[i] == value { find(parent, i as u32) + 1 } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_pixels_join_only_with_eight_connectivity() {
        let m = Plane::from_vec(3, 3, vec![1, 0, 0, 0, 1, 0, 0, 0, 1]).unwrap();
        let (mut p, mut l) = (Vec::new(), Plane::new(0, 0));
        label_components(&m, 1, Connectivity::Four, &mut p, &mut l);
        assert_eq!(l.data, vec![1, 0, 0, 0, 5, 0, 0, 0, 9]);
        label_components(&m, 1, Connectivity::Eight, &mut p, &mut l);
        assert_eq!(l.data, vec![1, 0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn u_shape_gets_the_label_of_its_first_pixel() {
        // Two arms meet only at the bottom row: the right arm's first pixel is not the component's root.
        let m = Plane::from_vec(3, 3, vec![1, 0, 1, 1, 0, 1, 1, 1, 1]).unwrap();
        let (mut p, mut l) = (Vec::new(), Plane::new(0, 0));
        label_components(&m, 1, Connectivity::Four, &mut p, &mut l);
        assert!(l.data.iter().enumerate().all(|(i, &v)| (v == 1) == (m.data[i] == 1)));
    }
}
