//! `GpuAnalyzer`: the whole per-frame analysis on the GPU. Pipelines are built once; buffers and bind
//! groups once per frame size. A frame is one submission and one readback: `segment` uploads the NIR and
//! the white light's glint bits, runs every stage, the composite included (on the tiles the reductions
//! list as drawn, `prelude::drawn`: near a core or holding the fluorescence colour; dispatched
//! indirectly from their count), and reads back the per-lesion table, the drawn tiles' list and their
//! marks (`prelude::mark`; and their class map when asked for). The processor then measures, smooths and
//! decides each lesion's margin verdict on the CPU, and `composite` colours the marks over the white
//! light by its style table (`gpu::marks`, on the CPU: the device never waits for the styles);
//! elsewhere the overlay is the white light as it is. The overlay's text is drawn after, on the CPU, by
//! the processor, whichever backend made the frame. The marks are read back for as many tiles as the
//! last frame drew and an eighth more; a frame that draws more reads the rest in a second submission.
//! In the transection and wound-bed modes the same submission finds the check's candidate spots
//! (spots.wgsl) and copies out the maps within their reach (spot_rows.wgsl: a span of columns a row,
//! where the row's place says), read back with the table likewise: as many words as the last frame's,
//! an eighth more and `SPOT_WORDS_SLACK`. Four dispatches more than the survey's.
//!
//! Every dispatch goes through `run_stage`, which counts the bytes of the buffers it binds into the
//! frame's `Traffic` (bench's `bytes_per_frame`); every wait is bounded (`GpuContext::wait`) and every
//! failure a typed `GpuError`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use wgpu::util::DeviceExt;

use super::context::{GpuContext, Needs};
use super::error::GpuError;
use super::shaders::{self, Stage};
use super::uniforms::{GpuParams, MAX_DISTANCE_BOUND};
use crate::analysis::{
    Analyzer, COVERAGE_FIXED, RATIO_CODE_MAX, RATIO_STEPS, ratio_code, ratio_value, FluoLevel, PixelMaps, LEVEL_BINS, FERET_DIRS, Composite, LesionKind, LesionStats, LesionStyle, MAX_CORES, MAX_DIFFUSE, RATIO_BINS,
    Segmentation, StageTimings, THICKNESS_BINS, Traffic,
};
use crate::frame::{NirView, Plane, RgbFrame, RgbView, check_pair};
use crate::params::AnalysisParams;

use super::marks::{self, TILE_PIXELS};
use super::prelude::{COMPONENT_GROUPS, FIELD_SHIFT, FL_TAG, ID_MASK, LOW_SLOTS, drawn, near, spots, table};
use crate::analysis::SpotQuery;
use crate::analysis::Spot;

struct StagePipelines {
    stage: &'static Stage,
    layout: wgpu::BindGroupLayout,
    pipelines: Vec<wgpu::ComputePipeline>,
    /// Per entry point, the bindings its code uses (`Stage::used_bindings`) and may write
    /// (`Stage::written_bindings`).
    used: Vec<Vec<u32>>,
    written: Vec<Vec<u32>>,
    read: Vec<Vec<u32>>,
}

/// A bind group and, per entry point, the bytes a dispatch of it may move: each bound buffer its code
/// uses counted whole once if its code may read it and once more if it may write it (an upper bound). Buffers
/// indexed by dense component id (`stats`, `roots`) count only the records of the frame's components
/// (`per_component`, multiplied once the frame's count is read back): ids at or beyond the count are
/// never addressed; the labels, a word a tile-local root, count only the frame's tile-local roots
/// (`per_local_root`, likewise). Buffers an entry point addresses on some tiles only (`Restricted`: the seeds, the
/// columns and the field on the tiles near a core, everything the sub-pixel pass reads, the labels
/// `lesion_stats` reads on the tiles near a core or in a coreless lesion's box) count in `near_bytes` or
/// `marked_bytes`, as if every tile were such, scaled by the frame's share of such tiles once it is read
/// back.
struct Bound {
    group: wgpu::BindGroup,
    bytes: Vec<u64>,
    per_component: Vec<u64>,
    per_local_root: Vec<u64>,
    near_bytes: Vec<u64>,
    marked_bytes: Vec<u64>,
    drawn_bytes: Vec<u64>,
    low_bytes: Vec<u64>,
    roi_bytes: Vec<u64>,
    spot_row_bytes: Vec<u64>,
}

/// Which tiles an entry point addresses a buffer on (`prelude::near`): those near a core, those near
/// a core or in a coreless lesion's box, or those the composite draws (`prelude::drawn`; a buffer it
/// writes a drawn tile after another counts the same).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tiles {
    Near,
    Marked,
    Drawn,
    /// The tiles with a low pixel on their perimeter (hysteresis.wgsl's `low_tiles`; in the spots'
    /// passes, with a spot pixel on their perimeter).
    Low,
    /// The tiles of the check's region of interest (spots.wgsl reads no pixel outside it).
    Roi,
    /// Not tiles but the spans of the rows within reach of the check's candidate spots (spot_rows.wgsl
    /// copies those alone): counted by the share of the maps' words they hold.
    SpotRows,
}

/// (entry point, buffer, the tiles it addresses the buffer on).
type Restricted<'a> = (&'a str, &'a wgpu::Buffer, Tiles);

/// What a buffer counted by its records holds a record of: a component (by dense id), or a tile-local
/// root (the labels).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Per {
    Component,
    LocalRoot,
}

impl StagePipelines {
    fn new(device: &wgpu::Device, stage: &'static Stage) -> Self {
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
        // The registry's test validates every shader, so reflection cannot fail here; were it to, every
        // binding counts (still an upper bound).
        let all: Vec<u32> = (0..=stage.bindings.len() as u32).collect();
        let used = stage.used_bindings().unwrap_or_else(|_| vec![all.clone(); stage.entries.len()]);
        let written = stage.written_bindings().unwrap_or_else(|_| vec![all.clone(); stage.entries.len()]);
        let read = stage.read_bindings().unwrap_or_else(|_| vec![all; stage.entries.len()]);
        Self { stage, layout, pipelines, used, written, read }
    }

    /// The pipeline of the named entry point.
    fn get(&self, entry: &str) -> (&wgpu::ComputePipeline, usize) {
        let k = self.stage.entry(entry);
        (&self.pipelines[k], k)
    }

    /// `dense`: the bound buffers counted by their records (a component's, by dense id, or a tile-local
    /// root's), with their bytes a record.
    /// `restricted`: where an entry point addresses a buffer on some tiles only (near.wgsl).
    fn bind(&self, device: &wgpu::Device, uniform: &wgpu::Buffer, buffers: &[&wgpu::Buffer], dense: &[(&wgpu::Buffer, u64, Per)], restricted: &[Restricted<'_>]) -> Bound {
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        // Per binding: (whole bytes, bytes a component, bytes a tile-local root).
        let mut sizes = vec![(uniform.size(), 0, 0)];
        for (k, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: k as u32 + 1, resource: b.as_entire_binding() });
            sizes.push(match dense.iter().find(|(d, _, _)| d == b) {
                Some((_, bytes, Per::Component)) => (0, *bytes, 0),
                Some((_, bytes, Per::LocalRoot)) => (0, 0, *bytes),
                None => (b.size(), 0, 0),
            });
        }
        // Entry point k's binding b: addressed on which tiles only (None: everywhere).
        let tiles_of = |k: usize, b: u32| -> Option<Tiles> {
            restricted
                .iter()
                .find(|(e, buf, _)| self.stage.entry(e) == k && buffers.iter().position(|x| x == buf).map(|p| p as u32 + 1) == Some(b))
                .map(|r| r.2)
        };
        // Once where the entry point's code reads it, once more where it writes it; of the bindings it
        // addresses on `tiles`.
        let sum = |f: fn(&(u64, u64, u64)) -> u64, tiles: Option<Tiles>| {
            (0..self.used.len())
                .map(|k| {
                    let times = |b: u32| self.read[k].contains(&b) as u64 + self.written[k].contains(&b) as u64;
                    self.used[k].iter().filter(|&&b| tiles_of(k, b) == tiles).map(|&b| f(&sizes[b as usize]) * times(b)).sum()
                })
                .collect()
        };
        Bound {
            group: device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(self.stage.name), layout: &self.layout, entries: &entries }),
            bytes: sum(|s| s.0, None),
            per_component: sum(|s| s.1, None),
            per_local_root: sum(|s| s.2, None),
            near_bytes: sum(|s| s.0, Some(Tiles::Near)),
            marked_bytes: sum(|s| s.0, Some(Tiles::Marked)),
            drawn_bytes: sum(|s| s.0, Some(Tiles::Drawn)),
            low_bytes: sum(|s| s.0, Some(Tiles::Low)),
            roi_bytes: sum(|s| s.0, Some(Tiles::Roi)),
            spot_row_bytes: sum(|s| s.0, Some(Tiles::SpotRows)),
        }
    }
}

struct Pipelines {
    normalize: StagePipelines,
    threshold: StagePipelines,
    morphology: StagePipelines,
    hysteresis: StagePipelines,
    components: StagePipelines,
    regions: StagePipelines,
    distance: StagePipelines,
    reduce: StagePipelines,
    spot_rows: StagePipelines,
    composite: StagePipelines,
}

/// Buffers and bind groups for one frame size.
struct FrameResources {
    width: usize,
    height: usize,
    params: GpuParams,
    nir_in: wgpu::Buffer,
    /// The white light's glint bits (cut.wgsl), uploaded by `segment`, and their words on the CPU.
    glint: wgpu::Buffer,
    glint_words: Vec<u32>,
    /// The last segmented frame's drawn tiles (`drawn_count` of them), read back with the table.
    drawn_list: Vec<u32>,
    table: wgpu::Buffer,
    level: wgpu::Buffer,
    /// The composite's marks and class map, a drawn tile after another (composite.wgsl), their
    /// readbacks, and the last segmented frame's (on the CPU).
    marks: wgpu::Buffer,
    classes: wgpu::Buffer,
    table_read: wgpu::Buffer,
    marks_read: wgpu::Buffer,
    classes_read: wgpu::Buffer,
    mark_words: Vec<u32>,
    class_bytes: Vec<u8>,
    /// Drawn tiles whose marks the segmentation's submission reads back: the last frame's count and an
    /// eighth more (`marks_capacity`).
    marks_capacity: usize,
    bg_normalize: Bound,
    bg_threshold: Bound,
    bg_morphology: Bound,
    bg_components: Bound,
    /// The hysteresis's passes on its low mask (in the seeds' buffer: morphology.wgsl) and border array.
    bg_hysteresis: Bound,
    bg_regions: Bound,
    bg_distance: Bound,
    bg_reduce: Bound,
    bg_composite: Bound,
    upload: Vec<u8>,
    ratio: wgpu::Buffer,
    mask: wgpu::Buffer,
    /// The component labels (`compress`), a word a tile-local root (labels.wgsl).
    parent: wgpu::Buffer,
    /// Each pixel's tile-local root, a byte a pixel (labels.wgsl).
    local_roots: wgpu::Buffer,
    roots: wgpu::Buffer,
    /// The labelling's root bits and each bit word's first id (components.wgsl), cleared a frame.
    root_bits: wgpu::Buffer,
    stats: wgpu::Buffer,
    seeds: wgpu::Buffer,
    distfield: wgpu::Buffer,
    /// The tiles that can hold a result (`prelude::near`): the lesions' boxes, the counts, a word a tile.
    near: wgpu::Buffer,
    /// The last segmented frame's share of tiles near a core (for the composite's traffic).
    near_share: f64,
    /// The tiles the composite draws (`prelude::drawn`): their list, its readback, and the last segmented
    /// frame's count of them.
    drawn: wgpu::Buffer,
    drawn_read: wgpu::Buffer,
    drawn_count: usize,
    maps_read: Option<(wgpu::Buffer, wgpu::Buffer)>,
    /// The check's spot table (spots.wgsl) and its readback.
    spot_table: wgpu::Buffer,
    spot_read: wgpu::Buffer,
    /// The spans within reach of the check's candidates (spot_rows.wgsl): a row's span and place.
    spot_rows: wgpu::Buffer,
    /// The maps on those spans, their readback and the copy's bind group: made with a frame size's first
    /// query (`row_maps`), as only the check modes use them.
    row_maps: Option<RowMaps>,
    /// The frame's settings (binding 0 of every stage), kept to bind `row_maps` when it is made.
    uniform: wgpu::Buffer,
    /// Words of the maps around the check's spots that the segmentation's submission reads back: the
    /// last frame's count, an eighth more and `SPOT_WORDS_SLACK` (a frame with more reads the rest in a
    /// second submission).
    spot_words_capacity: usize,
    /// The maps the check reads, filled on the spans within reach of the last frame's candidate spots
    /// only (`SpotQuery::reach`, `spot_spans`: a span of columns a row): kept from frame to frame, so that
    /// only those spans are written.
    spot_maps: Option<PixelMaps>,
    /// The words of the maps around the check's spots read back, before they are laid into `spot_maps`.
    row_words: Vec<u32>,
    /// The hysteresis's tiles with a low pixel on their perimeter: their count, then a flag a tile.
    low_tiles: wgpu::Buffer,
    timestamps: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
    /// The traffic of the last frame segmented without error.
    traffic: Traffic,
    /// The last frame's components (its table's count): the records of `roots` that `component_labels`
    /// reads back (all of them after a stage runner, which counts none).
    components: Option<usize>,
    /// The last frame's fluorescent labels and maps once read back (`fluo_labels`, `pixel_maps`: the
    /// glint test, the outlines and the check may each ask), until the buffers are next written (every
    /// frame and stage runner starts with `resources`, which drops them).
    labels_cached: Option<Arc<Plane<u32>>>,
    maps_cached: Option<PixelMaps>,
}

/// The maps within reach of the check's candidates (spot_rows.wgsl's `row_maps`: each reached row's span
/// of the ratio map's words, then of the mask's, a row after another; at most every row whole), their
/// readback and spot_rows.wgsl's bind group.
struct RowMaps {
    maps: wgpu::Buffer,
    read: wgpu::Buffer,
    bound: Bound,
}

