// reduce.wgsl — CPU twin: src/reference/reduce.rs
// (The fluorescent roots touching a kept core are flagged FLAG_HAS_RIM by write_seeds, distance.wgsl.)
// select_diffuse: over the dense component ids (as select_cores): compact fluorescent components with no
//                 rim, off the border, are coreless lesions: flagged (FLAG_CORELESS), counted (table[1])
//                 with their root's row (T_ROWS).
// assign_diffuse: each whose rank in raster order of label is under MAX_DIFFUSE takes that coreless slot
//                 (word 2 of its stats record, table), kind 2 (homogeneous) when at least half its boundary is sharp,
//                 else 1 (diffuse); and its box (its bands', `band_box`) in `near`.
// mark_coreless:  an invocation a 16×16 tile: marks the tiles that meet a coreless lesion's box
//                 (NEAR_CORELESS), so that lesion_stats reads the labels there only; and lists the tiles
//                 the composite draws (`drawn`: those near a core, or marked by normalize or compress),
//                 and sets the composite's indirect dispatch from the list's length.
// lesion_stats:   on the tiles marked by activate or mark_coreless only: reads ratio, fluo, seeds,
//                 labels (labels.wgsl), stats, distfield; adds per-slot area,
//                 coordinate sums (64-bit as lo/hi words), core/ratio/thickness histograms, and the
//                 extents of the core's boundary pixels along the Feret directions (table).
// levels:         per core slot: the boundary iso-level, the band searched for it, the rim's outer
//                 iso-level. (The margin verdict is not made here: the processor decides it from the
//                 smoothed figures and the composite reads its style table.)
// subpixel:       per pixel near a core: fixed-point coverage of the core side of the iso-line; per rim
//                 outer-edge pixel: its distance refined to the outer iso-level, histogrammed (table).

@group(0) @binding(1) var<storage, read> ratio: array<u32>;
@group(0) @binding(2) var<storage, read> fluo: array<u32>;
@group(0) @binding(3) var<storage, read> seeds: array<u32>;
@group(0) @binding(4) var<storage, read> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read> distfield: array<u32>;
@group(0) @binding(7) var<storage, read_write> table: array<atomic<u32>>;
@group(0) @binding(8) var<storage, read> roots: array<u32>;
// The tiles near a core (near.wgsl): the field is read there only, and the sub-pixel pass works there only;
// assign_diffuse writes the coreless lesions' boxes and mark_coreless marks their tiles.
@group(0) @binding(9) var<storage, read_write> near: array<atomic<u32>>;
// The tiles the composite draws (`gpu::prelude::drawn`): mark_coreless lists them and sets the
// composite's dispatch.
@group(0) @binding(10) var<storage, read_write> drawn: array<atomic<u32>>;
// Each pixel's tile-local root (labels.wgsl's `label_at`).
@group(0) @binding(11) var<storage, read> local_roots: array<u32>;

fn near_word(i: u32) -> u32 {
    return atomicLoad(&near[i]);
}

// Pixel (x, y)'s byte of the seeds and of the mask (8 bits a pixel, rows padded to whole words).
fn ratio_px(x: u32, y: u32) -> f32 {
    return ratio_decode(ratio[ratio_index(x, y)], x);
}

// 0 in a tile not near a core, which is not read: no core pixel lies there, and the outside marks
// (SEED_OUTSIDE) are asked for beside a core's rim only.
fn seed_byte(x: u32, y: u32) -> u32 {
    if (!near_active(x, y)) {
        return 0u;
    }
    return mask_byte(seeds[mask_index(x, y)], x);
}

// The core slot + 1 of pixel (x, y), 0 off the kept cores.
fn seed_at(x: u32, y: u32) -> u32 {
    return seed_byte(x, y) & SEED_VALUE;
}

fn fluo_at(x: u32, y: u32) -> u32 {
    return mask_byte(fluo[mask_index(x, y)], x);
}

// Pixel (x, y)'s word of the distance field; 0 (beyond every core's bound) in a tile not near a core,
// which the distance rows did not write.
fn field_at(x: u32, y: u32) -> u32 {
    if (!near_active(x, y)) {
        return 0u;
    }
    return distfield[y * P.width + x];
}

fn add64(base: u32, lo: u32, v: u32) {
    let old = atomicAdd(&table[base + lo], v);
    if (old + v < old) {
        atomicAdd(&table[base + lo + 1u], 1u);
    }
}

