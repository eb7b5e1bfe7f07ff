// common.wgsl — prepended to every stage, after the prelude generated from Rust (src/gpu/prelude.rs: the
// shared constants, the lesion table's layout T_*, the palette). The uniform mirrors `GpuParams` in
// src/gpu/uniforms.rs (a test checks its members against naga's reflection).

struct Params {
    width: u32,
    height: u32,
    block: u32,
    grid_w: u32,
    grid_h: u32,
    dist_bound_i: u32,
    glint_level: u32,
    n_margins: u32,
    fluo_ratio: f32,
    core_max_ratio: f32,
    min_core_area: f32,
    rim_search_px: f32,
    min_diffuse_area: f32,
    min_diffuse_compactness: f32,
    dist_bound: f32,
    fluo_low_ratio: f32,
    sharp_grad_px: f32,
    fluo_noise_sigmas: f32,
    partial_core_max_ratio: f32,
    fluo_low_sigmas: f32,
    margins: vec4<f32>,
}

@group(0) @binding(0) var<uniform> P: Params;

// Lesion-table header words: 0 cores, 1 diffuse lesions (all found, beyond the table too), then the
// fluorescence level, background mode and noise (f32 bits, copied from the level buffer after the
// threshold stage) at T_FLUO_LEVEL.

// Per-component statistics, STATS_STRIDE words a component at stats_base(id), indexed by the dense
// component id (label - 1: components.wgsl's assign_ids numbers the roots of both classes in raster
// order and zeroes their records, so a frame touches as many records as it has components; the table's
// T_COMPONENTS word holds how many): word 0 the area (AREA_MASK)
// with the FLAG_* bits above it; non-fluorescent roots: word 1 the fixed-point ratio sum, word 2 the
// lesion slot + 1 of a core that has one (assign_cores), else 0; fluorescent roots: word 1 boundary
// pixels, word 2 boundary pixels off the image edge whose ratio gradient is sharp, replaced for a coreless
// lesion (FLAG_CORELESS) by its slot + 1, or 0 beyond the table (assign_diffuse).
// (STATS_STRIDE, AREA_MASK and the FLAG_* bits: prelude, `gpu::prelude::record`.)

fn stats_base(root: u32) -> u32 {
    return STATS_STRIDE * root;
}

// A component's bands (word STATS_BANDS, compress): the frame cut into BANDS column bands
// and BANDS row bands; bit b for each column band b a pixel of it lies in, bit 16 + b for each row band
// (or'ed, so one word holds both extents). Column band b is the columns x with floor(x * BANDS / width)
// = b: [band_start(b, width), band_start(b + 1, width)).
fn bands_of(x: u32, y: u32) -> u32 {
    return (1u << (x * BANDS / P.width)) | (1u << (16u + y * BANDS / P.height));
}

fn band_start(b: u32, size: u32) -> u32 {
    return (b * size + BANDS - 1u) / BANDS;
}

// The box words (`gpu::prelude::near`: !x0, !y0, x1, y1) of a component from its bands (word STATS_BANDS)
// and its root (raster index): its first row, its columns and last row to whole bands.
fn band_box(bands: u32, root: u32) -> vec4<u32> {
    let cols = bands & 0xffffu;
    let rows = bands >> 16u;
    return vec4<u32>(~band_start(firstTrailingBit(cols), P.width), ~(root / P.width),
        band_start(firstLeadingBit(cols) + 1u, P.width), band_start(firstLeadingBit(rows) + 1u, P.height));
}
const NONE: u32 = 0xffffffffu;
// Component labels (components.wgsl): after the labelling, the labels array holds a word a tile-local root
// (a pixel's is its root's: labels.wgsl's `label_at`), 1 + the component's dense id (the rank of its root, its first pixel, in raster order among all roots of both
// classes; `roots` maps an id back to its root's raster index, the CPU's label - 1), with LABELLED (prelude)
// set, and FL_TAG set for a fluorescent pixel's component (8-connected), clear for a non-fluorescent
// one's (4-connected). ID_MASK leaves 1 + the id.

// The non-fluorescent label of a labels word (0 for a fluorescent pixel), the fluorescent one (0 for a
// non-fluorescent pixel): 1 + the dense id.
fn bg_label(l: u32) -> u32 {
    return select(l & ID_MASK, 0u, (l & FL_TAG) != 0u);
}

fn fl_label(l: u32) -> u32 {
    return select(0u, l & ID_MASK, (l & FL_TAG) != 0u);
}