/// `f`'s `RowMaps`, made the first time a frame of this size is asked for the check's spots.
fn row_maps<'a>(d: &wgpu::Device, p: &Pipelines, f: &'a mut FrameResources) -> &'a RowMaps {
    let (uniform, spot_table, ratio, mask, spot_rows) = (&f.uniform, &f.spot_table, &f.ratio, &f.mask, &f.spot_rows);
    let words = frame_buffer_words(f.width, f.height).iter().find(|(k, _)| *k == "row_maps").map(|(_, w)| *w).expect("a frame buffer");
    f.row_maps.get_or_insert_with(|| {
        let maps = storage(d, "row_maps", words, wgpu::BufferUsages::COPY_SRC);
        // The copy pass reads and writes the spans within reach of a candidate only.
        let bound = p.spot_rows.bind(d, uniform, &[spot_table, ratio, mask, spot_rows, &maps], &[], &[
            ("spot_copy_rows", ratio, Tiles::SpotRows),
            ("spot_copy_rows", mask, Tiles::SpotRows),
            ("spot_copy_rows", &maps, Tiles::SpotRows),
        ]);
        RowMaps { read: readback(d, "row_maps_read", words * 4), maps, bound }
    })
}

/// Words of each buffer that scales with the frame, for `n` pixels and `height` rows: the largest sets
/// the binding size a frame needs (`Needs::largest_buffer_bytes`).
fn frame_buffer_words(width: usize, height: usize) -> [(&'static str, usize); 21] {
    let n = width * height;
    [
        ("nir_in", n.div_ceil(2)),
        // The composite's marks, a word a pixel of a drawn tile, a tile after another: at most every tile.
        ("marks", near::tiles(width, height) * TILE_PIXELS),
        // The white light's glint bits, a bit a pixel, rows padded to whole words (cut.wgsl).
        ("glint", bits_words(width, height)),
        // 16-bit codes, two a word, rows padded to whole words (`ratio_words`).
        ("ratio", ratio_words(width, height)),
        // 8-bit values, four a word, rows padded to whole words (`mask_words`).
        ("mask", mask_words(width, height)),
        // The labels of both classes (`compress`), a word a tile-local root, 256 a 16×16 tile (FL_TAG tells
        // the classes apart: common.wgsl; labels.wgsl).
        ("parent", 256 * near::tiles(width, height)),
        // Each pixel's tile-local root: 8 bits a pixel in the mask's layout (labels.wgsl).
        ("local_roots", mask_words(width, height)),
        // One record a component, by dense id (at most a component a pixel: a frame uses as many records
        // as it has components, `Bound::per_component`).
        ("stats", STATS_WORDS * n),
        // Each dense id's root (its raster index).
        ("roots", n),
        // The labelling's root bits, a bit a pixel, rows padded to whole words, then each word's first
        // dense id (components.wgsl's `root_bits`).
        ("root_bits", 2 * bits_words(width, height)),
        // 8 bits a pixel in the mask's layout (before the distance stage: the hysteresis's low mask).
        ("seeds", mask_words(width, height)),
        // The border array: LOW_SLOTS words a 16×16 tile (hysteresis.wgsl's, then components.wgsl's).
        ("low_parent", width.div_ceil(16) * height.div_ceil(16) * LOW_SLOTS),
        // Half a word a pixel, rows padded to whole words: vertical distance and core slot (`COL_SHIFT`).
        ("col", width.div_ceil(2) * height),
        // A word a pixel: distance and core slot (`FIELD_SHIFT`).
        ("distfield", n),
        ("table", table::buffer_words(height)),
        // The lesions' boxes and two counts, then a word a 16×16 tile: near a core, in a coreless lesion's box.
        ("near", near::buffer_words(width, height)),
        // A word a 16×16 tile, then the list of the tiles drawn, then the composite's indirect dispatch.
        ("drawn", drawn::buffer_words(width, height)),
        // Hysteresis.wgsl's count of tiles with a low pixel on their perimeter, then a flag a 16×16 tile.
        ("low_tiles", 1 + near::tiles(width, height)),
        // The check's spots: a header, then a record a component (`prelude::spots`).
        ("spot_table", spots::buffer_words()),
        // The spans within reach of the check's candidates and their places (`prelude::spots::rows_words`).
        ("spot_rows", spots::rows_words(height)),
        // Those spans of the ratio map and the mask, a row after another: at most every row whole.
        ("row_maps", spot_row_words(width) * height),
    ]
}

/// One component's statistics after the regions stage (`GpuAnalyzer::run_regions_stage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionRecord {
    /// The CPU's label: 1 + the raster index of the component's first pixel.
    pub label: u32,
    pub fluorescent: bool,
    pub area: u32,
    pub border: bool,
    /// Chosen as a core (FLAG_CORE), all of them, beyond the table too.
    pub core: bool,
    /// Non-fluorescent: the fixed-point ratio sum; fluorescent: boundary pixels.
    pub aux: u32,
    /// Fluorescent: boundary pixels off the image edge with a sharp ratio gradient.
    pub sharp: u32,
}

/// What the regions stage leaves: every component's record in label order (dense ids go by it), the
/// number of cores found, the cores given slots (label, partial) in slot order, and each slotted core's
/// box as handed to the distance stage (its rows from its root's, its columns and its last row to whole
/// bands: `bands_of` in common.wgsl).
#[derive(Clone, Debug)]
pub struct RegionsStage {
    pub components: Vec<RegionRecord>,
    pub cores_found: u32,
    pub cores: Vec<(u32, bool)>,
    pub core_boxes: Vec<crate::raster::rect::Rect>,
}

/// Words of the labelling's root bits (`bits_index` in components.wgsl): a bit a pixel, rows padded to
/// whole words.
fn bits_words(width: usize, height: usize) -> usize {
    width.div_ceil(32) * height
}

/// The widest frame: `assign_ids` (components.wgsl) gives a row's root bits one invocation a word, 256.
const MAX_WIDTH: usize = 32 * 256;

/// Words of the ratio map: 16-bit codes two a word, each row padded to whole words (`ratio_index` in
/// common.wgsl).
fn ratio_words(width: usize, height: usize) -> usize {
    width.div_ceil(2) * height
}

/// A ratio map as the GPU holds it: each pixel's 16-bit code (`analysis::ratio_code`), two a word, rows
/// padded to whole words. A ratio off the codes' grid is rounded to it, as the normalize stage rounds.
fn pack_ratio(ratio: &Plane<f32>) -> Vec<u16> {
    let stride = ratio.width.div_ceil(2) * 2;
    let mut packed = vec![0u16; stride * ratio.height];
    for (dst, src) in packed.chunks_exact_mut(stride).zip(ratio.data.chunks_exact(ratio.width.max(1))) {
        for (d, &r) in dst.iter_mut().zip(src) {
            *d = ratio_code(r) as u16;
        }
    }
    packed
}

/// The ratio map back from its packed codes (`pack_ratio`'s layout).
fn unpack_ratio(packed: &[u32], width: usize, height: usize) -> Plane<f32> {
    let codes: &[u16] = bytemuck::cast_slice(packed);
    let stride = width.div_ceil(2) * 2;
    let data = codes.chunks_exact(stride).take(height).flat_map(|row| row[..width].iter().map(|&c| ratio_value(c as u32))).collect();
    Plane { width, height, data }
}

/// Words of the packed fluorescence mask (`mask_stride` in common.wgsl: a row padded to whole words).
fn mask_words(width: usize, height: usize) -> usize {
    width.div_ceil(4) * height
}

/// Words of a row that spot_rows.wgsl copies out: the ratio map's row, then the mask's.
fn spot_row_words(width: usize) -> usize {
    ratio_words(width, 1) + mask_words(width, 1)
}

/// What a frame of this size needs of the device.
fn frame_needs(width: usize, height: usize) -> Needs {
    let largest = frame_buffer_words(width, height).iter().map(|(_, w)| *w).max().unwrap_or(0);
    Needs { largest_buffer_bytes: largest as u64 * 4, ..shaders::pipeline_needs() }
}

/// Words of a component's statistics record (`STATS_STRIDE` in the prelude).
const STATS_WORDS: usize = super::prelude::record::STRIDE;

/// The stages, each a compute pass of its own; "spots" (the transection / wound-bed check's) runs only
/// when asked for (`Analyzer::set_spot_query`).
const STAGE_NAMES: [&str; 9] = ["normalize", "threshold", "morphology", "components", "regions", "distance", "reduce", "spots", "composite"];
const SPOTS_STAGE: usize = 7;
const COMPOSITE_STAGE: usize = 8;

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
    /// What the next frames' check asks for (`Analyzer::set_spot_query`).
    spot_query: Option<SpotQuery>,
    /// The last segmented frame's candidate spots and the query they answer (None: not asked, or more
    /// components than the table holds).
    spot_found: Option<(SpotQuery, Vec<Spot>)>,
    /// Words added to what the check's spans should hold, so that a test sees `segment` fail there.
    #[cfg(test)]
    spans_fault: usize,
}

fn build_pipelines(d: &wgpu::Device) -> Pipelines {
    Pipelines {
        normalize: StagePipelines::new(d, &shaders::NORMALIZE),
        threshold: StagePipelines::new(d, &shaders::THRESHOLD),
        morphology: StagePipelines::new(d, &shaders::MORPHOLOGY),
        hysteresis: StagePipelines::new(d, &shaders::HYSTERESIS),
        components: StagePipelines::new(d, &shaders::COMPONENTS),
        regions: StagePipelines::new(d, &shaders::REGIONS),
        distance: StagePipelines::new(d, &shaders::DISTANCE),
        reduce: StagePipelines::new(d, &shaders::REDUCE),
        spot_rows: StagePipelines::new(d, &shaders::SPOT_ROWS),
        composite: StagePipelines::new(d, &shaders::COMPOSITE),
    }
}

impl GpuAnalyzer {
    pub fn new(params: AnalysisParams) -> Result<Self> {
        Self::with_context(GpuContext::new()?, params)
    }