fn ratio_bin(v: f32) -> u32 {
    return min(u32((v - 1.0) / RATIO_BIN), RATIO_BINS - 1u);
}

fn core_bin(v: f32) -> u32 {
    return min(u32(max(v, 0.0) / CORE_BIN), CORE_BINS - 1u);
}

fn thickness_bin(d: f32) -> u32 {
    return min(u32(d / THICKNESS_BIN), THICKNESS_BINS - 1u);
}

@compute @workgroup_size(256)
fn select_diffuse(@builtin(global_invocation_id) g: vec3<u32>) {
    let count = atomicLoad(&table[T_COMPONENTS]);
    for (var id = g.x; id < count; id += 256u * COMPONENT_GROUPS) {
        select_coreless(id);
    }
}

fn select_coreless(id: u32) {
    let r = stats_base(id);
    let flags = atomicLoad(&stats[r]);
    let area = flags & AREA_MASK;
    if ((flags & FLAG_FL) == 0u) {
        return;
    }
    let boundary = f32(max(atomicLoad(&stats[r + 1u]), 1u));
    let ok = (flags & (FLAG_BORDER | FLAG_HAS_RIM)) == 0u && f32(area) >= P.min_diffuse_area
        && 4.0 * 3.14159265358979 * f32(area) >= P.min_diffuse_compactness * boundary * boundary;
    if (!ok) {
        return;
    }
    atomicOr(&stats[r], FLAG_CORELESS);
    atomicAdd(&table[1], 1u);
    atomicAdd(&table[T_ROWS + P.height + roots[id] / P.width], 1u);
}

@compute @workgroup_size(256)
fn assign_diffuse(@builtin(global_invocation_id) g: vec3<u32>) {
    let count = atomicLoad(&table[T_COMPONENTS]);
    for (var id = g.x; id < count; id += 256u * COMPONENT_GROUPS) {
        assign_coreless(id);
    }
}

fn assign_coreless(id: u32) {
    let r = stats_base(id);
    if ((atomicLoad(&stats[r]) & FLAG_CORELESS) == 0u) {
        return;
    }
    let slot = raster_rank(id, FLAG_CORELESS, T_ROWS + P.height);
    // Word 2 (the sharp boundary count, read here last) becomes the slot + 1, or 0 beyond the table.
    var slot_word = 0u;
    if (slot < MAX_DIFFUSE) {
        let kind = select(1u, 2u, 2u * atomicLoad(&stats[r + 2u]) >= atomicLoad(&stats[r + 1u]));
        let s = MAX_CORES + slot;
        slot_word = s + 1u;
        atomicStore(&table[slot_base(s) + T_LABEL], roots[id] + 1u);
        atomicStore(&table[slot_base(s) + T_KIND], kind);
        let b = band_box(atomicLoad(&stats[r + STATS_BANDS]), roots[id]);
        for (var k = 0u; k < 4u; k += 1u) {
            atomicStore(&near[4u * s + k], b[k]);
        }
    }
    atomicStore(&stats[r + 2u], slot_word);
}

// An invocation a tile: NEAR_CORELESS where the tile meets a coreless lesion's box (assign_diffuse's), and
// the count of the tiles marked either way (what lesion_stats addresses of the labels).
@compute @workgroup_size(64)
fn mark_coreless(@builtin(global_invocation_id) g: vec3<u32>) {
    let t = g.x;
    if (t >= near_tiles()) {
        return;
    }
    var word = near_word(NEAR_TILES + t);
    for (var s = MAX_CORES; s < MAX_CORES + MAX_DIFFUSE; s += 1u) {
        if (box_meets_tile(4u * s, t, 0u)) {
            word |= NEAR_CORELESS;
            atomicStore(&near[NEAR_TILES + t], word);
            break;
        }
    }
    if (word != 0u) {
        atomicAdd(&near[NEAR_COUNT_MARKED], 1u);
    }
    // Drawn: a tile near a core (its tint and lines) or holding the fluorescence colour.
    // The composite's indirect dispatch after the list (`gpu::prelude::drawn`, cleared a frame): a
    // workgroup a listed tile, in rows of DRAWN_ROW_GROUPS.
    if ((word & NEAR_CORE) != 0u || atomicLoad(&drawn[t]) != 0u) {
        let k = atomicAdd(&near[NEAR_COUNT_DRAWN], 1u);
        atomicStore(&drawn[near_tiles() + k], t);
        let args = 2u * near_tiles();
        atomicMax(&drawn[args], min(k + 1u, DRAWN_ROW_GROUPS));
        atomicMax(&drawn[args + 1u], k / DRAWN_ROW_GROUPS + 1u);
        atomicStore(&drawn[args + 2u], 1u);
    }
}

