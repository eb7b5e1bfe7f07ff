// distance.wgsl — CPU twin: src/raster/distance.rs
// write_seeds: reads labels, stats (a core's slot + 1 in its component's record); writes seeds, 8 bits a
//              pixel in the mask's layout (one invocation a word): a core pixel's slot + 1; SEED_OUTSIDE
//              on any other non-fluorescent pixel whose component touches the border or is as large as
//              a core (reduce.wgsl's `is_outside`, so that its passes need not bind the stats); else 0.
//              And flags FLAG_HAS_RIM on the root of each fluorescent pixel with a kept core pixel among
//              its four neighbours: that component holds a core's rim (CPU: reduce::mark_rims).
// columns:     reads seeds; writes col (a word a pixel: the vertical distance to the nearest seed in its
//              column within the bound, shifted left by FIELD_SHIFT, or'ed with that seed's value; NONE
//              when there is none). One thread a 128-row segment of a
//              column, two sweeps reaching the bound beyond it.
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

fn seed_of(x: u32, y: u32) -> u32 {
    let b = bg_label(labels[y * P.width + x]);
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

fn seed_at(x: u32, y: u32) -> u32 {
    return mask_byte(seeds[mask_index(x, y)], x) & SEED_VALUE;
}

fn is_core(x: u32, y: u32) -> bool {
    return (seed_of(x, y) & SEED_VALUE) != 0u;
}

// A fluorescent pixel next to a kept core's pixel: its component holds that core's rim.
fn mark_rim(x: u32, y: u32) {
    let f = fl_label(labels[y * P.width + x]);
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
    if (g.x >= mask_stride() || g.y >= P.height) {
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

// Rows a `columns` thread owns. Its sweeps start `dist_bound_i` rows beyond them (no seed farther away
// counts), so a column is worked by many threads at once instead of one over the full height.
const COL_SEGMENT: u32 = 128u;

@compute @workgroup_size(64)
fn columns(@builtin(global_invocation_id) g: vec3<u32>) {
    let x = g.x;
    if (x >= P.width) {
        return;
    }
    let w = P.width;
    let h = P.height;
    let y0 = g.y * COL_SEGMENT;
    let y1 = min(y0 + COL_SEGMENT, h);
    if (y0 >= h) {
        return;
    }
    // Down: the nearest seed above (or on) each row.
    var last = NONE;
    var last_v = 0u;
    for (var y = select(0u, y0 - P.dist_bound_i, y0 > P.dist_bound_i); y < y1; y += 1u) {
        let v = seed_at(x, y);
        if (v != 0u) {
            last = y;
            last_v = v;
        }
        if (y >= y0) {
            let i = y * w + x;
            if (last != NONE && y - last <= P.dist_bound_i) {
                col[i] = ((y - last) << FIELD_SHIFT) | last_v;
            } else {
                col[i] = NONE;
            }
        }
    }
    // Up: a seed below replaces it when strictly nearer (ties go to the seed above, as on the CPU).
    last = NONE;
    let top = min(y1 + P.dist_bound_i, h);
    for (var yy = 0u; yy < top - y0; yy += 1u) {
        let y = top - 1u - yy;
        let v = seed_at(x, y);
        if (v != 0u) {
            last = y;
            last_v = v;
        }
        if (y < y1 && last != NONE) {
            let i = y * w + x;
            let d = last - y;
            if (d <= P.dist_bound_i && d < (col[i] >> FIELD_SHIFT)) {
                col[i] = (d << FIELD_SHIFT) | last_v;
            }
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
        if (q >= 0 && q < i32(w)) {
            let i = y * w + u32(q);
            let c = col[i];
            if (c != NONE) {
                gv = c >> FIELD_SHIFT;
                lv = c & FIELD_VALUE;
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
    if (x >= w) {
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
