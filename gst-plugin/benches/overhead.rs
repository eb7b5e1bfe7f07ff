//! The element's own cost against calling the processor directly, on 1080p phantom frames (CPU backend),
//! with an A/B of the inputs in the same run. Each frame is timed three ways in turn: the processor called
//! directly (`FrameProcessor::process`), and two `nirfmargin` elements in alternating order (a Harness a
//! pad: push white light and NIR, pull the overlay), one fed packed rows (RGB, GRAY16_LE: the element
//! lends the mapped buffers to the analysis as they are, no copy), the other the same frames with rows
//! padded by 64 bytes (a `VideoMeta` stride: the element converts them into frames of its own, a copy of
//! each input, as it did for every frame before it lent them). Inside each element: its `element-ms` (all
//! of `aggregate_frames`: inputs, hand-over to the analysis thread and back, output, message) less its
//! `process-ms` (the processor on the analysis thread); and a third element fed the NIR at half the size,
//! which it converts and scales up (its own time only). Median and best over the frames after a quarter
//! of warm-up; prints, never asserts.
//! `cargo bench -p gst-plugin-nirfmargin --bench overhead [-- FRAMES [WIDTHxHEIGHT]]`.

use gst::prelude::*;
use gst_check::Harness;

use nirf_margin::params::AnalysisParams;
use nirf_margin::phantom::{PhantomConfig, render};
use nirf_margin::processor::FrameProcessor;
use nirf_margin::reference::CpuAnalyzer;

/// The padding a row of the copied element's inputs gets.
const PAD: usize = 64;

fn median(v: &mut [f64]) -> f64 {
    nirf_margin::stats::percentile(v, 0.5).unwrap_or(f64::NAN)
}

fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// One element with a Harness a sink pad and its own bus.
struct Rig {
    wl: Harness,
    nir: Harness,
    bus: gst::Bus,
}

impl Rig {
    /// White light at `w`×`h`, NIR at `nir_size`.
    fn new(w: usize, h: usize, nir_size: (usize, usize), mm: f64) -> Self {
        let el = gst::ElementFactory::make("nirfmargin")
            .property_from_str("backend", "cpu")
            .property("mm-per-px", mm)
            .property("budget-ms", 10_000.0)
            .build()
            .unwrap();
        let bus = gst::Bus::new();
        el.set_bus(Some(&bus));
        let mut wl = Harness::with_element(&el, Some("wl"), Some("src"));
        let mut nir = Harness::with_element(&el, Some("nir"), None);
        let caps = |f, w: usize, h: usize| {
            gst_video::VideoInfo::builder(f, w as u32, h as u32).fps(gst::Fraction::new(30, 1)).build().unwrap().to_caps().unwrap()
        };
        wl.set_src_caps(caps(gst_video::VideoFormat::Rgb, w, h));
        nir.set_src_caps(caps(gst_video::VideoFormat::Gray16Le, nir_size.0, nir_size.1));
        wl.play();
        nir.play();
        Self { wl, nir, bus }
    }

    /// Push a pair, pull the overlay: the time it took, ms, the element's own time on it (its
    /// `element-ms` less its `process-ms`) and the processor's on the analysis thread (`process-ms`).
    fn frame(&mut self, wl: gst::Buffer, nir: gst::Buffer, i: usize) -> (f64, f64, f64) {
        let t = std::time::Instant::now();
        self.wl.push(wl).unwrap();
        self.nir.push(nir).unwrap();
        let out = self.wl.pull().unwrap();
        let took = t.elapsed().as_secs_f64() * 1e3;
        drop(out);
        let m = self.bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Element]).unwrap();
        let s = m.structure().unwrap();
        assert_eq!(s.get::<String>("overlay").unwrap(), "on", "frame {i}: the overlay must be on to compare");
        let process = s.get::<f64>("process-ms").unwrap();
        (took, s.get::<f64>("element-ms").unwrap() - process, process)
    }
}

