// spots.wgsl — appended to hysteresis.wgsl. CPU twin: src/measure/findings.rs (`find_spots`).
// The transection / wound-bed check's candidate spots: the 8-connected components of the cleaned mask
// within the region of interest, each one's area, box, centroid sums, peak ratio and first pixel, so that
// the check reads back a table instead of the maps. Labelled as the hysteresis labels (its border array,
// `parent`, free once the labelling's `compress` has run, and its `merge_low`); the table
// (`spot_table`, layout in `gpu::prelude::spots`) holds the ROI, the least area and the least peak code,
// written by the CPU, and its records cleared to 0 before (a record's least column, row and first pixel
// are kept as their bitwise not, so that 0 is none and atomicMax takes the least).
// spot_local:   one 16×16 tile a workgroup: the tile's spot pixels labelled in workgroup memory; each
//               perimeter slot of the border array points at its component's representative (its smallest
//               border slot) or is LOW_NOT_REP (not a spot pixel); a tile with no spot pixel on its
//               perimeter writes only its flag in `low_tiles`, as local_low. Then hysteresis.wgsl's merge_low joins the
//               slots across the tile borders.
// spot_stats:   one 16×16 tile a workgroup: the tile's components again, each summed in workgroup memory,
//               then added to its root's record (a component that crosses a tile border: the first of its
//               tiles to get there claims a record for the root, STRONG_ROOT | its index in the root's word,
//               by a compare-exchange; a tile that loses the race leaves the record it took empty, area 0,
//               which the readers pass over) or, as large as the least area and settled in the tile, given
//               a record of its own. A full table (SPOT_CAPACITY) is left to the CPU, which then finds the
//               frame's spots itself.

@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read_write> spot_table: array<atomic<u32>>;

// A tile's components' sums (by tile-local root).
var<workgroup> spot_area: array<atomic<u32>, 256>;
var<workgroup> spot_x0: array<atomic<u32>, 256>;
var<workgroup> spot_y0: array<atomic<u32>, 256>;
var<workgroup> spot_x1: array<atomic<u32>, 256>;
var<workgroup> spot_y1: array<atomic<u32>, 256>;
var<workgroup> spot_sx: array<atomic<u32>, 256>;
var<workgroup> spot_sy: array<atomic<u32>, 256>;
var<workgroup> spot_peak: array<atomic<u32>, 256>;
var<workgroup> spot_first: array<atomic<u32>, 256>;

fn spot_px(x: u32, y: u32) -> bool {
    let roi = SPOT_ROI;
    let inside = x < P.width && y < P.height && x >= atomicLoad(&spot_table[roi]) && y >= atomicLoad(&spot_table[roi + 1u])
        && x < atomicLoad(&spot_table[roi + 2u]) && y < atomicLoad(&spot_table[roi + 3u]);
    return inside && (mask_byte(mask[mask_index(x, y)], x) & 1u) != 0u;
}

// The tile's spot pixels labelled, 8-connected (tile_union.wgsl; workgroup memory starts zeroed): pixel
// li's tile-local root and its component's smallest border slot (LOW_NO_REP for one that touches no tile
// border). Called by every invocation.
fn spot_tile(on: bool, l: vec3<u32>, li: u32) -> vec2<u32> {
    tile_mark(l, select(2u, 1u, on));
    workgroupBarrier();
    return tile_part(l, li);
}

@compute @workgroup_size(16, 16)
fn spot_local(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let on = spot_px(g.x, g.y);
    let part = spot_tile(on, l, li);
    let r = part.x;
    let s = border_slot(l.x, l.y);
    if (on && s < LOW_BORDER) {
        atomicStore(&tile_any, 1u);
    }
    workgroupBarrier();
    // As local_low: a tile with no spot pixel on its perimeter writes its flag alone (not counted).
    let any = atomicLoad(&tile_any);
    let t = wg.y * low_tiles_x() + wg.x;
    if (li == 0u) {
        atomicStore(&low_tiles[1u + t], any);
        if (any != 0u) {
            atomicAdd(&spot_table[SPOT_TILES], 1u);
        }
    }
    if (s < LOW_BORDER && any != 0u) {
        var word = LOW_NOT_REP;
        if (on) {
            // Under its representative (smaller: parent[i] <= i holds), a representative its own root.
            word = t * LOW_SLOTS + part.y;
        }
        atomicStore(&parent[t * LOW_SLOTS + s], word);
    }
}

