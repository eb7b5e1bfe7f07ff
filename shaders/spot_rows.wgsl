// spot_rows.wgsl — the transection / wound-bed check's maps around its candidate spots, copied out in the
// segmentation's own submission. CPU twin: `SpotQuery::reach` (src/analysis.rs) and `spot_spans`
// (src/gpu/analyzer.rs), which lays the spans copied here into the check's maps.
// The candidates are the spot table's records (spots.wgsl, after `spot_stats`) whose area and peak reach
// the query's (SPOT_MIN_AREA, SPOT_MIN_PEAK: what the CPU keeps of the table); each one's evidence
// (`SpotEvidence::keep`) reads the maps only within its reach, a box around the spot's. A row's span is
// the columns from the first to the last any candidate's reach holds on it. The rows buffer
// (`gpu::prelude::spots::rows_words`): a word a row with the span's first column (its bitwise not, so
// that 0 is none and atomicMax takes the least), a word a row with the column past its last, a row's place
// in words among the spans copied out, then how many words are.
// spot_reach:     an invocation a record: a candidate's reach widens the spans of its rows.
// spot_row_index: one workgroup: each reached row's span words (the ratio map's words, then the mask's,
//                 that hold its columns) given a place in row order (prefix sums: scan.wgsl).
// spot_copy_rows: a workgroup a row: a reached row's span words copied to its place (`row_maps`), read
//                 back with the table.

@group(0) @binding(1) var<storage, read> spot_table: array<u32>;
@group(0) @binding(2) var<storage, read> ratio: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> rows: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> row_maps: array<u32>;

// Where row y's span ends and its place are kept in the rows buffer (its start at y).
fn span_end_at(y: u32) -> u32 {
    return P.height + y;
}

fn place_at(y: u32) -> u32 {
    return 2u * P.height + y;
}

// Row y's span, columns [x, z) (z = 0: no candidate reaches the row).
fn span_of(y: u32) -> vec2<u32> {
    return vec2<u32>(~atomicLoad(&rows[y]), atomicLoad(&rows[span_end_at(y)]));
}

// The words of the ratio map, then of the mask, that hold columns [x, z) of a row: their first, their end.
fn ratio_words_of(s: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(s.x / 2u, (s.y + 1u) / 2u);
}

fn mask_words_of(s: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(s.x / 4u, (s.y + 3u) / 4u);
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
    // The box, exclusive, grown by the ring's side (`Spot::ring_side`) and the reach beyond it.
    let x0 = spot_table[b + SPOT_X0];
    let y0 = spot_table[b + SPOT_Y0];
    let x1 = spot_table[b + SPOT_X1] + 1u;
    let y1 = spot_table[b + SPOT_Y1] + 1u;
    let side = max(max(x1 - x0, y1 - y0), SPOT_RING_MIN) + SPOT_REACH_BEYOND;
    let xa = select(0u, x0 - side, x0 > side);
    let xb = min(x1 + side, P.width);
    for (var y = select(0u, y0 - side, y0 > side); y < min(y1 + side, P.height); y++) {
        atomicMax(&rows[y], ~xa);
        atomicMax(&rows[span_end_at(y)], xb);
    }
}

@compute @workgroup_size(256)
fn spot_row_index(@builtin(local_invocation_index) li: u32) {
    let span = chunk_of(li, P.height);
    var words = 0u;
    for (var y = span.x; y < span.y; y++) {
        let s = span_of(y);
        if (s.y != 0u) {
            let r = ratio_words_of(s);
            let m = mask_words_of(s);
            words += r.y - r.x + m.y - m.x;
        }
    }
    part[li] = words;
    scan_part(li);
    var place = part[li] - words;
    for (var y = span.x; y < span.y; y++) {
        let s = span_of(y);
        var at = NONE;
        if (s.y != 0u) {
            at = place;
            let r = ratio_words_of(s);
            let m = mask_words_of(s);
            place += r.y - r.x + m.y - m.x;
        }
        atomicStore(&rows[place_at(y)], at);
    }
    if (li == 255u) {
        atomicStore(&rows[3u * P.height], part[255]);
    }
}

@compute @workgroup_size(256)
fn spot_copy_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let y = wg.x;
    let at = atomicLoad(&rows[place_at(y)]);
    if (at == NONE) {
        return;
    }
    let s = span_of(y);
    let r = ratio_words_of(s);
    let m = mask_words_of(s);
    for (var k = r.x + li; k < r.y; k += 256u) {
        row_maps[at + k - r.x] = ratio[y * ratio_stride() + k];
    }
    let mat = at + r.y - r.x;
    for (var k = m.x + li; k < m.y; k += 256u) {
        row_maps[mat + k - m.x] = mask[y * mask_stride() + k];
    }
}
