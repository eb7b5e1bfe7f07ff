//! The WGSL prelude generated from Rust: every constant the shaders share with the CPU side (histogram
//! bins, fixed-point scales, table sizes, Feret directions, the composite's marks), the lesion table's layout
//! (`table`), the overlay palette and dash (`overlay::{palette, lines}`), each defined once here, in
//! `analysis` or in `overlay` and emitted as WGSL
//! `const`s ahead of `shaders/common.wgsl`. A shader that redefined one would fail naga's validation.

use std::fmt::Write;

use crate::analysis::{
    CORE_BIN, CORE_BINS, COVERAGE_FIXED, FERET_COS, FERET_DIRS, FERET_FIXED, FERET_OFFSET, FERET_SIN, LEVEL_BINS, LEVEL_LO, LEVEL_SCALE, LEVEL_SMOOTH,
    MAX_CORES, MAX_DIFFUSE, MIN_LEVEL_SAMPLES, RATIO_BIN, RATIO_BINS, RATIO_CODE_MAX, RATIO_FIXED, RATIO_MAX, RATIO_STEPS, THICKNESS_BIN, THICKNESS_BINS,
};
use crate::overlay::lines::DASH_PX;
use crate::overlay::palette;

/// Layout of the lesion table, in words: a header of counters, then one record a slot (cores first,
/// then coreless lesions), then per-row counts (`buffer_words`). Emitted as `T_*`.
pub mod table {
    use crate::analysis::{CORE_BINS, FERET_DIRS, MAX_CORES, MAX_DIFFUSE, RATIO_BINS, THICKNESS_BINS};

    /// Header: 0 cores found, 1 coreless lesions found (all of them, beyond the table too), then the
    /// fluorescence level, background mode and noise (f32 bits), then the frame's number of components
    /// (both classes: the dense ids handed out by `assign_ids`, components.wgsl).
    pub const HEADER: usize = 16;
    pub const FLUO_LEVEL: usize = 2;
    pub const COMPONENTS: usize = 5;
    /// The number of 16×16 tiles near a core (`near::COUNT`, copied in before the readback): what the
    /// passes restricted to them address (the traffic count).
    pub const NEAR_TILES: usize = 6;
    /// The number of tiles near a core or in a coreless lesion's box (`near::COUNT_MARKED`, copied in with
    /// `NEAR_TILES`): what lesion_stats addresses of the labels.
    pub const MARKED_TILES: usize = 7;
    /// The number of tiles the composite draws (`near::COUNT_DRAWN`, copied in with `NEAR_TILES`).
    pub const DRAWN_TILES: usize = 8;
    /// The number of tile-local roots (components.wgsl's compress writes a label for each): the words of
    /// the labels array written and read (the traffic count).
    pub const LOCAL_ROOTS: usize = 9;
    /// The number of tiles with a low pixel on their perimeter (hysteresis.wgsl's `low_tiles`, copied in
    /// before the readback): the tiles whose words of the border array the hysteresis addresses (the
    /// traffic count).
    pub const LOW_TILES: usize = 10;
    // A slot's record.
    pub const LABEL: usize = 0;
    pub const KIND: usize = 1;
    pub const AREA: usize = 2;
    pub const RIM_AREA: usize = 3;
    /// 64-bit sums as (lo, hi) words.
    pub const SX: usize = 4;
    pub const SY: usize = 6;
    pub const SUB: usize = 8;
    pub const LEVEL: usize = 10;
    pub const BAND: usize = 11;
    pub const PARTIAL: usize = 13;
    pub const OUTER: usize = 14;
    pub const RATIO: usize = 16;
    pub const CORE: usize = RATIO + RATIO_BINS;
    pub const THICK: usize = CORE + CORE_BINS;
    pub const FERET: usize = THICK + THICKNESS_BINS;
    pub const EDGE: usize = FERET + 2 * FERET_DIRS;
    pub const STRIDE: usize = EDGE + THICKNESS_BINS;
    pub const SLOTS: usize = MAX_CORES + MAX_DIFFUSE;
    /// The header and the slot records: what is read back.
    pub const WORDS: usize = HEADER + SLOTS * STRIDE;
    /// Then two counts a row (cores, coreless lesions) for the raster-order slots, then the first dense
    /// component id of each row and the total (`ids`: height + 1 words).
    pub const ROWS: usize = WORDS;

