// morphology.wgsl — CPU twins: src/reference/threshold.rs (`threshold`, `keep_strong`) and src/reference/morphology.rs
// (`clean_mask`).
// The cut (`fluorescent`): cut.wgsl, appended.
// clean_mask: reads ratio, glint (the white light's glint bits: cut.wgsl), the fluorescence level (level[LEVEL_BINS], from the
//             threshold stage); writes mask: 8-bit values packed four a word, rows padded to whole words
//             (`mask_stride`), 1 where fluorescent after the clean-up. One pass: the threshold (ratio at
//             least the level, not a glint), a 3×3 opening (erode, dilate), a 5×5 closing (dilate,
//             dilate, erode, erode), all in workgroup memory on one tile and its halo of six pixels.
//             Each tile row is a bit row (TILE_W + 2 × HALO = 28 bits): a 3-tap pass is two shifts and two
//             ANDs or ORs along it, and three rows across. Pixels outside the image are neutral
//             (foreground for erosion, background for dilation), as on the CPU.
// Hysteresis (`threshold::keep_strong`), when on (hysteresis.wgsl cuts the low mask and labels it):
// clean_mask_strong: clean_mask on the low mask's cut (its class bit: the cut at the hysteresis level,
//             made once by hysteresis.wgsl's local_low, so neither the ratio nor the glint bits are read again), keeping only
//             the pixels whose low component holds a pixel at the level (`kept_low`); reads low_cut (as
//             hysteresis.wgsl's local_low rewrote it) and the hysteresis's border array (`parent`).

@group(0) @binding(1) var<storage, read> ratio: array<u32>;
@group(0) @binding(2) var<storage, read> glint: array<u32>;
@group(0) @binding(3) var<storage, read> level: array<u32>;
@group(0) @binding(4) var<storage, read_write> mask: array<u32>;
@group(0) @binding(5) var<storage, read> parent: array<u32>;
@group(0) @binding(6) var<storage, read> low_cut: array<u32>;

const HALO: u32 = 6u;
const TILE_W: u32 = 16u;
// One thread a tile row, halo included: 64 rows in, 52 out.
const ROWS_IN: u32 = 64u;
const TILE_H: u32 = 52u;

var<workgroup> bits_a: array<u32, 64>;
var<workgroup> bits_b: array<u32, 64>;
var<workgroup> inside: array<u32, 64>;

// One 3×3 pass from `bits_a` into `bits_b` (erode when `erode`), this thread's row r.
fn pass3(r: u32, erode: bool) {
    var acc = select(0u, 0xffffffffu, erode);
    for (var dr = 0u; dr < 3u; dr += 1u) {
        // Rows beyond the tile see the row itself: their results fall in the halo, never written out.
        let rr = clamp(i32(r) + i32(dr) - 1, 0, i32(ROWS_IN) - 1);
        // Outside the image: neutral.
        let s = select(bits_a[rr] & inside[rr], bits_a[rr] | ~inside[rr], erode);
        if (erode) {
            acc &= s & (s << 1u) & (s >> 1u);
        } else {
            acc |= s | (s << 1u) | (s >> 1u);
        }
    }
    bits_b[r] = acc;
}

// Row r of the tile and its halo: its first pixel (x0, y) and the bits of the pixels inside the image (bit
// b: pixel x0 + b), also left in inside[r]. Both mask passes cut their rows over these bits, each with its
// own test (`fluorescent`, or the low mask's `kept_low`): one loop with a switch between the two would bind
// the other's buffers to each pass, and the traffic counted from reflection would charge them.
fn row_span(wg: vec3<u32>, r: u32) -> vec3<i32> {
    let x0 = i32(wg.x * TILE_W) - i32(HALO);
    let y = i32(wg.y * TILE_H) + i32(r) - i32(HALO);
    var ins = 0u;
    if (y >= 0 && y < i32(P.height)) {
        for (var b = 0u; b < TILE_W + 2u * HALO; b += 1u) {
            let x = x0 + i32(b);
            if (x >= 0 && x < i32(P.width)) {
                ins |= 1u << b;
            }
        }
    }
    inside[r] = ins;
    return vec3<i32>(x0, y, i32(ins));
}

// The opening and closing of the tile's rows (bits_a, row r this thread's), and the tile's words out.
fn open_close_store(wg: vec3<u32>, r: u32) {
    workgroupBarrier();
    // Opening, then closing: erode, dilate, dilate, dilate, erode, erode.
    for (var k = 0u; k < 6u; k += 1u) {
        pass3(r, k == 0u || k >= 4u);
        workgroupBarrier();
        bits_a[r] = bits_b[r];
        workgroupBarrier();
    }
    let y = i32(wg.y * TILE_H) + i32(r) - i32(HALO);
    if (r < HALO || r >= HALO + TILE_H || y >= i32(P.height)) {
        return;
    }
    let out = (bits_a[r] & inside[r]) >> HALO;
    let stride = mask_stride();
    let first = wg.x * TILE_W / 4u;
    for (var k = 0u; k < TILE_W / 4u; k += 1u) {
        if (first + k < stride) {
            let v = (out >> (4u * k)) & 15u;
            let word = (v & 1u) | ((v & 2u) << 7u) | ((v & 4u) << 14u) | ((v & 8u) << 21u);
            mask[u32(y) * stride + first + k] = word;
        }
    }
}

@compute @workgroup_size(64)
fn clean_mask(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) r: u32) {
    let span = row_span(wg, r);
    let cut = bitcast<f32>(level[LEVEL_BINS]);
    var row = 0u;
    for (var b = 0u; b < TILE_W + 2u * HALO; b += 1u) {
        if (((u32(span.z) >> b) & 1u) != 0u && fluorescent(u32(span.x + i32(b)), u32(span.y), cut)) {
            row |= 1u << b;
        }
    }
    bits_a[r] = row;
    open_close_store(wg, r);
}

// A pixel of the low mask kept: cut at the hysteresis level, and its low component holding a pixel at the
// level: its tile-local part does (STRONG_PX in its byte, rewritten by hysteresis.wgsl's local_low), or
// the root of its tile-local part's representative in the border array (`parent`) is marked.
fn kept_low(x: u32, y: u32) -> bool {
    let b = mask_byte(low_cut[mask_index(x, y)], x);
    if ((b & 1u) == 0u) {
        return false;
    }
    if ((b & STRONG_PX) != 0u) {
        return true;
    }
    let rep = b >> LOW_REP_SHIFT;
    if (rep == LOW_NO_REP) {
        return false;
    }
    return (parent[parent_index(parent[low_slot(x, y, rep)])] & STRONG_ROOT) != 0u;
}

@compute @workgroup_size(64)
fn clean_mask_strong(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) r: u32) {
    let span = row_span(wg, r);
    var row = 0u;
    for (var b = 0u; b < TILE_W + 2u * HALO; b += 1u) {
        if (((u32(span.z) >> b) & 1u) != 0u && kept_low(u32(span.x + i32(b)), u32(span.y))) {
            row |= 1u << b;
        }
    }
    bits_a[r] = row;
    open_close_store(wg, r);
}
