//! The `nirfmargin` element in-process through `gst_check::Harness` (one Harness a sink pad, as in
//! gst-plugins-rs' analytics tests), each output checked byte for byte against the processor called
//! directly on the pairs it should have paired (CPU backend, deterministic) or against the live path's
//! own passthrough; and once through a real `gst-launch-1.0` with `GST_PLUGIN_PATH` set to the build
//! output, its lesions checked against the phantom's ground truth.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use gst::prelude::*;
use gst_check::Harness;

use nirf_margin::frame::{NirFrame, RgbFrame};
use nirf_margin::element::failsafe::passthrough;
use nirf_margin::params::AnalysisParams;
use nirf_margin::phantom::{PhantomConfig, render};
use nirf_margin::processor::FrameProcessor;
use nirf_margin::reference::CpuAnalyzer;

const W: usize = 320;
const H: usize = 180;
const MM_PER_PX: f32 = 0.16;

/// Frame `at` of a `rate` frames/s stream, ns: the output grid the aggregator computes (rounded down).
fn at_ns(at: u64, rate: u64) -> u64 {
    at * 1_000_000_000 / rate
}

/// Equal frames, or a failure that says how many bytes differ (not the bytes).
fn same(got: &[u8], want: &[u8], what: &str) {
    let differ = got.iter().zip(want).filter(|(a, b)| a != b).count();
    assert!(got.len() == want.len() && differ == 0, "{what}: {differ} of {} bytes differ (lengths {} and {})", want.len(), got.len(), want.len());
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstnirfmargin::plugin_register_static().unwrap();
    });
}

fn phantom(frames: u32) -> Vec<(RgbFrame, NirFrame)> {
    phantom_at(W, H, frames)
}

fn phantom_at(width: usize, height: usize, frames: u32) -> Vec<(RgbFrame, NirFrame)> {
    let cfg = PhantomConfig { width, height, frames, seed: 7, mm_per_px: MM_PER_PX, fps: 30.0, ..Default::default() };
    let scene = cfg.scene();
    (0..frames).map(|f| render(&scene, f)).map(|r| (r.wl, r.nir)).collect()
}

/// The processor as the element builds it from its properties (CPU backend, margin 1 mm, survey).
fn reference() -> FrameProcessor {
    let params = AnalysisParams { margins_mm: vec![1.0], ..AnalysisParams::with_scale(MM_PER_PX) };
    FrameProcessor::new(Box::new(CpuAnalyzer::new(params.clone()).unwrap()), params, 30.0)
}

fn overlay(p: &mut FrameProcessor, wl: &RgbFrame, nir: &NirFrame) -> Vec<u8> {
    p.process(wl, nir, false).unwrap().overlay.data
}

struct Rig {
    el: gst::Element,
    wl: Harness,
    nir: Harness,
    bus: gst::Bus,
    /// The white light's frame rate, frames/s (timestamps at 30 for a variable rate).
    rate: u64,
}

fn caps(format: gst_video::VideoFormat, w: usize, h: usize) -> gst::Caps {
    caps_at(format, w, h, gst::Fraction::new(30, 1))
}

fn caps_at(format: gst_video::VideoFormat, w: usize, h: usize, fps: gst::Fraction) -> gst::Caps {
    init();
    gst_video::VideoInfo::builder(format, w as u32, h as u32).fps(fps).build().unwrap().to_caps().unwrap()
}

/// The element with a generous budget (timing is not what these tests check) and `props`.
fn rig(props: &[(&str, &str)]) -> Rig {
    rig_at(props, gst::Fraction::new(30, 1))
}

/// As `rig`, the white light's caps at `fps`.
fn rig_at(props: &[(&str, &str)], fps: gst::Fraction) -> Rig {
    rig_caps(props, caps_at(gst_video::VideoFormat::Rgb, W, H, fps), caps(gst_video::VideoFormat::Gray16Le, W, H))
}

/// As `rig`, with the white light's and the NIR's caps as given.
fn rig_caps(props: &[(&str, &str)], wl_caps: gst::Caps, nir_caps: gst::Caps) -> Rig {
    init();
    let fps = gst_video::VideoInfo::from_caps(&wl_caps).unwrap().fps();
    let el = gst::ElementFactory::make("nirfmargin").build().unwrap();
    for (k, v) in [("backend", "cpu"), ("mm-per-px", "0.16"), ("budget-ms", "5000")].iter().chain(props) {
        el.set_property_from_str(k, v);
    }
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut wl = Harness::with_element(&el, Some("wl"), Some("src"));
    let mut nir = Harness::with_element(&el, Some("nir"), None);
    wl.set_src_caps(wl_caps);
    nir.set_src_caps(nir_caps);
    wl.play();
    nir.play();
    let rate = if fps.numer() > 0 { (fps.numer() / fps.denom()) as u64 } else { 30 };
    Rig { el, wl, nir, bus, rate }
}

