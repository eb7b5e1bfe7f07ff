// distance.wgsl — CPU twin: src/raster/distance.rs
// write_seeds: (on the tiles near a core only) reads labels (labels.wgsl), stats (a core's slot + 1 in its component's record); writes seeds, 8 bits a
//              pixel in the mask's layout (one invocation a word): a core pixel's slot + 1; SEED_OUTSIDE
//              on any other non-fluorescent pixel whose component touches the border or is as large as
//              a core (reduce.wgsl's `is_outside`, so that its passes need not bind the stats); else 0.
//              And flags FLAG_HAS_RIM on the root of each fluorescent pixel with a kept core pixel among
//              its four neighbours: that component holds a core's rim (CPU: reduce::mark_rims).
// activate:    an invocation a 16×16 tile: marks the tile in `near` where it lies within the distance
//              bound + 2 of a core slot's box (regions.wgsl's assign_cores writes them), and counts it
//              (near.wgsl). Seeds and field can be non-zero only there, so write_seeds, columns, rows and
//              every reader of the seeds and the field work on those tiles only.
// core_boxes:  the stage runners' stand-in for assign_cores' boxes, from given seeds: each slot's box (the
//              largest !x0, !y0, x1 + 1, y1 + 1 of its seed pixels, a workgroup's first in workgroup
//              memory; a core's seeds are its pixels, so a box inside assign_cores'); boxes cleared before.
// columns:     reads seeds; writes col (a half-word a pixel, two a word, rows padded to whole words
//              (`col_stride`): the vertical distance to the nearest seed in its column within the bound,
//              shifted left by COL_SHIFT, or'ed with that seed's value, ties to the seed above; COL_NONE
//              when there is none). One thread a 128-row segment of two neighbouring columns, one
//              downward sweep each: the nearest seed above is carried along, the nearest below looked
//              ahead for (each row read once more at most), so col is written once and never read back.
// rows:        reads col; writes distfield (a word a pixel: the squared distance shifted left by
//              FIELD_SHIFT, or'ed with the nearest seed's value; 0 beyond the bound: `field_*` in
//              common.wgsl): the exact minimum of (x - q)² + g(q)² over the row window |x - q| <= bound, from
//              workgroup memory, searched outwards from x and stopped once (x - q)² alone exceeds the best
//              found. Equal to the lower envelope of the CPU twin.

@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> seeds: array<u32>;
@group(0) @binding(4) var<storage, read_write> col: array<u32>;
@group(0) @binding(5) var<storage, read_write> distfield: array<u32>;
// The tiles near a core (near.wgsl): the cores' boxes, the count, a word a tile.
@group(0) @binding(6) var<storage, read_write> near: array<atomic<u32>>;
// Each pixel's tile-local root (labels.wgsl's `label_at`).
@group(0) @binding(7) var<storage, read> local_roots: array<u32>;

fn near_word(i: u32) -> u32 {
    return atomicLoad(&near[i]);
}

fn seed_of(x: u32, y: u32) -> u32 {
    let b = bg_label(label_at(x, y));
    if (b == 0u) {
        return 0u;
    }
    let r = stats_base(b - 1u);
    let sl = atomicLoad(&stats[r + 2u]);
    if (sl != 0u && sl <= MAX_CORES) {
        return sl;
    }
    let word = atomicLoad(&stats[r]);
    let outside = (word & FLAG_BORDER) != 0u || f32(word & AREA_MASK) >= P.min_core_area;
    return select(0u, SEED_OUTSIDE, outside);
}

// The columns' seed: none in a tile not near a core (no core pixel lies there), which is not read.
fn seed_at(x: u32, y: u32) -> u32 {
    if (!near_active(x, y)) {
        return 0u;
    }
    return mask_byte(seeds[mask_index(x, y)], x) & SEED_VALUE;
}

// Every core pixel lies in a tile near a core.
fn is_core(x: u32, y: u32) -> bool {
    return near_active(x, y) && (seed_of(x, y) & SEED_VALUE) != 0u;
}

// A fluorescent pixel next to a kept core's pixel: its component holds that core's rim.
fn mark_rim(x: u32, y: u32) {
    let f = fl_label(label_at(x, y));
    if (f == 0u) {
        return;
    }
    let touches = (x > 0u && is_core(x - 1u, y)) || (x + 1u < P.width && is_core(x + 1u, y))
        || (y > 0u && is_core(x, y - 1u)) || (y + 1u < P.height && is_core(x, y + 1u));
    if (touches) {
        atomicOr(&stats[stats_base(f - 1u)], FLAG_HAS_RIM);
    }
}