// The root of border slot i: a word that points at itself, or one spot_stats has given a record.
fn spot_root(i0: u32) -> u32 {
    var i = i0;
    loop {
        let w = atomicLoad(&parent[i]);
        if (w == i || (w & STRONG_ROOT) != 0u) {
            break;
        }
        i = w;
    }
    return i;
}

// A new record, cleared before the pass (SPOT_CAPACITY where the table is full).
fn spot_record() -> u32 {
    return min(atomicAdd(&spot_table[SPOT_COUNT], 1u), SPOT_CAPACITY);
}

// The record of the component whose root is border slot r: the one its word holds, else a new one
// that the root's word is made to hold, unless another tile's got there first.
fn spot_root_record(r: u32) -> u32 {
    let w = atomicLoad(&parent[r]);
    if ((w & STRONG_ROOT) != 0u) {
        return w & ~STRONG_ROOT;
    }
    var id = spot_record();
    loop {
        let res = atomicCompareExchangeWeak(&parent[r], r, STRONG_ROOT | id);
        if (res.exchanged) {
            break;
        }
        // Another tile's record (else a spurious failure: again).
        if (res.old_value != r) {
            id = res.old_value & ~STRONG_ROOT;
            break;
        }
    }
    return id;
}

// Adds v to the 64-bit sum whose low word is at k (its high word follows).
fn spot_add64(k: u32, v: u32) {
    let old = atomicAdd(&spot_table[k], v);
    if (old + v < old) {
        atomicAdd(&spot_table[k + 1u], 1u);
    }
}

@compute @workgroup_size(16, 16)
fn spot_stats(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let on = spot_px(g.x, g.y);
    atomicStore(&spot_area[li], 0u);
    atomicStore(&spot_x0[li], NONE);
    atomicStore(&spot_y0[li], NONE);
    atomicStore(&spot_x1[li], 0u);
    atomicStore(&spot_y1[li], 0u);
    atomicStore(&spot_sx[li], 0u);
    atomicStore(&spot_sy[li], 0u);
    atomicStore(&spot_peak[li], 0u);
    atomicStore(&spot_first[li], NONE);
    let part = spot_tile(on, l, li);
    let r = part.x;
    if (on) {
        atomicAdd(&spot_area[r], 1u);
        atomicMin(&spot_x0[r], g.x);
        atomicMin(&spot_y0[r], g.y);
        atomicMax(&spot_x1[r], g.x);
        atomicMax(&spot_y1[r], g.y);
        atomicAdd(&spot_sx[r], g.x);
        atomicAdd(&spot_sy[r], g.y);
        atomicMax(&spot_peak[r], (ratio[ratio_index(g.x, g.y)] >> (16u * (g.x & 1u))) & 0xffffu);
        atomicMin(&spot_first[r], g.y * P.width + g.x);
    }
    workgroupBarrier();
    if (!on || r != li) {
        return;
    }
    let area = atomicLoad(&spot_area[li]);
    let rep = part.y;
    var id = SPOT_CAPACITY;
    if (rep != LOW_NO_REP) {
        id = spot_root_record(spot_root((wg.y * low_tiles_x() + wg.x) * LOW_SLOTS + rep));
    } else if (area >= atomicLoad(&spot_table[SPOT_MIN_AREA])) {
        id = spot_record();
    }
    if (id >= SPOT_CAPACITY) {
        return;
    }
    let b = SPOT_HEAD + id * SPOT_STRIDE;
    atomicAdd(&spot_table[b + SPOT_AREA], area);
    atomicMax(&spot_table[b + SPOT_X0], ~atomicLoad(&spot_x0[li]));
    atomicMax(&spot_table[b + SPOT_Y0], ~atomicLoad(&spot_y0[li]));
    atomicMax(&spot_table[b + SPOT_X1], atomicLoad(&spot_x1[li]));
    atomicMax(&spot_table[b + SPOT_Y1], atomicLoad(&spot_y1[li]));
    spot_add64(b + SPOT_SX, atomicLoad(&spot_sx[li]));
    spot_add64(b + SPOT_SY, atomicLoad(&spot_sy[li]));
    atomicMax(&spot_table[b + SPOT_PEAK], atomicLoad(&spot_peak[li]));
    atomicMax(&spot_table[b + SPOT_FIRST], ~atomicLoad(&spot_first[li]));
}
