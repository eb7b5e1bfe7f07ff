// composite.wgsl — CPU twin: src/reference/composite.rs (with the CPU's finishing, src/gpu/marks.rs)
// composite: reads ratio, fluo, seeds, distfield on the tiles listed in `drawn` only (`gpu::prelude::drawn`:
//            those near a core or holding the fluorescence colour; elsewhere the overlay is the white
//            light as it is); writes marks (a word a pixel, `gpu::prelude::mark`, a listed tile after
//            another: 16 rows of 16 pixels, pixels beyond the frame 0) and classes (8-bit classes packed
//            four a word, a listed tile after another: 0 background, 1 rim, 2 core, 3 other fluorescence; a
//            rim pixel is fluorescence within the rim search distance of a core). One workgroup a listed
//            tile (dispatched indirectly, from the list's length that mark_coreless leaves in `drawn`, in
//            the segmentation's own submission), one invocation a run of four pixels of a tile row: four
//            mark words and one classes word, no atomics. `composite` writes the marks alone,
//            `composite_classes` the class map too (only a frame that asked for it pays for it).
// A mark holds everything a pixel's colour depends on but the white light and the processor's style table
// (decided on the CPU after this submission: tracking, smoothing, the margin verdict): the fluorescence
// colour's opacity, whether it is fluorescent, a core pixel, and the nearest core's slot with its distance
// where one of that core's lines has coverage. The CPU colours the marked pixels over the white light by
// the styles (`overlay::lines::shade`). Text and every other mark are drawn after readback (src/overlay/).

@group(0) @binding(1) var<storage, read> ratio: array<u32>;
@group(0) @binding(2) var<storage, read> fluo: array<u32>;
@group(0) @binding(3) var<storage, read> seeds: array<u32>;
@group(0) @binding(4) var<storage, read> distfield: array<u32>;
@group(0) @binding(5) var<storage, read_write> marks: array<u32>;
@group(0) @binding(6) var<storage, read_write> classes: array<u32>;
// The tiles near a core (near.wgsl): the field is read there only.
@group(0) @binding(7) var<storage, read> near: array<u32>;
// The tiles drawn: their list from word near_tiles() on, near[NEAR_COUNT_DRAWN] of them.
@group(0) @binding(8) var<storage, read> drawn: array<u32>;

// Mark words of a drawn tile: a pixel each.
const DRAWN_TILE_WORDS: u32 = 256u;

fn near_word(i: u32) -> u32 {
    return near[i];
}

fn fluorescence_alpha(r: f32, fluorescent: bool) -> f32 {
    let a = clamp((r - TINT_FROM) / 1.5, 0.0, 0.65);
    return select(a, max(a, 0.3), fluorescent);
}

// The mark (`gpu::prelude::mark`) and class of pixel i.
fn mark(i: u32) -> vec2<u32> {
    let x = i % P.width;
    let y = i / P.width;
    let fl = mask_byte(fluo[mask_index(x, y)], x) != 0u;
    let alpha = fluorescence_alpha(ratio_decode(ratio[ratio_index(x, y)], x), fl);
    var m = (u32(round(alpha * MARK_ALPHA_SCALE)) << MARK_ALPHA_SHIFT) | select(0u, MARK_FL, fl);
    var cls = select(0u, 3u, fl);
    // Core pixels lie in the tiles near a core only: the seeds are read there only.
    var seed = 0u;
    if (near_active(x, y)) {
        seed = mask_byte(seeds[mask_index(x, y)], x) & SEED_VALUE;
    }
    if (seed != 0u) {
        m |= MARK_CORE << MARK_SLOT_SHIFT;
        cls = 2u | ((seed - 1u) << CLASS_SLOT_SHIFT);
    } else {
        // Beyond every core's bound (a tile not near a core, not written by the distance rows) the field is 0.
        var field = 0u;
        if (near_active(x, y)) {
            field = distfield[i];
        }
        let nl = field_near(field);
        if (nl != 0u) {
            let d = field_dist(field);
            if (fl && d <= P.rim_search_px) {
                cls = 1u | ((nl - 1u) << CLASS_SLOT_SHIFT);
            }
            // The nearest line with coverage (the boundary at 1 px, margin k at its distance + 0.5 px).
            var off = d - 1.0;
            var line = 0u;
            for (var k = 0u; k < P.n_margins; k += 1u) {
                let o = d - (P.margins[k] + 0.5);
                if (abs(o) < abs(off)) {
                    off = o;
                    line = k + 1u;
                }
            }
            if (abs(off) < MARK_LINE_REACH) {
                let code = u32(i32(round(off * MARK_OFFSET_SCALE)) + i32(MARK_OFFSET_ZERO));
                m |= (nl << MARK_SLOT_SHIFT) | (line << MARK_LINE_SHIFT) | (code << MARK_OFFSET_SHIFT);
            }
        }
    }
    return vec2<u32>(m, cls);
}

// The run of four pixels of invocation li (row li / 4, columns 4 (li % 4) ..) of the k-th drawn tile:
// its four mark words written; its classes word returned.
fn mark_run(k: u32, li: u32) -> u32 {
    let t = drawn[near_tiles() + k];
    let tx = near_tiles_x();
    let y = 16u * (t / tx) + li / 4u;
    let x0 = 16u * (t % tx) + 4u * (li % 4u);
    var cls = 0u;
    for (var j = 0u; j < 4u; j += 1u) {
        var px = vec2<u32>(0u);
        if (x0 + j < P.width && y < P.height) {
            px = mark(y * P.width + x0 + j);
        }
        marks[k * DRAWN_TILE_WORDS + 4u * li + j] = px.x;
        cls |= px.y << (8u * j);
    }
    return cls;
}

// The drawn tile of a workgroup (the dispatch is folded into rows of DRAWN_ROW_GROUPS workgroups), or one
// past the list.
fn drawn_index(wg: vec3<u32>, nw: vec3<u32>) -> u32 {
    return wg.y * nw.x + wg.x;
}

@compute @workgroup_size(64)
fn composite(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let k = drawn_index(wg, nw);
    if (k < near_word(NEAR_COUNT_DRAWN)) {
        _ = mark_run(k, li);
    }
}

// The marks and the class map, for a frame whose class map was asked for (`segment(.., true)`).
@compute @workgroup_size(64)
fn composite_classes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let k = drawn_index(wg, nw);
    if (k < near_word(NEAR_COUNT_DRAWN)) {
        classes[64u * k + li] = mark_run(k, li);
    }
}
