//! Helpers shared by the integration tests: the binary, phantom sequences on disk, decoding a video.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gstreamer as gst;
use gstreamer::prelude::*;
use nirf_margin::phantom::{GroundTruth, PhantomConfig, SceneOptions, write_sequence};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nirf-margin"));
    c.env("RUST_LOG", "warn");
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run nirf-margin")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn phantom_on_disk(dir: &Path, width: usize, height: usize, frames: u32, seed: u64, mm_per_px: f32) -> GroundTruth {
    let cfg = PhantomConfig { width, height, frames, seed, mm_per_px, fps: 30.0, options: SceneOptions::default() };
    write_sequence(&cfg, dir, |_| {}).expect("write phantom")
}

pub fn pattern(dir: &Path, channel: &str) -> String {
    dir.join(channel).join("%05d.png").to_string_lossy().into_owned()
}

/// Run a gst-launch style description to EOS; panics with the bus error.
pub fn gst_run(desc: &str) {
    gst::init().unwrap();
    let p = gst::parse::launch(desc).expect("parse pipeline");
    p.set_state(gst::State::Playing).expect("play");
    let bus = p.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("pipeline finished in time");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{desc}: {}", e.error());
    }
    p.set_state(gst::State::Null).unwrap();
}

/// Decode a video file and count its frames and their size.
pub fn count_video_frames(path: &Path) -> (u32, u32, u32) {
    gst::init().unwrap();
    let desc = format!("filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=s sync=false", path.display());
    let p = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = p.by_name("s").unwrap().downcast::<gstreamer_app::AppSink>().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let (mut n, mut w, mut h) = (0, 0, 0);
    while let Ok(s) = sink.pull_sample() {
        let info = gstreamer_video::VideoInfo::from_caps(s.caps().unwrap()).unwrap();
        w = info.width();
        h = info.height();
        n += 1;
    }
    p.set_state(gst::State::Null).unwrap();
    (n, w, h)
}

pub fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A metrics file read through the schema every writer shares: each line must parse and be of this
/// version.
pub fn read_metrics(path: &Path) -> Vec<nirf_margin::metrics::FrameMetrics> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| nirf_margin::metrics::FrameMetrics::from_json(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .inspect(|m| assert_eq!(m.schema, nirf_margin::metrics::SCHEMA_VERSION))
        .collect()
}

pub fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A GPU context, or `None` (the test skips, saying so) where no adapter exists; with
/// `NIRF_REQUIRE_GPU=1` (as `make test` sets) a missing adapter fails instead.
pub fn gpu_or_skip() -> Option<nirf_margin::gpu::context::GpuContext> {
    match nirf_margin::gpu::context::GpuContext::new() {
        Ok(c) => Some(c),
        Err(e) if std::env::var("NIRF_REQUIRE_GPU").as_deref() == Ok("1") => panic!("NIRF_REQUIRE_GPU=1 but no adapter: {e:#}"),
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e:#})");
            None
        }
    }
}

/// The phantom's frames composed side by side into one RGB picture: white light on one half, the NIR at
/// 8 bits as gray on the other (`nir_left` swaps the halves). Returns the pattern of the composed sequence
/// and of the same 8-bit NIR as its own gray sequence.
pub fn compose_side_by_side(dir: &Path, frames: u32, nir_left: bool, odd: bool) -> (String, String) {
    let (sbs, nir8) = (dir.join(if nir_left { "sbs-left" } else { "sbs" }), dir.join("nir8"));
    std::fs::create_dir_all(&sbs).unwrap();
    std::fs::create_dir_all(&nir8).unwrap();
    for i in 0..frames {
        let name = format!("{i:05}.png");
        let wl = image::open(dir.join("wl").join(&name)).unwrap().into_rgb8();
        let nir = image::open(dir.join("nir").join(&name)).unwrap().into_luma16();
        let (w, h) = wl.dimensions();
        let gray = image::GrayImage::from_fn(w, h, |x, y| image::Luma([(nir.get_pixel(x, y)[0] >> 4).min(255) as u8]));
        gray.save(nir8.join(&name)).unwrap();
        let (wl_x0, nir_x0) = if nir_left { (w, 0) } else { (0, w) };
        let both = image::RgbImage::from_fn(2 * w + odd as u32, h, |x, y| {
            if (wl_x0..wl_x0 + w).contains(&x) {
                *wl.get_pixel(x - wl_x0, y)
            } else if (nir_x0..nir_x0 + w).contains(&x) {
                let v = gray.get_pixel(x - nir_x0, y)[0];
                image::Rgb([v, v, v])
            } else {
                image::Rgb([0, 0, 0])
            }
        });
        both.save(sbs.join(&name)).unwrap();
    }
    (sbs.join("%05d.png").to_string_lossy().into_owned(), nir8.join("%05d.png").to_string_lossy().into_owned())
}
