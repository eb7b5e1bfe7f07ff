//! Frame types shared by every stage: a white-light RGB8 image, a NIR 16-bit gray image and a generic
//! row-major `Plane<T>` for intermediate maps, and their borrowed twins (`RgbView`, `PlaneView`), which
//! are what the analysis reads: an owned frame lends one, and so can another layer's buffer of the same
//! layout, without a copy (`LendRgb`, `LendNir`: the `nirfmargin` element lends its mapped inputs).
//! Owns the layout (tightly packed rows), the conversions from stride-padded buffers, the sizes analysed
//! (`FrameSize`) and the split of a side-by-side frame into white light and NIR (`split_side_by_side`);
//! it knows nothing of GStreamer, PNG files or the analysis.

use anyhow::{Result, bail};

/// A tightly packed, row-major single-channel image.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane<T> {
    pub width: usize,
    pub height: usize,
    pub data: Vec<T>,
}

impl<T> Default for Plane<T> {
    fn default() -> Self {
        Self { width: 0, height: 0, data: Vec::new() }
    }
}

impl<T: Copy + Default> Plane<T> {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![T::default(); width * height] }
    }

    pub fn filled(width: usize, height: usize, value: T) -> Self {
        Self { width, height, data: vec![value; width * height] }
    }

    pub fn from_vec(width: usize, height: usize, data: Vec<T>) -> Result<Self> {
        if data.len() != width * height {
            bail!("plane data has {} samples, {}x{} needs {}", data.len(), width, height, width * height);
        }
        Ok(Self { width, height, data })
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> T {
        self.data[y * self.width + x]
    }

    #[inline]
    pub fn set(&mut self, x: usize, y: usize, v: T) {
        self.data[y * self.width + x] = v;
    }

    pub fn row(&self, y: usize) -> &[T] {
        &self.data[y * self.width..(y + 1) * self.width]
    }

    /// Make the plane `width`×`height` for a caller that overwrites every sample: no clearing when the
    /// size is already right.
    pub fn ensure_size(&mut self, width: usize, height: usize) {
        if self.width != width || self.height != height || self.data.len() != width * height {
            self.resize(width, height);
        }
    }

    /// Reshape to another size, reusing the allocation; contents become default.
    pub fn resize(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
        self.data.clear();
        self.data.resize(width * height, T::default());
    }
}

/// A borrowed, tightly packed, row-major single-channel image: what a stage reads (an owned `Plane`
/// lends one, `Plane::view`; so does a mapped buffer of the same layout).
#[derive(Clone, Copy, Debug)]
pub struct PlaneView<'a, T> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [T],
}

impl<'a, T: Copy> PlaneView<'a, T> {
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> T {
        self.data[y * self.width + x]
    }

    pub fn row(&self, y: usize) -> &'a [T] {
        &self.data[y * self.width..(y + 1) * self.width]
    }
}

impl<T> Plane<T> {
    pub fn view(&self) -> PlaneView<'_, T> {
        PlaneView { width: self.width, height: self.height, data: &self.data }
    }
}

impl<'a, T> From<&'a Plane<T>> for PlaneView<'a, T> {
    fn from(p: &'a Plane<T>) -> Self {
        p.view()
    }
}

/// NIR frame: one 16-bit sample a pixel. The bit depth of the sensor (8 to 16) does not matter to the
/// analysis, which works on ratios to the local background.
pub type NirFrame = Plane<u16>;

/// A borrowed NIR frame: what the analysis reads.
pub type NirView<'a> = PlaneView<'a, u16>;

/// White-light frame: packed RGB8, `3 * width` bytes a row.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// A borrowed white-light frame, packed RGB8 as `RgbFrame`: what the analysis reads (an `RgbFrame`
/// lends one, `RgbFrame::view`; so does a mapped buffer of the same layout).
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

impl RgbView<'_> {
    /// An owned copy.
    pub fn to_frame(&self) -> RgbFrame {
        RgbFrame { width: self.width, height: self.height, data: self.data.to_vec() }
    }
}

