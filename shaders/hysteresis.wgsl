// hysteresis.wgsl — CPU twin: src/reference/threshold.rs (`keep_strong`)
// The threshold's hysteresis: which 8-connected components of the low mask (the cut at the hysteresis
// level, level[LEVEL_BINS + 3]: cut.wgsl's `fluorescent`) hold a pixel at the level (level[LEVEL_BINS]). Only the tiles' borders go to a global union-find: a tile's components that touch no
// other tile are settled in workgroup memory, and the low mask's bytes say to which border pixel each
// pixel's tile-local component answers.
// local_low:   one 16×16 tile a workgroup: the cut at the hysteresis level, the labelling of the
//              tile's low pixels in workgroup memory (tile_union.wgsl); each low pixel's byte in `low_cut`
//              (the seeds' buffer, free until the distance stage; the mask's layout) is 1 | STRONG_PX where its tile-local
//              component holds a pixel at the level | its representative << LOW_REP_SHIFT: the smallest
//              border slot (a pixel of the tile's perimeter, `border_slot`, LOW_BORDER of them) of the
//              component, or LOW_NO_REP when it touches no tile border. The tile's LOW_SLOTS words of the
//              border array (`parent`, at `low_slot`): each low perimeter pixel's slot points at its
//              representative's (a representative is its own root), any other slot is LOW_NOT_REP; words
//              LOW_BORDER and LOW_BORDER + 1, a bit a slot, the representatives whose component is strong.
//              A tile with no low pixel on its perimeter writes none of its words, only its flag in
//              `low_tiles` (and the count of flagged tiles): the passes below look at a tile's flag
//              before its words, so that only the flagged tiles' words are written and read.
// merge_low:   an invocation a border slot: the edges to the left and upper neighbours (8-connected) that
//              cross a tile border, slot to slot (a neighbour across a tile border is on its own tile's
//              perimeter), from the border array alone: the low mask's bytes are not read.
// mark_strong: an invocation a border slot: each low one points straight at its root, and a strong
//              representative sets STRONG_ROOT on its root's word.
// morphology.wgsl's clean_mask_strong then keeps a low pixel whose byte carries STRONG_PX or whose
// representative's root is marked. Traffic: the ratio and the glint bits read once, the low mask's bytes
// written once, and a quarter word a pixel of border array, where a separate cut pass wrote the bytes and
// a word-a-pixel parent array was read and written four times.

@group(0) @binding(1) var<storage, read> ratio: array<u32>;
@group(0) @binding(2) var<storage, read> glint: array<u32>;
@group(0) @binding(3) var<storage, read> level: array<u32>;
@group(0) @binding(4) var<storage, read_write> low_cut: array<u32>;
@group(0) @binding(5) var<storage, read_write> parent: array<atomic<u32>>;
// Word 0: the tiles with a low pixel on their perimeter (the traffic count: only theirs of the border
// array are written and read); word 1 + t: whether tile t is one (its border words are written only then,
// and read only where this says so).
@group(0) @binding(8) var<storage, read_write> low_tiles: array<atomic<u32>>;

// A word of the border array that no union ever addresses (the slot of a pixel that is not low).
const LOW_NOT_REP: u32 = 0x7fffffffu;

// The hysteresis counts no roots.
fn root_lost(a: u32) {
}

// Tile-local: whether each component holds a pixel at the level (by the component's tile-local root); the
// strong representatives, a bit a slot; each pixel's byte, to be written a word (four pixels) an invocation.
var<workgroup> tile_strong: array<atomic<u32>, 256>;
var<workgroup> strong_reps: array<atomic<u32>, 2>;
var<workgroup> tile_any: atomic<u32>;
var<workgroup> tile_bytes: array<u32, 256>;

// Whether the tile of pixel (x, y) has a low pixel on its perimeter (its border words are written).
fn low_tile(x: u32, y: u32) -> bool {
    return atomicLoad(&low_tiles[1u + (y >> 4u) * low_tiles_x() + (x >> 4u)]) != 0u;
}