/// A buffer of `data` at `pts` ns lasting `duration` ns.
fn timed(data: Vec<u8>, pts: u64, duration: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    let r = b.get_mut().unwrap();
    r.set_pts(gst::ClockTime::from_nseconds(pts));
    r.set_duration(gst::ClockTime::from_nseconds(duration));
    b
}

fn buffer(data: Vec<u8>, at: u64, frames: u64, rate: u64) -> gst::Buffer {
    timed(data, at_ns(at, rate), at_ns(at + frames, rate) - at_ns(at, rate))
}

/// One white-light period long, from `at` periods on (not a whole number: a camera at its own phase).
fn buffer_at(data: Vec<u8>, at: f64, rate: u64) -> gst::Buffer {
    timed(data, (at * 1e9 / rate as f64).round() as u64, 1_000_000_000 / rate)
}

impl Rig {
    fn push_wl(&mut self, f: &RgbFrame, at: u64) {
        assert_eq!(self.wl.push(buffer(f.data.clone(), at, 1, self.rate)), Ok(gst::FlowSuccess::Ok));
    }

    /// A NIR frame as GRAY16_LE lasting `frames` white-light periods.
    fn push_nir(&mut self, f: &NirFrame, at: u64, frames: u64) {
        let bytes = f.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(self.nir.push(buffer(bytes, at, frames, self.rate)), Ok(gst::FlowSuccess::Ok));
    }

    /// A white-light frame, one period long, from `at` periods on (a camera at its own phase).
    fn push_wl_at(&mut self, f: &RgbFrame, at: f64) {
        assert_eq!(self.wl.push(buffer_at(f.data.clone(), at, self.rate)), Ok(gst::FlowSuccess::Ok));
    }

    fn push_nir_at(&mut self, f: &NirFrame, at: f64) {
        let bytes = f.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(self.nir.push(buffer_at(bytes, at, self.rate)), Ok(gst::FlowSuccess::Ok));
    }

    fn pull(&mut self) -> Vec<u8> {
        let b = self.wl.pull().expect("an output frame");
        b.map_readable().unwrap().to_vec()
    }

    /// The next `nirf-margin/frame` message.
    fn message(&self) -> gst::Structure {
        loop {
            let m = self.bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Element]).expect("a frame message");
            let s = m.structure().unwrap();
            if s.name() == "nirf-margin/frame" {
                return s.to_owned();
            }
        }
    }
}

fn overlay_state(s: &gst::Structure) -> (String, Option<String>) {
    (s.get::<String>("overlay").unwrap(), s.get::<String>("reason").ok())
}

/// The element (default properties) after a first frame pair, and the reference that saw the same pair.
fn started(f: &[(RgbFrame, NirFrame)]) -> (Rig, FrameProcessor) {
    let mut r = rig(&[]);
    let mut p = reference();
    r.push_wl(&f[0].0, 0);
    r.push_nir(&f[0].1, 0, 1);
    same(&r.pull(), &overlay(&mut p, &f[0].0, &f[0].1), "frame 0");
    (r, p)
}

#[test]
fn pairs_nir_by_running_time_and_outputs_what_the_processor_draws() {
    let f = phantom(4);
    let mut r = rig(&[]);
    let mut p = reference();
    // The NIR camera at half the white light's rate: white-light frame i pairs with NIR frame i / 2.
    r.push_wl(&f[0].0, 0);
    r.push_nir(&f[0].1, 0, 2);
    same(&r.pull(), &overlay(&mut p, &f[0].0, &f[0].1), "frame 0");
    r.push_wl(&f[1].0, 1);
    r.push_nir(&f[1].1, 2, 2);
    same(&r.pull(), &overlay(&mut p, &f[1].0, &f[0].1), "frame 1 pairs with NIR 0");
    r.push_wl(&f[2].0, 2);
    same(&r.pull(), &overlay(&mut p, &f[2].0, &f[1].1), "frame 2 pairs with NIR 1");
    r.push_wl(&f[3].0, 3);
    r.push_nir(&f[3].1, 4, 2);
    let expected = p.process(&f[3].0, &f[1].1, false).unwrap();
    same(&r.pull(), &expected.overlay.data, "frame 3 pairs with NIR 1");

    // One message a frame, the last with the processor's lesions.
    let msgs: Vec<gst::Structure> = (0..4).map(|_| r.message()).collect();
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.get::<u64>("frame").unwrap(), i as u64);
        assert_eq!(overlay_state(m), ("on".to_string(), None));
        assert!(m.get::<f64>("process-ms").unwrap() > 0.0 && m.get::<f64>("element-ms").unwrap() >= m.get::<f64>("process-ms").unwrap());
    }
    let lesions = msgs[3].get::<gst::Array>("lesions").unwrap();
    assert!(!expected.lesions.is_empty(), "the phantom has lesions");
    assert_eq!(lesions.len(), expected.lesions.len());
    for (l, e) in lesions.iter().zip(&expected.lesions) {
        let s = l.get::<gst::Structure>().unwrap();
        assert_eq!(s.name(), "lesion");
        assert_eq!(s.get::<u64>("id").unwrap(), e.id as u64);
        assert_eq!(s.get::<String>("kind").unwrap(), serde_json::to_value(e.kind).unwrap().as_str().unwrap());
    }
}

