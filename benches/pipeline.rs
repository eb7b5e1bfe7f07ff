//! Criterion benches: each CPU stage and the whole frame (CPU and, where an adapter exists, GPU) at
//! 1280×720, 1920×1080 and 3840×2160 on a phantom frame. `make bench` runs them.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nirf_margin::analysis::Analyzer;
use nirf_margin::frame::Plane;
use nirf_margin::gpu::GpuAnalyzer;
use nirf_margin::params::AnalysisParams;
use nirf_margin::phantom::{PhantomConfig, render};
use nirf_margin::processor::FrameProcessor;
use nirf_margin::reference::components::{Connectivity, label_components};
use nirf_margin::raster::distance::{LabeledDistance, distance_transform};
use nirf_margin::reference::{CpuAnalyzer, composite, morphology, normalize, regions, threshold};

const SIZES: [(usize, usize); 3] = [(1280, 720), (1920, 1080), (3840, 2160)];

fn frame(w: usize, h: usize) -> (nirf_margin::phantom::RenderedFrame, AnalysisParams) {
    let cfg = PhantomConfig { width: w, height: h, frames: 1, seed: 42, mm_per_px: 0.08 * 1280.0 / w as f32, ..Default::default() };
    (render(&cfg.scene(), 0), AnalysisParams::with_scale(cfg.mm_per_px))
}

fn cpu_stages(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_stages");
    g.sample_size(10);
    for (w, h) in SIZES {
        let (f, p) = frame(w, h);
        let mut cpu = CpuAnalyzer::new(p.clone()).unwrap();
        cpu.segment(f.wl.view(), f.nir.view(), false).unwrap();
        let m = cpu.maps();
        let id = format!("{w}x{h}");
        g.bench_function(BenchmarkId::new("normalize", &id), |b| {
            let mut out = Plane::new(w, h);
            b.iter(|| {
                let med = normalize::block_medians(&f.nir, 32);
                let model = normalize::fit_background(&med, 32, w, h);
                normalize::normalize(&f.nir, &model, &mut out);
            })
        });
        g.bench_function(BenchmarkId::new("threshold_morphology", &id), |b| {
            let (mut mask, mut scratch) = (Plane::new(w, h), morphology::MorphScratch::default());
            b.iter(|| {
                threshold::threshold(&m.ratio, &f.wl, p.fluo_ratio, p.glint_level, &mut mask);
                morphology::clean_mask(&mut mask, &mut scratch);
            })
        });
        g.bench_function(BenchmarkId::new("components_regions", &id), |b| {
            let (mut parent, mut bl, mut fl) = (Vec::new(), Plane::new(w, h), Plane::new(w, h));
            let (mut bt, mut ft) = (regions::RegionTable::default(), regions::RegionTable::default());
            b.iter(|| {
                let bl_list = label_components(&m.fluo, 0, Connectivity::Four, &mut parent, &mut bl);
                let fl_list = label_components(&m.fluo, 1, Connectivity::Eight, &mut parent, &mut fl);
                regions::region_stats(&bl, &bl_list, &fl, &fl_list, &m.fluo, &m.ratio, &p, 0.0, &mut bt, &mut ft);
            })
        });
        g.bench_function(BenchmarkId::new("distance", &id), |b| {
            let mut out = LabeledDistance::default();
            b.iter(|| distance_transform(&m.seeds, &m.seed_boxes, p.distance_bound_px(), &mut out))
        });
        g.bench_function(BenchmarkId::new("composite", &id), |b| {
            let inputs = composite::CompositeInputs {
                wl: f.wl.view(),
                ratio: &m.ratio,
                fluo: &m.fluo,
                seeds: &m.seeds,
                dist: &m.distance.dist,
                nearest: &m.distance.nearest,
                rects: &m.distance.rects,
            };
            b.iter(|| composite::composite(&inputs, &[], &[p.mm_to_px(1.0)]))
        });
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("end_to_end");
    g.sample_size(10);
    for (w, h) in SIZES {
        let (f, p) = frame(w, h);
        let id = format!("{w}x{h}");
        let mut cpu = FrameProcessor::new(Box::new(CpuAnalyzer::new(p.clone()).unwrap()), p.clone(), 30.0);
        g.bench_function(BenchmarkId::new("cpu", &id), |b| b.iter(|| cpu.process(&f.wl, &f.nir, false).unwrap()));
        match GpuAnalyzer::new(p.clone()) {
            Ok(gpu) => {
                let mut gpu = FrameProcessor::new(Box::new(gpu), p.clone(), 30.0);
                g.bench_function(BenchmarkId::new("gpu", &id), |b| b.iter(|| gpu.process(&f.wl, &f.nir, false).unwrap()));
            }
            Err(e) => eprintln!("no GPU adapter, GPU bench skipped: {e:#}"),
        }
    }
    g.finish();
}

criterion_group!(benches, cpu_stages, end_to_end);
criterion_main!(benches);