@compute @workgroup_size(16, 16)
fn local_low(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let inside = g.x < P.width && g.y < P.height;
    let low = inside && fluorescent(g.x, g.y, bitcast<f32>(level[LEVEL_BINS + 3u]));
    let strong_px = low && ratio_px(g.x, g.y) >= bitcast<f32>(level[LEVEL_BINS]);
    // Only the low pixels are labelled, 8-connected (workgroup memory starts zeroed).
    tile_mark(l, select(2u, 1u, low));
    workgroupBarrier();
    let part = tile_part(l, li);
    let r = part.x;
    let s = border_slot(l.x, l.y);
    if (low) {
        if (strong_px) {
            atomicStore(&tile_strong[r], STRONG_PX);
        }
        if (s < LOW_BORDER) {
            atomicStore(&tile_any, 1u);
        }
    }
    workgroupBarrier();
    var out = 0u;
    var rep = LOW_NO_REP;
    var strong = 0u;
    if (low) {
        rep = part.y;
        strong = atomicLoad(&tile_strong[r]);
        out = 1u | strong | (rep << LOW_REP_SHIFT);
    }
    tile_bytes[li] = out;
    let t = wg.y * low_tiles_x() + wg.x;
    // A tile with no low pixel on its perimeter writes its flag alone: no other tile's pixel joins it.
    let any = atomicLoad(&tile_any);
    if (li == 0u) {
        atomicStore(&low_tiles[1u + t], any);
        if (any != 0u) {
            atomicAdd(&low_tiles[0], 1u);
        }
    }
    if (s < LOW_BORDER && any != 0u) {
        var word = LOW_NOT_REP;
        if (low) {
            // Under its representative (smaller: parent[i] <= i holds), a representative its own root.
            word = t * LOW_SLOTS + rep;
            if (rep == s && strong != 0u) {
                atomicOr(&strong_reps[s >> 5u], 1u << (s & 31u));
            }
        }
        atomicStore(&parent[t * LOW_SLOTS + s], word);
    }
    workgroupBarrier();
    // The tile's bytes out, a word (four pixels of a row) an invocation.
    if (li < TILE * TILE / 4u) {
        let ly = li / 4u;
        let lx = 4u * (li % 4u);
        let y = wg.y * TILE + ly;
        let x = wg.x * TILE + lx;
        if (y < P.height && x < P.width) {
            let k = ly * TILE + lx;
            low_cut[mask_index(x, y)] = tile_bytes[k] | (tile_bytes[k + 1u] << 8u) | (tile_bytes[k + 2u] << 16u) | (tile_bytes[k + 3u] << 24u);
        }
    }
    if (li < 2u && any != 0u) {
        atomicStore(&parent[t * LOW_SLOTS + LOW_BORDER + li], atomicLoad(&strong_reps[li]));
    }
}

// The border slot of pixel (x, y), on its tile's perimeter.
fn perimeter_slot(x: u32, y: u32) -> u32 {
    return low_slot(x, y, border_slot(x % TILE, y % TILE));
}

// Unites border slot `me` with pixel (x, y) of a neighbouring tile (on that tile's perimeter), if it is low.
fn join(me: u32, x: u32, y: u32) {
    if (!low_tile(x, y)) {
        return;
    }
    let o = perimeter_slot(x, y);
    if (atomicLoad(&parent[o]) != LOW_NOT_REP) {
        unite(me, o);
    }
}

@compute @workgroup_size(64)
fn merge_low(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    if (li >= LOW_BORDER) {
        return;
    }
    let p = slot_pixel(li);
    let x = wg.x * TILE + p.x;
    let y = wg.y * TILE + p.y;
    if (x >= P.width || y >= P.height || !low_tile(x, y)) {
        return;
    }
    let me = perimeter_slot(x, y);
    if (atomicLoad(&parent[me]) == LOW_NOT_REP) {
        return;
    }
    let left_edge = p.x == 0u;
    let top_edge = p.y == 0u;
    if (left_edge && x > 0u) {
        join(me, x - 1u, y);
    }
    if (y > 0u) {
        if (top_edge) {
            join(me, x, y - 1u);
        }
        if ((left_edge || top_edge) && x > 0u) {
            join(me, x - 1u, y - 1u);
        }
        if ((top_edge || p.x == TILE - 1u) && x + 1u < P.width) {
            join(me, x + 1u, y - 1u);
        }
    }
}

// The border slot of invocation li of tile wg's workgroup (an invocation a slot), or NONE where it is not
// a slot, or not one of the union-find's (its tile unflagged, or its pixel not labelled).
fn labelled_slot(wg: vec3<u32>, li: u32) -> u32 {
    let t = wg.y * low_tiles_x() + wg.x;
    let i = t * LOW_SLOTS + li;
    if (li >= LOW_BORDER || atomicLoad(&low_tiles[1u + t]) == 0u || atomicLoad(&parent[i]) == LOW_NOT_REP) {
        return NONE;
    }
    return i;
}

@compute @workgroup_size(64)
fn mark_strong(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = labelled_slot(wg, li);
    if (i == NONE) {
        return;
    }
    let t = wg.y * low_tiles_x() + wg.x;
    let r = find(i);
    // A root's own word is left to the marks (a store would erase one).
    if (r != i) {
        atomicStore(&parent[i], r);
    }
    if (((atomicLoad(&parent[t * LOW_SLOTS + LOW_BORDER + (li >> 5u)]) >> (li & 31u)) & 1u) != 0u) {
        atomicOr(&parent[r], STRONG_ROOT);
    }
}