    /// `GpuError::Limit` when the settings need a distance bound over what the row pass holds.
    pub fn with_context(ctx: GpuContext, params: AnalysisParams) -> Result<Self> {
        params.validate()?;
        check_distance_bound(&ctx, &params)?;
        let pipelines = build_pipelines(&ctx.device);
        ctx.check().map_err(|e| anyhow::Error::new(e).context(format!("building the GPU pipelines on {}", ctx.describe())))?;
        Ok(Self {
            ctx,
            pipelines,
            frame: None,
            params,
            slot_labels: Vec::new(),
            want_classes: false,
            pending: false,
            spot_query: None,
            spot_found: None,
            #[cfg(test)]
            spans_fault: 0,
        })
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Longest wait for a submission before the device counts as lost (`GpuError::Timeout`).
    pub fn set_wait_timeout(&mut self, timeout: std::time::Duration) {
        self.ctx.wait_timeout = timeout;
    }

    /// Change the parameters; buffers are rebuilt on the next frame, pipelines are kept.
    pub fn set_params(&mut self, params: AnalysisParams) -> Result<()> {
        params.validate()?;
        check_distance_bound(&self.ctx, &params)?;
        self.params = params;
        self.frame = None;
        Ok(())
    }

    /// The last frame's component labels (non-fluorescent, fluorescent), read back for tests and
    /// diagnostics: a readback of its own, outside any frame's work.
    pub fn component_labels(&mut self) -> Result<(Plane<u32>, Plane<u32>)> {
        let ctx = &self.ctx;
        let f = self.frame.as_ref().ok_or_else(|| anyhow!("no frame analysed yet"))?;
        let (w, h) = (f.width, f.height);
        let n = w * h;
        let read = readback(&ctx.device, "labels_read", f.parent.size() as usize);
        let local_read = readback(&ctx.device, "local_roots_read", f.local_roots.size() as usize);
        // The frame's components' records only (no id beyond their count is addressed).
        let records = f.components.map_or(n, |c| c.min(n));
        let roots_bytes = (records.max(1) * 4) as u64;
        let roots_read = readback(&ctx.device, "roots_read", roots_bytes as usize);
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("labels") });
        enc.copy_buffer_to_buffer(&f.parent, 0, &read, 0, f.parent.size());
        enc.copy_buffer_to_buffer(&f.local_roots, 0, &local_read, 0, f.local_roots.size());
        enc.copy_buffer_to_buffer(&f.roots, 0, &roots_read, 0, roots_bytes);
        ctx.submit(enc.finish());
        map_checked(ctx, &[&read, &local_read, &roots_read])?;
        // A word a tile-local root for both classes, LABELLED | (1 + the dense id), the fluorescent ones
        // tagged (FL_TAG; common.wgsl), a pixel's its root's (labels.wgsl's `label_at`); the CPU's label is
        // 1 + the id's root (`roots`).
        let by_root = words(&read)?;
        let local = words(&local_read)?;
        let local: &[u8] = bytemuck::cast_slice(&local);
        let (stride, tx) = (w.div_ceil(4) * 4, w.div_ceil(16));
        let all: Vec<u32> = (0..n).map(|i| by_root[256 * ((i / w / 16) * tx + i % w / 16) + local[(i / w) * stride + i % w] as usize]).collect();
        let mut roots = words(&roots_read)?;
        roots.truncate(records);
        let canonical = |l: u32| roots.get((l & ID_MASK) as usize - 1).map_or(u32::MAX, |r| r + 1);
        let bg = all.iter().map(|&l| if l & FL_TAG == 0 && l & ID_MASK != 0 { canonical(l) } else { 0 }).collect();
        let fl = all.iter().map(|&l| if l & FL_TAG != 0 { canonical(l) } else { 0 }).collect();
        Ok((Plane { width: f.width, height: f.height, data: bg }, Plane { width: f.width, height: f.height, data: fl }))
    }

    /// One stage alone, outside any frame's work (for the stage tests): its dispatches in one submission,
    /// waited for.
    fn run_alone(&self, dispatches: &[Dispatch<'_>]) -> Result<()> {
        self.run_alone_cleared(&[], dispatches)
    }

    /// `run_alone`, after clearing each of `clears` (as a frame clears them).
    fn run_alone_cleared(&self, clears: &[Clear<'_>], dispatches: &[Dispatch<'_>]) -> Result<()> {
        let mut enc = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("stage") });
        for (buf, range) in clears {
            enc.clear_buffer(buf, range.start, Some(range.end - range.start));
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("stage"), timestamp_writes: None });
            for (pipe, group, (x, y, z)) in dispatches {
                pass.set_pipeline(pipe);
                pass.set_bind_group(0, Some(*group), &[]);
                pass.dispatch_workgroups(*x, *y, *z);
            }
        }
        self.ctx.submit(enc.finish());
        self.ctx.wait()?;
        self.ctx.check()?;
        Ok(())
    }

    /// The mask stage alone on given buffers: a ratio map and a white light cut at `cut` (fluorescent where
    /// the ratio is at least `cut` and the pixel is no glint), opened and closed (`clean_mask` in
    /// morphology.wgsl). Its CPU twin is `reference::threshold::threshold` then
    /// `reference::morphology::clean_mask`.
    pub fn run_mask_stage<'a>(&mut self, ratio: &Plane<f32>, wl: impl Into<RgbView<'a>>, cut: f32) -> Result<Plane<u8>> {
        self.mask_stage(ratio, wl.into(), cut, None)
    }

    /// The threshold's hysteresis and the mask stage alone on given buffers: a ratio map and a white
    /// light cut at `low` (as `run_mask_stage`), of which only the 8-connected components holding a pixel
    /// at `level` are kept, then opened and closed (hysteresis.wgsl's `local_low`,
    /// `merge_low` and `mark_strong`, `clean_mask_strong`). Its CPU twin is `reference::threshold::threshold`
    /// at `low`, `keep_strong` at `level`, then `reference::morphology::clean_mask`.
    pub fn run_hysteresis_stage<'a>(&mut self, ratio: &Plane<f32>, wl: impl Into<RgbView<'a>>, level: f32, low: f32) -> Result<Plane<u8>> {
        if !(low <= level) {
            bail!("the hysteresis level {low} is above the level {level}");
        }
        self.mask_stage(ratio, wl.into(), level, Some(low))
    }

    /// The mask stage alone, cut at `level`, or with hysteresis down to `low`.
    fn mask_stage(&mut self, ratio: &Plane<f32>, wl: RgbView<'_>, level: f32, low: Option<f32>) -> Result<Plane<u8>> {
        if (ratio.width, ratio.height) != (wl.width, wl.height) {
            bail!("the ratio map is {}x{}, the white light {}x{}", ratio.width, ratio.height, wl.width, wl.height);
        }
        self.ctx.check_lost()?;
        let (w, h) = (ratio.width, ratio.height);
        self.resources(w, h)?;
        let f = self.frame.as_mut().expect("resources built");
        let q = &self.ctx.queue;
        q.write_buffer(&f.ratio, 0, bytemuck::cast_slice(&pack_ratio(ratio)));
        glint_bits(wl, self.params.glint_level, &mut f.glint_words);
        q.write_buffer(&f.glint, 0, bytemuck::cast_slice(&f.glint_words));
        q.write_buffer(&f.level, (LEVEL_BINS * 4) as u64, bytemuck::bytes_of(&level.to_bits()));
        let f = self.frame.as_ref().expect("resources built");
        let (mp, hp) = (&self.pipelines.morphology, &self.pipelines.hysteresis);
        let (m, c, t) = (&f.bg_morphology.group, &f.bg_hysteresis.group, tiles(w, h));
        match low {
            None => self.run_alone(&[(mp.get("clean_mask").0, m, mask_tiles(w, h))])?,
            Some(low) => {
                q.write_buffer(&f.level, ((LEVEL_BINS + 3) * 4) as u64, bytemuck::bytes_of(&low.to_bits()));
                self.run_alone(&[
                    (hp.get("local_low").0, c, t),
                    (hp.get("merge_low").0, c, t),
                    (hp.get("mark_strong").0, c, t),
                    (mp.get("clean_mask_strong").0, m, mask_tiles(w, h)),
                ])?
            }
        }
        let (_, mask) = self.pixel_maps()?;
        Ok(Arc::unwrap_or_clone(mask))
    }

    /// The labelling stage alone on a given mask (0 non-fluorescent, 1 fluorescent): the labels of
    /// `component_labels`. Its CPU twin is `reference::components::label_components`.
    pub fn run_components_stage(&mut self, mask: &Plane<u8>) -> Result<(Plane<u32>, Plane<u32>)> {
        self.ctx.check_lost()?;
        let (w, h) = (mask.width, mask.height);
        self.resources(w, h)?;
        let f = self.frame.as_ref().expect("resources built");
        self.ctx.queue.write_buffer(&f.mask, 0, &pack_rows(&mask.data, w, |v| v));
        // The row counts of roots start at 0 (local_merge adds to them).
        self.ctx.queue.write_buffer(&f.table, 0, &vec![0u8; f.table.size() as usize]);
        self.ctx.queue.write_buffer(&f.root_bits, 0, &vec![0u8; f.root_bits.size() as usize]);
        self.run_alone(&labelling_dispatches(&self.pipelines, f))?;
        self.component_labels()
    }

    /// The normalize stage alone on a given NIR frame: block medians, the background fit, the smoothed
    /// ratio to the background. Its CPU twin is `reference::normalize::block_medians`, `fit_background`,
    /// then `normalize`.
    pub fn run_normalize_stage<'a>(&mut self, nir: impl Into<NirView<'a>>) -> Result<Plane<f32>> {
        let nir = nir.into();
        self.ctx.check_lost()?;
        let (w, h) = (nir.width, nir.height);
        self.resources(w, h)?;
        let f = self.frame.as_mut().expect("resources built");
        upload_words(&self.ctx.queue, &f.nir_in, bytemuck::cast_slice(nir.data), &mut f.upload);
        let f = self.frame.as_ref().expect("resources built");
        let np = &self.pipelines.normalize;
        let g = &f.bg_normalize.group;
        self.run_alone(&[
            (np.get("block_median").0, g, (f.params.grid_w, f.params.grid_h, 1)),
            (np.get("fit_background").0, g, (1, 1, 1)),
            (np.get("normalize").0, g, tiles(w, h)),
        ])?;
        let codes = self.read_back(&f.ratio, ratio_words(w, h))?;
        Ok(unpack_ratio(&codes, w, h))
    }

    /// The level stage alone on a given ratio histogram (`LEVEL_BINS` counts, as the normalize stage
    /// counts them): the fluorescence level, the background's mode and noise, and the hysteresis level
    /// (`fluo_level` in threshold.wgsl). Its CPU twin is `reference::threshold::fluo_level` then
    /// `low_level`. `width`×`height` is any frame size the settings allow (the stage reads only the
    /// histogram).
    pub fn run_level_stage(&mut self, hist: &[u32], width: usize, height: usize) -> Result<(FluoLevel, f32)> {
        if hist.len() != LEVEL_BINS {
            bail!("a level histogram has {LEVEL_BINS} bins, not {}", hist.len());
        }
        self.ctx.check_lost()?;
        self.resources(width, height)?;
        let f = self.frame.as_ref().expect("resources built");
        self.ctx.queue.write_buffer(&f.level, 0, bytemuck::cast_slice(hist));
        self.run_alone(&[(self.pipelines.threshold.get("fluo_level").0, &f.bg_threshold.group, (1, 1, 1))])?;
        let out = self.read_back(&f.level, LEVEL_BINS + 4)?;
        let v = |k: usize| f32::from_bits(out[LEVEL_BINS + k]);
        Ok((FluoLevel { level: v(0), mode: v(1), noise: v(2), edge_noise: 0.0 }, v(3)))
    }

    /// A given mask (0 non-fluorescent, 1 fluorescent) and ratio map into the frame's buffers, the lesion
    /// table cleared: the inputs of the stages after the mask.
    fn load_mask_and_ratio(&mut self, mask: &Plane<u8>, ratio: &Plane<f32>) -> Result<()> {
        if (ratio.width, ratio.height) != (mask.width, mask.height) {
            bail!("the ratio map is {}x{}, the mask {}x{}", ratio.width, ratio.height, mask.width, mask.height);
        }
        self.ctx.check_lost()?;
        self.resources(mask.width, mask.height)?;
        let f = self.frame.as_ref().expect("resources built");
        let q = &self.ctx.queue;
        q.write_buffer(&f.mask, 0, &pack_rows(&mask.data, mask.width, |v| v));
        q.write_buffer(&f.ratio, 0, bytemuck::cast_slice(&pack_ratio(ratio)));
        q.write_buffer(&f.table, 0, &vec![0u8; f.table.size() as usize]);
        q.write_buffer(&f.root_bits, 0, &vec![0u8; f.root_bits.size() as usize]);
        q.write_buffer(&f.near, 0, &[0u8; NEAR_HEAD_BYTES as usize]);
        Ok(())
    }

    /// The labelling and regions stages alone on a given mask (0 non-fluorescent, 1 fluorescent) and
    /// ratio map: each component's statistics record, in the CPU's label order, and the cores chosen, in
    /// slot order. Its CPU twin is `reference::regions::region_stats` then `select_cores`.
    pub fn run_regions_stage(&mut self, mask: &Plane<u8>, ratio: &Plane<f32>) -> Result<RegionsStage> {
        self.load_mask_and_ratio(mask, ratio)?;
        let f = self.frame.as_ref().expect("resources built");
        self.run_alone(&regions_dispatches(&self.pipelines, f))?;
        let table_words = self.read_back(&f.table, table::WORDS)?;
        let count = table_words[table::COMPONENTS] as usize;
        let stats = self.read_back(&f.stats, STATS_WORDS * count)?;
        let roots = self.read_back(&f.roots, count)?;
        use super::prelude::record::{AREA_MASK, FLAG_BORDER, FLAG_CORE, FLAG_FL};
        let components = (0..count)
            .map(|id| {
                let r = &stats[STATS_WORDS * id..STATS_WORDS * (id + 1)];
                let fluorescent = r[0] & FLAG_FL != 0;
                RegionRecord {
                    label: roots[id] + 1,
                    fluorescent,
                    area: r[0] & AREA_MASK,
                    border: r[0] & FLAG_BORDER != 0,
                    core: r[0] & FLAG_CORE != 0,
                    aux: r[1],
                    sharp: if fluorescent { r[2] } else { 0 },
                }
            })
            .collect();
        let n_cores = (table_words[0] as usize).min(MAX_CORES);
        let slot = |s: usize, k: usize| table_words[table::HEADER + s * table::STRIDE + k];
        // The boxes' words: !x0, !y0, x1, y1 (`prelude::near`).
        let boxes = self.read_back(&f.near, near::BOXES)?;
        let b = |s: usize, k: usize| boxes[near::BOX_WORDS * s + k] as usize;
        Ok(RegionsStage {
            components,
            cores_found: table_words[0],
            cores: (0..n_cores).map(|s| (slot(s, table::LABEL), slot(s, table::PARTIAL) != 0)).collect(),
            core_boxes: (0..n_cores).map(|s| crate::raster::rect::Rect { x0: !b(s, 0) as u32 as usize, y0: !b(s, 1) as u32 as usize, x1: b(s, 2), y1: b(s, 3) }).collect(),
        })
    }

    /// The stages after the mask alone on a given mask (0 non-fluorescent, 1 fluorescent) and ratio map:
    /// the labelling and regions stages (as `run_regions_stage`), the distance stage (`write_seeds`, which
    /// also flags the rims' components, `columns`, `rows`) and the reduce stage (`select_diffuse`,
    /// `assign_diffuse`, `lesion_stats`, `levels`, `subpixel`): the lesions of the table read back, and
    /// whether the table was short of slots. Its CPU twin is `reference::regions::region_stats`,
    /// `select_cores`, `raster::distance::distance_transform`, then `reference::reduce::mark_rims`,
    /// `lesion_stats`, `boundary_level` and `subpixel`.
    pub fn run_reduce_stage(&mut self, mask: &Plane<u8>, ratio: &Plane<f32>) -> Result<(Vec<LesionStats>, bool)> {
        self.load_mask_and_ratio(mask, ratio)?;
        let (w, h) = (mask.width, mask.height);
        let f = self.frame.as_ref().expect("resources built");
        let p = &self.pipelines;
        let (dp, up) = (&p.distance, &p.reduce);
        let (t, ids) = (tiles(w, h), (COMPONENT_GROUPS, 1, 1));
        let (d, u) = (&f.bg_distance.group, &f.bg_reduce.group);
        let mut dispatches = regions_dispatches(p, f);
        dispatches.extend([
            (dp.get("activate").0, d, near_groups(w, h)),
            (dp.get("write_seeds").0, d, tiles(w.div_ceil(4), h)),
            (dp.get("columns").0, d, column_groups(w, h)),
            (dp.get("rows").0, d, row_groups(w, h)),
            (up.get("select_diffuse").0, u, ids),
            (up.get("assign_diffuse").0, u, ids),
            (up.get("mark_coreless").0, u, near_groups(w, h)),
            (up.get("lesion_stats").0, u, t),
            (up.get("levels").0, u, (1, 1, 1)),
            (up.get("subpixel").0, u, t),
        ]);
        self.run_alone(&dispatches)?;
        let t_words = self.read_back(&f.table, table::WORDS)?;
        let truncated = t_words[0] as usize > MAX_CORES || t_words[1] as usize > MAX_DIFFUSE;
        Ok((lesions_from_table(&t_words), truncated))
    }

    /// The check's spot stage alone on a given mask (0 non-fluorescent, 1 fluorescent) and ratio map:
    /// the candidate spots of `query` (spots.wgsl's `spot_local`, hysteresis.wgsl's `merge_low`,
    /// spots.wgsl's `spot_stats`) and the maps within their reach (spot_rows.wgsl's `spot_copy_rows`),
    /// as `segment` runs them when asked; the maps returned hold
    /// those spans, 0 elsewhere. Its CPU twin is `measure::findings::find_spots`, then
    /// `SpotQuery::reach` of each spot. A frame with more components than the table holds, or spans
    /// copied that are not the spots' reach, is an error here (in a frame, the spots are then found on
    /// the CPU; the spans, an error too).
    pub fn run_spots_stage(&mut self, mask: &Plane<u8>, ratio: &Plane<f32>, query: &SpotQuery) -> Result<(Vec<Spot>, Plane<f32>, Plane<u8>)> {
        query.roi.in_frame(mask.width, mask.height)?;
        self.load_mask_and_ratio(mask, ratio)?;
        let (w, h) = (mask.width, mask.height);
        row_maps(&self.ctx.device, &self.pipelines, self.frame.as_mut().expect("resources built"));
        let f = self.frame.as_ref().expect("resources built");
        write_spot_head(&self.ctx.queue, &f.spot_table, query);
        let (clears, dispatches) = spot_stage(&self.pipelines, f);
        let dispatches: Vec<Dispatch<'_>> = dispatches.into_iter().map(|((pipe, _), bound, groups)| (pipe, &bound.group, groups)).collect();
        self.run_alone_cleared(&clears, &dispatches)?;
        let table_words = self.read_back(&f.spot_table, spots::buffer_words())?;
        let found = spots_from_table(&table_words, query)
            .ok_or_else(|| anyhow!("{} components in the region of interest: the spot table holds {}", table_words[spots::COUNT], spots::CAPACITY))?;
        let rows = self.read_back(&f.spot_rows, spots::rows_words(h))?;
        let spans = spot_spans(&found, w, h);
        let places = span_places(&rows, &spans, 0)?;
        let copies = self.read_back(&f.row_maps.as_ref().expect("made above").maps, rows[spots::rows_total(h)] as usize)?;
        let (mut r, mut m) = (Plane::new(w, h), Plane::new(w, h));
        lay_spans(&copies, &spans, &places, &mut r, &mut m);
        Ok((found, r, m))
    }

    /// The first `words` words of `buf`, copied out after the work submitted so far.
    fn read_back(&self, buf: &wgpu::Buffer, words_wanted: usize) -> Result<Vec<u32>> {
        let ctx = &self.ctx;
        let read = readback(&ctx.device, "stage_read", words_wanted * 4);
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("stage readback") });
        enc.copy_buffer_to_buffer(buf, 0, &read, 0, (words_wanted * 4) as u64);
        ctx.submit(enc.finish());
        map_checked(ctx, &[&read])?;
        let mut out = words(&read)?;
        out.truncate(words_wanted);
        Ok(out)
    }

    /// The distance stage's columns and rows alone on given seeds (a core slot + 1 a pixel, at most
    /// `MAX_CORES`, 0 elsewhere): each pixel's distance to the nearest seed within the bound of these
    /// settings and that seed's value; infinity and 0 beyond (as everywhere outside the tiles near a
    /// core, where the field is not written). Its CPU twin is `raster::distance::distance_transform`.
    pub fn run_distance_stage(&mut self, seeds: &Plane<u32>) -> Result<(Plane<f32>, Plane<u32>)> {
        if let Some(v) = seeds.data.iter().find(|&&v| v as usize > MAX_CORES) {
            bail!("seed value {v} is over the {MAX_CORES} core slots");
        }
        self.ctx.check_lost()?;
        let (w, h) = (seeds.width, seeds.height);
        self.resources(w, h)?;
        let f = self.frame.as_ref().expect("resources built");
        self.ctx.queue.write_buffer(&f.seeds, 0, &pack_rows(&seeds.data, w, |v| v as u8));
        self.ctx.queue.write_buffer(&f.near, 0, &[0u8; NEAR_HEAD_BYTES as usize]);
        self.run_alone(&field_dispatches(&self.pipelines, f))?;
        let ctx = &self.ctx;
        let read = readback(&ctx.device, "distfield_read", w * h * 4);
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("distfield") });
        enc.copy_buffer_to_buffer(&f.distfield, 0, &read, 0, (w * h * 4) as u64);
        ctx.submit(enc.finish());
        map_checked(ctx, &[&read])?;
        let mut field = words(&read)?;
        // Beyond the tiles near a core the field is 0 (not written there: near.wgsl), as its readers take it.
        let near_words = self.read_back(&f.near, near::buffer_words(w, h))?;
        let tiles_x = w.div_ceil(16);
        for (i, v) in field.iter_mut().enumerate() {
            if near_words[near::TILES + (i / w / 16) * tiles_x + (i % w) / 16] & near::CORE == 0 {
                *v = 0;
            }
        }
        // The field's word: the squared distance above FIELD_SHIFT, the seed's value below (field_* in
        // common.wgsl).
        let value = |v: u32| v & ((1 << FIELD_SHIFT) - 1);
        let dist = field.iter().map(|&v| if value(v) != 0 { ((v >> FIELD_SHIFT) as f32).sqrt() } else { f32::INFINITY }).collect();
        let nearest = field.iter().map(|&v| value(v)).collect();
        Ok((Plane { width: w, height: h, data: dist }, Plane { width: w, height: h, data: nearest }))
    }

    /// The composite stage alone on given buffers: the white light, a ratio map, a mask (0 or 1), core
    /// seeds (a core slot + 1 a pixel, at most `MAX_CORES`, 0 elsewhere; the distance stage's columns and
    /// rows make their field first) and the style table by slot (`LesionStyle::word`, 0 for a lesion not
    /// drawn): the overlay (`composite` in composite.wgsl, every tile listed, its marks finished on the
    /// CPU by the styles, `gpu::marks`). Its CPU twin is `raster::distance::distance_transform` then
    /// `reference::composite::composite`, the seeds' values standing for labels.
    pub fn run_composite_stage<'a>(&mut self, wl: impl Into<RgbView<'a>>, ratio: &Plane<f32>, mask: &Plane<u8>, seeds: &Plane<u32>, styles: &[u32]) -> Result<RgbFrame> {
        let wl = wl.into();
        let (w, h) = (wl.width, wl.height);
        for (what, size) in [("ratio map", (ratio.width, ratio.height)), ("mask", (mask.width, mask.height)), ("seeds", (seeds.width, seeds.height))] {
            if size != (w, h) {
                bail!("the {what} is {}x{}, the white light {w}x{h}", size.0, size.1);
            }
        }
        if let Some(v) = seeds.data.iter().find(|&&v| v as usize > MAX_CORES) {
            bail!("seed value {v} is over the {MAX_CORES} core slots");
        }
        if styles.len() > MAX_CORES {
            bail!("{} styles for {MAX_CORES} core slots", styles.len());
        }
        self.ctx.check_lost()?;
        self.resources(w, h)?;
        let f = self.frame.as_mut().expect("resources built");
        let q = &self.ctx.queue;
        q.write_buffer(&f.ratio, 0, bytemuck::cast_slice(&pack_ratio(ratio)));
        q.write_buffer(&f.mask, 0, &pack_rows(&mask.data, w, |v| v));
        q.write_buffer(&f.seeds, 0, &pack_rows(&seeds.data, w, |v| v as u8));
        q.write_buffer(&f.near, 0, &[0u8; NEAR_HEAD_BYTES as usize]);
        // Every tile drawn, in raster order (in a frame, those mark_coreless lists).
        let tiles_n = near::tiles(w, h);
        q.write_buffer(&f.near, (near::COUNT_DRAWN * 4) as u64, bytemuck::bytes_of(&(tiles_n as u32)));
        let list: Vec<u32> = (0..tiles_n as u32).collect();
        q.write_buffer(&f.drawn, (tiles_n * 4) as u64, bytemuck::cast_slice(&list));
        let mut by_slot = [0u32; MAX_CORES];
        by_slot[..styles.len()].copy_from_slice(styles);
        let f = self.frame.as_ref().expect("resources built");
        let cp = &self.pipelines.composite;
        let mut dispatches = field_dispatches(&self.pipelines, f);
        dispatches.push((cp.get("composite").0, &f.bg_composite.group, composite_groups(tiles_n)));
        self.run_alone(&dispatches)?;
        let marks = self.read_back(&f.marks, tiles_n * TILE_PIXELS)?;
        let mut tiles = Vec::new();
        marks::finish_tiles(wl.data, w, h, &list, &marks, &by_slot, f.params.margins_px(), &mut tiles);
        let mut out = vec![0u8; 3 * w * h];
        lay_tiles(&mut out, w, h, 3, &list, &tiles);
        RgbFrame::from_vec(w, h, out)
    }

    /// Buffers for this frame size, made when the size changes; a size the device's limits do not hold
    /// reopens the device with raised limits (and remakes the pipelines), or is `GpuError::Limit`.
    fn resources(&mut self, width: usize, height: usize) -> Result<()> {
        // Whoever asks is about to write the buffers: what was read back of them is stale.
        if let Some(f) = self.frame.as_mut() {
            (f.labels_cached, f.maps_cached, f.components) = (None, None, None);
        }
        if self.frame.as_ref().is_none_or(|f| f.width != width || f.height != height) {
            self.frame = None;
            if width > MAX_WIDTH {
                return Err(GpuError::Limit {
                    adapter: self.ctx.describe(),
                    what: format!("a {width}x{height} frame (the labelling numbers a row's roots 32 a word, 256 words a row)"),
                    limit: "frame width",
                    needed: width as u64,
                    available: MAX_WIDTH as u64,
                }
                .into());
            }
            if self.ctx.ensure(frame_needs(width, height), &format!("a {width}x{height} frame"))? {
                self.pipelines = build_pipelines(&self.ctx.device);
            }
            self.frame = Some(self.build_resources(width, height));
            self.ctx.check()?;
        }
        Ok(())
    }

    fn build_resources(&self, width: usize, height: usize) -> FrameResources {
        let d = &self.ctx.device;
        let params = GpuParams::new(&self.params, width, height);
        let uniform = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let none = wgpu::BufferUsages::empty();
        let src = wgpu::BufferUsages::COPY_SRC;
        let sized = frame_buffer_words(width, height);
        let words_of = |name: &str| sized.iter().find(|(k, _)| *k == name).map(|(_, w)| *w).expect("a frame buffer");
        let buf = |name: &str, extra| storage(d, name, words_of(name), extra);
        let nir_in = buf("nir_in", none);
        let glint = buf("glint", none);
        let medians = storage(d, "medians", (params.grid_w * params.grid_h) as usize, none);
        let coeffs = storage(d, "coeffs", 8, none);
        let ratio = buf("ratio", src);
        let mask = buf("mask", src);
        let parent = buf("parent", src);
        let stats = buf("stats", src);
        let roots = buf("roots", src);
        let root_bits = buf("root_bits", none);
        let seeds = buf("seeds", none);
        let low_parent = buf("low_parent", none);
        let local_roots = buf("local_roots", src);
        let col = buf("col", none);
        let distfield = buf("distfield", src);
        let near = buf("near", src);
        let table = buf("table", src);
        // Its tail is the composite's indirect dispatch.
        let drawn = buf("drawn", src | wgpu::BufferUsages::INDIRECT);
        let spot_table = buf("spot_table", src);
        let spot_rows = buf("spot_rows", src);
        let low_tiles = buf("low_tiles", src);
        let tiles_n = near::tiles(width, height);
        let level = storage(d, "level", LEVEL_BINS + 4, src);
        // A drawn tile after another (composite.wgsl).
        let marks = buf("marks", src);
        let classes = storage(d, "classes", tiles_n * TILE_PIXELS / 4, src);
        // The labels: a word a tile-local root (components.wgsl's compress, labels.wgsl).
        let dense = [(&stats, (STATS_WORDS * 4) as u64, Per::Component), (&roots, 4, Per::Component), (&parent, 4, Per::LocalRoot)];
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
            bg_normalize: p.normalize.bind(d, &uniform, &[&nir_in, &medians, &coeffs, &ratio, &level, &drawn], &[], &[]),
            bg_threshold: p.threshold.bind(d, &uniform, &[&level], &[], &[]),
            // The hysteresis's low mask goes to the seeds' buffer (free until the distance stage), so the
            // mask pass reads it while writing the mask.
            // clean_mask_strong reads the border words of the tiles with a low pixel on their perimeter only.
            bg_morphology: p.morphology.bind(d, &uniform, &[&ratio, &glint, &level, &mask, &low_parent, &seeds], &[], &[("clean_mask_strong", &low_parent, Tiles::Low)]),
            // The check's spots are labelled in the same border array (free once `compress` has run).
            // The hysteresis's passes write and read the border words of the tiles with a low pixel on their
            // perimeter only (the others write their flag alone), the spots' likewise with a spot pixel;
            // the spots' passes read the mask and the ratio in the region of interest only.
            bg_hysteresis: p.hysteresis.bind(d, &uniform, &[&ratio, &glint, &level, &seeds, &low_parent, &mask, &spot_table, &low_tiles], &[], &[
                ("local_low", &low_parent, Tiles::Low),
                ("merge_low", &low_parent, Tiles::Low),
                ("mark_strong", &low_parent, Tiles::Low),
                ("spot_local", &low_parent, Tiles::Low),
                ("spot_stats", &low_parent, Tiles::Low),
                ("spot_local", &mask, Tiles::Roi),
                ("spot_stats", &mask, Tiles::Roi),
                ("spot_stats", &ratio, Tiles::Roi),
            ]),
            // The labelling writes the labels into the parent buffer (`compress`, components.wgsl); its
            // border array is the hysteresis's (free once the morphology pass has read it).
            bg_components: p.components.bind(d, &uniform, &[&mask, &parent, &roots, &stats, &table, &root_bits, &ratio, &low_parent, &drawn, &local_roots], &dense, &[]),
            bg_regions: p.regions.bind(d, &uniform, &[&stats, &table, &roots, &near], &dense, &[]),
            // write_seeds reads the labels and writes the seeds, the columns read the seeds and write
            // their words, and the rows read those and write the field, on the tiles near a core only
            // (core_boxes, the stage runners' stand-in for the regions stage's boxes, reads all seeds).
            bg_distance: p.distance.bind(d, &uniform, &[&parent, &stats, &seeds, &col, &distfield, &near, &local_roots], &dense, &[
                ("write_seeds", &local_roots, Tiles::Near),
                ("write_seeds", &seeds, Tiles::Near),
                ("columns", &seeds, Tiles::Near),
                ("columns", &col, Tiles::Near),
                ("rows", &col, Tiles::Near),
                ("rows", &distfield, Tiles::Near),
            ]),
            // lesion_stats reads the field and the seeds near the cores only, and the labels, the ratio
            // and the mask there and in the coreless lesions' boxes; subpixel works near the cores only (the neighbours it reads are
            // within the bound + 1 of a core, inside the tiles' reach).
            bg_reduce: p.reduce.bind(d, &uniform, &[&ratio, &mask, &seeds, &parent, &stats, &distfield, &table, &roots, &near, &drawn, &local_roots], &dense, &[
                ("lesion_stats", &distfield, Tiles::Near),
                ("lesion_stats", &seeds, Tiles::Near),
                ("lesion_stats", &local_roots, Tiles::Marked),
                ("lesion_stats", &ratio, Tiles::Marked),
                ("lesion_stats", &mask, Tiles::Marked),
                ("subpixel", &ratio, Tiles::Near),
                ("subpixel", &mask, Tiles::Near),
                ("subpixel", &seeds, Tiles::Near),
                ("subpixel", &distfield, Tiles::Near),
            ]),
            // The composite works on the drawn tiles only (a subset of them near a core, where it reads
            // the field and the seeds), and writes the marks and the classes a drawn tile after another.
            bg_composite: p.composite.bind(d, &uniform, &[&ratio, &mask, &seeds, &distfield, &marks, &classes, &near, &drawn], &[], &[
                ("composite", &distfield, Tiles::Near),
                ("composite", &seeds, Tiles::Near),
                ("composite", &ratio, Tiles::Drawn),
                ("composite", &mask, Tiles::Drawn),
                ("composite", &marks, Tiles::Drawn),
                ("composite_classes", &distfield, Tiles::Near),
                ("composite_classes", &seeds, Tiles::Near),
                ("composite_classes", &ratio, Tiles::Drawn),
                ("composite_classes", &mask, Tiles::Drawn),
                ("composite_classes", &marks, Tiles::Drawn),
                ("composite_classes", &classes, Tiles::Drawn),
            ]),
            table_read: readback(d, "table_read", table::WORDS * 4),
            marks_read: readback(d, "marks_read", tiles_n * TILE_PIXELS * 4),
            classes_read: readback(d, "classes_read", tiles_n * TILE_PIXELS),
            drawn_read: readback(d, "drawn_read", tiles_n * 4),
            nir_in,
            glint,
            glint_words: Vec::new(),
            drawn_list: Vec::new(),
            table,
            level,
            marks,
            classes,
            mark_words: Vec::new(),
            class_bytes: Vec::new(),
            // Before a frame has drawn any: a sixteenth of the tiles.
            marks_capacity: tiles_n / 16 + 16,
            upload: Vec::new(),
            ratio,
            mask,
            parent,
            roots,
            root_bits,
            stats,
            seeds,
            distfield,
            near,
            local_roots,
            near_share: 1.0,
            drawn,
            drawn_count: 0,
            maps_read: None,
            // The spot table, then the rows buffer.
            spot_read: readback(d, "spot_read", (spots::buffer_words() + spots::rows_words(height)) * 4),
            spot_table,
            spot_rows,
            row_maps: None,
            uniform,
            // Before a frame has had candidates: the words of a few small ones' reach.
            spot_words_capacity: SPOT_WORDS_SLACK,
            spot_maps: None,
            row_words: Vec::new(),
            low_tiles,
            timestamps,
            traffic: Traffic::default(),
            components: None,
            labels_cached: None,
            maps_cached: None,
        }
    }
}

