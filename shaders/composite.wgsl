// composite.wgsl — CPU twin: src/reference/composite.rs
// composite: reads wl_in (the drawn tiles' white light, packed RGB8, a listed tile after another as the
//            overlay's tiles: uploaded by `composite` for those tiles only), ratio, fluo, seeds, distfield, styles (the processor's per-lesion style table:
//            one word a core slot, STYLE_DRAWN | STYLE_WARN, uploaded after the figures are smoothed and the
//            margin verdict decided on the CPU; nothing is decided here), on the tiles listed in `drawn`
//            only (`gpu::prelude::drawn`: those near a core or holding the fluorescence colour; elsewhere
//            the overlay is the white light as it is); writes overlay (packed RGB8, a listed tile after
//            another: 16 rows of 16 pixels, DRAWN_TILE_WORDS words, rows and pixels beyond the frame 0)
//            and classes (8-bit classes packed four a word, a listed tile after another: 0 background,
//            1 rim, 2 core, 3 other fluorescence; a rim pixel is fluorescence within the rim search
//            distance of a core). One workgroup a listed tile, one invocation a run of four pixels of a
//            tile row: three overlay words and one classes word, no atomics. `composite` writes the
//            overlay alone, `composite_classes` the class map too (only a frame that asked for it pays
//            for it). The CPU lays the tiles over the white light (`GpuAnalyzer::composite`).
// Fluorescence in pseudo-colour, cores tinted, each core's boundary and margin contours anti-aliased from
// the distance field. Text and every other mark are drawn after readback (src/overlay/).

@group(0) @binding(1) var<storage, read> wl_in: array<u32>;
@group(0) @binding(2) var<storage, read> ratio: array<u32>;
@group(0) @binding(3) var<storage, read> fluo: array<u32>;
@group(0) @binding(4) var<storage, read> seeds: array<u32>;
@group(0) @binding(5) var<storage, read> distfield: array<u32>;
@group(0) @binding(6) var<storage, read> styles: array<u32>;
@group(0) @binding(7) var<storage, read_write> overlay: array<u32>;
@group(0) @binding(8) var<storage, read_write> classes: array<u32>;
// The tiles near a core (near.wgsl): the field is read there only.
@group(0) @binding(9) var<storage, read> near: array<u32>;
// The tiles drawn: their list from word near_tiles() on, near[NEAR_COUNT_DRAWN] of them.
@group(0) @binding(10) var<storage, read> drawn: array<u32>;

// Overlay words of a drawn tile: 256 pixels of three bytes.
const DRAWN_TILE_WORDS: u32 = 192u;

fn near_word(i: u32) -> u32 {
    return near[i];
}

// Colours: FLUORESCENCE, BOUNDARY, MARGIN_OK, MARGIN_WARN, CORE_TINT from the prelude (`overlay::palette`).

fn wl_byte(b: u32) -> u32 {
    return (wl_in[b >> 2u] >> (8u * (b & 3u))) & 255u;
}

fn fluorescence_alpha(r: f32, fluorescent: bool) -> f32 {
    let a = clamp((r - TINT_FROM) / 1.5, 0.0, 0.65);
    return select(a, max(a, 0.3), fluorescent);
}

fn line_alpha(d: f32, at: f32) -> f32 {
    return clamp(1.5 - abs(d - at), 0.0, 1.0);
}

fn mixc(c: vec3<f32>, k: vec3<f32>, a: f32) -> vec3<f32> {
    return c * (1.0 - a) + k * a;
}

// The overlay colour (rounded) and class of pixel i, whose white light is at byte wb of wl_in.
fn shade(i: u32, wb: u32) -> vec4<u32> {
    var c = vec3<f32>(f32(wl_byte(wb)), f32(wl_byte(wb + 1u)), f32(wl_byte(wb + 2u)));
    let x = i % P.width;
    let y = i / P.width;
    let fl = mask_byte(fluo[mask_index(x, y)], x) != 0u;
    c = mixc(c, FLUORESCENCE, fluorescence_alpha(ratio_decode(ratio[ratio_index(x, y)], x), fl));
    var cls = select(0u, 3u, fl);
    // Core pixels lie in the tiles near a core only: the seeds are read there only.
    if (near_active(x, y) && (mask_byte(seeds[mask_index(x, y)], x) & SEED_VALUE) != 0u) {
        c = mixc(c, CORE_TINT, 0.2);
        cls = 2u;
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
                cls = 1u;
            }
            // Lines only for the lesions the processor styled (as the CPU composite).
            let style = styles[nl - 1u];
            if ((style & STYLE_DRAWN) != 0u) {
                let warn = (style & STYLE_WARN) != 0u;
                // Dashed where the boundary has no rim (as `overlay::lines::boundary_drawn`).
                if (fl || ((x / DASH_PX + y / DASH_PX) % 2u) == 0u) {
                    c = mixc(c, BOUNDARY, line_alpha(d, 1.0));
                }
                for (var m = 0u; m < P.n_margins; m += 1u) {
                    var color = vec3<f32>(255.0, 255.0, 255.0);
                    var weight = 0.6;
                    if (m == 0u) {
                        color = select(MARGIN_OK, MARGIN_WARN, warn);
                        weight = 1.0;
                    }
                    c = mixc(c, color, line_alpha(d, P.margins[m] + 0.5) * weight);
                }
            }
        }
    }
    return vec4<u32>(vec3<u32>(floor(c + vec3<f32>(0.5))), cls);
}

// The run of four pixels of invocation li (row li / 4, columns 4 (li % 4) ..) of the k-th drawn tile:
// its three overlay words written; its classes word returned.
fn shade_run(k: u32, li: u32) -> u32 {
    let t = drawn[near_tiles() + k];
    let tx = near_tiles_x();
    let y = 16u * (t / tx) + li / 4u;
    let x0 = 16u * (t % tx) + 4u * (li % 4u);
    var bytes: array<u32, 12>;
    var cls = 0u;
    for (var j = 0u; j < 4u; j += 1u) {
        var px = vec4<u32>(0u);
        if (x0 + j < P.width && y < P.height) {
            px = shade(y * P.width + x0 + j, 4u * (k * DRAWN_TILE_WORDS + 3u * li) + 3u * j);
        }
        bytes[3u * j] = px.x;
        bytes[3u * j + 1u] = px.y;
        bytes[3u * j + 2u] = px.z;
        cls |= px.w << (8u * j);
    }
    for (var j = 0u; j < 3u; j += 1u) {
        overlay[k * DRAWN_TILE_WORDS + 3u * li + j] = bytes[4u * j] | (bytes[4u * j + 1u] << 8u) | (bytes[4u * j + 2u] << 16u) | (bytes[4u * j + 3u] << 24u);
    }
    return cls;
}

// The drawn tile of a workgroup (the dispatch may be folded into rows of workgroups), or one past the list.
fn drawn_index(wg: vec3<u32>, nw: vec3<u32>) -> u32 {
    return wg.y * nw.x + wg.x;
}

@compute @workgroup_size(64)
fn composite(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let k = drawn_index(wg, nw);
    if (k < near_word(NEAR_COUNT_DRAWN)) {
        _ = shade_run(k, li);
    }
}

// The composite and the class map, for a frame whose class map was asked for (`segment(.., true)`).
@compute @workgroup_size(64)
fn composite_classes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let k = drawn_index(wg, nw);
    if (k < near_word(NEAR_COUNT_DRAWN)) {
        classes[64u * k + li] = shade_run(k, li);
    }
}
