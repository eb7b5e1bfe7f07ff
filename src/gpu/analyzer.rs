//! `GpuAnalyzer`: the whole per-frame analysis on the GPU. Pipelines are built once; buffers and bind
//! groups once per frame size. A frame is two submissions: `segment` uploads the pair (NIR, white
//! light), runs every stage up to the reductions and reads back the per-lesion table; the processor
//! then measures, smooths and decides each lesion's margin verdict on the CPU, and `composite` uploads
//! its per-lesion style table (a word a core slot, `analysis::style`), runs the composite and reads back
//! the composited frame (and the class map when asked for). The overlay's text is drawn after, on the
//! CPU, by the processor, whichever backend made the frame.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::shaders::{self, Stage};
use super::uniforms::{GpuParams, MAX_DISTANCE_BOUND};
use crate::analysis::{
    Analyzer, COVERAGE_FIXED, FluoLevel, PixelMaps, LEVEL_BINS, FERET_DIRS, Composite, LesionKind, LesionStats, LesionStyle, MAX_CORES, MAX_DIFFUSE, RATIO_BINS,
    Segmentation, StageTimings, THICKNESS_BINS,
};
use crate::frame::{NirFrame, Plane, RgbFrame, check_pair};
use crate::params::AnalysisParams;

/// Layout of the lesion table (mirrors `shaders/common.wgsl`).
mod table {
    pub const HEADER: usize = 16;
    /// Header words holding the fluorescence level, background mode and noise (f32 bits).
    pub const FLUO_LEVEL: usize = 2;
    pub const STRIDE: usize = 1400;
    pub const LABEL: usize = 0;
    pub const KIND: usize = 1;
    pub const AREA: usize = 2;
    pub const RIM_AREA: usize = 3;
    pub const SX: usize = 4;
    pub const SY: usize = 6;
    pub const SUB: usize = 8;
    pub const RATIO: usize = 16;
    pub const PARTIAL: usize = 13;
    pub const FERET: usize = 856;
    pub const EDGE: usize = 888;
    pub const SLOTS: usize = super::MAX_CORES + super::MAX_DIFFUSE;
    pub const WORDS: usize = HEADER + SLOTS * STRIDE;
}

struct StagePipelines {
    layout: wgpu::BindGroupLayout,
    pipelines: Vec<wgpu::ComputePipeline>,
}

impl StagePipelines {
    fn new(device: &wgpu::Device, stage: &Stage) -> Self {
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        }];
        for (k, &writes) in stage.bindings.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: k as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: !writes },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(stage.name), entries: &entries });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(stage.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(stage.name),
            source: wgpu::ShaderSource::Wgsl(stage.assembled().into()),
        });
        let pipelines = stage
            .entries
            .iter()
            .map(|e| {
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(e),
                    layout: Some(&pl),
                    module: &module,
                    entry_point: Some(e),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .collect();
        Self { layout, pipelines }
    }

    fn bind(&self, device: &wgpu::Device, uniform: &wgpu::Buffer, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        for (k, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: k as u32 + 1, resource: b.as_entire_binding() });
        }
        device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &self.layout, entries: &entries })
    }
}

struct Pipelines {
    normalize: StagePipelines,
    threshold: StagePipelines,
    morphology: StagePipelines,
    components: StagePipelines,
    regions: StagePipelines,
    distance: StagePipelines,
    reduce: StagePipelines,
    composite: StagePipelines,
}