fn check_distance_bound(ctx: &GpuContext, params: &AnalysisParams) -> Result<(), GpuError> {
    let needed = params.distance_bound_px().ceil() as u64;
    if needed > MAX_DISTANCE_BOUND as u64 {
        return Err(GpuError::Limit {
            adapter: ctx.describe(),
            what: format!(
                "measuring {} mm from a core at {} mm/px (the GPU's distance rows hold {MAX_DISTANCE_BOUND} px; use --backend cpu)",
                params.rim_search_mm.max(params.margins_mm.iter().cloned().fold(0.0, f32::max)),
                params.mm_per_px
            ),
            limit: "distance bound (px)",
            needed,
            available: MAX_DISTANCE_BOUND as u64,
        });
    }
    Ok(())
}

/// A dispatch run alone (`GpuAnalyzer::run_alone`): pipeline, bind group, workgroups.
type Dispatch<'a> = (&'a wgpu::ComputePipeline, &'a wgpu::BindGroup, (u32, u32, u32));

/// The labelling's dispatches on the frame's mask, for the stage runners (as `segment` runs them).
fn labelling_dispatches<'a>(p: &'a Pipelines, f: &'a FrameResources) -> Vec<Dispatch<'a>> {
    let (cp, g) = (&p.components, &f.bg_components.group);
    let (t, rows) = (tiles(f.width, f.height), (f.height as u32, 1, 1));
    vec![
        (cp.get("local_merge").0, g, t),
        (cp.get("merge").0, g, t),
        (cp.get("scan_rows").0, g, (1, 1, 1)),
        (cp.get("assign_ids").0, g, rows),
        (cp.get("compress").0, g, t),
    ]
}

