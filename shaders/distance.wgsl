// distance.wgsl — CPU twin: src/reference/distance.rs
// write_seeds: reads labels, slot_of_root; writes seeds[i] = core slot + 1 for core pixels, else 0.
// columns:     reads seeds; writes col (per pixel: vertical distance to the nearest seed in its column
//              within the bound, or NONE; and that seed's value). One thread a 128-row segment of a
//              column, two sweeps reaching the bound beyond it.
// rows:        reads col; writes distfield (per pixel: f32 distance bits, seed value; inf and 0 beyond the
//              bound): the exact minimum of (x - q)² + g(q)² over the row window |x - q| <= bound, from
//              workgroup memory. Equal to the lower envelope of the CPU twin.

@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> slot_of_root: array<u32>;
@group(0) @binding(3) var<storage, read_write> seeds: array<u32>;
@group(0) @binding(4) var<storage, read_write> col: array<u32>;
@group(0) @binding(5) var<storage, read_write> distfield: array<u32>;

@compute @workgroup_size(16, 16)
fn write_seeds(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    let i = g.y * P.width + g.x;
    let b = labels[i];
    var s = 0u;
    if (b != 0u) {
        let sl = slot_of_root[b - 1u];
        if (sl != 0u && sl <= MAX_CORES) {
            s = sl;
        }
    }
    seeds[i] = s;
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
        let v = seeds[y * w + x];
        if (v != 0u) {
            last = y;
            last_v = v;
        }
        if (y >= y0) {
            let i = y * w + x;
            if (last != NONE && y - last <= P.dist_bound_i) {
                col[2u * i] = y - last;
                col[2u * i + 1u] = last_v;
            } else {
                col[2u * i] = NONE;
                col[2u * i + 1u] = 0u;
            }
        }
    }
    // Up: a seed below replaces it when strictly nearer (ties go to the seed above, as on the CPU).
    last = NONE;
    let top = min(y1 + P.dist_bound_i, h);
    for (var yy = 0u; yy < top - y0; yy += 1u) {
        let y = top - 1u - yy;
        let v = seeds[y * w + x];
        if (v != 0u) {
            last = y;
            last_v = v;
        }
        if (y < y1 && last != NONE) {
            let i = y * w + x;
            let d = last - y;
            if (d <= P.dist_bound_i && d < col[2u * i]) {
                col[2u * i] = d;
                col[2u * i + 1u] = last_v;
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
            gv = col[2u * i];
            lv = col[2u * i + 1u];
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
        for (var k = 0u; k <= 2u * r; k += 1u) {
            let gv = wg_g[li + k];
            if (gv == NONE) {
                continue;
            }
            let dx = i32(k) - i32(r);
            let d2 = u32(dx * dx) + gv * gv;
            if (d2 < best) {
                best = d2;
                label = wg_l[li + k];
            }
        }
    }
    let i = y * w + x;
    if (best != NONE && f32(best) <= P.dist_bound * P.dist_bound) {
        distfield[2u * i] = bitcast<u32>(sqrt(f32(best)));
        distfield[2u * i + 1u] = label;
    } else {
        distfield[2u * i] = bitcast<u32>(inf());
        distfield[2u * i + 1u] = 0u;
    }
}