/// Buffers and bind groups for one frame size.
struct FrameResources {
    width: usize,
    height: usize,
    params: GpuParams,
    nir_in: wgpu::Buffer,
    wl_in: wgpu::Buffer,
    stats: wgpu::Buffer,
    slot_of_root: wgpu::Buffer,
    table: wgpu::Buffer,
    level: wgpu::Buffer,
    overlay: wgpu::Buffer,
    classes: wgpu::Buffer,
    table_read: wgpu::Buffer,
    /// The processor's style table, a word a core slot (`analysis::style`).
    styles: wgpu::Buffer,
    overlay_read: wgpu::Buffer,
    classes_read: wgpu::Buffer,
    bg_normalize: wgpu::BindGroup,
    bg_threshold: wgpu::BindGroup,
    bg_morph_ab: wgpu::BindGroup,
    bg_morph_ba: wgpu::BindGroup,
    bg_components: wgpu::BindGroup,
    bg_regions: wgpu::BindGroup,
    bg_distance: wgpu::BindGroup,
    bg_reduce: wgpu::BindGroup,
    bg_composite: wgpu::BindGroup,
    upload: Vec<u8>,
    ratio: wgpu::Buffer,
    mask: wgpu::Buffer,
    labels: wgpu::Buffer,
    maps_read: Option<(wgpu::Buffer, wgpu::Buffer)>,
    timestamps: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
}

const STAGE_NAMES: [&str; 8] = ["normalize", "threshold", "morphology", "components", "regions", "distance", "reduce", "composite"];

fn storage(device: &wgpu::Device, label: &str, words: usize, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (words.max(1) * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | extra,
        mapped_at_creation: false,
    })
}