/// The `notice` property (what `live` sets to REC DROPPING while a recording drops frames): drawn at the
/// bottom of the output while set, exactly as `overlay::badge_bottom` draws it on the overlay; gone
/// when unset, while playing.
#[test]
fn a_notice_is_drawn_at_the_bottom_while_set() {
    let f = phantom(3);
    let (mut r, mut p) = started(&f);
    r.el.set_property("notice", "REC DROPPING");
    r.push_wl(&f[1].0, 1);
    r.push_nir(&f[1].1, 1, 1);
    let mut want = p.process(&f[1].0, &f[1].1, false).unwrap().overlay;
    let plain = want.data.clone();
    nirf_margin::overlay::badge_bottom(&mut want, "REC DROPPING");
    assert_ne!(want.data, plain, "the badge changes the frame");
    same(&r.pull(), &want.data, "frame 1 with the notice");
    r.el.set_property("notice", None::<&str>);
    r.push_wl(&f[2].0, 2);
    r.push_nir(&f[2].1, 2, 1);
    same(&r.pull(), &overlay(&mut p, &f[2].0, &f[2].1), "frame 2 without it");
}

#[test]
fn a_silent_nir_camera_gives_white_light_with_nir_lost_then_the_overlay_comes_back() {
    let f = phantom(5);
    let (mut r, mut p) = started(&f);
    // The NIR falls silent: the aggregator's timeout (the harness clock) lets the white light through.
    r.push_wl(&f[1].0, 1);
    r.push_wl(&f[2].0, 2);
    r.wl.crank_single_clock_wait().unwrap();
    // Within half a frame of the last NIR frame's end, frame 1 still pairs with it.
    same(&r.pull(), &overlay(&mut p, &f[1].0, &f[0].1), "frame 1 pairs with the NIR frame just ended");
    r.wl.crank_single_clock_wait().unwrap();
    same(&r.pull(), &passthrough(&f[2].0, "NIR LOST").data, "frame 2: white light with the badge");
    // The NIR is back.
    r.push_wl(&f[3].0, 3);
    r.push_nir(&f[3].1, 3, 1);
    same(&r.pull(), &overlay(&mut p, &f[3].0, &f[3].1), "the overlay comes back with the NIR");
    let states: Vec<_> = (0..4).map(|_| overlay_state(&r.message())).collect();
    assert_eq!(states[2], ("off".to_string(), Some("nir lost".to_string())));
    assert_eq!(states[3].0, "on");
}

/// A live aggregator takes one buffer a pad per output frame: a pad that once holds a frame more than the
/// other would stay a frame behind for good (the white light: a frame period more latency on every frame;
/// the NIR: each white light with the NIR of the frame before). The element skips a head that a newer
/// frame of its pad is already waiting behind, and counts it. The inputs here start 0.3 of a frame before
/// their output frame (the aggregator's grid starts at the first frame), as a camera's phase may.
#[test]
fn a_frame_waiting_behind_an_older_one_of_its_input_is_the_one_analysed() {
    let f = phantom(5);
    let (mut r, mut p) = started(&f);
    // The white light a frame ahead of the NIR (output frame 1 runs from 1 to 2 periods).
    r.push_wl_at(&f[1].0, 0.7);
    r.push_wl_at(&f[2].0, 1.7);
    r.push_nir_at(&f[2].1, 1.7);
    same(&r.pull(), &overlay(&mut p, &f[2].0, &f[2].1), "the newest white light, with its NIR");
    // The NIR a frame ahead of the white light (output frame 2: 2 to 3 periods).
    r.push_nir_at(&f[3].1, 2.2);
    r.push_nir_at(&f[4].1, 2.7);
    r.push_wl_at(&f[4].0, 2.7);
    same(&r.pull(), &overlay(&mut p, &f[4].0, &f[4].1), "the white light, with the newest NIR");
    assert_eq!(r.el.property::<u64>("skipped"), 2);
}

/// A white light that stops delivering while the NIR goes on: the aggregator repeats its last frame;
/// once more is within half a frame of its end (analysed as usual), after that the frozen picture goes
/// out with "WHITE LIGHT FROZEN" and nothing analysed; the overlay comes back with the white light.
#[test]
fn a_frozen_white_light_is_flagged_and_not_analysed_then_the_overlay_comes_back() {
    let f = phantom(4);
    let (mut r, mut p) = started(&f);
    r.push_nir(&f[1].1, 1, 1);
    r.push_nir(&f[2].1, 2, 1);
    r.wl.crank_single_clock_wait().unwrap();
    same(&r.pull(), &overlay(&mut p, &f[0].0, &f[1].1), "frame 1: the white light's last frame repeated once");
    r.wl.crank_single_clock_wait().unwrap();
    same(&r.pull(), &passthrough(&f[0].0, "WHITE LIGHT FROZEN").data, "frame 2: the frozen picture with the badge");
    r.push_wl(&f[3].0, 3);
    r.push_nir(&f[3].1, 3, 1);
    same(&r.pull(), &overlay(&mut p, &f[3].0, &f[3].1), "the overlay comes back with the white light");
    let states: Vec<_> = (0..4).map(|_| overlay_state(&r.message())).collect();
    assert_eq!(states[1].0, "on");
    assert_eq!(states[2], ("off".to_string(), Some("white light frozen".to_string())));
    assert_eq!(states[3].0, "on");
}