impl<'a> From<&'a RgbFrame> for RgbView<'a> {
    fn from(f: &'a RgbFrame) -> Self {
        f.view()
    }
}

/// Something that lends a white-light view and may be shared with the analysis thread: an owned
/// `RgbFrame`, or another layer's buffer in its layout (lent as it is, no copy).
pub trait LendRgb: Send + Sync {
    fn view(&self) -> RgbView<'_>;
}

/// The NIR twin of `LendRgb`.
pub trait LendNir: Send + Sync {
    fn view(&self) -> NirView<'_>;
}

impl LendRgb for RgbFrame {
    fn view(&self) -> RgbView<'_> {
        RgbFrame::view(self)
    }
}

impl LendNir for NirFrame {
    fn view(&self) -> NirView<'_> {
        Plane::view(self)
    }
}

impl Default for RgbFrame {
    fn default() -> Self {
        Self::new(0, 0)
    }
}

impl RgbFrame {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0; width * height * 3] }
    }

    pub fn from_vec(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        if data.len() != width * height * 3 {
            bail!("RGB frame has {} bytes, {}x{} needs {}", data.len(), width, height, width * height * 3);
        }
        Ok(Self { width, height, data })
    }

    pub fn view(&self) -> RgbView<'_> {
        RgbView { width: self.width, height: self.height, data: &self.data }
    }

    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    #[inline]
    pub fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        let i = (y * self.width + x) * 3;
        self.data[i..i + 3].copy_from_slice(&c);
    }

    /// Copy from rows of `stride` bytes holding `bytes_per_pixel` bytes a pixel (3 = RGB, 4 = RGBx/RGBA).
    pub fn from_strided(width: usize, height: usize, src: &[u8], stride: usize, bytes_per_pixel: usize) -> Result<Self> {
        let mut out = Self::default();
        out.fill_from_strided(width, height, src, stride, bytes_per_pixel)?;
        Ok(out)
    }

    /// `from_strided` into this frame, reusing its allocation when the size is the same (a stream's
    /// frames: no fresh pages to fault in on every frame).
    pub fn fill_from_strided(&mut self, width: usize, height: usize, src: &[u8], stride: usize, bytes_per_pixel: usize) -> Result<()> {
        if bytes_per_pixel < 3 || stride < width * bytes_per_pixel || src.len() < stride * (height.max(1) - 1) + width * bytes_per_pixel {
            bail!("RGB buffer too small for {width}x{height} with stride {stride}");
        }
        if (self.width, self.height, self.data.len()) != (width, height, width * height * 3) {
            *self = Self::new(width, height);
        }
        for y in 0..height {
            let row = &src[y * stride..y * stride + width * bytes_per_pixel];
            let dst = &mut self.data[y * width * 3..(y + 1) * width * 3];
            if bytes_per_pixel == 3 {
                dst.copy_from_slice(row);
            } else {
                for (d, s) in dst.chunks_exact_mut(3).zip(row.chunks_exact(bytes_per_pixel)) {
                    d.copy_from_slice(&s[..3]);
                }
            }
        }
        Ok(())
    }
}

impl NirFrame {
    /// Copy from rows of `stride` bytes of little-endian 16-bit samples.
    pub fn from_strided_u16le(width: usize, height: usize, src: &[u8], stride: usize) -> Result<Self> {
        let mut out = Self::default();
        out.fill_from_strided_u16le(width, height, src, stride)?;
        Ok(out)
    }