    /// Where the per-row first component ids start (`ids_base()` in common.wgsl).
    pub fn ids(height: usize) -> usize {
        ROWS + 2 * height
    }

    pub fn buffer_words(height: usize) -> usize {
        ids(height) + height + 1
    }
}

/// The tiles near a core (distance.wgsl's `activate`; `near_active` in near.wgsl) and those of the
/// coreless lesions (reduce.wgsl's `mark_coreless`): a box a lesion slot, by the table's slot numbers
/// (`BOX_WORDS` words: `!x0`, `!y0`, `x1`, `y1` of a box `[x0, x1) × [y0, y1)` holding the lesion, all 0
/// for a slot with none), the count of the tiles near a core at `COUNT`, that of the tiles marked either
/// way at `COUNT_MARKED`, that of the tiles the composite draws at `COUNT_DRAWN` (`drawn`), then from `TILES` on a word a 16×16 tile in raster order: bit `NEAR_CORE`
/// where the tile is within the distance bound + 2 of a core's box (and so of every pixel the distance
/// field can reach), bit `NEAR_CORELESS` where it meets a coreless lesion's box. Emitted as `NEAR_*`.
pub mod near {
    use crate::analysis::{MAX_CORES, MAX_DIFFUSE};

    pub const BOX_WORDS: usize = 4;
    pub const BOXES: usize = BOX_WORDS * (MAX_CORES + MAX_DIFFUSE);
    pub const COUNT: usize = BOXES;
    pub const COUNT_MARKED: usize = COUNT + 1;
    /// The number of tiles listed in the drawn buffer (`drawn`).
    pub const COUNT_DRAWN: usize = COUNT_MARKED + 1;
    pub const TILES: usize = COUNT_DRAWN + 1;
    pub const CORE: u32 = 1;
    pub const CORELESS: u32 = 2;

    /// 16×16 tiles of a `width`×`height` frame.
    pub fn tiles(width: usize, height: usize) -> usize {
        width.div_ceil(16) * height.div_ceil(16)
    }

    pub fn buffer_words(width: usize, height: usize) -> usize {
        TILES + tiles(width, height)
    }
}

/// The tiles the composite draws: a word a 16×16 tile in raster order, non-zero where the overlay can
/// differ from the white light through the fluorescence colour (a ratio over `TINT_FROM`: normalize.wgsl;
/// a fluorescent pixel: components.wgsl's compress), then the list of the tiles drawn (those, and the
/// tiles near a core: reduce.wgsl's mark_coreless), `near::COUNT_DRAWN` of them, in no set order. The
/// composite (composite.wgsl) shades the listed tiles only, into the overlay a tile after another, and
/// the CPU lays them over the white light: elsewhere the overlay is the white light as it is.
/// After the list, at `dispatch`, the composite's indirect dispatch (x, y, z workgroups: the list's
/// length in rows of at most `ROW_GROUPS` workgroups, `GpuAnalyzer`'s `composite_groups`), raised by
/// mark_coreless as it lists each tile (cleared a frame), so that the composite runs in the
/// segmentation's submission.
pub mod drawn {
    /// The ratio above which the fluorescence colour has any opacity (`overlay::lines::
    /// fluorescence_alpha`, checked below). Emitted as `TINT_FROM`.
    pub const TINT_FROM: f32 = 1.15;
    /// Workgroups a row of the composite's dispatch. Emitted as `DRAWN_ROW_GROUPS`.
    pub const ROW_GROUPS: usize = 32768;

    /// The word of the indirect dispatch's first argument.
    pub fn dispatch(width: usize, height: usize) -> usize {
        2 * super::near::tiles(width, height)
    }

    pub fn buffer_words(width: usize, height: usize) -> usize {
        dispatch(width, height) + 3
    }
}