#[test]
fn a_nir_size_and_format_change_mid_stream_is_scaled_onto_the_white_light() {
    let f = phantom(3);
    let (mut r, mut p) = started(&f);
    // The NIR camera now sends half-size 8-bit frames (the phantom's 12-bit samples, top 8 bits).
    let small = f[1].1.resized(W / 2, H / 2);
    let gray8: Vec<u8> = small.data.iter().map(|v| (v >> 4).min(255) as u8).collect();
    r.nir.set_src_caps(caps(gst_video::VideoFormat::Gray8, W / 2, H / 2));
    r.push_wl(&f[1].0, 1);
    assert_eq!(r.nir.push(buffer(gray8.clone(), 1, 1, 30)), Ok(gst::FlowSuccess::Ok));
    // A caps change makes the aggregator renegotiate and then wait for its timeout (the harness clock).
    r.wl.crank_single_clock_wait().unwrap();
    let as16 = NirFrame::from_vec(W / 2, H / 2, gray8.iter().map(|&v| v as u16 * 257).collect()).unwrap();
    same(&r.pull(), &overlay(&mut p, &f[1].0, &as16.resized(W, H)), "GRAY8 at half size, scaled");
    // And double-size big-endian 16-bit frames.
    let big = f[2].1.resized(W * 2, H * 2);
    r.nir.set_src_caps(caps(gst_video::VideoFormat::Gray16Be, W * 2, H * 2));
    r.push_wl(&f[2].0, 2);
    assert_eq!(r.nir.push(buffer(big.data.iter().flat_map(|v| v.to_be_bytes()).collect(), 2, 1, 30)), Ok(gst::FlowSuccess::Ok));
    r.wl.crank_single_clock_wait().unwrap();
    same(&r.pull(), &overlay(&mut p, &f[2].0, &big.resized(W, H)), "GRAY16_BE at double size, scaled");
    assert!((0..3).all(|_| overlay_state(&r.message()).0 == "on"));
}

/// Rows of `row` bytes laid out at `stride` (GStreamer pads rows to 4 bytes), and back.
fn strided(rows: &[u8], row: usize, stride: usize) -> Vec<u8> {
    let mut out = vec![0u8; rows.len() / row * stride];
    out.chunks_exact_mut(stride).zip(rows.chunks_exact(row)).for_each(|(d, s)| d[..row].copy_from_slice(s));
    out
}

fn packed(data: &[u8], row: usize, stride: usize) -> Vec<u8> {
    data.chunks(stride).flat_map(|r| &r[..row]).copied().collect()
}

/// Packed RGB and GRAY16_LE (the other tests) are lent to the analysis as they are; inputs in another
/// layout are converted first, and the output is written in the white light's layout: a white light in
/// RGBx (the output is RGBx, its fourth byte 255), and rows padded to 4 bytes at an odd width (RGB and
/// GRAY16_LE at 321 px, as GStreamer lays them out). Each output is the processor's overlay of the pair.
#[test]
fn inputs_in_other_layouts_are_converted_and_give_the_processor_s_overlay() {
    use gst_video::VideoFormat::{Gray16Le, Rgb, Rgbx};
    let f = phantom(2);
    let mut r = rig_caps(&[], caps(Rgbx, W, H), caps(Gray16Le, W, H));
    let mut p = reference();
    for (i, (wl, nir)) in f.iter().enumerate() {
        let rgbx: Vec<u8> = wl.data.chunks_exact(3).flat_map(|c| [c[0], c[1], c[2], 0]).collect();
        assert_eq!(r.wl.push(buffer(rgbx, i as u64, 1, 30)), Ok(gst::FlowSuccess::Ok));
        r.push_nir(nir, i as u64, 1);
        let want: Vec<u8> = overlay(&mut p, wl, nir).chunks_exact(3).flat_map(|c| [c[0], c[1], c[2], 255]).collect();
        same(&r.pull(), &want, &format!("RGBx frame {i}"));
    }

    let w = W + 1;
    let f = phantom_at(w, H, 2);
    let [wl_info, nir_info] = [Rgb, Gray16Le].map(|format| gst_video::VideoInfo::builder(format, w as u32, H as u32).build().unwrap());
    let (wl_stride, nir_stride) = (wl_info.stride()[0] as usize, nir_info.stride()[0] as usize);
    assert!(wl_stride > w * 3 && nir_stride > w * 2, "rows at 321 px are padded");
    let mut r = rig_caps(&[], caps(Rgb, w, H), caps(Gray16Le, w, H));
    let mut p = reference();
    for (i, (wl, nir)) in f.iter().enumerate() {
        assert_eq!(r.wl.push(buffer(strided(&wl.data, w * 3, wl_stride), i as u64, 1, 30)), Ok(gst::FlowSuccess::Ok));
        let nir_bytes: Vec<u8> = nir.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(r.nir.push(buffer(strided(&nir_bytes, w * 2, nir_stride), i as u64, 1, 30)), Ok(gst::FlowSuccess::Ok));
        let out = r.pull();
        assert_eq!(out.len(), wl_stride * H, "the output in the white light's layout");
        same(&packed(&out, w * 3, wl_stride), &overlay(&mut p, wl, nir), &format!("{w} px frame {i}"));
    }
    assert!((0..2).all(|_| overlay_state(&r.message()).0 == "on"));
}