fn readback(device: &wgpu::Device, label: &str, bytes: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

pub struct GpuAnalyzer {
    ctx: GpuContext,
    pipelines: Pipelines,
    frame: Option<FrameResources>,
    params: AnalysisParams,
    /// Canonical label of each core slot of the last segmented frame (to place the styles by slot).
    slot_labels: Vec<u32>,
    /// The last `segment` asked for the class map; `composite` has not run for it yet.
    want_classes: bool,
    pending: bool,
}

impl GpuAnalyzer {
    pub fn new(params: AnalysisParams) -> Result<Self> {
        Self::with_context(GpuContext::new()?, params)
    }

    pub fn with_context(ctx: GpuContext, params: AnalysisParams) -> Result<Self> {
        params.validate()?;
        if params.distance_bound_px().ceil() as u32 > MAX_DISTANCE_BOUND {
            bail!(
                "the GPU backend measures up to {MAX_DISTANCE_BOUND} px from a core; {} mm at {} mm/px needs {:.0} px (use --backend cpu)",
                params.rim_search_mm.max(params.margins_mm.iter().cloned().fold(0.0, f32::max)),
                params.mm_per_px,
                params.distance_bound_px()
            );
        }
        let d = &ctx.device;
        let pipelines = Pipelines {
            normalize: StagePipelines::new(d, &shaders::NORMALIZE),
            threshold: StagePipelines::new(d, &shaders::THRESHOLD),
            morphology: StagePipelines::new(d, &shaders::MORPHOLOGY),
            components: StagePipelines::new(d, &shaders::COMPONENTS),
            regions: StagePipelines::new(d, &shaders::REGIONS),
            distance: StagePipelines::new(d, &shaders::DISTANCE),
            reduce: StagePipelines::new(d, &shaders::REDUCE),
            composite: StagePipelines::new(d, &shaders::COMPOSITE),
        };
        if let Some(e) = ctx.take_error() {
            bail!("building the GPU pipelines on {}: {e}", ctx.describe());
        }
        Ok(Self { ctx, pipelines, frame: None, params, slot_labels: Vec::new(), want_classes: false, pending: false })
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Change the parameters; buffers are rebuilt on the next frame, pipelines are kept.
    pub fn set_params(&mut self, params: AnalysisParams) -> Result<()> {
        params.validate()?;
        self.params = params;
        self.frame = None;
        Ok(())
    }

    /// The last frame's component labels (non-fluorescent, fluorescent), read back for tests and
    /// diagnostics: a readback of its own, outside any frame's work.
    pub fn component_labels(&mut self) -> Result<(Plane<u32>, Plane<u32>)> {
        let ctx = &self.ctx;
        let f = self.frame.as_ref().ok_or_else(|| anyhow!("no frame analysed yet"))?;
        let n = f.width * f.height;
        let read = readback(&ctx.device, "labels_read", 2 * n * 4);
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("labels") });
        enc.copy_buffer_to_buffer(&f.labels, 0, &read, 0, (2 * n * 4) as u64);
        ctx.queue.submit([enc.finish()]);
        map_all(&ctx.device, &[&read])?;
        let mut all = words(&read)?;
        let fl = all.split_off(n);
        Ok((Plane { width: f.width, height: f.height, data: all }, Plane { width: f.width, height: f.height, data: fl }))
    }

    fn resources(&mut self, width: usize, height: usize) -> &mut FrameResources {
        if self.frame.as_ref().is_none_or(|f| f.width != width || f.height != height) {
            self.frame = Some(self.build_resources(width, height));
        }
        self.frame.as_mut().expect("just built")
    }

    fn build_resources(&self, width: usize, height: usize) -> FrameResources {
        let d = &self.ctx.device;
        let n = width * height;
        let params = GpuParams::new(&self.params, width, height);
        let uniform = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let none = wgpu::BufferUsages::empty();
        let src = wgpu::BufferUsages::COPY_SRC;
        let nir_in = storage(d, "nir_in", n.div_ceil(2), none);
        let wl_in = storage(d, "wl_in", (3 * n).div_ceil(4), none);
        let medians = storage(d, "medians", (params.grid_w * params.grid_h) as usize, none);
        let coeffs = storage(d, "coeffs", 8, none);
        let ratio = storage(d, "ratio", n, src);
        let mask_a = storage(d, "mask_a", n, src);
        let mask_b = storage(d, "mask_b", n, none);
        let parent = storage(d, "parent", n, none);
        let labels = storage(d, "labels", 2 * n, src);
        let stats = storage(d, "stats", 7 * n, none);
        let slot_of_root = storage(d, "slot_of_root", n, none);
        let seeds = storage(d, "seeds", n, none);
        let col = storage(d, "col", 2 * n, none);
        let distfield = storage(d, "distfield", 2 * n, none);
        let table = storage(d, "table", table::WORDS, src);
        let level = storage(d, "level", LEVEL_BINS + 4, src);
        let overlay = storage(d, "overlay", (3 * n).div_ceil(4), src);
        let classes = storage(d, "classes", n.div_ceil(4), src);
        let styles = storage(d, "styles", MAX_CORES, none);
        let p = &self.pipelines;
        let timestamps = self.ctx.timestamps.then(|| {
            let count = 2 * STAGE_NAMES.len() as u32;
            let qs = d.create_query_set(&wgpu::QuerySetDescriptor { label: Some("stages"), ty: wgpu::QueryType::Timestamp, count });
            let resolve = d.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: count as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let read = readback(d, "timestamps_read", count as usize * 8);
            (qs, resolve, read)
        });
        FrameResources {
            width,
            height,
            params,
            bg_normalize: p.normalize.bind(d, &uniform, &[&nir_in, &medians, &coeffs, &ratio]),
            bg_threshold: p.threshold.bind(d, &uniform, &[&ratio, &wl_in, &mask_a, &level]),
            bg_morph_ab: p.morphology.bind(d, &uniform, &[&mask_a, &mask_b]),
            bg_morph_ba: p.morphology.bind(d, &uniform, &[&mask_b, &mask_a]),
            bg_components: p.components.bind(d, &uniform, &[&mask_a, &parent, &labels]),
            bg_regions: p.regions.bind(d, &uniform, &[&ratio, &labels, &stats, &slot_of_root, &table]),
            bg_distance: p.distance.bind(d, &uniform, &[&labels, &slot_of_root, &seeds, &col, &distfield]),
            bg_reduce: p.reduce.bind(d, &uniform, &[&ratio, &mask_a, &seeds, &labels, &stats, &slot_of_root, &distfield, &table]),
            bg_composite: p.composite.bind(d, &uniform, &[&wl_in, &ratio, &mask_a, &seeds, &distfield, &styles, &overlay, &classes]),
            table_read: readback(d, "table_read", table::WORDS * 4),
            overlay_read: readback(d, "overlay_read", (3 * n).div_ceil(4) * 4),
            classes_read: readback(d, "classes_read", n.div_ceil(4) * 4),
            nir_in,
            wl_in,
            stats,
            slot_of_root,
            table,
            styles,
            level,
            overlay,
            classes,
            upload: Vec::new(),
            ratio,
            mask: mask_a,
            labels,
            maps_read: None,
            timestamps,
        }
    }
}