/// The labelling's, then the regions stage's dispatches (statistics, the cores and their slots).
fn regions_dispatches<'a>(p: &'a Pipelines, f: &'a FrameResources) -> Vec<Dispatch<'a>> {
    let (rp, r) = (&p.regions, &f.bg_regions.group);
    let ids = (COMPONENT_GROUPS, 1, 1);
    let mut d = labelling_dispatches(p, f);
    d.extend([(rp.get("select_cores").0, r, ids), (rp.get("assign_cores").0, r, ids)]);
    d
}

/// The distance field from given seeds, for the stage runners: the seeds' boxes (`core_boxes`, standing
/// for those the regions stage writes in a frame), the tiles near them, the columns and rows on those
/// tiles. The boxes and the count must be cleared before (`NEAR_HEAD_BYTES`).
fn field_dispatches<'a>(p: &'a Pipelines, f: &'a FrameResources) -> Vec<Dispatch<'a>> {
    let (dp, g) = (&p.distance, &f.bg_distance.group);
    let (w, h) = (f.width, f.height);
    vec![
        (dp.get("core_boxes").0, g, tiles(w.div_ceil(4), h)),
        (dp.get("activate").0, g, near_groups(w, h)),
        (dp.get("columns").0, g, column_groups(w, h)),
        (dp.get("rows").0, g, row_groups(w, h)),
    ]
}

/// A dispatch of a frame's stage: its pipeline with the entry point's index (for the bytes its bind group
/// counts, `Bound`), the bind group and the workgroups.
type FrameDispatch<'a> = ((&'a wgpu::ComputePipeline, usize), &'a Bound, (u32, u32, u32));

/// The check's spot stage, for `segment` and `run_spots_stage` alike: the byte ranges to clear before
/// it (the spot table's records and the rows buffer's count, `rows_total`), and its dispatches: the
/// candidate spots (spots.wgsl's passes with hysteresis.wgsl's `merge_low`) and the maps within their
/// reach (spot_rows.wgsl). The spot table's header is written before (`write_spot_head`).
fn spot_stage<'a>(p: &'a Pipelines, f: &'a FrameResources) -> ([Clear<'a>; 2], Vec<FrameDispatch<'a>>) {
    let (hp, hb, t) = (&p.hysteresis, &f.bg_hysteresis, tiles(f.width, f.height));
    let (sp, sb) = (&p.spot_rows, &f.row_maps.as_ref().expect("made with the query").bound);
    let dispatches = vec![
        (hp.get("spot_local"), hb, t),
        (hp.get("merge_low"), hb, t),
        (hp.get("spot_stats"), hb, t),
        (sp.get("spot_copy_rows"), sb, (f.height as u32, 1, 1)),
    ];
    let records = (spots::HEAD * 4) as u64..(spots::buffer_words() * 4) as u64;
    let total = (spots::rows_total(f.height) * 4) as u64;
    ([(&f.spot_table, records), (&f.spot_rows, total..total + 4)], dispatches)
}

/// A buffer's byte range cleared before a stage.
type Clear<'a> = (&'a wgpu::Buffer, std::ops::Range<u64>);

/// Writes `bytes` at the start of `buf`, through `scratch` padded to whole words when it is not.
fn upload_words(queue: &wgpu::Queue, buf: &wgpu::Buffer, bytes: &[u8], scratch: &mut Vec<u8>) {
    if bytes.len() % 4 == 0 {
        queue.write_buffer(buf, 0, bytes);
    } else {
        scratch.clear();
        scratch.extend_from_slice(bytes);
        scratch.resize(bytes.len().next_multiple_of(4), 0);
        queue.write_buffer(buf, 0, scratch);
    }
}

/// Workgroups of the mask pass: a 16×52 tile each (morphology.wgsl).
fn mask_tiles(w: usize, h: usize) -> (u32, u32, u32) {
    ((w as u32).div_ceil(16), (h as u32).div_ceil(52), 1)
}

/// Workgroups of the distance columns (64 pairs of columns by 128-row segments) and rows (256 pixels of a
/// row).
fn column_groups(w: usize, h: usize) -> (u32, u32, u32) {
    ((w as u32).div_ceil(2).div_ceil(64), (h as u32).div_ceil(128), 1)
}

/// Workgroups of `activate`: an invocation a 16×16 tile, 64 a workgroup.
fn near_groups(w: usize, h: usize) -> (u32, u32, u32) {
    ((near::tiles(w, h) as u32).div_ceil(64), 1, 1)
}

/// Bytes of the tiles-near-a-core buffer cleared before each frame: the lesions' boxes and the counts.
const NEAR_HEAD_BYTES: u64 = (near::TILES * 4) as u64;

fn row_groups(w: usize, h: usize) -> (u32, u32, u32) {
    ((w as u32).div_ceil(256), h as u32, 1)
}

/// A plane as 8 bits a pixel in the mask's layout (rows padded to whole words).
fn pack_rows<T: Copy>(data: &[T], w: usize, byte: impl Fn(T) -> u8) -> Vec<u8> {
    let stride = w.div_ceil(4) * 4;
    let mut packed = vec![0u8; stride * (data.len() / w.max(1))];
    for (dst, src) in packed.chunks_exact_mut(stride).zip(data.chunks_exact(w)) {
        for (d, v) in dst.iter_mut().zip(src) {
            *d = byte(*v);
        }
    }
    packed
}

/// Workgroups of the composite: one a drawn tile, rows of at most `drawn::ROW_GROUPS` workgroups (as
/// mark_coreless sets its indirect dispatch in a frame).
fn composite_groups(drawn: usize) -> (u32, u32, u32) {
    let (groups, row) = (drawn as u32, drawn::ROW_GROUPS as u32);
    (groups.clamp(1, row), groups.div_ceil(groups.clamp(1, row)), 1)
}

/// Lays the drawn tiles (`list[k]` the raster index of the k-th, its pixels at `tiles[k * 256 * px..]`,
/// `px` bytes a pixel, 16 rows of 16) over `frame` (`width` pixels a row, `px` bytes a pixel).
fn lay_tiles(frame: &mut [u8], width: usize, height: usize, px: usize, list: &[u32], tiles: &[u8]) {
    let tx = width.div_ceil(16);
    for (k, &t) in list.iter().enumerate() {
        let (x0, y0) = (16 * (t as usize % tx), 16 * (t as usize / tx));
        let cols = 16.min(width - x0) * px;
        for ly in 0..16.min(height - y0) {
            let src = &tiles[(k * TILE_PIXELS + 16 * ly) * px..][..cols];
            frame[((y0 + ly) * width + x0) * px..][..cols].copy_from_slice(src);
        }
    }
}

/// The white light's glint bits (cut.wgsl): a bit a pixel, set where it is a glint
/// (`analysis::is_glint`: every channel at or over `glint_level`), 32 a word, rows padded to
/// whole words. Made row by row on all cores, 24 channels (8 pixels) at a time: each channel's test a
/// byte (a loop the compiler vectorises), eight bytes to eight bits by a multiplication, a pixel's three
/// bits and'ed, every third bit gathered by table (`EVERY_THIRD`): about 4 ms a 3840×2160 frame on one
/// core, where a test a pixel took 12 (the unit test below checks it against `is_glint`).
fn glint_bits(wl: RgbView<'_>, glint_level: u8, out: &mut Vec<u32>) {
    use rayon::prelude::*;
    let (w, h) = (wl.width, wl.height);
    let stride = w.div_ceil(32);
    out.clear();
    out.resize(stride * h, 0);
    if w == 0 {
        return;
    }
    let rows = wl.data.par_chunks_exact(3 * w).take(h).zip(out.par_chunks_exact_mut(stride));
    rows.for_each_init(
        // Past a row's last channel the bytes stay 0 (every row is as long): the padding's bits are clear.
        || vec![0u8; stride * 96],
        |channels, (row, bits)| {
            for (c, &v) in channels.iter_mut().zip(row) {
                *c = (v >= glint_level) as u8;
            }
            for (word, c) in bits.iter_mut().zip(channels.chunks_exact(96)) {
                let mut acc = 0u32;
                for (g, c24) in c.chunks_exact(24).enumerate() {
                    let mut q = 0u32;
                    for (j, c8) in c24.chunks_exact(8).enumerate() {
                        let x = u64::from_le_bytes(c8.try_into().expect("eight bytes"));
                        q |= ((x.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32) << (8 * j);
                    }
                    let q = q & (q >> 1) & (q >> 2);
                    let px = EVERY_THIRD[0][(q & 0xff) as usize] as u32
                        | EVERY_THIRD[1][((q >> 8) & 0xff) as usize] as u32
                        | EVERY_THIRD[2][((q >> 16) & 0xff) as usize] as u32;
                    acc |= px << (8 * g);
                }
                *word = acc;
            }
        },
    );
}

/// For each byte k of a 24-bit group of channel bits (three pixels and a third to a byte), its bits at
/// the pixels' first channels (0, 3, 6, .. of the group) as pixel bits: k = 0 pixels 0–2, 1 pixels 3–5,
/// 2 pixels 6–7.
const EVERY_THIRD: [[u8; 256]; 3] = [every_third(0), every_third(1), every_third(2)];

const fn every_third(byte: u32) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut v = 0;
    while v < 256 {
        let mut k = 0;
        while k < 8 {
            let bit = 8 * byte + k;
            if bit % 3 == 0 && (v >> k) & 1 == 1 {
                t[v as usize] |= 1 << (bit / 3);
            }
            k += 1;
        }
        v += 1;
    }
    t
}

/// Dispatch helpers: 16×16 tiles over the frame, or a 1-D count of workgroups.
fn tiles(w: usize, h: usize) -> (u32, u32, u32) {
    ((w as u32).div_ceil(16), (h as u32).div_ceil(16), 1)
}