#[test]
fn an_analysis_fault_passes_the_white_light_with_a_badge_and_the_analysis_recovers() {
    let f = phantom(5);
    let mut r = rig(&[("inject-fault", "error@1,panic@3")]);
    let mut p = reference();
    let mut out = Vec::new();
    for (i, (wl, nir)) in f.iter().enumerate() {
        r.push_wl(wl, i as u64);
        r.push_nir(nir, i as u64, 1);
        out.push(r.pull());
    }
    let msgs: Vec<gst::Structure> = (0..5).map(|_| r.message()).collect();
    same(&out[0], &overlay(&mut p, &f[0].0, &f[0].1), "output");
    // An error leaves the processor as it was: frame 2 continues from frame 0.
    same(&out[1], &passthrough(&f[1].0, "OVERLAY OFF (analysis fault)").data, "output");
    assert!(overlay_state(&msgs[1]).1.unwrap().contains("injected processing error at frame 1"));
    same(&out[2], &overlay(&mut p, &f[2].0, &f[2].1), "output");
    // A panic rebuilds the processor: frame 4 is a fresh processor's first frame.
    same(&out[3], &passthrough(&f[3].0, "OVERLAY OFF (analysis fault)").data, "output");
    assert!(overlay_state(&msgs[3]).1.unwrap().contains("panicked"));
    same(&out[4], &overlay(&mut reference(), &f[4].0, &f[4].1), "output");
    assert_eq!(msgs.iter().map(|m| overlay_state(m).0).collect::<Vec<_>>(), ["on", "off", "on", "off", "on"]);
}

#[test]
fn nir_eos_keeps_the_white_light_flowing_and_white_light_eos_ends_the_stream() {
    let f = phantom(3);
    let (mut r, mut p) = started(&f);
    assert!(r.nir.push_event(gst::event::Eos::new()));
    r.push_wl(&f[1].0, 1);
    r.push_wl(&f[2].0, 2);
    // Frame 1 is within half a frame of the last NIR frame's end: paired with it (the NIR's last frame
    // stays after its EOS); frame 2 is not.
    same(&r.pull(), &overlay(&mut p, &f[1].0, &f[0].1), "frame 1 pairs with the NIR's last frame");
    same(&r.pull(), &passthrough(&f[2].0, "NIR LOST").data, "frame 2 after the NIR ended");
    assert!(r.wl.push_event(gst::event::Eos::new()));
    until_eos(&mut r.wl);
}

/// The end of a run: both inputs end (the NIR's EOS first, its last frame a frame before the white
/// light's), or a live run is stopped and the aggregator's timeout comes before the white light's EOS
/// (it repeats the white light's last frame). Neither puts out a "NIR LOST" frame, and after the white
/// light's EOS nothing more comes.
#[test]
fn the_end_of_a_run_gives_no_spurious_nir_lost_frame() {
    let f = phantom(3);
    // Both end: frame 2 of the white light after the NIR's last frame 1 and its EOS.
    let (mut r, mut p) = started(&f);
    r.push_nir(&f[1].1, 1, 1);
    r.push_wl(&f[1].0, 1);
    same(&r.pull(), &overlay(&mut p, &f[1].0, &f[1].1), "frame 1");
    assert!(r.nir.push_event(gst::event::Eos::new()));
    r.push_wl(&f[2].0, 2);
    same(&r.pull(), &overlay(&mut p, &f[2].0, &f[1].1), "the white light's last frame pairs with the NIR's last");
    assert!(r.wl.push_event(gst::event::Eos::new()));
    until_eos(&mut r.wl);
    assert_eq!(r.wl.buffers_in_queue(), 0, "nothing after the white light ended");
    let states: Vec<_> = (0..3).map(|_| overlay_state(&r.message())).collect();
    assert!(states.iter().all(|s| s.0 == "on"), "{states:?}");

    // A stopped live run: the NIR ends; before the white light's EOS arrives the aggregator's timeout
    // (the harness clock) puts out the white light's last frame once more, paired with the NIR's last.
    let (mut r, mut p) = started(&f);
    assert!(r.nir.push_event(gst::event::Eos::new()));
    r.wl.crank_single_clock_wait().unwrap();
    same(&r.pull(), &overlay(&mut p, &f[0].0, &f[0].1), "the timeout's repeated frame");
    assert!(r.wl.push_event(gst::event::Eos::new()));
    until_eos(&mut r.wl);
    assert_eq!(r.wl.buffers_in_queue(), 0, "nothing after the white light ended");
    let states: Vec<_> = (0..2).map(|_| overlay_state(&r.message())).collect();
    assert!(states.iter().all(|s| s.0 == "on"), "{states:?}");
}