/// A buffer of `rows`, rows of `row` bytes each, at frame `i`; each row padded by `PAD` bytes (and a
/// `VideoMeta` saying so) when `padded` gives the format and size.
fn buffer(rows: &[u8], row: usize, i: usize, padded: Option<(gst_video::VideoFormat, usize, usize)>) -> gst::Buffer {
    let mut b = match padded {
        None => gst::Buffer::from_mut_slice(rows.to_vec()),
        Some(_) => {
            let mut data = vec![0u8; rows.len() / row * (row + PAD)];
            for (d, s) in data.chunks_exact_mut(row + PAD).zip(rows.chunks_exact(row)) {
                d[..row].copy_from_slice(s);
            }
            gst::Buffer::from_mut_slice(data)
        }
    };
    let r = b.get_mut().unwrap();
    r.set_pts(gst::ClockTime::from_nseconds(i as u64 * 33_333_333));
    r.set_duration(gst::ClockTime::from_nseconds(33_333_333));
    if let Some((format, w, h)) = padded {
        gst_video::VideoMeta::add_full(r, gst_video::VideoFrameFlags::empty(), format, w as u32, h as u32, &[0], &[(row + PAD) as i32]).unwrap();
    }
    b
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
    let le = |n: &nirf_margin::frame::NirFrame| -> Vec<u8> { n.data.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let nir_bytes: Vec<Vec<u8>> = pairs.iter().map(|(_, n)| le(n)).collect();
    // The NIR camera at half the white light's size (each side), which the element scales up.
    let half = (w / 2, h / 2);
    let nir_half: Vec<Vec<u8>> = pairs.iter().map(|(_, n)| le(&n.resized(half.0, half.1))).collect();

    let params = AnalysisParams { margins_mm: vec![1.0], ..AnalysisParams::with_scale(mm) };
    let mut direct = FrameProcessor::new(Box::new(CpuAnalyzer::new(params.clone()).unwrap()), params, 30.0);
    let (mut lent, mut copied, mut scaled) = (Rig::new(w, h, (w, h), mm as f64), Rig::new(w, h, (w, h), mm as f64), Rig::new(w, h, half, mm as f64));

    let [mut t_direct, mut t_lent, mut t_copied, mut in_lent, mut in_copied, mut p_lent, mut p_copied, mut in_scaled] = [(); 8].map(|_| Vec::new());
    for i in 0..frames {
        let k = i % pairs.len();
        let (wl, nir) = &pairs[k];
        let t = std::time::Instant::now();
        let r = direct.process(wl, nir, false).unwrap();
        t_direct.push(t.elapsed().as_secs_f64() * 1e3);
        drop(r);
        // The two elements in turn, first one then the other.
        for padded in if i % 2 == 0 { [false, true] } else { [true, false] } {
            let (rig, t, inside, process) =
                if padded { (&mut copied, &mut t_copied, &mut in_copied, &mut p_copied) } else { (&mut lent, &mut t_lent, &mut in_lent, &mut p_lent) };
            let layout = |format| padded.then_some((format, w, h));
            let (took, own, on_thread) = rig.frame(
                buffer(&wl.data, w * 3, i, layout(gst_video::VideoFormat::Rgb)),
                buffer(&nir_bytes[k], w * 2, i, layout(gst_video::VideoFormat::Gray16Le)),
                i,
            );
            t.push(took);
            inside.push(own);
            process.push(on_thread);
        }
        // A half-size NIR (its overlay differs from the direct call's: only the element's own time counts).
        let (_, own, _) = scaled.frame(buffer(&wl.data, w * 3, i, None), buffer(&nir_half[k], half.0 * 2, i, None), i);
        in_scaled.push(own);
    }
    // The first frames warm caches and allocations up: leave a quarter out.
    let skip = frames / 4;
    // Frame by frame, before the medians sort the series.
    let diff = |a: &[f64], b: &[f64]| {
        let mut d: Vec<f64> = a[skip..].iter().zip(&b[skip..]).map(|(x, y)| x - y).collect();
        median(&mut d)
    };
    let (d_lent, d_copied) = (diff(&t_lent, &t_direct), diff(&t_copied, &t_direct));
    let row = |what: &str, v: &mut Vec<f64>| {
        let v = &mut v[skip..];
        let b = best(v);
        println!("  {what:<46} median {:8.2} ms   best {b:8.2} ms", median(v));
    };
    println!("nirfmargin overhead, {w}x{h}, CPU backend, {} frames after {skip} of warm-up:", frames - skip);
    row("processor called directly", &mut t_direct);
    row("element, inputs lent (packed): push -> pull", &mut t_lent);
    row("element, inputs copied (padded): push -> pull", &mut t_copied);
    row("processor on the lent element's thread", &mut p_lent);
    row("processor on the copied element's thread", &mut p_copied);
    row("inside, lent: element-ms - process-ms", &mut in_lent);
    row("inside, copied: element-ms - process-ms", &mut in_copied);
    row(&format!("inside, NIR {}x{} scaled up (lent WL)", half.0, half.1), &mut in_scaled);
    println!("  push -> pull less direct, same frame (median): lent {d_lent:+.2} ms, copied {d_copied:+.2} ms");
}