/// The composite's mark of a drawn pixel (composite.wgsl writes one a pixel, a drawn tile after another;
/// `gpu::marks` finishes them on the CPU by the processor's style table, over the white light): all a
/// pixel's colour depends on but the white light and the styles, which the device sees neither of.
/// Bits from `ALPHA_SHIFT`: the fluorescence colour's opacity (`overlay::lines::fluorescence_alpha`) times
/// `ALPHA_SCALE`, rounded; `FL`: the pixel is fluorescent (the boundary is solid there); from
/// `SLOT_SHIFT`: `CORE` on a core pixel (tinted), else the nearest core's slot + 1 where one of its lines
/// (boundary or margin) has coverage, 0 where none has; from `LINE_SHIFT`: the nearest such line (0 the
/// boundary, 1 + m margin m); from `OFFSET_SHIFT`: the pixel's distance less that line's, times
/// `OFFSET_SCALE`, rounded, plus `OFFSET_ZERO` (so the CPU has the distance to 1/1024 px wherever a line
/// covers the pixel, every line's coverage from it). Emitted as `MARK_*`.
pub mod mark {
    pub const ALPHA_SHIFT: u32 = 0;
    pub const ALPHA_MASK: u32 = 0x3ff;
    pub const ALPHA_SCALE: f32 = 1536.0;
    pub const FL: u32 = 1 << 10;
    pub const SLOT_SHIFT: u32 = 11;
    pub const SLOT_MASK: u32 = 0x7f;
    pub const CORE: u32 = SLOT_MASK;
    pub const LINE_SHIFT: u32 = 18;
    pub const LINE_MASK: u32 = 0x7;
    pub const OFFSET_SHIFT: u32 = 21;
    pub const OFFSET_MASK: u32 = 0x7ff;
    pub const OFFSET_SCALE: f32 = 512.0;
    pub const OFFSET_ZERO: u32 = 768;
    /// A line has coverage from 1.5 px off it (`overlay::lines::line_alpha`).
    pub const LINE_REACH: f32 = 1.5;

    const _: () = assert!(0.65 * ALPHA_SCALE < ALPHA_MASK as f32 && ALPHA_MASK < FL && FL < 1 << SLOT_SHIFT, "the opacity fits under FL");
    const _: () = assert!(crate::analysis::MAX_CORES < CORE as usize && SLOT_MASK << SLOT_SHIFT < 1 << LINE_SHIFT, "a slot + 1 fits under CORE");
    const _: () = assert!(crate::params::MAX_MARGINS < LINE_MASK as usize && LINE_MASK << LINE_SHIFT < 1 << OFFSET_SHIFT, "a margin's line fits");
    const _: () = assert!(
        (OFFSET_ZERO as f32) >= LINE_REACH * OFFSET_SCALE && (OFFSET_ZERO as f32 + LINE_REACH * OFFSET_SCALE) < OFFSET_MASK as f32 && OFFSET_MASK as u64 * (1 << OFFSET_SHIFT) < 1 << 32,
        "an offset within the reach fits in the top bits"
    );
}

/// A pixel's byte of the class map as composite.wgsl writes it: the class (`analysis::class`) in the low
/// bits and, for a core or rim pixel, its core's slot above them; `GpuAnalyzer::composite` resolves the
/// slot against the style table (a lesion not drawn has no core and no rim in the mask). Emitted as
/// `CLASS_SLOT_SHIFT`.
pub mod class_byte {
    pub const SLOT_SHIFT: u32 = 2;
    pub const CLASS_MASK: u8 = (1 << SLOT_SHIFT) - 1;

    const _: () = assert!(crate::analysis::MAX_CORES <= 1 << (8 - SLOT_SHIFT), "a slot fits above the class");
    const _: () = assert!(crate::analysis::class::OTHER <= CLASS_MASK, "the classes fit under the slot");
}