/// Pull events from the src pad until EOS (a failure after the harness's 60 s wait).
fn until_eos(h: &mut Harness) {
    while h.pull_event().expect("events until EOS").type_() != gst::EventType::Eos {}
}

#[test]
fn white_light_eos_ends_the_stream_while_the_nir_goes_on() {
    let f = phantom(2);
    let mut r = rig(&[]);
    r.push_wl(&f[0].0, 0);
    r.push_nir(&f[0].1, 0, 1);
    r.pull();
    assert!(r.wl.push_event(gst::event::Eos::new()));
    r.push_nir(&f[1].1, 1, 1);
    until_eos(&mut r.wl);
    assert_eq!(r.wl.buffers_in_queue(), 0, "nothing after the white light ended");
}

#[test]
fn the_latency_query_is_answered_with_the_budget() {
    let mut r = rig(&[("budget-ms", "40")]);
    let f = phantom(1);
    r.push_wl(&f[0].0, 0);
    r.push_nir(&f[0].1, 0, 1);
    r.pull();
    let mut q = gst::query::Latency::new();
    assert!(r.el.static_pad("src").unwrap().query(&mut q));
    let (live, min, max) = q.result();
    assert!(live, "the harness sources are live");
    assert_eq!(min, gst::ClockTime::from_mseconds(40 + 5), "the budget and the element's own 5 ms");
    assert!(max.is_none_or(|m| m >= min), "max {max:?}");
}

/// The frame period comes from the white light's caps: the budget (0.8 of it) and so the latency the
/// element reports, and the analysis's rate (its tracker keeps an unseen lesion's ID for one second of
/// frames: at 10 frames/s a lesion gone for 12 frames comes back with a new ID, at 30 it keeps its own).
/// Caps of 0/1 (a variable rate) take 30 frames/s, and so does the output: its caps are fixed at 30/1
/// (the aggregator derives its own latency from the output rate, which must not be zero).
#[test]
fn the_frame_rate_comes_from_the_caps() {
    let f = phantom(2);
    for (fps, budget, out) in
        [(gst::Fraction::new(10, 1), 80.0, gst::Fraction::new(10, 1)), (gst::Fraction::new(0, 1), 80.0 / 3.0, gst::Fraction::new(30, 1))]
    {
        let mut r = rig_at(&[("budget-ms", "0")], fps);
        r.push_wl(&f[0].0, 0);
        r.push_nir(&f[0].1, 0, 1);
        r.pull();
        let caps = r.el.static_pad("src").unwrap().current_caps().unwrap();
        assert_eq!(caps.structure(0).unwrap().get::<gst::Fraction>("framerate").unwrap(), out, "{fps:?} in");
        let mut q = gst::query::Latency::new();
        assert!(r.el.static_pad("src").unwrap().query(&mut q));
        let want = gst::ClockTime::from_nseconds(((budget + 5.0) * 1e6) as u64);
        assert!(q.result().1.nseconds().abs_diff(want.nseconds()) < 1000, "{fps:?}: latency {} for {want}", q.result().1);
    }

    // Tracking at 10 frames/s: the lesions vanish (a NIR frame without fluorescence) for 12 frames.
    let mut r = rig_at(&[], gst::Fraction::new(10, 1));
    let params = AnalysisParams { margins_mm: vec![1.0], ..AnalysisParams::with_scale(MM_PER_PX) };
    let processor = |fps| FrameProcessor::new(Box::new(CpuAnalyzer::new(params.clone()).unwrap()), params.clone(), fps);
    let (mut at10, mut at30) = (processor(10.0), processor(30.0));
    // A flat NIR frame: background only.
    let dark = NirFrame::from_vec(W, H, vec![400; W * H]).unwrap();
    let mut last = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..14u64 {
        let nir = if i == 0 || i == 13 { &f[0].1 } else { &dark };
        r.push_wl(&f[0].0, i);
        r.push_nir(nir, i, 1);
        last = (r.pull(), overlay(&mut at10, &f[0].0, nir), overlay(&mut at30, &f[0].0, nir));
    }
    assert_ne!(last.1, last.2, "the two rates draw different IDs (else this test cannot tell them apart)");
    same(&last.0, &last.1, "the lesions back after 12 frames: drawn as a processor at 10 frames/s draws them");
}