/// Dispatch helpers: 16×16 tiles over the frame, or a 1-D count of workgroups.
fn tiles(w: usize, h: usize) -> (u32, u32, u32) {
    ((w as u32).div_ceil(16), (h as u32).div_ceil(16), 1)
}

/// Maps `buffers` for reading after a submission, then fails with the device's error if the submission
/// raised one, leaving no buffer mapped behind it.
fn map_checked(ctx: &GpuContext, buffers: &[&wgpu::Buffer]) -> Result<()> {
    map_all(&ctx.device, buffers)?;
    if let Some(e) = ctx.take_error() {
        for b in buffers {
            b.unmap();
        }
        bail!("{}: {e}", ctx.describe());
    }
    Ok(())
}

fn map_all(device: &wgpu::Device, buffers: &[&wgpu::Buffer]) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    for (k, b) in buffers.iter().enumerate() {
        let tx = tx.clone();
        b.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send((k, r));
        });
    }
    drop(tx);
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| anyhow!("waiting for the GPU: {e}"))?;
    for _ in buffers {
        let (k, r) = rx.recv().map_err(|_| anyhow!("GPU readback was dropped"))?;
        r.map_err(|e| anyhow!("mapping GPU buffer {k}: {e}"))?;
    }
    Ok(())
}

fn words(buf: &wgpu::Buffer) -> Result<Vec<u32>> {
    let view = buf.get_mapped_range(..).map_err(|e| anyhow!("reading a GPU buffer: {e:?}"))?;
    let out = bytemuck::cast_slice::<u8, u32>(&view).to_vec();
    drop(view);
    buf.unmap();
    Ok(out)
}

fn lesions_from_table(t: &[u32]) -> Vec<LesionStats> {
    let n_cores = (t[0] as usize).min(MAX_CORES);
    let n_diffuse = (t[1] as usize).min(MAX_DIFFUSE);
    let slots = (0..n_cores).chain(MAX_CORES..MAX_CORES + n_diffuse);
    let mut out: Vec<LesionStats> = slots
        .map(|s| {
            let r = &t[table::HEADER + s * table::STRIDE..table::HEADER + (s + 1) * table::STRIDE];
            let u64_at = |k: usize| r[k] as u64 | (r[k + 1] as u64) << 32;
            let kind = match (s < MAX_CORES, r[table::KIND]) {
                (true, _) => LesionKind::Rim,
                (false, 2) => LesionKind::Homogeneous,
                _ => LesionKind::Diffuse,
            };
            LesionStats {
                kind,
                label: r[table::LABEL],
                area_px: r[table::AREA],
                core_area_subpx: if kind == LesionKind::Rim { u64_at(table::SUB) as f32 / COVERAGE_FIXED } else { 0.0 },
                sum_x: u64_at(table::SX),
                sum_y: u64_at(table::SY),
                rim_area_px: r[table::RIM_AREA],
                ratio_hist: r[table::RATIO..table::RATIO + RATIO_BINS].to_vec(),
                thickness_hist: if kind == LesionKind::Rim { r[table::EDGE..table::EDGE + THICKNESS_BINS].to_vec() } else { vec![0; THICKNESS_BINS] },
                partial: r[table::PARTIAL] != 0,
                feret: r[table::FERET..table::FERET + 2 * FERET_DIRS].to_vec(),
                // The GPU finds enclosed cores only: covered all round.
                boundary_px: 0,
                covered_px: 0,
            }
        })
        .collect();
    // Slots are taken in whatever order the GPU ran; report in the CPU's order: rims, then coreless, by label.
    out.sort_by_key(|l| (l.kind != LesionKind::Rim, l.label));
    out
}