/// A component's statistics record (common.wgsl: `stats_base`), indexed by dense component id: `STRIDE`
/// words; word 0 holds the area (`AREA_MASK`) and the flags above it. Emitted as `STATS_STRIDE`,
/// `AREA_MASK` and `FLAG_*`.
pub mod record {
    /// Four words: at 3840×2160 a record a pixel still fits the common 128 MiB binding limit.
    pub const STRIDE: usize = 4;
    /// A component's bands (compress): bit `b` where a pixel lies in column band `b`,
    /// bit `16 + b` in row band `b` (`BANDS` bands a side, `band_of` in components.wgsl), so that
    /// assign_cores can hand a core's box, to whole bands, to the distance stage without a word for each
    /// side (a record a pixel of four words fits 4K frames in a 128 MiB binding, not of six).
    pub const BANDS_WORD: usize = 3;
    pub const BANDS: usize = 16;
    /// Areas up to 2^27 - 1 pixels (frames are at most 8192 × 8192 = 2^26).
    pub const AREA_MASK: u32 = 0x07ff_ffff;
    /// A fluorescent component's record.
    pub const FLAG_FL: u32 = 0x0800_0000;
    pub const FLAG_BORDER: u32 = 0x1000_0000;
    pub const FLAG_HAS_RIM: u32 = 0x2000_0000;
    /// Set by the selecting passes: a core, a coreless lesion.
    pub const FLAG_CORE: u32 = 0x4000_0000;
    pub const FLAG_CORELESS: u32 = 0x8000_0000;
}

/// Workgroups (of 256 invocations) of the passes over dense component ids (select_cores, assign_cores,
/// select_diffuse, assign_diffuse): each invocation strides over the ids by 256 × this, so the dispatch
/// does not depend on the frame's component count, which stays on the GPU. Emitted as `COMPONENT_GROUPS`.
pub const COMPONENT_GROUPS: u32 = 64;

/// The bit of a component label (one word a pixel for both classes) that marks a fluorescent pixel's
/// component; emitted as `FL_TAG`.
pub const FL_TAG: u32 = 0x8000_0000;

// The normalize pass counts the level histogram in workgroup memory, a bin an invocation of its 16×16 tile.
const _: () = assert!(LEVEL_BINS == 256, "one level bin an invocation of normalize.wgsl's 16×16 tile");

/// The bit of a parent word (components.wgsl) that marks it a component label rather than a raster index:
/// `assign_ids` writes each root's label into its own word and `compress` every pixel's, so after the
/// labelling the parent array is the labels array (one word a pixel for both classes, no second buffer).
/// Raster indices and dense ids + 1 stay below it. Emitted as `LABELLED`; `ID_MASK` clears it and
/// `FL_TAG` from a label, leaving 1 + the dense id.
pub const LABELLED: u32 = 0x4000_0000;
pub const ID_MASK: u32 = !(FL_TAG | LABELLED);
const _: () = {
    let side = crate::frame::FrameSize::LIMITS.1;
    assert!(side * side < LABELLED as usize, "a raster index and a dense id + 1 stay under LABELLED");
};

/// The bit of a word of the hysteresis's border array (hysteresis.wgsl) that marks a root whose low-level
/// component holds a pixel at the level (`mark_strong`); slot indices stay below it. Emitted as
/// `STRONG_ROOT`.
pub const STRONG_ROOT: u32 = 0x8000_0000;
const _: () = {
    let side = crate::frame::FrameSize::LIMITS.1;
    assert!(side * side <= STRONG_ROOT as usize, "a raster index of the largest frame stays under STRONG_ROOT");
};

/// The bit of a low-level mask byte (written by hysteresis.wgsl's `local_low`) on a pixel whose tile-local
/// component holds a pixel at the level. Emitted as `STRONG_PX`.
pub const STRONG_PX: u32 = 2;

/// The hysteresis's border array (hysteresis.wgsl): a 16×16 tile's words (`LOW_SLOTS`), the first
/// `LOW_BORDER` a slot each for the pixels of the tile's perimeter, the next two a bit a slot. A low
/// pixel's byte holds its tile-local component's representative (a slot, or `LOW_NO_REP`) above
/// `LOW_REP_SHIFT`. Emitted under these names.
pub const LOW_SLOTS: usize = 64;
pub const LOW_BORDER: usize = 4 * 16 - 4;
pub const LOW_REP_SHIFT: u32 = 2;
pub const LOW_NO_REP: u32 = (1 << (8 - LOW_REP_SHIFT)) - 1;
const _: () = assert!(STRONG_PX < 1 << LOW_REP_SHIFT, "the class and strong bits lie under the representative");
const _: () = assert!(LOW_BORDER < LOW_NO_REP as usize, "a border slot fits under LOW_NO_REP");
const _: () = assert!(LOW_BORDER + 2 <= LOW_SLOTS, "the strong bits' two words follow the slots");
const _: () = {
    let side = crate::frame::FrameSize::LIMITS.1;
    assert!(side.div_ceil(16) * side.div_ceil(16) * LOW_SLOTS < 0x7fff_ffff, "a slot index stays under LOW_NOT_REP");
};