/// Maps `buffers` for reading after a submission, waiting at most the context's timeout; fails with the
/// device's typed error (lost, timed out, out of memory, validation), leaving no buffer mapped behind.
fn map_checked(ctx: &GpuContext, buffers: &[&wgpu::Buffer]) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    for (k, b) in buffers.iter().enumerate() {
        let tx = tx.clone();
        b.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send((k, r));
        });
    }
    drop(tx);
    let unmap_all = |got: &[usize]| {
        for k in got {
            buffers[*k].unmap();
        }
    };
    ctx.wait()?;
    let mut mapped = Vec::new();
    let mut failed = None;
    for _ in buffers {
        match rx.try_recv() {
            Ok((k, Ok(()))) => mapped.push(k),
            Ok((k, Err(e))) => failed = Some(anyhow!("mapping GPU buffer {}: {e}", buffers[k].size())),
            Err(_) => failed = Some(anyhow!("GPU readback did not complete after the wait")),
        }
    }
    if let Err(e) = ctx.check() {
        unmap_all(&mapped);
        return Err(e.into());
    }
    if let Some(e) = failed {
        unmap_all(&mapped);
        return Err(e);
    }
    Ok(())
}

/// Maps `buffers` (`map_checked`), lets `read` copy out of them, then unmaps them all whatever `read`
/// returned: no path leaves a buffer mapped (the next frame copies into them).
fn read_mapped<T>(ctx: &GpuContext, buffers: &[&wgpu::Buffer], read: impl FnOnce() -> Result<T>) -> Result<T> {
    map_checked(ctx, buffers)?;
    let out = read();
    for b in buffers {
        b.unmap();
    }
    out
}

/// The words of the mapped `buf`, which is then unmapped.
fn words(buf: &wgpu::Buffer) -> Result<Vec<u32>> {
    let out = mapped_words(buf);
    buf.unmap();
    out
}

/// The words of the mapped `buf`, which stays mapped.
fn mapped_words(buf: &wgpu::Buffer) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    append_mapped(buf, 0..buf.size() as usize, &mut out)?;
    Ok(out)
}

/// Appends the bytes `range` of the mapped `buf` to `out` (as `T`s); `buf` stays mapped.
fn append_mapped<T: bytemuck::Pod>(buf: &wgpu::Buffer, range: std::ops::Range<usize>, out: &mut Vec<T>) -> Result<()> {
    if !range.is_empty() {
        let view = buf.get_mapped_range(range.start as u64..range.end as u64).map_err(|e| anyhow!("reading a GPU buffer: {e:?}"))?;
        out.extend_from_slice(bytemuck::cast_slice(&view));
    }
    Ok(())
}

/// The spot table's header for `q` (`prelude::spots`): no record handed out yet, the ROI, the least area,
/// the least peak code (the least code whose ratio reaches the TBR: `spots_from_table`'s filter).
fn write_spot_head(queue: &wgpu::Queue, table: &wgpu::Buffer, q: &SpotQuery) {
    let mut head = [0u32; spots::HEAD];
    head[spots::ROI..spots::ROI + 4].copy_from_slice(&[q.roi.x, q.roi.y, q.roi.x + q.roi.w, q.roi.y + q.roi.h].map(|v| v as u32));
    head[spots::MIN_AREA] = q.min_area;
    head[spots::MIN_PEAK] = least_peak_code(q.min_tbr);
    queue.write_buffer(table, 0, bytemuck::cast_slice(&head));
}

/// The least ratio code whose value reaches `min_tbr` (one past the codes where none does, or for NaN):
/// the codes' values are exact multiples of a power of two, so the product's ceiling is it.
fn least_peak_code(min_tbr: f32) -> u32 {
    let c = (min_tbr * RATIO_STEPS).ceil();
    if c.is_nan() { RATIO_CODE_MAX + 1 } else { c.clamp(0.0, (RATIO_CODE_MAX + 1) as f32) as u32 }
}

/// Words of the maps the segmentation's submission reads back beyond the last frame's around its
/// candidates (and before any frame had them): a few small candidates' reach (`SpotQuery::reach`: 30×30
/// px, 690 words, for an 8 px spot).
const SPOT_WORDS_SLACK: usize = 2048;

/// The candidate spots of query `q` from the spot table (`prelude::spots`), filtered and ordered as
/// `find_spots` (by their first pixel in raster order, the label order of the ROI's labelling); `None`
/// when the frame had more components than the table holds.
fn spots_from_table(t: &[u32], q: &SpotQuery) -> Option<Vec<Spot>> {
    let n = t[spots::COUNT] as usize;
    if n > spots::CAPACITY {
        return None;
    }
    let mut found: Vec<(u32, Spot)> = (0..n)
        .map(|k| &t[spots::HEAD + k * spots::STRIDE..][..spots::STRIDE])
        .filter(|r| r[spots::AREA] > 0 && r[spots::AREA] >= q.min_area && ratio_value(r[spots::PEAK]) >= q.min_tbr)
        .map(|r| {
            let area = r[spots::AREA] as f64;
            // The sum of the pixels' centres (x + 0.5): exact in f64, as the CPU's.
            let centre = |k: usize| (((r[k] as u64 | (r[k + 1] as u64) << 32) as f64 + 0.5 * area) / area) as f32;
            let spot = Spot {
                id: 0,
                centroid_px: [centre(spots::SX), centre(spots::SY)],
                area_px: r[spots::AREA],
                area_mm2: None,
                peak_tbr: ratio_value(r[spots::PEAK]),
                bbox: [!r[spots::X0], !r[spots::Y0], r[spots::X1] + 1, r[spots::Y1] + 1].map(|v| v as usize),
            };
            (!r[spots::FIRST], spot)
        })
        .collect();
    found.sort_by_key(|(first, _)| *first);
    Some(found.into_iter().map(|(_, s)| s).collect())
}

/// The spans of a `width`×`height` frame the check reads around `found` (`SpotQuery::reach`): each row
/// that a candidate's reach holds, in order, with the columns from the first to the last that one holds
/// there, [x0, x1): spot_rows.wgsl's spans, in the order it copies them out.
fn spot_spans(found: &[Spot], width: usize, height: usize) -> Vec<(usize, usize, usize)> {
    let mut hull = vec![(usize::MAX, 0); height];
    for s in found {
        let [x0, y0, x1, y1] = SpotQuery::reach(s, width, height);
        for h in &mut hull[y0..y1] {
            *h = (h.0.min(x0), h.1.max(x1));
        }
    }
    hull.into_iter().enumerate().filter(|(_, (_, x1))| *x1 != 0).map(|(y, (x0, x1))| (y, x0, x1)).collect()
}

/// The words of the ratio map's row, then of the mask's, that hold columns [x0, x1) (spot_rows.wgsl's
/// `ratio_words_of`, `mask_words_of`): each one's first and end.
fn span_words(x0: usize, x1: usize) -> ((usize, usize), (usize, usize)) {
    ((x0 / 2, x1.div_ceil(2)), (x0 / 4, x1.div_ceil(4)))
}

/// Words spot_rows.wgsl copies out for the span [x0, x1) of a row.
fn span_len(x0: usize, x1: usize) -> usize {
    let ((a, b), (c, d)) = span_words(x0, x1);
    b - a + d - c
}

/// Words spot_rows.wgsl copies out for `spans`.
fn spans_words(spans: &[(usize, usize, usize)]) -> usize {
    spans.iter().map(|&(_, x0, x1)| span_len(x0, x1)).sum()
}

/// Where spot_rows.wgsl copied each of `spans` (`spot_spans`) among the words it copied out, from its
/// rows buffer (`rows`: a place a row, `u32::MAX` for none, then the count of words; `fault` words more
/// expected, for a test): an error unless it counted the spans' words and placed their rows, and no
/// other, within the count.
fn span_places(rows: &[u32], spans: &[(usize, usize, usize)], fault: usize) -> Result<Vec<usize>> {
    let height = rows.len() - 1;
    let copied = rows[spots::rows_total(height)] as usize;
    let expected = spans_words(spans) + fault;
    if expected != copied {
        bail!("the GPU copied {copied} words around the check's spots where their reach holds {expected}");
    }
    let mut spans = spans.iter().peekable();
    let mut places = Vec::with_capacity(spans.len());
    for (y, &place) in rows[..height].iter().enumerate() {
        match (spans.next_if(|s| s.0 == y), place) {
            (None, u32::MAX) => {}
            (Some(&(_, x0, x1)), at) if at != u32::MAX && at as usize + span_len(x0, x1) <= copied => places.push(at as usize),
            (span, at) => bail!("the GPU placed row {y}'s words around the check's spots at {at:#x}, where the spots' reach {} it", if span.is_some() { "holds" } else { "misses" }),
        }
    }
    Ok(places)
}

/// Lays `spans` (`spot_spans`), copied out from `words` at `places` (`span_places`; spot_rows.wgsl's
/// `row_maps`: each row's ratio words, then its mask words), into `ratio` and `mask` (elsewhere
/// untouched).
fn lay_spans(words: &[u32], spans: &[(usize, usize, usize)], places: &[usize], ratio: &mut Plane<f32>, mask: &mut Plane<u8>) {
    let w = ratio.width;
    for (&(y, x0, x1), &at) in spans.iter().zip(places) {
        let ((a, b), (c, d)) = span_words(x0, x1);
        let codes: &[u16] = bytemuck::cast_slice(&words[at..at + b - a]);
        let bytes: &[u8] = bytemuck::cast_slice(&words[at + b - a..at + b - a + d - c]);
        for x in x0..x1 {
            ratio.data[y * w + x] = ratio_value(codes[x - 2 * a] as u32);
            mask.data[y * w + x] = bytes[x - 4 * c];
        }
    }
}

/// The readbacks of the ratio map and the mask (made the first time a frame of this size needs them).
fn maps_read<'a>(device: &wgpu::Device, f: &'a mut FrameResources) -> &'a (wgpu::Buffer, wgpu::Buffer) {
    let (ratio_bytes, mask_bytes) = (ratio_words(f.width, f.height) * 4, mask_words(f.width, f.height) * 4);
    f.maps_read.get_or_insert_with(|| (readback(device, "ratio_read", ratio_bytes), readback(device, "mask_read", mask_bytes)))
}

/// The check's maps of a `width`×`height` frame, kept from frame to frame (made blank the first time).
fn spot_maps(maps: &mut Option<PixelMaps>, width: usize, height: usize) -> &mut PixelMaps {
    maps.get_or_insert_with(|| (Arc::new(Plane::new(width, height)), Arc::new(Plane::new(width, height))))
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
                boundary_sectors: 0,
                covered_sectors: 0,
                ringed_sectors: 0,
            }
        })
        .collect();
    // Slots go by raster order of label within each kind (`raster_rank`); report in the CPU's order:
    // rims, then coreless, by label.
    out.sort_by_key(|l| (l.kind != LesionKind::Rim, l.label));
    out
}

impl Analyzer for GpuAnalyzer {
    fn describe(&self) -> String {
        self.ctx.describe()
    }