impl Analyzer for GpuAnalyzer {
    fn describe(&self) -> String {
        self.ctx.describe()
    }

    fn segment(&mut self, wl: &RgbFrame, nir: &NirFrame, want_classes: bool) -> Result<Segmentation> {
        check_pair(wl, nir)?;
        let started = Instant::now();
        let (w, h) = (wl.width, wl.height);
        self.resources(w, h);
        let ctx = &self.ctx;
        let p = &self.pipelines;
        let f = self.frame.as_mut().expect("resources built");

        // Upload: NIR as packed u16, white light as packed RGB8, straight from the frames when their sizes
        // are whole words (any even pixel count for the NIR, a multiple of four for the white light), else
        // through a padded copy.
        let upload = |buf: &wgpu::Buffer, bytes: &[u8], scratch: &mut Vec<u8>| {
            if bytes.len() % 4 == 0 {
                ctx.queue.write_buffer(buf, 0, bytes);
            } else {
                scratch.clear();
                scratch.extend_from_slice(bytes);
                scratch.resize(bytes.len().next_multiple_of(4), 0);
                ctx.queue.write_buffer(buf, 0, scratch);
            }
        };
        upload(&f.nir_in, bytemuck::cast_slice(&nir.data), &mut f.upload);
        upload(&f.wl_in, &wl.data, &mut f.upload);

        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        for b in [&f.stats, &f.slot_of_root, &f.table, &f.level] {
            enc.clear_buffer(b, 0, None);
        }
        let t = tiles(w, h);
        let gp = f.params;
        let run_stage = |enc: &mut wgpu::CommandEncoder, k: usize, dispatches: &[(&wgpu::ComputePipeline, &wgpu::BindGroup, (u32, u32, u32))]| {
            let timestamp_writes = f.timestamps.as_ref().map(|(qs, _, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(2 * k as u32),
                end_of_pass_write_index: Some(2 * k as u32 + 1),
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(STAGE_NAMES[k]), timestamp_writes });
            for (pipe, bg, (x, y, z)) in dispatches {
                pass.set_pipeline(pipe);
                pass.set_bind_group(0, Some(*bg), &[]);
                pass.dispatch_workgroups(*x, *y, *z);
            }
        };
        let np = &p.normalize.pipelines;
        run_stage(&mut enc, 0, &[
            (&np[0], &f.bg_normalize, (gp.grid_w, gp.grid_h, 1)),
            (&np[1], &f.bg_normalize, (1, 1, 1)),
            (&np[2], &f.bg_normalize, t),
        ]);
        let tp = &p.threshold.pipelines;
        let half_tiles = tiles(w.div_ceil(2), h.div_ceil(2));
        run_stage(&mut enc, 1, &[(&tp[0], &f.bg_threshold, half_tiles), (&tp[1], &f.bg_threshold, (1, 1, 1)), (&tp[2], &f.bg_threshold, t)]);
        let (erode, dilate) = (&p.morphology.pipelines[0], &p.morphology.pipelines[1]);
        // Opening (3×3) then closing (5×5, as two 3×3 passes each way): six passes, ending back in mask_a.
        let (ab, ba) = (&f.bg_morph_ab, &f.bg_morph_ba);
        run_stage(&mut enc, 2, &[(erode, ab, t), (dilate, ba, t), (dilate, ab, t), (dilate, ba, t), (erode, ab, t), (erode, ba, t)]);
        let cp = &p.components.pipelines;
        let cb = &f.bg_components;
        // Tiles in workgroup memory, then the tile borders (both classes: their pixels are disjoint, so they
        // share one parent array), then labels.
        run_stage(&mut enc, 3, &[(&cp[0], cb, t), (&cp[1], cb, t), (&cp[2], cb, t), (&cp[3], cb, t), (&cp[4], cb, t)]);
        let rp = &p.regions.pipelines;
        run_stage(&mut enc, 4, &[(&rp[0], &f.bg_regions, t), (&rp[1], &f.bg_regions, t)]);
        let dp = &p.distance.pipelines;
        run_stage(&mut enc, 5, &[
            (&dp[0], &f.bg_distance, t),
            (&dp[1], &f.bg_distance, ((w as u32).div_ceil(64), (h as u32).div_ceil(128), 1)),
            (&dp[2], &f.bg_distance, ((w as u32).div_ceil(256), h as u32, 1)),
        ]);
        let up = &p.reduce.pipelines;
        let rb = &f.bg_reduce;
        run_stage(&mut enc, 6, &[(&up[0], rb, t), (&up[1], rb, t), (&up[2], rb, t), (&up[3], rb, (1, 1, 1)), (&up[4], rb, t)]);

        enc.copy_buffer_to_buffer(&f.level, (LEVEL_BINS * 4) as u64, &f.table, (table::FLUO_LEVEL * 4) as u64, 12);
        enc.copy_buffer_to_buffer(&f.table, 0, &f.table_read, 0, (table::WORDS * 4) as u64);
        // Every stage but the composite, which runs in `composite` once the styles are known.
        let segment_queries = 2 * (STAGE_NAMES.len() as u32 - 1);
        if let Some((qs, resolve, read)) = &f.timestamps {
            enc.resolve_query_set(qs, 0..segment_queries, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, segment_queries as u64 * 8);
        }
        ctx.queue.submit([enc.finish()]);

        let mut to_map: Vec<&wgpu::Buffer> = vec![&f.table_read];
        if let Some((_, _, read)) = &f.timestamps {
            to_map.push(read);
        }
        map_checked(ctx, &to_map)?;
        let t_words = words(&f.table_read)?;
        let mut timings = StageTimings::default();
        if let Some((_, _, read)) = &f.timestamps {
            let view = read.get_mapped_range(..).map_err(|e| anyhow!("reading GPU timestamps: {e:?}"))?;
            let ticks: Vec<u64> = bytemuck::cast_slice::<u8, u64>(&view).to_vec();
            drop(view);
            read.unmap();
            let period = ctx.timestamp_period_ns as f64;
            for (k, name) in STAGE_NAMES[..STAGE_NAMES.len() - 1].iter().enumerate() {
                let dt = ticks[2 * k + 1].saturating_sub(ticks[2 * k]) as f64 * period / 1e6;
                timings.push(&format!("gpu_{name}"), dt);
            }
        }
        timings.push("gpu_frame", started.elapsed().as_secs_f64() * 1e3);
        let fl = |k: usize| f32::from_bits(t_words[table::FLUO_LEVEL + k]);
        let background = FluoLevel { level: fl(0), mode: fl(1), noise: fl(2) };
        let n_cores = (t_words[0] as usize).min(MAX_CORES);
        self.slot_labels = (0..n_cores).map(|s| t_words[table::HEADER + s * table::STRIDE + table::LABEL]).collect();
        self.want_classes = want_classes;
        self.pending = true;
        Ok(Segmentation { lesions: lesions_from_table(&t_words), background, timings })
    }