/// The transection / wound-bed check's candidate spots (spots.wgsl): the 8-connected components of the
/// mask within the region of interest, labelled as the hysteresis labels (tiles in workgroup memory, the
/// tiles' perimeters in its border array), summed into records read back with the lesion table. The
/// buffer: a header of `HEAD` words (the records handed out, which may pass `CAPACITY`: then the frame's
/// spots are found on the CPU; the ROI's x0, y0, x1, y1, exclusive; the least area; the tiles with a spot
/// pixel on their perimeter; the least peak ratio code, i.e. the least code whose ratio reaches the TBR;
/// words 8 and 9 are spare, kept 0), then `CAPACITY` records of `STRIDE` words, cleared before the
/// passes: the area, the box (the bitwise not of x0 and of y0, then last x, last y: 0 is none in each),
/// the sums of x and y (two words each, low first), the peak ratio code and the bitwise not of the raster
/// index of the first pixel. A record is handed to every component that crosses a tile border (one
/// handed out but left empty, area 0, where two of its tiles raced for it) and to every other as large as
/// the least area. Emitted as `SPOT_*`.
pub mod spots {
    pub const COUNT: usize = 0;
    pub const ROI: usize = 1;
    pub const MIN_AREA: usize = 5;
    /// The tiles with a spot pixel on their perimeter (`spot_local` counts them): the tiles whose border
    /// words the spots' passes address (the traffic count).
    pub const TILES: usize = 6;
    /// The least peak ratio code of a candidate (`SpotQuery::min_tbr` as the least code that reaches it).
    pub const MIN_PEAK: usize = 7;
    /// Words of the header: `MIN_PEAK` is the last one used, words 8 and 9 are spare (written 0 with the
    /// header).
    pub const HEAD: usize = 10;
    pub const AREA: usize = 0;
    pub const X0: usize = 1;
    pub const Y0: usize = 2;
    pub const X1: usize = 3;
    pub const Y1: usize = 4;
    pub const SX: usize = 5;
    pub const SY: usize = 7;
    pub const PEAK: usize = 9;
    pub const FIRST: usize = 10;
    pub const STRIDE: usize = 12;
    pub const CAPACITY: usize = 4096;

    pub fn buffer_words() -> usize {
        HEAD + CAPACITY * STRIDE
    }

    /// The rows buffer of spot_rows.wgsl, for a `height`-row frame: each row's place in words among the
    /// spans copied out (`NONE` for a row out of every candidate's reach), then how many words are
    /// copied (`rows_total`, the only word cleared before the pass).
    pub fn rows_words(height: usize) -> usize {
        height + 1
    }

    pub fn rows_total(height: usize) -> usize {
        height
    }
}

/// The labelled distance field and the column pass's words (distance.wgsl): a distance (squared in the
/// field, vertical in the columns) above this shift, a core slot + 1 below it. Emitted as `FIELD_SHIFT`
/// and `FIELD_VALUE` (the mask below it).
pub const FIELD_SHIFT: u32 = 8;
const _: () = assert!(crate::analysis::MAX_CORES < 1 << FIELD_SHIFT, "a slot + 1 fits under FIELD_SHIFT");
const _: () = assert!(
    2 * (super::uniforms::MAX_DISTANCE_BOUND as u64).pow(2) < 1 << (32 - FIELD_SHIFT),
    "a squared distance within the bound fits above FIELD_SHIFT"
);

