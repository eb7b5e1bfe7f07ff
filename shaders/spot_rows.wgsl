// spot_rows.wgsl — the transection / wound-bed check's maps around its candidate spots, copied out in the
// segmentation's own submission. CPU twin: `SpotQuery::reach` (src/analysis.rs) and `spot_rows`
// (src/gpu/analyzer.rs), which lay the rows copied here into the check's maps.
// The candidates are the spot table's records (spots.wgsl, after `spot_stats`) whose area and peak reach
// the query's (SPOT_MIN_AREA, SPOT_MIN_PEAK: what the CPU keeps of the table); each one's evidence
// (`SpotEvidence::keep`) reads the maps only on the rows within its reach. The rows buffer
// (`gpu::prelude::spots::rows_words`): P.height + 1 counts, then a row's place among the rows copied out,
// then how many are.
// spot_reach:     an invocation a record: +1 at the first row of a candidate's reach, -1 past its last.
// spot_row_index: one workgroup: the counts summed down the rows (a row is reached where the sum is not
//                 0), and each reached row numbered in order (prefix sums: scan.wgsl).
// spot_copy_rows: a workgroup a row: a reached row's ratio codes, then its mask bytes, copied to its place
//                 (`row_maps`, rows of ratio_stride() + mask_stride() words), read back with the table.

@group(0) @binding(1) var<storage, read> spot_table: array<u32>;
@group(0) @binding(2) var<storage, read> ratio: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> rows: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> row_maps: array<u32>;

// Where row y's place is kept in the rows buffer.
fn row_place(y: u32) -> u32 {
    return P.height + 1u + y;
}

@compute @workgroup_size(64)
fn spot_reach(@builtin(global_invocation_id) g: vec3<u32>) {
    let k = g.x;
    if (k >= min(spot_table[SPOT_COUNT], SPOT_CAPACITY)) {
        return;
    }
    let b = SPOT_HEAD + k * SPOT_STRIDE;
    if (spot_table[b + SPOT_AREA] < spot_table[SPOT_MIN_AREA] || spot_table[b + SPOT_PEAK] < spot_table[SPOT_MIN_PEAK]) {
        return;
    }
    // The box, exclusive, and the ring's side (`Spot::ring_side`) with the reach beyond it.
    let y0 = spot_table[b + SPOT_Y0];
    let y1 = spot_table[b + SPOT_Y1] + 1u;
    let side = max(max(spot_table[b + SPOT_X1] + 1u - spot_table[b + SPOT_X0], y1 - y0), SPOT_RING_MIN) + SPOT_REACH_BEYOND;
    let first = select(0u, y0 - side, y0 > side);
    atomicAdd(&rows[first], 1u);
    atomicSub(&rows[min(y1 + side, P.height)], 1u);
}

@compute @workgroup_size(256)
fn spot_row_index(@builtin(local_invocation_index) li: u32) {
    let span = chunk_of(li, P.height);
    var sum = 0u;
    for (var y = span.x; y < span.y; y++) {
        sum += atomicLoad(&rows[y]);
    }
    part[li] = sum;
    scan_part(li);
    // The candidates whose reach holds the chunk's first row.
    let open = part[li] - sum;
    var reached = 0u;
    var n = open;
    for (var y = span.x; y < span.y; y++) {
        n += atomicLoad(&rows[y]);
        reached += u32(n != 0u);
    }
    workgroupBarrier();
    part[li] = reached;
    scan_part(li);
    var place = part[li] - reached;
    n = open;
    for (var y = span.x; y < span.y; y++) {
        n += atomicLoad(&rows[y]);
        var at = NONE;
        if (n != 0u) {
            at = place;
            place += 1u;
        }
        atomicStore(&rows[row_place(y)], at);
    }
    if (li == 255u) {
        atomicStore(&rows[2u * P.height + 1u], part[255]);
    }
}

@compute @workgroup_size(256)
fn spot_copy_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let y = wg.x;
    let at = atomicLoad(&rows[row_place(y)]);
    if (at == NONE) {
        return;
    }
    let rw = ratio_stride();
    let mw = mask_stride();
    let out = at * (rw + mw);
    for (var k = li; k < rw; k += 256u) {
        row_maps[out + k] = ratio[y * rw + k];
    }
    for (var k = li; k < mw; k += 256u) {
        row_maps[out + rw + k] = mask[y * mw + k];
    }
}