// A non-fluorescent pixel outside the kept cores whose component touches the border or is as large as a
// core (marked by write_seeds).
fn is_outside(x: u32, y: u32) -> bool {
    return (seed_byte(x, y) & SEED_OUTSIDE) != 0u;
}

@compute @workgroup_size(16, 16)
fn lesion_stats(@builtin(global_invocation_id) g: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    // A tile inside one core sums that core's area and coordinates in workgroup memory and adds them
    // once (integer sums: the same result as pixel by pixel, without a large core serialising).
    if (li == 0u) {
        core_lead = seed_at(wg.x * 16u, wg.y * 16u);
        atomicStore(&lead_area, 0u);
        atomicStore(&lead_sx, 0u);
        atomicStore(&lead_sy, 0u);
    }
    workgroupBarrier();
    let leader = core_lead;
    if (g.x < P.width && g.y < P.height) {
        pixel_stats(g.x, g.y, leader);
    }
    workgroupBarrier();
    if (li == 0u && leader != 0u) {
        let b = slot_base(leader - 1u);
        atomicAdd(&table[b + T_AREA], atomicLoad(&lead_area));
        add64(b, T_SX_LO, atomicLoad(&lead_sx));
        add64(b, T_SY_LO, atomicLoad(&lead_sy));
    }
}

var<workgroup> core_lead: u32;
var<workgroup> lead_area: atomic<u32>;
var<workgroup> lead_sx: atomic<u32>;
var<workgroup> lead_sy: atomic<u32>;

fn pixel_stats(x: u32, y: u32, leader: u32) {
    // A tile neither near a core nor in a coreless lesion's box holds no core pixel, no slotted coreless
    // lesion's pixel and no field: nothing of it is read.
    if (near_word(near_tile(x, y)) == 0u) {
        return;
    }
    let w = P.width;
    let n = n_pixels();
    let i = y * w + x;
    let v = ratio_px(x, y);
    let core = seed_at(x, y);
    if (core != 0u) {
        let b = slot_base(core - 1u);
        if (core == leader) {
            atomicAdd(&lead_area, 1u);
            atomicAdd(&lead_sx, x);
            atomicAdd(&lead_sy, y);
        } else {
            atomicAdd(&table[b + T_AREA], 1u);
            add64(b, T_SX_LO, x);
            add64(b, T_SY_LO, y);
        }
        atomicAdd(&table[b + T_CORE + core_bin(v)], 1u);
        let boundary = x == 0u || y == 0u || x + 1u == w || y + 1u == P.height
            || seed_at(x - 1u, y) != core || seed_at(x + 1u, y) != core || seed_at(x, y - 1u) != core || seed_at(x, y + 1u) != core;
        if (boundary) {
            for (var k = 0u; k < FERET_DIRS; k += 1u) {
                let p = feret_word(x, y, k);
                atomicMax(&table[b + T_FERET + 2u * k], 0xffffffffu - p);
                atomicMax(&table[b + T_FERET + 2u * k + 1u], p);
            }
        }
        return;
    }
    if (fluo_at(x, y) == 0u) {
        return;
    }
    // A slotted coreless lesion's pixels lie in the tiles of its box: elsewhere no label is read.
    var f = 0u;
    if ((near_word(near_tile(x, y)) & NEAR_CORELESS) != 0u) {
        f = fl_label(label_at(x, y));
    }
    if (f != 0u) {
        let r = stats_base(f - 1u);
        let ds = select(0u, atomicLoad(&stats[r + 2u]), (atomicLoad(&stats[r]) & FLAG_CORELESS) != 0u);
        if (ds > MAX_CORES) {
            let b = slot_base(ds - 1u);
            atomicAdd(&table[b + T_AREA], 1u);
            add64(b, T_SX_LO, x);
            add64(b, T_SY_LO, y);
            if (v >= 1.0) {
                atomicAdd(&table[b + T_RATIO + ratio_bin(v)], 1u);
            }
        }
    }
    let field = field_at(x, y);
    let d = field_dist(field);
    let nl = field_near(field);
    if (d > P.rim_search_px || nl == 0u) {
        return;
    }
    let b = slot_base(nl - 1u);
    atomicAdd(&table[b + T_RIM_AREA], 1u);
    if (v >= 1.0) {
        atomicAdd(&table[b + T_RATIO + ratio_bin(v)], 1u);
    }
    let edge = (x > 0u && is_outside(x - 1u, y)) || (x + 1u < w && is_outside(x + 1u, y))
        || (y > 0u && is_outside(x, y - 1u)) || (y + 1u < P.height && is_outside(x, y + 1u));
    if (edge) {
        atomicAdd(&table[b + T_THICK + thickness_bin(d)], 1u);
    }
}