/// A replay (a pipeline that is not live) runs ahead of the clock, so the time since a frame's running
/// time is nothing: the added latency it reports is the element's time on the frame, input to output,
/// never less than the analysis's own time, and a frame drilled to overrun its budget waited the budget.
#[test]
fn a_replay_reports_the_element_s_time_as_its_latency() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=6 pattern=ball ! video/x-raw,format=RGB,width=320,height=180,framerate=30/1 \
         ! nirfmargin name=m backend=cpu mm-per-px=0.16 budget-ms=100 inject-fault=slow@3 ! fakesink sync=false \
         videotestsrc num-buffers=6 pattern=ball ! video/x-raw,format=GRAY16_LE,width=320,height=180,framerate=30/1 ! m.nir",
    )
    .unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    for m in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match m.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "nirf-margin/frame") => {
                let s = e.structure().unwrap();
                frames.push((s.get::<f64>("latency_ms").unwrap(), s.get::<f64>("process-ms").ok(), s.get::<f64>("element-ms").unwrap()));
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(frames.len(), 6, "{frames:?}");
    for (i, (latency, process, element)) in frames.iter().enumerate() {
        assert!(*latency > 0.0, "frame {i}: latency {latency} ms (element {element} ms)");
        if let Some(p) = process {
            assert!(latency >= p, "frame {i}: latency {latency} ms under the analysis's {p} ms");
        }
    }
    assert!(frames[3].0 >= 100.0, "the drilled frame waited its 100-ms budget: {} ms", frames[3].0);
}

#[test]
fn an_invalid_property_stops_the_element_naming_it() {
    init();
    for (prop, value, named) in [
        ("mm-per-px", "5", "property mm-per-px"),
        ("margins-mm", "1,abc", "property margins-mm"),
        ("roi", "1,2,3", "property roi"),
        ("tbr", "0.5", "property tbr"),
        ("backend", "quantum", "property backend"),
        ("mode", "autopilot", "property mode"),
        ("inject-fault", "melt@3", "property inject-fault"),
        ("metrics-location", "/nonexistent-folder/m.jsonl", "property metrics-location"),
    ] {
        let el = gst::ElementFactory::make("nirfmargin").property_from_str("backend", "cpu").build().unwrap();
        el.set_property_from_str(prop, value);
        let bus = gst::Bus::new();
        el.set_bus(Some(&bus));
        assert!(el.set_state(gst::State::Paused).is_err(), "{prop}={value} must not start");
        let err = bus.iter().find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        });
        let err = err.unwrap_or_default();
        assert!(err.contains(named), "{prop}={value}: error '{err}' does not name {named}");
        el.set_state(gst::State::Null).unwrap();
    }
}

/// A folder holding only the plugin (copied from the build output, where `cargo test` leaves it in
/// `target/<profile>/deps` and `cargo build` in `target/<profile>`): a plugin path of its own, so that
/// GStreamer scans no other shared object.
fn plugin_dir(into: &Path) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let so = [deps.to_path_buf(), deps.parent().unwrap().to_path_buf()]
        .into_iter()
        .map(|d| d.join("libgstnirfmargin.so"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no libgstnirfmargin.so in {} or its parent (cargo builds it with this test)", deps.display()));
    let dir = into.join("plugin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&so, dir.join("libgstnirfmargin.so")).unwrap();
    dir
}

#[test]
fn gst_launch_runs_the_element_from_the_plugin_path() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let d = tempfile::tempdir().unwrap();
    let metrics = d.path().join("m.jsonl");
    let line = format!(
        "filesrc location={wl} ! decodebin ! videoconvert ! nirfmargin name=m mm-per-px=0.1 backend=cpu budget-ms=5000 \
         metrics-location={m} ! videoconvert ! pngenc ! multifilesink location={out}/%03d.png \
         filesrc location={nir} ! decodebin ! videoconvert ! m.nir",
        wl = repo.join("testdata/phantom/wl.mkv").display(),
        nir = repo.join("testdata/phantom/nir.mkv").display(),
        m = metrics.display(),
        out = d.path().display(),
    );
    let o = Command::new("gst-launch-1.0")
        .args(line.split_whitespace())
        .env("GST_PLUGIN_PATH", plugin_dir(d.path()))
        .env("GST_REGISTRY", d.path().join("registry.bin"))
        .output()
        .expect("gst-launch-1.0 runs (gstreamer1.0-tools)");
    assert!(o.status.success(), "gst-launch-1.0 failed: {}", String::from_utf8_lossy(&o.stderr));
    let truth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo.join("testdata/phantom/ground_truth.json")).unwrap()).unwrap();
    let truth = truth["frames"].as_array().unwrap();
    let lines: Vec<_> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| nirf_margin::metrics::FrameMetrics::from_json(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), truth.len(), "a metrics line a frame");
    let pngs = std::fs::read_dir(d.path()).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png")).count();
    assert_eq!(pngs, truth.len(), "a PNG a frame");
    let first = image::open(d.path().join("000.png")).unwrap();
    assert_eq!((first.width(), first.height()), (640, 360));
    // Every rim lesion fully in view is found, within 3 px of its true centre, on every frame.
    for (line, t) in lines.iter().zip(truth) {
        assert_eq!(line.overlay, Some(nirf_margin::metrics::OverlayState::On), "frame {}", line.frame);
        for l in t["lesions"].as_array().unwrap().iter().filter(|l| l["kind"] == "rim" && l["in_view"] == "full") {
            let c = [l["centroid_px"][0].as_f64().unwrap(), l["centroid_px"][1].as_f64().unwrap()];
            let found = line.lesions.iter().any(|m| {
                let mc = m.centroid_px;
                ((mc[0] as f64 - c[0]).powi(2) + (mc[1] as f64 - c[1]).powi(2)).sqrt() < 3.0
            });
            assert!(found, "frame {}: rim lesion {} at {c:?} not found", line.frame, l["id"]);
        }
    }
}