/// The distance columns' half-words (distance.wgsl, two pixels a word): the vertical distance to the nearest
/// seed above this shift, that seed's value (a core slot + 1) below it; `COL_NONE` (all ones) where no seed
/// lies within the bound. Emitted as `COL_SHIFT`, `COL_VALUE` (the bits below it) and `COL_NONE`.
pub const COL_SHIFT: u32 = 7;
pub const COL_NONE: u32 = 0xffff;
const _: () = assert!(crate::analysis::MAX_CORES < 1 << COL_SHIFT, "a slot + 1 fits under COL_SHIFT");
const _: () = assert!(
    ((super::uniforms::MAX_DISTANCE_BOUND << COL_SHIFT) | ((1 << COL_SHIFT) - 1)) < COL_NONE,
    "a vertical distance within the bound and a slot + 1 fit in a half-word under COL_NONE"
);

/// The seeds byte (distance.wgsl, 8 bits a pixel): a core pixel's slot + 1 below this bit; this bit alone
/// on a non-fluorescent pixel outside any kept core whose component touches the border or is as large as a
/// core (what the rim's outer edge is measured against: `is_outside` in reduce.wgsl). Emitted as
/// `SEED_OUTSIDE` and `SEED_VALUE` (the bits below it).
pub const SEED_OUTSIDE: u32 = 0x80;
const _: () = assert!(crate::analysis::MAX_CORES < SEED_OUTSIDE as usize, "a slot + 1 fits under SEED_OUTSIDE");

fn f32_lit(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) { s } else { format!("{s}.0") }
}

fn colour(c: [u8; 3]) -> String {
    format!("vec3<f32>({}, {}, {})", f32_lit(c[0] as f32), f32_lit(c[1] as f32), f32_lit(c[2] as f32))
}