// Bin centre below which num/den of a histogram's samples lie (CPU: reduce::hist_quantile).
fn quantile(base: u32, bins: u32, num: u32, den: u32, bin: f32, origin: f32, fallback: f32) -> f32 {
    var total = 0u;
    for (var k = 0u; k < bins; k += 1u) {
        total += atomicLoad(&table[base + k]);
    }
    if (total == 0u) {
        return fallback;
    }
    let goal = max((num * total + den - 1u) / den, 1u);
    var acc = 0u;
    for (var k = 0u; k < bins; k += 1u) {
        acc += atomicLoad(&table[base + k]);
        if (acc >= goal) {
            return origin + (f32(k) + 0.5) * bin;
        }
    }
    return fallback;
}

@compute @workgroup_size(64)
fn levels(@builtin(global_invocation_id) g: vec3<u32>) {
    let s = g.x;
    if (s >= min(atomicLoad(&table[0]), MAX_CORES)) {
        return;
    }
    let b = slot_base(s);
    let rim = quantile(b + T_RATIO, RATIO_BINS, 9u, 10u, RATIO_BIN, 1.0, 1.0 + RATIO_BIN);
    let core = quantile(b + T_CORE, CORE_BINS, 1u, 2u, CORE_BIN, 0.0, 0.5);
    let thick = quantile(b + T_THICK, THICKNESS_BINS, 1u, 2u, THICKNESS_BIN, 0.0, 3.0);
    atomicStore(&table[b + T_LEVEL], bitcast<u32>(0.5 * (core + rim)));
    atomicStore(&table[b + T_OUTER], bitcast<u32>(0.5 * (1.0 + rim)));
    atomicStore(&table[b + T_BAND], bitcast<u32>(clamp(0.5 * thick, 1.5, 4.0)));
}

fn gradient(x: u32, y: u32) -> f32 {
    let gx = 0.5 * (ratio_px(x + 1u, y) - ratio_px(x - 1u, y));
    let gy = 0.5 * (ratio_px(x, y + 1u) - ratio_px(x, y - 1u));
    return max(sqrt(gx * gx + gy * gy), 1e-3);
}

@compute @workgroup_size(16, 16)
fn subpixel(@builtin(global_invocation_id) g: vec3<u32>) {
    let w = P.width;
    let h = P.height;
    if (g.x == 0u || g.y == 0u || g.x + 1u >= w || g.y + 1u >= h) {
        return;
    }
    // Only pixels near a core have work (a core pixel, or a nearest core within the bound).
    if (!near_active(g.x, g.y)) {
        return;
    }
    let core = seed_at(g.x, g.y);
    let field = field_at(g.x, g.y);
    let nl = field_near(field);
    if (core == 0u && nl == 0u) {
        return;
    }
    let slot = select(nl - 1u, core - 1u, core != 0u);
    let b = slot_base(slot);
    let d = field_dist(field);
    let v = ratio_px(g.x, g.y);
    let grad = gradient(g.x, g.y);
    if (core != 0u || d <= bitcast<f32>(atomicLoad(&table[b + T_BAND]))) {
        let level = bitcast<f32>(atomicLoad(&table[b + T_LEVEL]));
        let cov = u32(clamp(0.5 + (level - v) / grad, 0.0, 1.0) * COVERAGE_FIXED);
        add64(b, T_SUB_LO, cov);
    }
    if (core == 0u && fluo_at(g.x, g.y) != 0u && d <= P.rim_search_px) {
        if (is_outside(g.x - 1u, g.y) || is_outside(g.x + 1u, g.y) || is_outside(g.x, g.y - 1u) || is_outside(g.x, g.y + 1u)) {
            let outer = bitcast<f32>(atomicLoad(&table[b + T_OUTER]));
            let dr = d + clamp((v - outer) / grad, -3.0, 3.0);
            atomicAdd(&table[b + T_EDGE + thickness_bin(max(dr, 0.0))], 1u);
        }
    }
}