/// `gst-inspect-1.0 nirfmargin`, with the plugin file on `GST_PLUGIN_PATH`, documents each pad with its
/// formats and each of the element's own properties with its description.
#[test]
fn gst_inspect_documents_every_pad_and_property() {
    init();
    let d = tempfile::tempdir().unwrap();
    let o = Command::new("gst-inspect-1.0")
        .arg("nirfmargin")
        .env("GST_PLUGIN_PATH", plugin_dir(d.path()))
        .env("GST_REGISTRY", d.path().join("registry.bin"))
        .output()
        .expect("gst-inspect-1.0 runs (gstreamer1.0-tools)");
    assert!(o.status.success(), "gst-inspect-1.0 failed: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for pad in ["SINK template: 'wl'", "SINK template: 'nir'", "SRC template: 'src'", "GRAY16_BE", "RGBx"] {
        assert!(text.contains(pad), "no {pad:?} in:\n{text}");
    }
    let el = gst::ElementFactory::make("nirfmargin").build().unwrap();
    let own: Vec<_> = el.list_properties().into_iter().filter(|p| p.owner_type() == el.type_()).collect();
    assert_eq!(own.len(), 13, "the element's own properties");
    for p in own {
        let blurb = p.blurb().expect("a description");
        let start: String = blurb.chars().take(40).collect();
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{} ", p.name())));
        assert!(line.is_some_and(|l| l.contains(&start)), "property {} not documented as {start:?}...", p.name());
    }
}

/// A live pipeline into a video sink that syncs on the clock (fakevideosink with its defaults: sync, QoS,
/// a max-lateness of 5 ms, stricter than waylandsink's or kmssink's 20 ms), five frames of it drilled to
/// overrun their budget (they go out with their badge, the next ones as "analysis busy"): the frames are
/// rendered (at least four in five on a loaded machine), one message each. (The reported latency itself is
/// checked by the latency-query test: with it set to zero this pipeline still rendered every frame, so this
/// test does not catch a wrong latency.)
#[test]
fn a_live_pipeline_into_a_syncing_video_sink_renders_its_frames_with_overruns() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true pattern=ball num-buffers=60 ! video/x-raw,format=RGB,width=320,height=180,framerate=30/1 \
         ! nirfmargin name=m backend=cpu mm-per-px=0.16 budget-ms=20 inject-fault=slow@10,slow@20,slow@30,slow@40,slow@50 \
         ! fakevideosink name=sink \
         videotestsrc is-live=true pattern=ball num-buffers=60 ! video/x-raw,format=GRAY16_LE,width=160,height=90,framerate=30/1 ! m.nir",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    assert!(sink.property::<bool>("sync"));
    let lateness = sink.property::<i64>("max-lateness");
    assert!(lateness > 0 && lateness <= 20_000_000, "max-lateness {lateness}");
    let mut msgs = Vec::new();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for m in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match m.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "nirf-margin/frame") => {
                let s = e.structure().unwrap();
                msgs.push((s.get::<String>("overlay").unwrap(), s.get::<String>("reason").ok()));
            }
            _ => {}
        }
    }
    let stats = sink.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    let (rendered, dropped) = (stats.get::<u64>("rendered").unwrap(), stats.get::<u64>("dropped").unwrap());
    let over = msgs.iter().filter(|(_, r)| r.as_deref() == Some("over time budget")).count();
    // The drilled frames overran their budget (one may fall while the analysis is still busy with the
    // previous overrun and is then not analysed; on a loaded machine other frames may overrun too).
    assert!(over >= 3, "{over} frames over budget: {msgs:?}");
    assert!(msgs.iter().all(|(o, r)| o == "on" || r.as_deref() != Some("nir lost")), "no NIR lost: {msgs:?}");
    // The two live sources start apart, so the output grid may hold one frame more than each input.
    assert_eq!(msgs.len() as u64, rendered + dropped, "a message an output frame");
    // A loaded 2-core machine makes some frames late on its own (up to 6 of 55 seen at a load of 10):
    // a smoke test of timestamps and latency, not a timing figure.
    assert!(rendered * 5 >= (rendered + dropped) * 4, "{dropped} of {} frames dropped late ({over} over budget)", rendered + dropped);
}