// A union-find's parent word: the labelling's parent array (components.wgsl) holds a raster index a
// pixel; the hysteresis's border array (hysteresis.wgsl) a border slot a word, a root's word carrying
// STRONG_ROOT (prelude) when its component holds a pixel at the level (`mark_strong`). The index of a
// parent word:
fn parent_index(word: u32) -> u32 {
    return word & ~STRONG_ROOT;
}

// The hysteresis's border array (hysteresis.wgsl): LOW_SLOTS words a 16×16 tile, tiles in raster order;
// the word of representative `rep` (a border slot, from a low pixel's byte) of pixel (x, y)'s tile.
fn low_tiles_x() -> u32 {
    return (P.width + 15u) / 16u;
}

fn low_slot(x: u32, y: u32, rep: u32) -> u32 {
    return ((y >> 4u) * low_tiles_x() + (x >> 4u)) * LOW_SLOTS + rep;
}
// The composite's per-lesion style table (`analysis::style`, STYLE_* in the prelude): one word a core slot.
// Lesion table: T_HEADER words of counters, then one record of T_STRIDE words a slot, then the per-row
// counts at T_ROWS: cores (T_ROWS + y) and coreless lesions (T_ROWS + height + y) whose root lies in row
// y, counted by the selecting passes so that slots go by raster order of label; then at ids_base() the
// first dense component id of each row (height words) and the total.

fn ids_base() -> u32 {
    return T_ROWS + 2u * P.height;
}

fn slot_base(slot: u32) -> u32 {
    return T_HEADER + slot * T_STRIDE;
}

// The fluorescence mask: 8-bit values packed four a word, each row padded to whole words, so that a tile
// writes whole words (morphology.wgsl). Pixel (x, y) is byte x & 3 of word mask_index(x, y).
fn mask_stride() -> u32 {
    return (P.width + 3u) / 4u;
}

fn mask_index(x: u32, y: u32) -> u32 {
    return y * mask_stride() + (x >> 2u);
}

fn mask_byte(word: u32, x: u32) -> u32 {
    return (word >> (8u * (x & 3u))) & 255u;
}

// The labelled distance field (distance.wgsl): a word a pixel, the squared distance to the nearest core
// pixel within the bound above FIELD_SHIFT, that core's slot + 1 below (FIELD_VALUE); 0 beyond the bound.
fn field_dist(word: u32) -> f32 {
    return select(inf(), sqrt(f32(word >> FIELD_SHIFT)), (word & FIELD_VALUE) != 0u);
}

fn field_near(word: u32) -> u32 {
    return word & FIELD_VALUE;
}

// Core seeds (distance.wgsl): 8 bits a pixel in the mask's layout, a core pixel's slot + 1 (SEED_VALUE
// bits), or SEED_OUTSIDE on a non-fluorescent pixel of a border-touching or core-sized component.

// The ratio map (normalize.wgsl): a 16-bit code a pixel, the ratio times RATIO_STEPS rounded
// (`analysis::quantise_ratio`; RATIO_STEPS, RATIO_MAX from the prelude), two a word (pixel x in the half
// x & 1), each row padded to whole words. Each stage that binds it reads pixel (x, y) as
// ratio_decode(ratio[ratio_index(x, y)], x).
fn ratio_stride() -> u32 {
    return (P.width + 1u) / 2u;
}

fn ratio_index(x: u32, y: u32) -> u32 {
    return y * ratio_stride() + (x >> 1u);
}

fn ratio_decode(word: u32, x: u32) -> f32 {
    return f32((word >> (16u * (x & 1u))) & 0xffffu) * (1.0 / RATIO_STEPS);
}

// round() rounds ties to even, as `analysis::quantise_ratio`.
fn ratio_encode(r: f32) -> u32 {
    return u32(round(clamp(r, 0.0, RATIO_MAX) * RATIO_STEPS));
}

fn n_pixels() -> u32 {
    return P.width * P.height;
}

fn inf() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

fn is_border_px(x: u32, y: u32) -> bool {
    return x == 0u || y == 0u || x + 1u == P.width || y + 1u == P.height;
}

// Caliper directions for the Feret diameters: FERET_* in the prelude (`analysis::FERET_*`).
fn feret_word(x: u32, y: u32, k: u32) -> u32 {
    return u32(i32(floor((f32(x) * FERET_COS[k] + f32(y) * FERET_SIN[k]) * FERET_FIXED + 0.5)) + FERET_OFFSET);
}
