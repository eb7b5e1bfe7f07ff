//! PNG files: class masks (8-bit gray), overlay snapshots (RGB8), and reading images back for tests.

use std::path::Path;

use anyhow::{Context, Result};
use image::{ImageBuffer, Luma, Rgb};

use crate::frame::{Plane, RgbFrame};

pub fn write_mask(path: &Path, mask: &Plane<u8>) -> Result<()> {
    let img: ImageBuffer<Luma<u8>, _> =
        ImageBuffer::from_raw(mask.width as u32, mask.height as u32, mask.data.clone()).context("mask buffer size")?;
    img.save(path).with_context(|| format!("writing mask {}", path.display()))
}

pub fn write_rgb(path: &Path, frame: &RgbFrame) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let img: ImageBuffer<Rgb<u8>, _> =
        ImageBuffer::from_raw(frame.width as u32, frame.height as u32, frame.data.clone()).context("frame buffer size")?;
    img.save(path).with_context(|| format!("writing {}", path.display()))
}

pub fn read_mask(path: &Path) -> Result<Plane<u8>> {
    let img = image::open(path).with_context(|| format!("reading {}", path.display()))?.into_luma8();
    let (w, h) = img.dimensions();
    Plane::from_vec(w as usize, h as usize, img.into_raw())
}
