//! Rectangles of pixels, and the regions of interest the CPU backend works in: axis-aligned
//! rectangles around the lesions, so that the stages after connected components (distance, reduce,
//! composite) visit only pixels that can hold a result instead of the whole frame. Owns the rectangle
//! type, the clustering of overlapping rectangles into disjoint ones, and their rows and bands; knows
//! nothing of what the stages compute inside them.
//!
//! The GPU has no use for this (every pixel gets its own invocation there); the CPU results are the
//! same with or without it, since outside these rectangles every stage's answer is its empty value.

/// A rectangle of pixels `[x0, x1) × [y0, y1)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Rect {
    /// The whole `width`×`height` frame.
    pub fn full(width: usize, height: usize) -> Self {
        Self { x0: 0, y0: 0, x1: width, y1: height }
    }

    /// An empty rectangle that grows to the first point included.
    pub const EMPTY: Rect = Rect { x0: usize::MAX, y0: usize::MAX, x1: 0, y1: 0 };

    /// The box's centre, px.
    pub fn centre(&self) -> [f32; 2] {
        [0.5 * (self.x0 + self.x1) as f32, 0.5 * (self.y0 + self.y1) as f32]
    }

    pub fn is_empty(&self) -> bool {
        self.x0 >= self.x1 || self.y0 >= self.y1
    }

    /// Grow to hold the row segment `[x0, x1)` of row `y`.
    #[inline]
    pub fn include_span(&mut self, y: usize, x0: usize, x1: usize) {
        self.x0 = self.x0.min(x0);
        self.x1 = self.x1.max(x1);
        self.y0 = self.y0.min(y);
        self.y1 = self.y1.max(y + 1);
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, o: &Rect) -> Rect {
        Rect { x0: self.x0.min(o.x0), y0: self.y0.min(o.y0), x1: self.x1.max(o.x1), y1: self.y1.max(o.y1) }
    }

    /// Does this rectangle hold all of `o`?
    pub fn contains(&self, o: &Rect) -> bool {
        o.x0 >= self.x0 && o.y0 >= self.y0 && o.x1 <= self.x1 && o.y1 <= self.y1
    }

    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    /// Grown by `by` pixels on every side, clipped to a `width`×`height` frame.
    pub fn expand(&self, by: usize, width: usize, height: usize) -> Rect {
        Rect {
            x0: self.x0.saturating_sub(by),
            y0: self.y0.saturating_sub(by),
            x1: (self.x1 + by).min(width),
            y1: (self.y1 + by).min(height),
        }
    }
}

/// Merge overlapping rectangles until none overlap: the result covers every input and its rectangles
/// are disjoint, so a pixel belongs to at most one of them. Empty inputs are dropped.
pub fn disjoint_cover(rects: &[Rect]) -> Vec<Rect> {
    let mut out: Vec<Rect> = rects.iter().copied().filter(|r| !r.is_empty()).collect();
    loop {
        let mut merged = false;
        let mut i = 0;
        while i < out.len() {
            let mut j = i + 1;
            while j < out.len() {
                if out[i].overlaps(&out[j]) {
                    let r = out.swap_remove(j);
                    out[i] = out[i].union(&r);
                    merged = true;
                } else {
                    j += 1;
                }
            }
            i += 1;
        }
        if !merged {
            break;
        }
    }
    out.sort_unstable_by_key(|r| (r.y0, r.x0));
    out
}

/// The column ranges of row `y` covered by disjoint `rects`, left to right.
pub fn row_spans(rects: &[Rect], y: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut spans: Vec<(usize, usize)> = rects.iter().filter(|r| r.y0 <= y && y < r.y1).map(|r| (r.x0, r.x1)).collect();
    spans.sort_unstable();
    spans.into_iter()
}

/// The rectangles cut into bands of at most `rows` rows: units of parallel work.
pub fn row_bands(rects: &[Rect], rows: usize) -> Vec<Rect> {
    rects
        .iter()
        .filter(|r| !r.is_empty())
        .flat_map(|r| (r.y0..r.y1).step_by(rows).map(move |y| Rect { y0: y, y1: (y + rows).min(r.y1), ..*r }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_is_disjoint_and_covers_every_input() {
        let mut state = 99u32;
        let mut next = |m: usize| {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as usize % m
        };
        for _ in 0..50 {
            let rects: Vec<Rect> = (0..12)
                .map(|_| {
                    let (x, y) = (next(180), next(100));
                    Rect { x0: x, y0: y, x1: x + 1 + next(40), y1: y + 1 + next(30) }
                })
                .collect();
            let cover = disjoint_cover(&rects);
            for (i, a) in cover.iter().enumerate() {
                for b in &cover[i + 1..] {
                    assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
                }
            }
            for r in &rects {
                assert!(cover.iter().any(|c| c.x0 <= r.x0 && c.y0 <= r.y0 && r.x1 <= c.x1 && r.y1 <= c.y1), "{r:?} uncovered");
            }
        }
    }
}
