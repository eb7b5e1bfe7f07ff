//! Seeded phantom generator: co-registered white-light and NIR sequences of synthetic liver with
//! colorectal-metastasis-like lesions, and their ground truth. Owns scene drawing (`scene`), rendering
//! (`render`) and the truth format (`truth`); writing the sequence to PNG files lives here too.
//!
//! What a phantom holds (and what it does not): rims with TBR 1.5–6 and thickness 0.5–4 mm around
//! elliptical cores of 3–30 mm, homogeneously enhancing lesions, deep diffuse lesions, bile-duct-like curves, specular glints,
//! liver-like texture, excitation fall-off, tissue-scatter blur, shot and read noise of a 12-bit
//! sensor, slow camera drift with tremor. No tissue deformation, smoke, instruments or bleeding.

pub mod render;
pub mod scene;
pub mod truth;
pub mod variation;

use std::path::Path;

use anyhow::{Context, Result};
use image::{ImageBuffer, Luma, Rgb};

pub use render::{RenderedFrame, render};
pub use scene::{Scene, SceneOptions};
pub use truth::{GroundTruth, InView, TruthFrame, TruthLesion, TruthSpot, truth_class};
pub use variation::Variation;

#[derive(Clone, Debug)]
pub struct PhantomConfig {
    pub width: usize,
    pub height: usize,
    pub frames: u32,
    pub seed: u64,
    pub mm_per_px: f32,
    pub fps: f32,
    pub options: SceneOptions,
}

impl Default for PhantomConfig {
    fn default() -> Self {
        Self { width: 640, height: 360, frames: 30, seed: 1, mm_per_px: 0.08, fps: 30.0, options: SceneOptions::default() }
    }
}

impl PhantomConfig {
    pub fn scene(&self) -> Scene {
        Scene::generate(self.width, self.height, self.mm_per_px, self.fps, self.seed, &self.options)
    }

    pub fn truth_header(&self) -> GroundTruth {
        GroundTruth {
            generator: format!("nirf-margin {} phantom", env!("CARGO_PKG_VERSION")),
            seed: self.seed,
            width: self.width as u32,
            height: self.height as u32,
            mm_per_px: self.mm_per_px,
            fps: self.fps,
            nir_bits: 12,
            variation: self.options.broad.then(|| self.scene().variation),
            frames: Vec::new(),
        }
    }
}

/// Write `wl/%05d.png` (RGB8), `nir/%05d.png` (16-bit gray holding 12-bit counts), `truth/%05d.png`
/// (class map) and `ground_truth.json` under `dir`. `progress` is called after each frame.
pub fn write_sequence(cfg: &PhantomConfig, dir: &Path, mut progress: impl FnMut(u32)) -> Result<GroundTruth> {
    for sub in ["wl", "nir", "truth"] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    let scene = cfg.scene();
    let mut truth = cfg.truth_header();
    for f in 0..cfg.frames {
        let r = render(&scene, f);
        let name = format!("{f:05}.png");
        let (w, h) = (cfg.width as u32, cfg.height as u32);
        let wl: ImageBuffer<Rgb<u8>, _> = ImageBuffer::from_raw(w, h, r.wl.data).context("white-light buffer")?;
        wl.save(dir.join("wl").join(&name)).with_context(|| format!("writing {}", dir.join("wl").join(&name).display()))?;
        let nir: ImageBuffer<Luma<u16>, _> = ImageBuffer::from_raw(w, h, r.nir.data).context("NIR buffer")?;
        nir.save(dir.join("nir").join(&name)).with_context(|| format!("writing {}", dir.join("nir").join(&name).display()))?;
        let cls: ImageBuffer<Luma<u8>, _> = ImageBuffer::from_raw(w, h, r.classes.data).context("class buffer")?;
        cls.save(dir.join("truth").join(&name)).with_context(|| format!("writing {}", dir.join("truth").join(&name).display()))?;
        truth.frames.push(r.truth);
        progress(f);
    }
    let json = serde_json::to_string_pretty(&truth)?;
    std::fs::write(dir.join("ground_truth.json"), json).with_context(|| format!("writing {}", dir.join("ground_truth.json").display()))?;
    Ok(truth)
}