// One invocation a word of seeds: four pixels of a row.
@compute @workgroup_size(16, 16)
fn write_seeds(@builtin(global_invocation_id) g: vec3<u32>) {
    // A word's four pixels lie in one tile.
    if (g.x >= mask_stride() || g.y >= P.height || !near_active(4u * g.x, g.y)) {
        return;
    }
    var word = 0u;
    for (var k = 0u; k < 4u; k += 1u) {
        let x = 4u * g.x + k;
        if (x < P.width) {
            word |= seed_of(x, g.y) << (8u * k);
            mark_rim(x, g.y);
        }
    }
    seeds[g.y * mask_stride() + g.x] = word;
}

// The core slots' boxes (the first of `near`'s boxes; the coreless lesions' follow).
const CORE_BOXES: u32 = 4u * MAX_CORES;
var<workgroup> wg_box: array<atomic<u32>, CORE_BOXES>;

// One invocation a word of seeds (four pixels), as write_seeds.
@compute @workgroup_size(16, 16)
fn core_boxes(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    for (var k = li; k < CORE_BOXES; k += 256u) {
        atomicStore(&wg_box[k], 0u);
    }
    workgroupBarrier();
    if (g.x < mask_stride() && g.y < P.height) {
        let word = seeds[g.y * mask_stride() + g.x];
        for (var k = 0u; k < 4u; k += 1u) {
            let x = 4u * g.x + k;
            let v = (word >> (8u * k)) & SEED_VALUE;
            if (x < P.width && v != 0u) {
                let b = 4u * (v - 1u);
                atomicMax(&wg_box[b], ~x);
                atomicMax(&wg_box[b + 1u], ~g.y);
                atomicMax(&wg_box[b + 2u], x + 1u);
                atomicMax(&wg_box[b + 3u], g.y + 1u);
            }
        }
    }
    workgroupBarrier();
    for (var k = li; k < CORE_BOXES; k += 256u) {
        let v = atomicLoad(&wg_box[k]);
        if (v != 0u) {
            atomicMax(&near[k], v);
        }
    }
}

// An invocation a tile (tiles in raster order): near a core where the tile [x0, x1) × [y0, y1) meets a
// core's box grown by the bound + 2 (every pixel within the bound of a core pixel, and its neighbours).
@compute @workgroup_size(64)
fn activate(@builtin(global_invocation_id) g: vec3<u32>) {
    let t = g.x;
    if (t >= near_tiles()) {
        return;
    }
    var on = 0u;
    for (var s = 0u; s < MAX_CORES; s += 1u) {
        if (box_meets_tile(4u * s, t, P.dist_bound_i + 2u)) {
            on = NEAR_CORE;
            break;
        }
    }
    atomicStore(&near[NEAR_TILES + t], on);
    if (on != 0u) {
        atomicAdd(&near[NEAR_COUNT], 1u);
    }
}

// Rows a `columns` thread owns. Its sweep starts `dist_bound_i` rows above them and looks ahead as far
// below (no seed farther away counts), so a column is worked by many threads at once instead of one over
// the full height.
const COL_SEGMENT: u32 = 128u;

// Words of a row of col: two pixels a word.
fn col_stride() -> u32 {
    return (P.width + 1u) / 2u;
}

// One column's sweep: the nearest seed at or above the row (`last`, its value), the nearest at or below
// (`next`, NONE if none within the bound), the first row not yet looked at for `next`, and the row's value.
struct Sweep {
    last: u32,
    last_v: u32,
    next: u32,
    next_v: u32,
    scan: u32,
    out: u32,
}

fn sweep_start(x: u32, y0: u32) -> Sweep {
    var s = Sweep(NONE, 0u, NONE, 0u, y0, COL_NONE);
    if (x < P.width) {
        for (var y = select(0u, y0 - P.dist_bound_i, y0 > P.dist_bound_i); y < y0; y += 1u) {
            let v = seed_at(x, y);
            if (v != 0u) {
                s.last = y;
                s.last_v = v;
            }
        }
    }
    return s;
}