    /// `from_strided_u16le` into this frame, reusing its allocation when the size is the same.
    pub fn fill_from_strided_u16le(&mut self, width: usize, height: usize, src: &[u8], stride: usize) -> Result<()> {
        if stride < width * 2 || src.len() < stride * (height.max(1) - 1) + width * 2 {
            bail!("NIR buffer too small for {width}x{height} with stride {stride}");
        }
        self.ensure_size(width, height);
        for y in 0..height {
            let row = &src[y * stride..y * stride + width * 2];
            let dst = &mut self.data[y * width..(y + 1) * width];
            if cfg!(target_endian = "little") {
                // The samples' bytes as they are in memory: a plain copy.
                bytemuck::cast_slice_mut::<u16, u8>(dst).copy_from_slice(row);
            } else {
                for (d, s) in dst.iter_mut().zip(row.chunks_exact(2)) {
                    *d = u16::from_le_bytes([s[0], s[1]]);
                }
            }
        }
        Ok(())
    }
}

impl NirFrame {
    /// Bilinear resize to `width`×`height` (NIR scaled onto the white-light grid), pixel centres aligned.
    pub fn resized(&self, width: usize, height: usize) -> NirFrame {
        let mut out = NirFrame::default();
        self.resize_into(width, height, &mut out);
        out
    }

    /// `resized` into `out`, reusing its allocation (a stream's frames: no fresh pages each frame). The
    /// columns' source pixels and weights are worked out once, the rows in parallel.
    pub fn resize_into(&self, width: usize, height: usize, out: &mut NirFrame) {
        use rayon::prelude::*;
        out.ensure_size(width, height);
        if (width, height) == (self.width, self.height) {
            out.data.copy_from_slice(&self.data);
            return;
        }
        // A source coordinate: its two neighbours and the weight of the second.
        let taps = |i: usize, scale: f32, last: usize| {
            let f = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, last as f32);
            let i0 = f.floor() as usize;
            (i0, (i0 + 1).min(last), f.fract())
        };
        let (sx, sy) = (self.width as f32 / width as f32, self.height as f32 / height as f32);
        let cols: Vec<(usize, usize, f32)> = (0..width).map(|x| taps(x, sx, self.width - 1)).collect();
        out.data.par_chunks_mut(width).enumerate().for_each(|(y, row)| {
            let (y0, y1, ty) = taps(y, sy, self.height - 1);
            let (r0, r1) = (self.row(y0), self.row(y1));
            for (d, &(x0, x1, tx)) in row.iter_mut().zip(&cols) {
                let a = r0[x0] as f32 * (1.0 - tx) + r0[x1] as f32 * tx;
                let b = r1[x0] as f32 * (1.0 - tx) + r1[x1] as f32 * tx;
                *d = (a * (1.0 - ty) + b * ty).round() as u16;
            }
        });
    }
}

/// A frame size the analysis takes, px: 16 to 8192 a side. Parsed from `WIDTHxHEIGHT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSize {
    pub width: usize,
    pub height: usize,
}

impl FrameSize {
    /// Smallest and largest side, px.
    pub const LIMITS: (usize, usize) = (16, 8192);

    /// The size, if the analysis takes it; else an error saying the limits.
    pub fn checked(width: usize, height: usize) -> Result<Self> {
        let (lo, hi) = Self::LIMITS;
        if !(lo..=hi).contains(&width) || !(lo..=hi).contains(&height) {
            bail!("{width}x{height} is outside the sizes analysed ({lo}x{lo} to {hi}x{hi})");
        }
        Ok(Self { width, height })
    }
}

impl std::str::FromStr for FrameSize {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let Some((w, h)) = s.split_once(['x', 'X']) else { return Err(format!("'{s}' is not WIDTHxHEIGHT (e.g. 1280x720)")) };
        let dim = |d: &str| d.trim().parse::<usize>().map_err(|_| format!("'{s}' is not WIDTHxHEIGHT (e.g. 1280x720): '{d}' is not a whole number"));
        Self::checked(dim(w)?, dim(h)?).map_err(|e| e.to_string())
    }
}

/// Which half of a side-by-side frame (white light and NIR in one picture, as many laparoscopic NIR
/// towers record and output) carries the NIR; the other half is the white light.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NirSide {
    Left,
    #[default]
    Right,
}