    fn segment(&mut self, wl: RgbView<'_>, nir: NirView<'_>, want_classes: bool) -> Result<Segmentation> {
        check_pair(wl, nir)?;
        // A device already lost (or timed out) is not touched again: the caller rebuilds.
        self.ctx.check_lost()?;
        // Nothing of the last frame is left to composite or to check should this one fail.
        self.pending = false;
        self.spot_found = None;
        let started = Instant::now();
        let (w, h) = (wl.width, wl.height);
        self.resources(w, h)?;
        let ctx = &self.ctx;
        let p = &self.pipelines;
        let spot_query = self.spot_query;
        let f = self.frame.as_mut().expect("resources built");
        if spot_query.is_some() {
            row_maps(&ctx.device, p, f);
        }
        // Counted apart, and kept only when the frame is done (a frame that fails leaves the last one's).
        let traffic = std::cell::RefCell::new(Traffic::default());

        // Upload: NIR as packed u16, white light as packed RGB8, straight from the frames when their sizes
        // are whole words (any even pixel count for the NIR, a multiple of four for the white light), else
        // through a padded copy.
        let upload = |buf: &wgpu::Buffer, bytes: &[u8], scratch: &mut Vec<u8>| upload_words(&ctx.queue, buf, bytes, scratch);
        upload(&f.nir_in, bytemuck::cast_slice(nir.data), &mut f.upload);
        // The white light goes as its glint bits (the threshold's glint test), and its drawn tiles with the
        // composite.
        glint_bits(wl, self.params.glint_level, &mut f.glint_words);
        ctx.queue.write_buffer(&f.glint, 0, bytemuck::cast_slice(&f.glint_words));
        traffic.borrow_mut().add("upload", f.nir_in.size() + f.glint.size(), 0);

        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        // The statistics records need no clear: `assign_ids` zeroes each component's.
        for b in [&f.table, &f.level] {
            enc.clear_buffer(b, 0, None);
            traffic.borrow_mut().add("clear", b.size(), 0);
        }
        // The root bits (the labelling sets and clears them); `assign_ids` writes every word's first id.
        let bits_bytes = (bits_words(w, h) * 4) as u64;
        enc.clear_buffer(&f.root_bits, 0, Some(bits_bytes));
        traffic.borrow_mut().add("clear", bits_bytes, 0);
        // The cores' boxes and the count of tiles near them (`activate` writes every tile's word).
        enc.clear_buffer(&f.near, 0, Some(NEAR_HEAD_BYTES));
        traffic.borrow_mut().add("clear", NEAR_HEAD_BYTES, 0);
        // The hysteresis's count of tiles with a low pixel on their perimeter (`local_low` writes every flag).
        enc.clear_buffer(&f.low_tiles, 0, Some(4));
        traffic.borrow_mut().add("clear", 4, 0);
        // The composite's indirect dispatch (mark_coreless raises it as it lists the drawn tiles).
        let dispatch_at = (drawn::dispatch(w, h) * 4) as u64;
        enc.clear_buffer(&f.drawn, dispatch_at, Some(12));
        traffic.borrow_mut().add("clear", 12, 0);
        let t = tiles(w, h);
        let gp = f.params;
        // Bytes a component this frame's dispatches may move, per stage (counted once the count is read).
        let per_component = std::cell::RefCell::new([0u64; STAGE_NAMES.len()]);
        let per_local_root = std::cell::RefCell::new([0u64; STAGE_NAMES.len()]);
        // And as if every tile were near a core (scaled once their count is read).
        let per_near = std::cell::RefCell::new([0u64; STAGE_NAMES.len()]);
        let per_marked = std::cell::RefCell::new([0u64; STAGE_NAMES.len()]);
        let per_low = std::cell::RefCell::new([0u64; STAGE_NAMES.len()]);
        let per_roi = std::cell::RefCell::new([0u64; STAGE_NAMES.len()]);
        let per_spot_row = std::cell::RefCell::new([0u64; STAGE_NAMES.len()]);
        let run_stage = |enc: &mut wgpu::CommandEncoder, k: usize, dispatches: &[FrameDispatch<'_>]| {
            let timestamp_writes = f.timestamps.as_ref().map(|(qs, _, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(2 * k as u32),
                end_of_pass_write_index: Some(2 * k as u32 + 1),
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(STAGE_NAMES[k]), timestamp_writes });
            for ((pipe, entry), bg, (x, y, z)) in dispatches {
                pass.set_pipeline(pipe);
                pass.set_bind_group(0, Some(&bg.group), &[]);
                pass.dispatch_workgroups(*x, *y, *z);
                traffic.borrow_mut().add(STAGE_NAMES[k], bg.bytes[*entry], 1);
                per_component.borrow_mut()[k] += bg.per_component[*entry];
                per_local_root.borrow_mut()[k] += bg.per_local_root[*entry];
                per_near.borrow_mut()[k] += bg.near_bytes[*entry];
                per_marked.borrow_mut()[k] += bg.marked_bytes[*entry];
                per_low.borrow_mut()[k] += bg.low_bytes[*entry];
                per_roi.borrow_mut()[k] += bg.roi_bytes[*entry];
                per_spot_row.borrow_mut()[k] += bg.spot_row_bytes[*entry];
            }
        };
        let np = &p.normalize;
        run_stage(&mut enc, 0, &[
            (np.get("block_median"), &f.bg_normalize, (gp.grid_w, gp.grid_h, 1)),
            (np.get("fit_background"), &f.bg_normalize, (1, 1, 1)),
            (np.get("normalize"), &f.bg_normalize, t),
        ]);
        let tp = &p.threshold;
        let tb = &f.bg_threshold;
        let cp = &p.components;
        let cb = &f.bg_components;
        let mp = &p.morphology;
        let mb = &f.bg_morphology;
        let hysteresis = self.params.hysteresis();
        // The level from the ratio histogram (counted by the normalize pass).
        let level_pass = (tp.get("fluo_level"), tb, (1, 1, 1));
        if hysteresis {
            // The cut at the hysteresis level, its 8-connected components (tiles in workgroup memory, then
            // their borders' union-find), each border root marked when its component holds a pixel at the
            // level (hysteresis.wgsl).
            let (hp, hb) = (&p.hysteresis, &f.bg_hysteresis);
            run_stage(&mut enc, 1, &[
                level_pass,
                (hp.get("local_low"), hb, t),
                (hp.get("merge_low"), hb, t),
                (hp.get("mark_strong"), hb, t),
            ]);
        } else {
            run_stage(&mut enc, 1, &[level_pass]);
        }
        // The cut (kept where marked, with hysteresis), the opening (3×3) and the closing (5×5) in one
        // pass, a 16×52 tile a workgroup.
        let clean = if hysteresis { "clean_mask_strong" } else { "clean_mask" };
        run_stage(&mut enc, 2, &[(mp.get(clean), mb, mask_tiles(w, h))]);
        // Tiles in workgroup memory, then the tile borders (the two keep each row's count of roots), then
        // dense ids for the roots (a prefix sum in raster order), then labels (both classes in each pass: their pixels are disjoint, so they share
        // one parent array, which `compress` turns into their labels).
        run_stage(&mut enc, 3, &[
            (cp.get("local_merge"), cb, t),
            (cp.get("merge"), cb, t),
            (cp.get("scan_rows"), cb, (1, 1, 1)),
            (cp.get("assign_ids"), cb, (h as u32, 1, 1)),
            (cp.get("compress"), cb, t),
        ]);
        let ids = (COMPONENT_GROUPS, 1, 1);
        let rp = &p.regions;
        let gb = &f.bg_regions;
        run_stage(&mut enc, 4, &[(rp.get("select_cores"), gb, ids), (rp.get("assign_cores"), gb, ids)]);
        let dp = &p.distance;
        run_stage(&mut enc, 5, &[
            // One invocation a word of seeds (four pixels).
            // The tiles near the cores' boxes (assign_cores wrote them); the seeds and the field on
            // those tiles only.
            (dp.get("activate"), &f.bg_distance, near_groups(w, h)),
            (dp.get("write_seeds"), &f.bg_distance, tiles(w.div_ceil(4), h)),
            (dp.get("columns"), &f.bg_distance, column_groups(w, h)),
            (dp.get("rows"), &f.bg_distance, row_groups(w, h)),
        ]);
        let up = &p.reduce;
        let rb = &f.bg_reduce;
        run_stage(&mut enc, 6, &[
            (up.get("select_diffuse"), rb, ids),
            (up.get("assign_diffuse"), rb, ids),
            (up.get("mark_coreless"), rb, near_groups(w, h)),
            (up.get("lesion_stats"), rb, t),
            (up.get("levels"), rb, (1, 1, 1)),
            (up.get("subpixel"), rb, t),
        ]);
        // The check's candidate spots (spots.wgsl) and the maps within their reach (spot_rows.wgsl),
        // read back with the table: as many words as the last frame's, an eighth more and
        // SPOT_WORDS_SLACK; a frame with
        // more reads the rest below.
        let spot_words_capacity = f.spot_words_capacity.min(spot_row_words(w) * h);
        if let Some(q) = spot_query {
            write_spot_head(&ctx.queue, &f.spot_table, &q);
            traffic.borrow_mut().add("upload", (spots::HEAD * 4) as u64, 0);
            let (clears, dispatches) = spot_stage(p, f);
            for (buf, range) in &clears {
                enc.clear_buffer(buf, range.start, Some(range.end - range.start));
                traffic.borrow_mut().add("clear", range.end - range.start, 0);
            }
            run_stage(&mut enc, SPOTS_STAGE, &dispatches);
            // The table, then the rows' places and the count of words copied.
            enc.copy_buffer_to_buffer(&f.spot_table, 0, &f.spot_read, 0, f.spot_table.size());
            enc.copy_buffer_to_buffer(&f.spot_rows, 0, &f.spot_read, f.spot_table.size(), f.spot_rows.size());
            let row_bytes = (spot_words_capacity * 4) as u64;
            let rows = f.row_maps.as_ref().expect("made above");
            enc.copy_buffer_to_buffer(&rows.maps, 0, &rows.read, 0, row_bytes);
            traffic.borrow_mut().add("readback", 2 * (f.spot_table.size() + f.spot_rows.size() + row_bytes), 0);
        }
        // The composite's marks on the drawn tiles, a workgroup a tile (the class map too when asked for).
        let composite_entry = p.composite.get(if want_classes { "composite_classes" } else { "composite" });
        {
            let k = COMPOSITE_STAGE as u32;
            let timestamp_writes = f.timestamps.as_ref().map(|(qs, _, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(2 * k),
                end_of_pass_write_index: Some(2 * k + 1),
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("composite"), timestamp_writes });
            pass.set_pipeline(composite_entry.0);
            pass.set_bind_group(0, Some(&f.bg_composite.group), &[]);
            pass.dispatch_workgroups_indirect(&f.drawn, dispatch_at);
        }
        traffic.borrow_mut().add("composite", f.bg_composite.bytes[composite_entry.1], 1);
        // The marks (and classes) of as many drawn tiles as the last frame had and an eighth more, read
        // and written once each; a frame with more reads the rest below.
        let tiles_n = near::tiles(w, h);
        let capacity = f.marks_capacity.min(tiles_n);
        let copy = |enc: &mut wgpu::CommandEncoder, from: &wgpu::Buffer, to: &wgpu::Buffer, range: std::ops::Range<usize>, traffic: &mut Traffic| {
            enc.copy_buffer_to_buffer(from, range.start as u64, to, range.start as u64, range.len() as u64);
            traffic.add("readback", 2 * range.len() as u64, 0);
        };
        copy(&mut enc, &f.marks, &f.marks_read, 0..capacity * TILE_PIXELS * 4, &mut traffic.borrow_mut());
        if want_classes {
            copy(&mut enc, &f.classes, &f.classes_read, 0..capacity * TILE_PIXELS, &mut traffic.borrow_mut());
        }

        enc.copy_buffer_to_buffer(&f.level, (LEVEL_BINS * 4) as u64, &f.table, (table::FLUO_LEVEL * 4) as u64, 12);
        const _: () = assert!(
            near::COUNT_MARKED == near::COUNT + 1
                && near::COUNT_DRAWN == near::COUNT + 2
                && table::MARKED_TILES == table::NEAR_TILES + 1
                && table::DRAWN_TILES == table::NEAR_TILES + 2
        );
        enc.copy_buffer_to_buffer(&f.near, (near::COUNT * 4) as u64, &f.table, (table::NEAR_TILES * 4) as u64, 12);
        enc.copy_buffer_to_buffer(&f.low_tiles, 0, &f.table, (table::LOW_TILES * 4) as u64, 4);
        enc.copy_buffer_to_buffer(&f.table, 0, &f.table_read, 0, (table::WORDS * 4) as u64);
        // The list of the tiles drawn (its count in the table), to lay their marks.
        enc.copy_buffer_to_buffer(&f.drawn, (tiles_n * 4) as u64, &f.drawn_read, 0, (tiles_n * 4) as u64);
        traffic.borrow_mut().add("readback", 2 * (tiles_n * 4) as u64, 0);
        traffic.borrow_mut().add("readback", 24 + 24 + 8 + 2 * (table::WORDS * 4) as u64, 0);
        if let Some((qs, resolve, read)) = &f.timestamps {
            let queries = 2 * STAGE_NAMES.len() as u32;
            enc.resolve_query_set(qs, 0..queries, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, queries as u64 * 8);
        }
        ctx.submit(enc.finish());

        let mut to_map: Vec<&wgpu::Buffer> = vec![&f.table_read, &f.drawn_read, &f.marks_read];
        if want_classes {
            to_map.push(&f.classes_read);
        }
        if spot_query.is_some() {
            to_map.push(&f.spot_read);
            to_map.push(&f.row_maps.as_ref().expect("made above").read);
        }
        if let Some((_, _, read)) = &f.timestamps {
            to_map.push(read);
        }
        // Everything the submission read back is copied out and unmapped before any of it is judged, so
        // that no error below leaves a buffer mapped.
        let (t_words, drawn_words, spot_words, ticks) = read_mapped(ctx, &to_map, || {
            let t_words = mapped_words(&f.table_read)?;
            let drawn_words = mapped_words(&f.drawn_read)?;
            let read = (t_words[table::DRAWN_TILES] as usize).min(tiles_n).min(capacity);
            f.mark_words.clear();
            f.class_bytes.clear();
            append_mapped(&f.marks_read, 0..read * TILE_PIXELS * 4, &mut f.mark_words)?;
            if want_classes {
                append_mapped(&f.classes_read, 0..read * TILE_PIXELS, &mut f.class_bytes)?;
            }
            f.row_words.clear();
            let spot_words = match spot_query {
                Some(_) => {
                    let spot_words = mapped_words(&f.spot_read)?;
                    let read = (spot_words[spots::buffer_words() + spots::rows_total(h)] as usize).min(spot_words_capacity);
                    append_mapped(&f.row_maps.as_ref().expect("made above").read, 0..read * 4, &mut f.row_words)?;
                    Some(spot_words)
                }
                None => None,
            };
            let mut ticks: Vec<u64> = Vec::new();
            if let Some((_, _, read)) = &f.timestamps {
                append_mapped(read, 0..read.size() as usize, &mut ticks)?;
            }
            Ok((t_words, drawn_words, spot_words, ticks))
        })?;
        // And the spots' share of the tiles: those with a spot pixel on their perimeter, those of the ROI.
        let (mut spot_share, mut roi_share, mut rows_share) = (0.0, 0.0, 0.0);
        let spot_found = match (spot_query, spot_words) {
            (Some(q), Some(spot_words)) => {
                let tiles_n = near::tiles(w, h) as f64;
                spot_share = spot_words[spots::TILES] as f64 / tiles_n;
                let span = |a: usize, len: usize| ((a + len).div_ceil(16) - a / 16) as f64;
                roi_share = span(q.roi.x, q.roi.w) * span(q.roi.y, q.roi.h) / tiles_n;
                let rows = &spot_words[spots::buffer_words()..];
                let copied = rows[spots::rows_total(h)] as usize;
                rows_share = copied as f64 / (spot_row_words(w) * h) as f64;
                let found = spots_from_table(&spot_words, &q);
                if let Some(found) = &found {
                    // The spans the candidates' evidence reads, and where the GPU copied each.
                    let spans = spot_spans(found, w, h);
                    #[cfg(not(test))]
                    let fault = 0;
                    #[cfg(test)]
                    let fault = self.spans_fault;
                    let places = span_places(rows, &spans, fault)?;
                    if copied > spot_words_capacity {
                        // More words than read back: the rest, in a submission of its own.
                        let rows = f.row_maps.as_ref().expect("made above");
                        let dst = &rows.read;
                        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("spot spans") });
                        let (from, to) = ((spot_words_capacity * 4) as u64, (copied * 4) as u64);
                        enc.copy_buffer_to_buffer(&rows.maps, from, dst, from, to - from);
                        traffic.borrow_mut().add("readback", 2 * (to - from), 0);
                        ctx.submit(enc.finish());
                        // All of them again: a mapped range starts at a multiple of 8 bytes.
                        f.row_words.clear();
                        read_mapped(ctx, &[dst], || append_mapped(dst, 0..to as usize, &mut f.row_words))?;
                    }
                    // Laid into the maps kept from frame to frame: elsewhere they hold what earlier frames left.
                    let maps = spot_maps(&mut f.spot_maps, w, h);
                    lay_spans(&f.row_words, &spans, &places, Arc::make_mut(&mut maps.0), Arc::make_mut(&mut maps.1));
                }
                f.spot_words_capacity = copied + copied / 8 + SPOT_WORDS_SLACK;
                found.map(|found| (q, found))
            }
            _ => None,
        };
        let components = t_words[table::COMPONENTS] as u64;
        let local_roots = t_words[table::LOCAL_ROOTS] as u64;
        for (k, (bytes, root_bytes)) in per_component.into_inner().iter().zip(per_local_root.into_inner()).enumerate() {
            let bytes = components * bytes + local_roots * root_bytes;
            if bytes > 0 {
                traffic.borrow_mut().add(STAGE_NAMES[k], bytes, 0);
            }
        }
        f.components = Some(t_words[table::COMPONENTS] as usize);
        f.near_share = t_words[table::NEAR_TILES] as f64 / near::tiles(w, h) as f64;
        let marked_share = t_words[table::MARKED_TILES] as f64 / near::tiles(w, h) as f64;
        f.drawn_count = (t_words[table::DRAWN_TILES] as usize).min(tiles_n);
        f.drawn_list = drawn_words;
        f.drawn_list.truncate(f.drawn_count);
        let drawn_n = f.drawn_count;
        if drawn_n > capacity {
            // More tiles drawn than read back: the rest, in a submission of its own.
            let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("marks") });
            let mut t = traffic.borrow_mut();
            copy(&mut enc, &f.marks, &f.marks_read, capacity * TILE_PIXELS * 4..drawn_n * TILE_PIXELS * 4, &mut t);
            if want_classes {
                copy(&mut enc, &f.classes, &f.classes_read, capacity * TILE_PIXELS..drawn_n * TILE_PIXELS, &mut t);
            }
            ctx.submit(enc.finish());
            let mut to_map = vec![&f.marks_read];
            if want_classes {
                to_map.push(&f.classes_read);
            }
            read_mapped(ctx, &to_map, || {
                append_mapped(&f.marks_read, capacity * TILE_PIXELS * 4..drawn_n * TILE_PIXELS * 4, &mut f.mark_words)?;
                if want_classes {
                    append_mapped(&f.classes_read, capacity * TILE_PIXELS..drawn_n * TILE_PIXELS, &mut f.class_bytes)?;
                }
                Ok(())
            })?;
        }
        f.marks_capacity = drawn_n + drawn_n / 8 + 16;
        // The composite's reads and writes on the drawn tiles (and the field and seeds near the cores).
        let drawn_share = drawn_n as f64 / tiles_n as f64;
        let k = composite_entry.1;
        let composite_bytes = f.bg_composite.near_bytes[k] as f64 * f.near_share + f.bg_composite.drawn_bytes[k] as f64 * drawn_share;
        traffic.borrow_mut().add("composite", composite_bytes.ceil() as u64, 0);
        let low_share = t_words[table::LOW_TILES] as f64 / near::tiles(w, h) as f64;
        let per_spot_row = per_spot_row.into_inner();
        for (k, (low_bytes, roi_bytes)) in per_low.into_inner().iter().zip(per_roi.into_inner()).enumerate() {
            let share = if k == SPOTS_STAGE { spot_share } else { low_share };
            let bytes = (*low_bytes as f64 * share + roi_bytes as f64 * roi_share + per_spot_row[k] as f64 * rows_share).ceil() as u64;
            if bytes > 0 {
                traffic.borrow_mut().add(STAGE_NAMES[k], bytes, 0);
            }
        }
        for (k, (near_bytes, marked_bytes)) in per_near.into_inner().iter().zip(per_marked.into_inner()).enumerate() {
            let bytes = (*near_bytes as f64 * f.near_share + marked_bytes as f64 * marked_share).ceil() as u64;
            if bytes > 0 {
                traffic.borrow_mut().add(STAGE_NAMES[k], bytes, 0);
            }
        }
        let mut timings = StageTimings::default();
        if f.timestamps.is_some() {
            let period = ctx.timestamp_period_ns as f64;
            for (k, name) in STAGE_NAMES.iter().enumerate() {
                if k == SPOTS_STAGE && spot_query.is_none() {
                    continue;
                }
                let dt = ticks[2 * k + 1].saturating_sub(ticks[2 * k]) as f64 * period / 1e6;
                timings.push(&format!("gpu_{name}"), dt);
            }
        }
        timings.push("gpu_frame", started.elapsed().as_secs_f64() * 1e3);
        let fl = |k: usize| f32::from_bits(t_words[table::FLUO_LEVEL + k]);
        let background = FluoLevel { level: fl(0), mode: fl(1), noise: fl(2), edge_noise: 0.0 };
        let n_cores = (t_words[0] as usize).min(MAX_CORES);
        let truncated = t_words[0] as usize > MAX_CORES || t_words[1] as usize > MAX_DIFFUSE;
        self.slot_labels = (0..n_cores).map(|s| t_words[table::HEADER + s * table::STRIDE + table::LABEL]).collect();
        self.want_classes = want_classes;
        self.pending = true;
        self.spot_found = spot_found;
        f.traffic = traffic.into_inner();
        Ok(Segmentation { lesions: lesions_from_table(&t_words), truncated, background, timings })
    }

    fn pixel_maps(&mut self) -> Result<PixelMaps> {
        let ctx = &self.ctx;
        let f = self.frame.as_mut().ok_or_else(|| anyhow!("no frame analysed yet"))?;
        if let Some((ratio, mask)) = &f.maps_cached {
            return Ok((ratio.clone(), mask.clone()));
        }
        let ratio_bytes = ratio_words(f.width, f.height) * 4;
        let mask_bytes = mask_words(f.width, f.height) * 4;
        maps_read(&ctx.device, f);
        let (rr, mr) = f.maps_read.as_ref().expect("made");
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pixel maps") });
        enc.copy_buffer_to_buffer(&f.ratio, 0, rr, 0, ratio_bytes as u64);
        enc.copy_buffer_to_buffer(&f.mask, 0, mr, 0, mask_bytes as u64);
        ctx.submit(enc.finish());
        map_checked(ctx, &[rr, mr])?;
        let ratio = unpack_ratio(&words(rr)?, f.width, f.height);
        // Rows of the packed mask are padded to whole words: take each row's first `width` bytes.
        let packed = words(mr)?;
        let bytes: &[u8] = bytemuck::cast_slice(&packed);
        let stride = f.width.div_ceil(4) * 4;
        let mask: Vec<u8> = bytes.chunks_exact(stride).flat_map(|row| row[..f.width].iter().copied()).collect();
        let maps = (Arc::new(ratio), Arc::new(Plane { width: f.width, height: f.height, data: mask }));
        f.maps_cached = Some(maps.clone());
        Ok(maps)
    }

    fn fluo_labels(&mut self) -> Result<Arc<Plane<u32>>> {
        if let Some(labels) = self.frame.as_ref().and_then(|f| f.labels_cached.clone()) {
            return Ok(labels);
        }
        let labels = Arc::new(self.component_labels()?.1);
        self.frame.as_mut().expect("labels read back").labels_cached = Some(labels.clone());
        Ok(labels)
    }

    fn set_spot_query(&mut self, query: Option<SpotQuery>) {
        self.spot_query = query;
    }

    /// The candidates found with the segmentation, and the maps within their reach, read back with
    /// it: no GPU work here. A query the segmentation was not asked, or a frame with more components than
    /// the spot table holds, has none (the caller finds them on the whole maps, as on the CPU).
    fn spots(&mut self, query: &SpotQuery) -> Result<Option<(Vec<Spot>, PixelMaps)>> {
        let found = match self.spot_found.take() {
            Some((asked, found)) if asked == *query => found,
            _ => return Ok(None),
        };
        let f = self.frame.as_mut().ok_or_else(|| anyhow!("no frame analysed yet"))?;
        let (w, h) = (f.width, f.height);
        let maps = spot_maps(&mut f.spot_maps, w, h);
        Ok(Some((found, (maps.0.clone(), maps.1.clone()))))
    }

    /// `wl`: the segmented frame's white light, which the drawn tiles are laid over. No GPU work: the
    /// marks came back with the segmentation; they are coloured here by the styles (`gpu::marks`).
    fn composite(&mut self, wl: RgbView<'_>, styles: &[LesionStyle]) -> Result<Composite> {
        let started = Instant::now();
        // One composite a segment: the marks are those of the last segmented frame.
        if !std::mem::take(&mut self.pending) {
            bail!("GPU composite without a new segmented frame");
        }
        let f = self.frame.as_mut().ok_or_else(|| anyhow!("no frame analysed yet"))?;
        let (w, h) = (f.width, f.height);
        let n = w * h;
        if (wl.width, wl.height) != (w, h) || wl.data.len() < 3 * n {
            bail!("GPU composite: the white light is {}x{}, the segmented frame {w}x{h}", wl.width, wl.height);
        }
        // The processor's style table, placed by slot: a word for each styled core, 0 (not drawn) else.
        let mut words_by_slot = [0u32; MAX_CORES];
        for (slot, label) in self.slot_labels.iter().enumerate() {
            if let Some(st) = styles.iter().find(|st| st.label == *label) {
                words_by_slot[slot] = st.word();
            }
        }
        // The drawn tiles finished and laid over the white light (elsewhere the overlay is the white
        // light), and over a class map of background (the drawn tiles hold every pixel of another class).
        let list = &f.drawn_list[..];
        let mut overlay = RgbFrame::from_vec(w, h, wl.data[..3 * n].to_vec())?;
        marks::finish_tiles(wl.data, w, h, list, &f.mark_words, &words_by_slot, f.params.margins_px(), &mut f.upload);
        lay_tiles(&mut overlay.data, w, h, 3, list, &f.upload);
        let classes = self.want_classes.then(|| {
            let mut c = Plane { width: w, height: h, data: vec![0u8; n] };
            lay_tiles(&mut c.data, w, h, 1, list, &f.class_bytes);
            resolve_classes(&mut c.data, &words_by_slot);
            c
        });
        let mut timings = StageTimings::default();
        timings.push("gpu_composite_marks", started.elapsed().as_secs_f64() * 1e3);
        Ok(Composite { overlay, classes, timings })
    }

    fn traffic(&self) -> Option<Traffic> {
        self.frame.as_ref().map(|f| f.traffic.clone())
    }

    fn destroy_device(&mut self) -> bool {
        self.ctx.destroy_device();
        true
    }
}