// Row y of column x (rows in order): its value in `out`.
fn sweep_step(s0: Sweep, x: u32, y: u32) -> Sweep {
    var s = s0;
    s.out = COL_NONE;
    if (x >= P.width) {
        return s;
    }
    if (s.next == NONE || s.next < y) {
        // Look ahead for the nearest seed at or below y within the bound, from where the last look stopped.
        s.next = NONE;
        let end = min(P.height, y + P.dist_bound_i + 1u);
        var q = max(s.scan, y);
        while (q < end) {
            let v = seed_at(x, q);
            if (v != 0u) {
                s.next = q;
                s.next_v = v;
                break;
            }
            q += 1u;
        }
        s.scan = select(q, q + 1u, s.next != NONE);
    }
    // Every row up to `next` was looked at: a seed on this row is `next`.
    if (s.next == y) {
        s.last = y;
        s.last_v = s.next_v;
    }
    if (s.last != NONE && y - s.last <= P.dist_bound_i) {
        s.out = ((y - s.last) << COL_SHIFT) | s.last_v;
    }
    // The seed below when strictly nearer (ties go to the seed above, as on the CPU).
    if (s.next != NONE && (s.out == COL_NONE || s.next - y < y - s.last)) {
        s.out = ((s.next - y) << COL_SHIFT) | s.next_v;
    }
    return s;
}

// One invocation a pair of columns (a word of col a row).
@compute @workgroup_size(64)
fn columns(@builtin(global_invocation_id) g: vec3<u32>) {
    let stride = col_stride();
    let y0 = g.y * COL_SEGMENT;
    if (g.x >= stride || y0 >= P.height) {
        return;
    }
    let y1 = min(y0 + COL_SEGMENT, P.height);
    let xa = 2u * g.x;
    // Only the tiles near a core are written (both columns lie in one tile column): a segment with none
    // is not swept.
    var any = false;
    for (var y = y0; y < y1; y += 16u) {
        any = any || near_active(xa, y);
    }
    if (!any) {
        return;
    }
    var a = sweep_start(xa, y0);
    var b = sweep_start(xa + 1u, y0);
    for (var y = y0; y < y1; y += 1u) {
        a = sweep_step(a, xa, y);
        b = sweep_step(b, xa + 1u, y);
        if (near_active(xa, y)) {
            col[y * stride + g.x] = a.out | (b.out << 16u);
        }
    }
}

const ROW_TILE: u32 = 256u;
const ROW_WINDOW: u32 = 1024u;

var<workgroup> wg_g: array<u32, 1024>;
var<workgroup> wg_l: array<u32, 1024>;
var<workgroup> wg_any: atomic<u32>;

@compute @workgroup_size(256)
fn rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w = P.width;
    let y = wg.y;
    let r = P.dist_bound_i;
    let x0 = wg.x * ROW_TILE;
    let start = i32(x0) - i32(r);
    let len = ROW_TILE + 2u * r;
    if (li == 0u) {
        atomicStore(&wg_any, 0u);
    }
    workgroupBarrier();
    for (var k = li; k < len; k += ROW_TILE) {
        let q = start + i32(k);
        var gv = NONE;
        var lv = 0u;
        // A tile not near a core has no seed within the bound in its columns (and no col written).
        if (q >= 0 && q < i32(w) && near_active(u32(q), y)) {
            let c = (col[y * col_stride() + (u32(q) >> 1u)] >> (16u * (u32(q) & 1u))) & 0xffffu;
            if (c != COL_NONE) {
                gv = c >> COL_SHIFT;
                lv = c & COL_VALUE;
            }
        }
        wg_g[k] = gv;
        wg_l[k] = lv;
        if (gv != NONE) {
            atomicOr(&wg_any, 1u);
        }
    }
    workgroupBarrier();
    let has_seed = atomicLoad(&wg_any);
    let x = x0 + li;
    if (x >= w || !near_active(x, y)) {
        return;
    }
    var best = NONE;
    var label = 0u;
    if (has_seed != 0u) {
        // Outwards from the pixel, both sides at each offset, until the offset alone is past the best
        // found: the same minimum of (squared distance, window index) as a scan of the whole window
        // (ties go to the leftmost seed column), but a pixel near a core stops after a few entries.
        var best_k = 0u;
        for (var dx = 0u; dx <= r; dx += 1u) {
            if (dx * dx > best) {
                break;
            }
            let kl = li + r - dx;
            let gl = wg_g[kl];
            if (gl != NONE) {
                let d2 = dx * dx + gl * gl;
                if (d2 < best || (d2 == best && kl < best_k)) {
                    best = d2;
                    best_k = kl;
                }
            }
            let kr = li + r + dx;
            let gr = wg_g[kr];
            if (dx > 0u && gr != NONE) {
                let d2 = dx * dx + gr * gr;
                if (d2 < best || (d2 == best && kr < best_k)) {
                    best = d2;
                    best_k = kr;
                }
            }
        }
        if (best != NONE) {
            label = wg_l[best_k];
        }
    }
    let i = y * w + x;
    if (best != NONE && f32(best) <= P.dist_bound * P.dist_bound) {
        distfield[i] = (best << FIELD_SHIFT) | label;
    } else {
        distfield[i] = 0u;
    }
}