impl NirSide {
    pub const ALL: [NirSide; 2] = [NirSide::Left, NirSide::Right];

    pub fn name(self) -> &'static str {
        match self {
            NirSide::Left => "left",
            NirSide::Right => "right",
        }
    }
}

impl std::str::FromStr for NirSide {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL.into_iter().find(|n| n.name() == s.trim()).ok_or_else(|| format!("'{s}' is not left or right (the half that carries the NIR)"))
    }
}

/// Split a side-by-side frame into its white-light half and its NIR half; the NIR is the luma of its
/// half (BT.601 weights, 8 bits scaled to 16 as an 8-bit gray PNG is: gray `v` gives `v * 257`). An odd
/// width has no two equal halves: an error.
pub fn split_side_by_side(frame: &RgbFrame, nir_side: NirSide) -> Result<(RgbFrame, NirFrame)> {
    if frame.width % 2 != 0 || frame.width == 0 {
        bail!("a side-by-side frame must have an even width (two halves of one size), this one is {}x{}", frame.width, frame.height);
    }
    let half = frame.width / 2;
    let (wl_x0, nir_x0) = match nir_side {
        NirSide::Right => (0, half),
        NirSide::Left => (half, 0),
    };
    let mut wl = RgbFrame::new(half, frame.height);
    let mut nir = NirFrame::new(half, frame.height);
    for y in 0..frame.height {
        let row = &frame.data[y * frame.width * 3..(y + 1) * frame.width * 3];
        wl.data[y * half * 3..(y + 1) * half * 3].copy_from_slice(&row[wl_x0 * 3..(wl_x0 + half) * 3]);
        for (d, p) in nir.data[y * half..(y + 1) * half].iter_mut().zip(row[nir_x0 * 3..(nir_x0 + half) * 3].chunks_exact(3)) {
            let luma = (77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8;
            *d = (luma * 257) as u16;
        }
    }
    Ok((wl, nir))
}

/// Checks both frames are non-empty and of one size.
pub fn check_pair<'a>(wl: impl Into<RgbView<'a>>, nir: impl Into<NirView<'a>>) -> Result<()> {
    let (wl, nir) = (wl.into(), nir.into());
    if wl.width != nir.width || wl.height != nir.height {
        bail!(
            "white-light frame is {}x{} but NIR frame is {}x{}: the inputs must be co-registered at one size",
            wl.width, wl.height, nir.width, nir.height
        );
    }
    if wl.width < 16 || wl.height < 16 {
        bail!("frame of {}x{} is too small to analyse (16x16 at least)", wl.width, wl.height);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_rgbx_copy_drops_padding_and_alpha() {
        // 2x2 RGBx with 12-byte stride (4 bytes padding).
        let src: Vec<u8> = (0..24).collect();
        let f = RgbFrame::from_strided(2, 2, &src, 12, 4).unwrap();
        assert_eq!(f.data, vec![0, 1, 2, 4, 5, 6, 12, 13, 14, 16, 17, 18]);
    }

    #[test]
    fn strided_u16_reads_little_endian() {
        let src = vec![1, 2, 3, 4, 0xff, 0xff, 5, 6, 7, 8, 0, 0];
        let f = NirFrame::from_strided_u16le(2, 2, &src, 6).unwrap();
        assert_eq!(f.data, vec![0x0201, 0x0403, 0x0605, 0x0807]);
    }

    #[test]
    fn resize_keeps_a_ramp_a_ramp() {
        let src = NirFrame::from_vec(4, 2, vec![0, 100, 200, 300, 0, 100, 200, 300]).unwrap();
        let up = src.resized(8, 4);
        assert_eq!(up.get(0, 0), 0);
        assert_eq!(up.get(7, 3), 300);
        assert!(up.row(1).windows(2).all(|w| w[0] <= w[1]));
    }

    /// The resize is bilinear with pixel centres aligned: each output pixel is the blend of its four
    /// source neighbours, computed here pixel by pixel, up and down, into a frame of another size.
    #[test]
    fn resize_into_is_the_bilinear_blend_of_the_four_neighbours() {
        let src = NirFrame::from_vec(37, 23, (0..37 * 23).map(|i| ((i * 7919) % 4096) as u16).collect()).unwrap();
        let mut out = NirFrame::new(5, 5);
        for (w, h) in [(64, 40), (19, 11), (37, 23), (37, 50)] {
            src.resize_into(w, h, &mut out);
            assert_eq!((out.width, out.height, out.data.len()), (w, h, w * h));
            let (sx, sy) = (37.0 / w as f32, 23.0 / h as f32);
            for y in 0..h {
                let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, 22.0);
                let (y0, ty) = (fy.floor() as usize, fy.fract());
                for x in 0..w {
                    let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, 36.0);
                    let (x0, tx) = (fx.floor() as usize, fx.fract());
                    let p = |x: usize, y: usize| src.get(x.min(36), y.min(22)) as f32;
                    let a = p(x0, y0) * (1.0 - tx) + p(x0 + 1, y0) * tx;
                    let b = p(x0, y0 + 1) * (1.0 - tx) + p(x0 + 1, y0 + 1) * tx;
                    assert_eq!(out.get(x, y), (a * (1.0 - ty) + b * ty).round() as u16, "{w}x{h} at ({x}, {y})");
                }
            }
        }
        assert_eq!(src.resized(37, 23), src, "the same size is a copy");
    }

    #[test]
    fn frame_sizes_parse_within_the_limits() {
        assert_eq!("641x359".parse(), Ok(FrameSize { width: 641, height: 359 }));
        assert_eq!("16X8192".parse(), Ok(FrameSize { width: 16, height: 8192 }));
        for bad in ["abcx10", "15x100", "100x9000", "100", "x", "-5x10"] {
            assert!(bad.parse::<FrameSize>().is_err(), "{bad}");
        }
        assert!("15x100".parse::<FrameSize>().unwrap_err().contains("16x16 to 8192x8192"));
    }

    #[test]
    fn a_side_by_side_frame_splits_into_white_light_and_nir_luma() {
        let mut f = RgbFrame::new(8, 2);
        for y in 0..2 {
            for x in 0..4 {
                f.put(x, y, [200, 50, 40]); // white light on the left
                f.put(4 + x, y, [100, 100, 100]); // gray NIR on the right
            }
        }
        f.put(5, 1, [255, 0, 0]); // a red NIR pixel counts by its luma
        let (wl, nir) = split_side_by_side(&f, NirSide::Right).unwrap();
        assert_eq!((wl.width, wl.height, nir.width, nir.height), (4, 2, 4, 2));
        assert!(wl.data.chunks(3).all(|p| p == [200, 50, 40]));
        assert_eq!(nir.get(1, 1), ((77 * 255) >> 8) * 257);
        assert!(nir.data.iter().enumerate().filter(|&(i, _)| i != 5).all(|(_, &v)| v == 100 * 257));
        // The same picture read with the NIR on the left: the halves swap.
        let (wl2, nir2) = split_side_by_side(&f, NirSide::Left).unwrap();
        assert!(wl2.data.chunks(3).enumerate().all(|(i, p)| p == if i == 5 { [255, 0, 0] } else { [100, 100, 100] }));
        assert_eq!(nir2.get(0, 0), ((77 * 200 + 150 * 50 + 29 * 40) >> 8) * 257);
        let e = split_side_by_side(&RgbFrame::new(9, 2), NirSide::Right).unwrap_err().to_string();
        assert!(e.contains("even width") && e.contains("9x2"), "{e}");
        assert_eq!("left".parse(), Ok(NirSide::Left));
        assert!("middle".parse::<NirSide>().is_err());
    }

    #[test]
    fn short_buffer_is_an_error() {
        assert!(NirFrame::from_strided_u16le(4, 4, &[0; 10], 8).is_err());
    }
}
