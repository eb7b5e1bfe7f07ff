// spot_rows.wgsl — the transection / wound-bed check's maps around its candidate spots, copied out in the
// segmentation's own submission. CPU twin: `SpotQuery::reach` (src/analysis.rs) and `spot_spans`
// (src/gpu/analyzer.rs), which lays the spans copied here into the check's maps.
// The candidates are the spot table's records (spots.wgsl, after `spot_stats`) whose area and peak reach
// the query's (SPOT_MIN_AREA, SPOT_MIN_PEAK: what the CPU keeps of the table; an empty record, area 0, is
// none); each one's evidence (`SpotEvidence::keep`) reads the maps only within its reach, a box around the
// spot's. A row's span is the columns from the first to the last any candidate's reach holds on it. The
// rows buffer (`gpu::prelude::spots::rows_words`): a word a row with its span's place in words among the
// spans copied out (NONE for a row out of every candidate's reach), then how many words are.
// spot_copy_rows: a workgroup a row: the row's span from the candidates' reaches (an invocation a
//                 record), a place for its words (the ratio map's words, then the mask's, that hold its
//                 columns) taken from the count, the words copied there (`row_maps`), read back with the
//                 table and the places. The spans lie in the order their rows took their places.

@group(0) @binding(1) var<storage, read> spot_table: array<u32>;
@group(0) @binding(2) var<storage, read> ratio: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> rows: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> row_maps: array<u32>;

// The row's span, columns [x, z): the bitwise not of x (so that 0 is none and atomicMax takes the
// least), z (0: no candidate reaches the row); then its place.
var<workgroup> span_start: atomic<u32>;
var<workgroup> span_end: atomic<u32>;
var<workgroup> span_place: u32;

// The words of the ratio map, then of the mask, that hold columns [x, z) of a row: their first, their end.
fn ratio_words_of(s: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(s.x / 2u, (s.y + 1u) / 2u);
}

fn mask_words_of(s: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(s.x / 4u, (s.y + 3u) / 4u);
}

@compute @workgroup_size(256)
fn spot_copy_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let y = wg.x;
    let n = min(spot_table[SPOT_COUNT], SPOT_CAPACITY);
    for (var k = li; k < n; k += 256u) {
        let b = SPOT_HEAD + k * SPOT_STRIDE;
        let area = spot_table[b + SPOT_AREA];
        if (area == 0u || area < spot_table[SPOT_MIN_AREA] || spot_table[b + SPOT_PEAK] < spot_table[SPOT_MIN_PEAK]) {
            continue;
        }
        // The box, exclusive, grown by the ring's side (`Spot::ring_side`) and the reach beyond it.
        let x0 = ~spot_table[b + SPOT_X0];
        let y0 = ~spot_table[b + SPOT_Y0];
        let x1 = spot_table[b + SPOT_X1] + 1u;
        let y1 = spot_table[b + SPOT_Y1] + 1u;
        let side = max(max(x1 - x0, y1 - y0), SPOT_RING_MIN) + SPOT_REACH_BEYOND;
        if (y + side >= y0 && y < y1 + side) {
            atomicMax(&span_start, ~select(0u, x0 - side, x0 > side));
            atomicMax(&span_end, min(x1 + side, P.width));
        }
    }
    workgroupBarrier();
    if (li == 0u) {
        let s = vec2<u32>(~atomicLoad(&span_start), atomicLoad(&span_end));
        var at = NONE;
        if (s.y != 0u) {
            let r = ratio_words_of(s);
            let m = mask_words_of(s);
            at = atomicAdd(&rows[P.height], r.y - r.x + m.y - m.x);
        }
        atomicStore(&rows[y], at);
        span_place = at;
    }
    let at = workgroupUniformLoad(&span_place);
    if (at == NONE) {
        return;
    }
    let s = vec2<u32>(~atomicLoad(&span_start), atomicLoad(&span_end));
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
