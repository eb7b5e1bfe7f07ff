//! The element's own cost against calling the processor directly, on 1080p phantom frames (CPU backend):
//! each frame timed both ways in turn (push white light and NIR into `nirfmargin` through a Harness and
//! pull the overlay, against `FrameProcessor::process` on the same pair), and, inside the element, its
//! `element-ms` (all of `aggregate_frames`: conversions, hand-off, output, metrics) less its
//! `process-ms` (the processor on the analysis thread, so the difference includes the hand-over to that
//! thread and back), and the input copies alone. Medians over the run; prints, never asserts.
//! `cargo bench -p gst-plugin-nirfmargin --bench overhead [-- FRAMES [WIDTHxHEIGHT]]`.

use gst::prelude::*;
use gst_check::Harness;

use nirf_margin::params::AnalysisParams;
use nirf_margin::phantom::{PhantomConfig, render};
use nirf_margin::processor::FrameProcessor;
use nirf_margin::reference::CpuAnalyzer;

fn median(v: &mut [f64]) -> f64 {
    nirf_margin::stats::percentile(v, 0.5).unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let frames: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(40);
    let (w, h) = args.get(1).and_then(|s| s.split_once('x')).map_or((1920, 1080), |(a, b)| (a.parse().unwrap(), b.parse().unwrap()));
    gst::init().unwrap();
    gstnirfmargin::plugin_register_static().unwrap();
    let mm = 0.05;
    let cfg = PhantomConfig { width: w, height: h, frames: 8, seed: 7, mm_per_px: mm, fps: 30.0, ..Default::default() };
    let scene = cfg.scene();
    let pairs: Vec<_> = (0..cfg.frames).map(|f| render(&scene, f)).map(|r| (r.wl, r.nir)).collect();

    let params = AnalysisParams { margins_mm: vec![1.0], ..AnalysisParams::with_scale(mm) };
    let mut direct = FrameProcessor::new(Box::new(CpuAnalyzer::new(params.clone()).unwrap()), params, 30.0);

    let el = gst::ElementFactory::make("nirfmargin")
        .property_from_str("backend", "cpu")
        .property("mm-per-px", mm as f64)
        .property("budget-ms", 10_000.0)
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut hw = Harness::with_element(&el, Some("wl"), Some("src"));
    let mut hn = Harness::with_element(&el, Some("nir"), None);
    let caps = |f| gst_video::VideoInfo::builder(f, w as u32, h as u32).fps(gst::Fraction::new(30, 1)).build().unwrap().to_caps().unwrap();
    hw.set_src_caps(caps(gst_video::VideoFormat::Rgb));
    hn.set_src_caps(caps(gst_video::VideoFormat::Gray16Le));
    hw.play();
    hn.play();

    let (mut t_direct, mut t_element, mut inside) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..frames {
        let (wl, nir) = &pairs[i % pairs.len()];
        let pts = gst::ClockTime::from_nseconds(i as u64 * 33_333_333);
        let buf = |data: Vec<u8>| {
            let mut b = gst::Buffer::from_mut_slice(data);
            let r = b.get_mut().unwrap();
            r.set_pts(pts);
            r.set_duration(gst::ClockTime::from_nseconds(33_333_333));
            b
        };
        let (bw, bn) = (buf(wl.data.clone()), buf(nir.data.iter().flat_map(|v| v.to_le_bytes()).collect()));
        let t = std::time::Instant::now();
        hw.push(bw).unwrap();
        hn.push(bn).unwrap();
        let out = hw.pull().unwrap();
        t_element.push(t.elapsed().as_secs_f64() * 1e3);
        drop(out);
        let t = std::time::Instant::now();
        let r = direct.process(wl, nir, false).unwrap();
        t_direct.push(t.elapsed().as_secs_f64() * 1e3);
        drop(r);
        let m = bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Element]).unwrap();
        let s = m.structure().unwrap();
        assert_eq!(s.get::<String>("overlay").unwrap(), "on", "frame {i}: the overlay must be on to compare");
        inside.push(s.get::<f64>("element-ms").unwrap() - s.get::<f64>("process-ms").unwrap());
    }
    // The element's own copies alone: white light and NIR into reused frames (what `aggregate_frames`
    // does before handing the pair over).
    let (mut wl_copy, mut nir_copy) = (nirf_margin::frame::RgbFrame::default(), nirf_margin::frame::NirFrame::default());
    let mut t_copy = Vec::new();
    for i in 0..frames {
        let (wl, nir) = &pairs[i % pairs.len()];
        let nir_bytes: Vec<u8> = nir.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = std::time::Instant::now();
        wl_copy.fill_from_strided(w, h, &wl.data, w * 3, 3).unwrap();
        nir_copy.fill_from_strided_u16le(w, h, &nir_bytes, w * 2).unwrap();
        t_copy.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // The first frames warm caches and allocations up: leave a quarter out.
    let skip = frames / 4;
    let (d, e, o) = (median(&mut t_direct[skip..]), median(&mut t_element[skip..]), median(&mut inside[skip..]));
    println!("nirfmargin overhead, {w}x{h}, CPU backend, {} frames (median):", frames - skip);
    println!("  processor called directly      {d:8.2} ms");
    println!("  through the element (push→pull) {e:8.2} ms   difference {:+.2} ms", e - d);
    println!("  inside the element, element-ms − process-ms: {o:.2} ms");
    println!("    of which copying the white light and the NIR in: {:.2} ms", median(&mut t_copy[skip..]));
}
