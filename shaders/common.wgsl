// common.wgsl — prepended to every stage. The uniform mirrors `GpuParams` in src/gpu/uniforms.rs and the
// constants mirror src/analysis.rs: keep them in sync (a test checks the struct size and the constants).

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
    _pad0: f32,
    sharp_grad_px: f32,
    fluo_noise_sigmas: f32,
    partial_core_max_ratio: f32,
    _pad: f32,
    margins: vec4<f32>,
}

@group(0) @binding(0) var<uniform> P: Params;

const LEVEL_BINS: u32 = 256u;
const LEVEL_LO: f32 = 0.5;
const LEVEL_SCALE: f32 = 256.0;
const MIN_LEVEL_SAMPLES: u32 = 64u;
// Lesion-table header words: 0 cores, 1 diffuse lesions, then the fluorescence level, background mode and
// noise (f32 bits, copied from the level buffer after the threshold stage).
const T_FLUO_LEVEL: u32 = 2u;
const RATIO_BIN: f32 = 0.05;
const RATIO_BINS: u32 = 200u;
const CORE_BIN: f32 = 0.01;
const CORE_BINS: u32 = 128u;
const THICKNESS_BIN: f32 = 0.25;
const THICKNESS_BINS: u32 = 512u;
const MAX_CORES: u32 = 64u;
const MAX_DIFFUSE: u32 = 32u;
const RATIO_FIXED: f32 = 256.0;
const COVERAGE_FIXED: f32 = 1024.0;
const FLAG_BORDER: u32 = 1u;
const FLAG_HAS_RIM: u32 = 2u;
// Per-root statistics: non-fluorescent roots at 3r (area, ratio sum, flags); fluorescent roots at
// fl_base(r) (area, boundary pixels, flags, sharp boundary pixels).
const FL_STRIDE: u32 = 4u;

fn fl_base(root: u32) -> u32 {
    return 3u * n_pixels() + FL_STRIDE * root;
}
const NONE: u32 = 0xffffffffu;
// The composite's per-lesion style table (mirrors `analysis::style`): one word a core slot.
const STYLE_DRAWN: u32 = 1u;
const STYLE_WARN: u32 = 2u;

// Lesion table: words 0..16 are counters (0: cores, 1: diffuse), then one record of T_STRIDE words a slot.
const T_LABEL: u32 = 0u;
const T_KIND: u32 = 1u;
const T_AREA: u32 = 2u;
const T_RIM_AREA: u32 = 3u;
const T_SX_LO: u32 = 4u;
const T_SX_HI: u32 = 5u;
const T_SY_LO: u32 = 6u;
const T_SY_HI: u32 = 7u;
const T_SUB_LO: u32 = 8u;
const T_SUB_HI: u32 = 9u;
const T_LEVEL: u32 = 10u;
const T_BAND: u32 = 11u;
const T_PARTIAL: u32 = 13u;
const T_OUTER: u32 = 14u;
const T_RATIO: u32 = 16u;
const T_CORE: u32 = 216u;
const T_THICK: u32 = 344u;
const T_FERET: u32 = 856u;
const T_EDGE: u32 = 888u;
const T_STRIDE: u32 = 1400u;
const T_HEADER: u32 = 16u;

fn slot_base(slot: u32) -> u32 {
    return T_HEADER + slot * T_STRIDE;
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

// Caliper directions for the Feret diameters (mirrors FERET_* in src/analysis.rs).
const FERET_DIRS: u32 = 16u;
const FERET_FIXED: f32 = 16.0;
const FERET_OFFSET: i32 = 1048576;
const FERET_COS = array<f32, 16>(1.0, 0.98078528, 0.923879533, 0.831469612, 0.707106781, 0.555570233, 0.382683432, 0.195090322, 0.0, -0.195090322, -0.382683432, -0.555570233, -0.707106781, -0.831469612, -0.923879533, -0.98078528);
const FERET_SIN = array<f32, 16>(0.0, 0.195090322, 0.382683432, 0.555570233, 0.707106781, 0.831469612, 0.923879533, 0.98078528, 1.0, 0.98078528, 0.923879533, 0.831469612, 0.707106781, 0.555570233, 0.382683432, 0.195090322);

fn feret_word(x: u32, y: u32, k: u32) -> u32 {
    return u32(i32(floor((f32(x) * FERET_COS[k] + f32(y) * FERET_SIN[k]) * FERET_FIXED + 0.5)) + FERET_OFFSET);
}