    fn pixel_maps(&mut self) -> Result<PixelMaps> {
        let ctx = &self.ctx;
        let f = self.frame.as_mut().ok_or_else(|| anyhow!("no frame analysed yet"))?;
        let n = f.width * f.height;
        let (rr, mr) = f.maps_read.get_or_insert_with(|| (readback(&ctx.device, "ratio_read", n * 4), readback(&ctx.device, "mask_read", n * 4)));
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pixel maps") });
        enc.copy_buffer_to_buffer(&f.ratio, 0, rr, 0, (n * 4) as u64);
        enc.copy_buffer_to_buffer(&f.mask, 0, mr, 0, (n * 4) as u64);
        ctx.queue.submit([enc.finish()]);
        map_all(&ctx.device, &[rr, mr])?;
        let ratio: Vec<f32> = words(rr)?.into_iter().map(f32::from_bits).collect();
        let mask: Vec<u8> = words(mr)?.into_iter().map(|v| v as u8).collect();
        Ok((Arc::new(Plane { width: f.width, height: f.height, data: ratio }), Arc::new(Plane { width: f.width, height: f.height, data: mask })))
    }

    fn composite(&mut self, _wl: &RgbFrame, styles: &[LesionStyle]) -> Result<Composite> {
        let started = Instant::now();
        // One composite a segment: the maps on the GPU are those of the last segmented frame.
        if !std::mem::take(&mut self.pending) {
            bail!("GPU composite without a new segmented frame");
        }
        let ctx = &self.ctx;
        let f = self.frame.as_mut().ok_or_else(|| anyhow!("no frame analysed yet"))?;
        let (w, h) = (f.width, f.height);
        let n = w * h;
        // The processor's style table, placed by slot: a word for each styled core, 0 (not drawn) else.
        let mut words_by_slot = [0u32; MAX_CORES];
        for (slot, label) in self.slot_labels.iter().enumerate() {
            if let Some(st) = styles.iter().find(|st| st.label == *label) {
                words_by_slot[slot] = st.word();
            }
        }
        ctx.queue.write_buffer(&f.styles, 0, bytemuck::cast_slice(&words_by_slot));
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("composite") });
        let k = STAGE_NAMES.len() as u32 - 1;
        {
            let timestamp_writes = f.timestamps.as_ref().map(|(qs, _, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(2 * k),
                end_of_pass_write_index: Some(2 * k + 1),
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("composite"), timestamp_writes });
            // One invocation a run of four pixels; rows of at most 32768 workgroups.
            let groups = (n.div_ceil(4) as u32).div_ceil(256);
            let (gx, gy) = (groups.min(32768), groups.div_ceil(groups.min(32768)));
            pass.set_pipeline(&self.pipelines.composite.pipelines[0]);
            pass.set_bind_group(0, Some(&f.bg_composite), &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        enc.copy_buffer_to_buffer(&f.overlay, 0, &f.overlay_read, 0, ((3 * n).div_ceil(4) * 4) as u64);
        if self.want_classes {
            enc.copy_buffer_to_buffer(&f.classes, 0, &f.classes_read, 0, (n.div_ceil(4) * 4) as u64);
        }
        if let Some((qs, resolve, read)) = &f.timestamps {
            // At the start of the buffers (a resolve offset must be 256-aligned): segment's are read already.
            enc.resolve_query_set(qs, 2 * k..2 * k + 2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        ctx.queue.submit([enc.finish()]);
        let mut to_map: Vec<&wgpu::Buffer> = vec![&f.overlay_read];
        if self.want_classes {
            to_map.push(&f.classes_read);
        }
        if let Some((_, _, read)) = &f.timestamps {
            to_map.push(read);
        }
        map_checked(ctx, &to_map)?;
        let mut timings = StageTimings::default();
        if let Some((_, _, read)) = &f.timestamps {
            let view = read.get_mapped_range(..).map_err(|e| anyhow!("reading GPU timestamps: {e:?}"))?;
            let ticks: Vec<u64> = bytemuck::cast_slice::<u8, u64>(&view).to_vec();
            drop(view);
            read.unmap();
            let dt = ticks[1].saturating_sub(ticks[0]) as f64 * ctx.timestamp_period_ns as f64 / 1e6;
            timings.push("gpu_composite", dt);
        }
        // The overlay comes back in the frame's own layout: one copy out of the mapped buffer.
        let overlay = {
            let view = f.overlay_read.get_mapped_range(..).map_err(|e| anyhow!("reading the GPU overlay: {e:?}"))?;
            RgbFrame::from_vec(w, h, view[..3 * n].to_vec())?
        };
        f.overlay_read.unmap();
        let classes = if self.want_classes {
            let c = words(&f.classes_read)?;
            let bytes: &[u8] = bytemuck::cast_slice(&c);
            Some(Plane { width: w, height: h, data: bytes[..n].to_vec() })
        } else {
            None
        };
        timings.push("gpu_composite_frame", started.elapsed().as_secs_f64() * 1e3);
        Ok(Composite { overlay, classes, timings })
    }
}