/// The class map's bytes as composite.wgsl writes them (`prelude::class_byte`: a core or rim pixel's
/// core slot above its class) resolved against the style table (`words_by_slot`, 0 where the lesion is
/// not drawn): a core of a lesion not drawn is background, its rim other fluorescence, as the CPU
/// backend's class map has them (`reference::class_map` of the cores drawn).
fn resolve_classes(bytes: &mut [u8], words_by_slot: &[u32; MAX_CORES]) {
    use super::prelude::class_byte::{CLASS_MASK, SLOT_SHIFT};
    use crate::analysis::class;
    for b in bytes {
        let (c, drawn) = (*b & CLASS_MASK, words_by_slot[(*b >> SLOT_SHIFT) as usize] != 0);
        *b = match c {
            class::CORE if !drawn => class::BACKGROUND,
            class::RIM if !drawn => class::OTHER,
            c => c,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check frame that fails after its readback was mapped (the spans' count forced off by a word)
    /// leaves the analyzer usable: the next frame is analysed, with the same lesions, spots, maps and
    /// overlay as before the failure (a buffer left mapped would fail its copy).
    #[test]
    fn a_check_frame_that_fails_leaves_the_analyzer_usable() {
        use crate::analysis::Roi;
        use crate::phantom::{PhantomConfig, SceneOptions, render};
        let ctx = match GpuContext::new() {
            Ok(c) => c,
            Err(e) if std::env::var("NIRF_REQUIRE_GPU").as_deref() == Ok("1") => panic!("NIRF_REQUIRE_GPU=1 but no adapter: {e:#}"),
            Err(e) => return eprintln!("SKIPPED: no GPU adapter ({e:#})"),
        };
        let mut gpu = GpuAnalyzer::with_context(ctx, AnalysisParams::with_scale(0.1).without_cpu_only_stages()).unwrap();
        let (w, h) = (320, 240);
        let cfg = PhantomConfig { width: w, height: h, frames: 1, seed: 951, mm_per_px: 0.1, options: SceneOptions::cut_surface(1..=4), ..Default::default() };
        let r = render(&cfg.scene(), 0);
        let query = SpotQuery { roi: Roi::central(w, h), min_tbr: 1.5, min_area: 50 };
        gpu.set_spot_query(Some(query));
        let analyse = |gpu: &mut GpuAnalyzer| -> Result<_> {
            let s = gpu.segment((&r.wl).into(), (&r.nir).into(), true)?;
            let c = gpu.composite((&r.wl).into(), &[])?;
            let (spots, (ratio, mask)) = gpu.spots(&query)?.expect("spots with the segmentation");
            Ok((s.lesions, spots, ratio.data.clone(), mask.data.clone(), c.overlay.data, c.classes))
        };
        let before = analyse(&mut gpu).unwrap();
        assert!(!before.1.is_empty(), "the scene has candidate spots");
        gpu.spans_fault = 1;
        let err = gpu.segment((&r.wl).into(), (&r.nir).into(), true).unwrap_err();
        assert!(format!("{err:#}").contains("around the check's spots"), "{err:#}");
        assert!(gpu.spots(&query).unwrap().is_none(), "no spots from the failed frame");
        gpu.spans_fault = 0;
        let after = analyse(&mut gpu).unwrap();
        assert!(before == after, "the frame after the failure differs from the one before it");
    }

    /// The glint bits are `is_glint`'s answer, pixel for pixel, at the levels' extremes and on widths
    /// that are not whole words; the padding's bits are clear.
    #[test]
    fn glint_bits_are_is_glints_answers() {
        use crate::analysis::is_glint;
        let mut seed = 7u64;
        let mut byte = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = (seed >> 56) as u8;
            // Many values at and around the levels tried.
            if v > 160 { 250 + v % 6 } else { v }
        };
        let data: Vec<u8> = (0..3 * 203 * 117).map(|_| byte()).collect();
        let mut bits = Vec::new();
        for (w, h) in [(203usize, 117usize), (64, 3), (33, 5), (1, 7), (31, 2)] {
            for level in [0u8, 1, 128, 250, 251, 255] {
                let wl = RgbView { width: w, height: h, data: &data[..3 * w * h] };
                glint_bits(wl, level, &mut bits);
                let stride = w.div_ceil(32);
                assert_eq!(bits.len(), stride * h);
                for y in 0..h {
                    for x in 0..stride * 32 {
                        let got = bits[y * stride + x / 32] >> (x % 32) & 1 == 1;
                        let want = x < w && is_glint(&data[3 * (y * w + x)..][..3], level);
                        assert_eq!(got, want, "{w}x{h} level {level} at ({x},{y})");
                    }
                }
            }
        }
    }
}