/// The prelude's WGSL.
pub fn wgsl() -> String {
    let mut s = String::from("// Generated from Rust (src/gpu/prelude.rs): shared constants, the lesion table's layout, the palette.\n");
    let mut u = |name: &str, v: usize| writeln!(s, "const {name}: u32 = {v}u;").expect("a String");
    u("LEVEL_BINS", LEVEL_BINS);
    u("MIN_LEVEL_SAMPLES", MIN_LEVEL_SAMPLES as usize);
    u("LEVEL_SMOOTH", LEVEL_SMOOTH);
    u("RATIO_BINS", RATIO_BINS);
    u("RATIO_CODE_MAX", RATIO_CODE_MAX as usize);
    u("CORE_BINS", CORE_BINS);
    u("THICKNESS_BINS", THICKNESS_BINS);
    u("MAX_CORES", MAX_CORES);
    u("MAX_DIFFUSE", MAX_DIFFUSE);
    u("FERET_DIRS", FERET_DIRS);
    u("FL_TAG", FL_TAG as usize);
    u("LABELLED", LABELLED as usize);
    u("ID_MASK", ID_MASK as usize);
    u("STRONG_ROOT", STRONG_ROOT as usize);
    u("STRONG_PX", STRONG_PX as usize);
    u("LOW_SLOTS", LOW_SLOTS);
    u("LOW_BORDER", LOW_BORDER);
    u("LOW_REP_SHIFT", LOW_REP_SHIFT as usize);
    u("LOW_NO_REP", LOW_NO_REP as usize);
    u("FIELD_SHIFT", FIELD_SHIFT as usize);
    u("SEED_OUTSIDE", SEED_OUTSIDE as usize);
    u("SEED_VALUE", SEED_OUTSIDE as usize - 1);
    u("FIELD_VALUE", (1usize << FIELD_SHIFT) - 1);
    u("COL_SHIFT", COL_SHIFT as usize);
    u("COL_VALUE", (1usize << COL_SHIFT) - 1);
    u("COL_NONE", COL_NONE as usize);
    for (name, v) in [
        ("T_HEADER", table::HEADER),
        ("T_FLUO_LEVEL", table::FLUO_LEVEL),
        ("T_COMPONENTS", table::COMPONENTS),
        ("T_LOCAL_ROOTS", table::LOCAL_ROOTS),
        ("COMPONENT_GROUPS", COMPONENT_GROUPS as usize),
        ("STATS_STRIDE", record::STRIDE),
        ("STATS_BANDS", record::BANDS_WORD),
        ("BANDS", record::BANDS),
        ("AREA_MASK", record::AREA_MASK as usize),
        ("FLAG_FL", record::FLAG_FL as usize),
        ("FLAG_BORDER", record::FLAG_BORDER as usize),
        ("FLAG_HAS_RIM", record::FLAG_HAS_RIM as usize),
        ("FLAG_CORE", record::FLAG_CORE as usize),
        ("FLAG_CORELESS", record::FLAG_CORELESS as usize),
        ("T_LABEL", table::LABEL),
        ("T_KIND", table::KIND),
        ("T_AREA", table::AREA),
        ("T_RIM_AREA", table::RIM_AREA),
        ("T_SX_LO", table::SX),
        ("T_SX_HI", table::SX + 1),
        ("T_SY_LO", table::SY),
        ("T_SY_HI", table::SY + 1),
        ("T_SUB_LO", table::SUB),
        ("T_SUB_HI", table::SUB + 1),
        ("T_LEVEL", table::LEVEL),
        ("T_BAND", table::BAND),
        ("T_PARTIAL", table::PARTIAL),
        ("T_OUTER", table::OUTER),
        ("T_RATIO", table::RATIO),
        ("T_CORE", table::CORE),
        ("T_THICK", table::THICK),
        ("T_FERET", table::FERET),
        ("T_EDGE", table::EDGE),
        ("T_STRIDE", table::STRIDE),
        ("T_ROWS", table::ROWS),
        ("DASH_PX", DASH_PX),
        ("NEAR_BOXES", near::BOXES),
        ("NEAR_COUNT", near::COUNT),
        ("NEAR_COUNT_MARKED", near::COUNT_MARKED),
        ("NEAR_COUNT_DRAWN", near::COUNT_DRAWN),
        ("DRAWN_ROW_GROUPS", drawn::ROW_GROUPS),
        ("MARK_ALPHA_SHIFT", mark::ALPHA_SHIFT as usize),
        ("MARK_FL", mark::FL as usize),
        ("MARK_SLOT_SHIFT", mark::SLOT_SHIFT as usize),
        ("MARK_CORE", mark::CORE as usize),
        ("MARK_LINE_SHIFT", mark::LINE_SHIFT as usize),
        ("MARK_OFFSET_SHIFT", mark::OFFSET_SHIFT as usize),
        ("MARK_OFFSET_ZERO", mark::OFFSET_ZERO as usize),
        ("CLASS_SLOT_SHIFT", class_byte::SLOT_SHIFT as usize),
        ("NEAR_TILES", near::TILES),
        ("NEAR_CORE", near::CORE as usize),
        ("NEAR_CORELESS", near::CORELESS as usize),
        ("SPOT_COUNT", spots::COUNT),
        ("SPOT_ROI", spots::ROI),
        ("SPOT_MIN_AREA", spots::MIN_AREA),
        ("SPOT_TILES", spots::TILES),
        ("SPOT_MIN_PEAK", spots::MIN_PEAK),
        ("SPOT_RING_MIN", crate::analysis::Spot::RING_MIN_PX),
        ("SPOT_REACH_BEYOND", crate::analysis::SpotQuery::REACH_BEYOND_RING_PX),
        ("SPOT_HEAD", spots::HEAD),
        ("SPOT_AREA", spots::AREA),
        ("SPOT_X0", spots::X0),
        ("SPOT_Y0", spots::Y0),
        ("SPOT_X1", spots::X1),
        ("SPOT_Y1", spots::Y1),
        ("SPOT_SX", spots::SX),
        ("SPOT_SY", spots::SY),
        ("SPOT_PEAK", spots::PEAK),
        ("SPOT_FIRST", spots::FIRST),
        ("SPOT_STRIDE", spots::STRIDE),
        ("SPOT_CAPACITY", spots::CAPACITY),
    ] {
        u(name, v);
    }
    let mut f = |name: &str, v: f32| writeln!(s, "const {name}: f32 = {};", f32_lit(v)).expect("a String");
    f("LEVEL_LO", LEVEL_LO);
    f("TINT_FROM", drawn::TINT_FROM);
    f("MARK_ALPHA_SCALE", mark::ALPHA_SCALE);
    f("MARK_OFFSET_SCALE", mark::OFFSET_SCALE);
    f("MARK_LINE_REACH", mark::LINE_REACH);
    f("LEVEL_SCALE", LEVEL_SCALE);
    f("RATIO_BIN", RATIO_BIN);
    f("CORE_BIN", CORE_BIN);
    f("THICKNESS_BIN", THICKNESS_BIN);
    f("RATIO_FIXED", RATIO_FIXED);
    f("RATIO_STEPS", RATIO_STEPS);
    f("RATIO_MAX", RATIO_MAX);
    f("COVERAGE_FIXED", COVERAGE_FIXED);
    f("FERET_FIXED", FERET_FIXED);
    writeln!(s, "const FERET_OFFSET: i32 = {FERET_OFFSET};").expect("a String");
    let arr = |v: &[f32]| v.iter().map(|x| f32_lit(*x)).collect::<Vec<_>>().join(", ");
    writeln!(s, "const FERET_COS = array<f32, {FERET_DIRS}>({});", arr(&FERET_COS)).expect("a String");
    writeln!(s, "const FERET_SIN = array<f32, {FERET_DIRS}>({});", arr(&FERET_SIN)).expect("a String");
    for (name, c) in [
        ("FLUORESCENCE", palette::FLUORESCENCE),
        ("BOUNDARY", palette::BOUNDARY),
        ("MARGIN_OK", palette::MARGIN_OK),
        ("MARGIN_WARN", palette::MARGIN_WARN),
        ("CORE_TINT", palette::CORE_TINT),
    ] {
        writeln!(s, "const {name} = {};", colour(c)).expect("a String");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prelude parses, and the values the shaders see are Rust's (read back through naga's constant
    /// evaluation, so a formatting slip in the emitted literals would show).
    #[test]
    fn the_prelude_holds_rusts_values() {
        let src = format!("{}\n{}", wgsl(), super::super::shaders::COMMON);
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}", e.emit_to_string(&src)));
        let value = |name: &str| -> naga::Literal {
            let (_, c) = module.constants.iter().find(|(_, c)| c.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no const {name}"));
            match module.global_expressions[c.init] {
                naga::Expression::Literal(l) => l,
                ref e => panic!("{name}: {e:?}"),
            }
        };
        assert_eq!(value("MAX_CORES"), naga::Literal::U32(MAX_CORES as u32));
        assert_eq!(value("T_STRIDE"), naga::Literal::U32(table::STRIDE as u32));
        assert_eq!(value("T_EDGE"), naga::Literal::U32(table::EDGE as u32));
        assert_eq!(value("RATIO_BIN"), naga::Literal::F32(RATIO_BIN));
        assert_eq!(value("RATIO_MAX"), naga::Literal::F32(RATIO_MAX));
        assert_eq!(value("RATIO_CODE_MAX"), naga::Literal::U32(RATIO_CODE_MAX));
        assert_eq!(value("COVERAGE_FIXED"), naga::Literal::F32(COVERAGE_FIXED));
        assert_eq!(value("FERET_OFFSET"), naga::Literal::I32(FERET_OFFSET as i32));
        assert_eq!(value("FL_TAG"), naga::Literal::U32(FL_TAG));
        assert_eq!(value("TINT_FROM"), naga::Literal::F32(drawn::TINT_FROM));
        assert_eq!(value("MARK_OFFSET_SCALE"), naga::Literal::F32(mark::OFFSET_SCALE));
        assert_eq!(value("MARK_OFFSET_SHIFT"), naga::Literal::U32(mark::OFFSET_SHIFT));
        // A line's coverage ends at the mark's reach.
        assert_eq!(crate::overlay::lines::line_alpha(1.0 + mark::LINE_REACH, 1.0), 0.0);
        // No fluorescence colour at TINT_FROM, some just above: the tiles left undrawn are the white light.
        assert_eq!(crate::overlay::lines::fluorescence_alpha(drawn::TINT_FROM, false), 0.0);
        assert!(crate::overlay::lines::fluorescence_alpha(drawn::TINT_FROM.next_up(), false) > 0.0);
        // The record's last field ends where the stride says.
        assert_eq!(table::STRIDE, 1400);
    }
}
