// components.wgsl — CPU twin: src/reference/components.rs
// Connected-component labelling by block-based union-find: each 16×16 tile's components in workgroup
// memory, and only the tiles' perimeters in global memory (the border array, LOW_SLOTS words a tile, the
// hysteresis's: hysteresis.wgsl uses it before the morphology pass, this stage after), so no word-a-pixel
// parent array is written or read. Both classes at once: mask 0 4-connected, mask 1 8-connected (their
// pixels are disjoint, so they share the arrays). A fixed sequence of passes, no convergence flag read back.
// local_merge: one 16×16 tile a workgroup: the tile's labelling (`tile_parts`); each tile-local
//              component that touches the tile's perimeter is represented by its smallest border slot
//              (`border_slot`, LOW_BORDER of them a tile). Each perimeter pixel's word of the border array
//              (`border`) points at its representative's slot; a representative's word is a root's:
//              SLOT_ROOT | the index in the tile of its tile-local root (the part's smallest pixel), whose
//              raster index, with the slot's tile, is the root's key (`root_key`); SLOT_CLASS is set in
//              every word of a fluorescent pixel's slot. Every tile-local root sets its bit in `root_bits` (a bit
//              a pixel, rows padded to whole words: `bits_index`; cleared before the frame) and adds to its
//              row's root count in the table's ids (ids_base() + y; the table is cleared before the frame).
// merge:       an invocation a border slot: the edges that cross a tile border (non-fluorescent pixels
//              4-connected, fluorescent ones 8-connected), slot to slot (a neighbour across a tile border
//              is on its own tile's perimeter). A root is hung under the root of smaller key (compare-
//              exchange), so a component's root is the part holding its smallest pixel, as on the CPU; each
//              root hung under another is taken off its row's count and its key pixel's bit cleared, so the
//              counts and the bits are the components' first pixels when it ends.
// scan_rows:   one workgroup: the exclusive prefix sum of those counts, so ids_base() + y holds the
//              first dense id of row y; the total at ids_base() + height and T_COMPONENTS.
// assign_ids:  one workgroup a row, an invocation a word of the row's root bits: each root takes the
//              next dense id in raster order (a prefix sum over the row's words): the id of each word's
//              first root goes to `word_ids`, roots[id] = the root's raster index, and its statistics
//              record is zeroed (so no clear of a frame-sized array).
// compress:    one tile a workgroup: the tile's labelling again, in workgroup memory (cheaper than a
//              word a pixel stored and read back); each tile-local root finds its component's first pixel
//              (its own, or the key of its representative's root in the border array) and that pixel's
//              label, LABELLED | (1 + id) (FL_TAG for a fluorescent one), a root's id being its word's
//              first id plus the roots before it in the word (`root_label`). Each root's label is written
//              to `parent`, the labels array, at 256 t + r (tile t, the root's index r in the tile), and
//              each pixel's tile-local root r to `local_roots`, a byte a pixel in the mask's layout: the
//              distance and reduce stages read a pixel's label as its root's (labels.wgsl), so the labels
//              cost a byte a pixel and a word a tile-local root, not a word a pixel; the roots are counted
//              (T_LOCAL_ROOTS) for the traffic count. As it labels, it adds each pixel to its component's
//              statistics record (by dense id: area and border flag; ratio sum, or boundary and sharp
//              boundary pixels; its bands, STATS_BANDS: common.wgsl's `bands_of`;
//              the tile's leading components summed in workgroup memory first), so
//              the labels are not read again for them; and marks the tile drawn (`drawn`) where it holds
//              a fluorescent pixel.
// The root of a component is its smallest raster index and ids go by raster order of roots, so ids are
// deterministic and in the CPU's label order (its label is roots[id] + 1).
// The tile's labelling in workgroup memory and the border slots: tile_union.wgsl (appended; its global
// find and unite, by index, are the hysteresis's: this stage's go by key). The threshold's hysteresis
// labels its low mask with the same tile passes: hysteresis.wgsl.

@group(0) @binding(1) var<storage, read> mask: array<u32>;
// The labels (compress): a word a tile-local root, at 256 t + r for root r of tile t (labels.wgsl). (Named
// as tile_union.wgsl's global union-find expects, which this stage does not call.)
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> roots: array<u32>;
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> table: array<atomic<u32>>;
// The roots' bits (a bit a pixel), then from word bits_words() on, each bit word's first dense id.
@group(0) @binding(6) var<storage, read_write> root_bits: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read> ratio: array<u32>;
// The border array: a word a border slot (LOW_SLOTS a tile, `low_slot`): its parent slot, or SLOT_ROOT and
// its tile-local root's index in the tile; SLOT_CLASS for a fluorescent pixel's slot.
@group(0) @binding(8) var<storage, read_write> border: array<atomic<u32>>;
// The tiles the composite draws (`gpu::prelude::drawn`): compress marks a tile holding a fluorescent pixel.
@group(0) @binding(9) var<storage, read_write> drawn: array<u32>;
// Each pixel's tile-local root, a byte a pixel in the mask's layout (compress; labels.wgsl).
@group(0) @binding(10) var<storage, read_write> local_roots: array<u32>;

const SLOT_CLASS: u32 = 0x80000000u;
const SLOT_ROOT: u32 = 0x40000000u;
// A non-root word's parent slot.
const SLOT_INDEX: u32 = 0x3fffffffu;

// Words of a row of root bits, and the word of pixel (x, y).
fn bits_stride() -> u32 {
    return (P.width + 31u) / 32u;
}

fn bits_index(x: u32, y: u32) -> u32 {
    return y * bits_stride() + (x >> 5u);
}

fn bits_words() -> u32 {
    return bits_stride() * P.height;
}

// The mask's class (0 or 1).
fn mask_at(x: u32, y: u32) -> u32 {
    return mask_byte(mask[mask_index(x, y)], x) & 1u;
}

// A root (raster index a) hung under another is taken off its row's root count and its bit cleared.
fn root_lost(a: u32) {
    let ay = a / P.width;
    let ax = a - ay * P.width;
    atomicSub(&table[ids_base() + ay], 1u);
    atomicAnd(&root_bits[bits_index(ax, ay)], ~(1u << (ax & 31u)));
}

// Tile-local roots a row of the tile.
var<workgroup> tile_roots: array<atomic<u32>, 16>;

// The tile's labelling (tile_union.wgsl) on the mask: pixel li's tile-local root and its component's
// representative (`tile_part`). Within a tile, local raster order is image raster order, so the local
// root (smallest local index) is the tile part's smallest pixel. Called in uniform control flow.
fn tile_parts(g: vec3<u32>, l: vec3<u32>, li: u32) -> vec2<u32> {
    if (g.x < P.width && g.y < P.height) {
        tile_mark(l, mask_at(g.x, g.y));
    }
    workgroupBarrier();
    return tile_part(l, li);
}

fn tile_of(wg: vec3<u32>) -> u32 {
    return wg.y * low_tiles_x() + wg.x;
}

@compute @workgroup_size(16, 16)
fn local_merge(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let inside = g.x < P.width && g.y < P.height;
    if (li < TILE) {
        atomicStore(&tile_roots[li], 0u);
    }
    let part = tile_parts(g, l, li);
    let r = part.x;
    if (inside) {
        if (r == li) {
            atomicAdd(&tile_roots[l.y], 1u);
            atomicOr(&root_bits[bits_index(g.x, g.y)], 1u << (g.x & 31u));
        }
        let s = border_slot(l.x, l.y);
        if (s < LOW_BORDER) {
            let base = tile_of(wg) * LOW_SLOTS;
            let rep = part.y;
            let cls = select(0u, SLOT_CLASS, tile_class(l) == 1u);
            atomicStore(&border[base + s], cls | select(base + rep, SLOT_ROOT | r, rep == s));
        }
    }
    workgroupBarrier();
    let y = g.y - l.y + li;
    if (li < TILE && y < P.height) {
        let c = atomicLoad(&tile_roots[li]);
        if (c != 0u) {
            atomicAdd(&table[ids_base() + y], c);
        }
    }
}

// The key of root slot s, whose word is w: the raster index of its tile-local root (its index in the tile
// in w's low byte, the tile from the slot).
fn root_key(s: u32, w: u32) -> u32 {
    let t = s / LOW_SLOTS;
    let tx = low_tiles_x();
    let r = w & 255u;
    return (TILE * (t / tx) + r / TILE) * P.width + TILE * (t % tx) + r % TILE;
}

// The root slot of border slot i0, halving the path on the way (a compare-exchange: a word is only ever
// pointed further up its own path; a root's word changes only when it is hung, in unite_slots).
fn find_slot(i0: u32) -> u32 {
    var i = i0;
    loop {
        let w = atomicLoad(&border[i]);
        if ((w & SLOT_ROOT) != 0u) {
            break;
        }
        let p = w & SLOT_INDEX;
        let wp = atomicLoad(&border[p]);
        if ((wp & SLOT_ROOT) == 0u) {
            _ = atomicCompareExchangeWeak(&border[i], w, (w & SLOT_CLASS) | (wp & SLOT_INDEX));
        }
        i = p;
    }
    return i;
}

// The key of border slot i0's root (its component's first pixel), the array left as it is.
fn first_pixel(i0: u32) -> u32 {
    var i = i0;
    loop {
        let w = atomicLoad(&border[i]);
        if ((w & SLOT_ROOT) != 0u) {
            return root_key(i, w);
        }
        i = w & SLOT_INDEX;
    }
    return 0u;
}

// Unites the components of border slots a0 and b0: the root of larger key is hung under the other, if it
// is still a root (keys are distinct and never change, so no two roots are ever hung under each other).
fn unite_slots(a0: u32, b0: u32) {
    var a = find_slot(a0);
    var b = find_slot(b0);
    loop {
        if (a == b) {
            break;
        }
        var wa = atomicLoad(&border[a]);
        var wb = atomicLoad(&border[b]);
        if ((wa & wb & SLOT_ROOT) == 0u) {
            // Hung meanwhile: up to the roots again.
            a = find_slot(a);
            b = find_slot(b);
            continue;
        }
        if (root_key(a, wa) < root_key(b, wb)) {
            let t = a;
            a = b;
            b = t;
            let tw = wa;
            wa = wb;
            wb = tw;
        }
        if (atomicCompareExchangeWeak(&border[a], wa, (wa & SLOT_CLASS) | b).exchanged) {
            root_lost(root_key(a, wa));
            break;
        }
        a = find_slot(a);
        b = find_slot(b);
    }
}

// Border slot `me` (of class `cls`) and pixel (x, y) of a neighbouring tile, on its perimeter: united when
// of the same class.
fn join(me: u32, cls: u32, x: u32, y: u32) {
    let o = low_slot(x, y, border_slot(x % TILE, y % TILE));
    if ((atomicLoad(&border[o]) & SLOT_CLASS) == cls) {
        unite_slots(me, o);
    }
}

// An invocation a pixel of the tile's perimeter (tile_union.wgsl's border slots): only they have edges
// that cross a tile border; to the left and upper neighbours (fluorescent pixels also the two upper
// diagonals).
@compute @workgroup_size(64)
fn merge(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    if (li >= LOW_BORDER) {
        return;
    }
    let p = slot_pixel(li);
    let x = wg.x * TILE + p.x;
    let y = wg.y * TILE + p.y;
    if (x >= P.width || y >= P.height) {
        return;
    }
    let me = tile_of(wg) * LOW_SLOTS + li;
    let cls = atomicLoad(&border[me]) & SLOT_CLASS;
    let left_edge = p.x == 0u;
    let top_edge = p.y == 0u;
    if (left_edge && x > 0u) {
        join(me, cls, x - 1u, y);
    }
    if (y > 0u) {
        if (top_edge) {
            join(me, cls, x, y - 1u);
        }
        if (cls != 0u) {
            if ((left_edge || top_edge) && x > 0u) {
                join(me, cls, x - 1u, y - 1u);
            }
            if ((top_edge || p.x == TILE - 1u) && x + 1u < P.width) {
                join(me, cls, x + 1u, y - 1u);
            }
        }
    }
}

// The label of root r (a raster index), of a fluorescent component when `fl`: LABELLED | (1 + its dense
// id), FL_TAG for a fluorescent one; its id is its bit word's first id (assign_ids) plus the roots before
// it in the word.
fn root_label(r: u32, fl: bool) -> u32 {
    let y = r / P.width;
    let x = r - y * P.width;
    let k = bits_index(x, y);
    let before = atomicLoad(&root_bits[k]) & ((1u << (x & 31u)) - 1u);
    let id = atomicLoad(&root_bits[bits_words() + k]) + countOneBits(before);
    return LABELLED | (id + 1u) | select(0u, FL_TAG, fl);
}

@compute @workgroup_size(256)
fn scan_rows(@builtin(local_invocation_index) li: u32) {
    let span = chunk_of(li, P.height);
    var sum = 0u;
    for (var y = span.x; y < span.y; y++) {
        sum += atomicLoad(&table[ids_base() + y]);
    }
    part[li] = sum;
    scan_part(li);
    var acc = part[li] - sum;
    for (var y = span.x; y < span.y; y++) {
        let c = atomicLoad(&table[ids_base() + y]);
        atomicStore(&table[ids_base() + y], acc);
        acc += c;
    }
    if (li == 255u) {
        atomicStore(&table[ids_base() + P.height], part[255]);
        atomicStore(&table[T_COMPONENTS], part[255]);
    }
}

@compute @workgroup_size(256)
fn assign_ids(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let y = wg.x;
    // A row has at most 256 words of bits (P.width <= 8192, `GpuParams::new`).
    let k = bits_index(32u * li, y);
    var bits = 0u;
    if (li < bits_stride()) {
        bits = atomicLoad(&root_bits[k]);
    }
    let mine = countOneBits(bits);
    part[li] = mine;
    scan_part(li);
    var id = atomicLoad(&table[ids_base() + y]) + part[li] - mine;
    if (li < bits_stride()) {
        atomicStore(&root_bits[bits_words() + k], id);
    }
    while (bits != 0u) {
        let b = firstTrailingBit(bits);
        bits &= bits - 1u;
        roots[id] = y * P.width + 32u * li + b;
        for (var j = 0u; j < STATS_STRIDE; j++) {
            atomicStore(&stats[stats_base(id) + j], 0u);
        }
        id += 1u;
    }
}

fn ratio_px(x: u32, y: u32) -> f32 {
    return ratio_decode(ratio[ratio_index(x, y)], x);
}

fn ratio_fixed(v: f32) -> u32 {
    return u32(clamp(v, 0.0, 4.0) * RATIO_FIXED);
}

// Most pixels of a tile belong to one non-fluorescent component (the liver background above all), and
// most fluorescent pixels of a tile to one fluorescent component: the tile sums each leading component's
// pixels in workgroup memory and adds them once, so a frame does not serialise on a large component's
// counters. Integer sums: the result is the same as pixel by pixel.
// Each tile-local root's label, each pixel's tile-local root, the tile's count of roots (compress).
var<workgroup> tile_label: array<u32, 256>;
var<workgroup> tile_lr: array<u32, 256>;
var<workgroup> tile_root_count: atomic<u32>;
var<workgroup> lead: u32;
var<workgroup> lead_area: atomic<u32>;
var<workgroup> lead_sum: atomic<u32>;
var<workgroup> lead_flags: atomic<u32>;
// The leader's bands (STATS_BANDS).
var<workgroup> lead_bands: atomic<u32>;
// The fluorescent leader: the tile's largest fluorescent label (any present one would do).
var<workgroup> fl_lead: atomic<u32>;
var<workgroup> fl_area: atomic<u32>;
var<workgroup> fl_edges: atomic<u32>;
var<workgroup> fl_sharp: atomic<u32>;
var<workgroup> fl_flags: atomic<u32>;
var<workgroup> fl_bands: atomic<u32>;

// Each pixel's label (into the parent array), and its component's statistics (CPU twin:
// src/reference/regions.rs's `region_stats`).
@compute @workgroup_size(16, 16)
fn compress(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let w = P.width;
    let inside = g.x < w && g.y < P.height;
    let i = g.y * w + g.x;
    if (li == 0u) {
        atomicStore(&tile_root_count, 0u);
        atomicStore(&lead_area, 0u);
        atomicStore(&lead_sum, 0u);
        atomicStore(&lead_flags, 0u);
        atomicStore(&lead_bands, 0u);
        atomicStore(&fl_lead, 0u);
        atomicStore(&fl_area, 0u);
        atomicStore(&fl_edges, 0u);
        atomicStore(&fl_sharp, 0u);
        atomicStore(&fl_flags, 0u);
        atomicStore(&fl_bands, 0u);
    }
    let part = tile_parts(g, lid, li);
    let lr = part.x;
    // Each tile-local root: its component's first pixel's label; the leaders from the roots' labels (every
    // pixel's label is its root's): the non-fluorescent one the tile's first pixel's (always inside the
    // image, and its own tile-local root), the fluorescent one the largest.
    if (inside && lr == li) {
        let rep = part.y;
        var first = i;
        if (rep != LOW_NO_REP) {
            first = first_pixel(tile_of(wg) * LOW_SLOTS + rep);
        }
        let label = root_label(first, tile_class(lid) == 1u);
        tile_label[li] = label;
        atomicStore(&parent[256u * tile_of(wg) + li], label);
        atomicAdd(&tile_root_count, 1u);
        atomicMax(&fl_lead, fl_label(label));
        if (li == 0u) {
            lead = bg_label(label);
        }
    }
    tile_lr[li] = lr;
    workgroupBarrier();
    var l = 0u;
    if (inside) {
        l = tile_label[lr];
    }
    // The tile's bytes of tile-local roots, a word (four pixels of a row) an invocation.
    if (inside && (lid.x & 3u) == 0u) {
        local_roots[mask_index(g.x, g.y)] = tile_lr[li] | (tile_lr[li + 1u] << 8u) | (tile_lr[li + 2u] << 16u) | (tile_lr[li + 3u] << 24u);
    }
    if (li == 0u) {
        atomicAdd(&table[T_LOCAL_ROOTS], atomicLoad(&tile_root_count));
    }
    let leader = lead;
    let fl_leader = atomicLoad(&fl_lead);
    if (inside) {
        let border = select(0u, FLAG_BORDER, is_border_px(g.x, g.y));
        let b = bg_label(l);
        if (b != 0u && b == leader) {
            atomicAdd(&lead_area, 1u);
            atomicAdd(&lead_sum, ratio_fixed(ratio_px(g.x, g.y)));
            atomicOr(&lead_flags, border);
            atomicOr(&lead_bands, bands_of(g.x, g.y));
        } else if (b != 0u) {
            let r = stats_base(b - 1u);
            atomicAdd(&stats[r], 1u);
            atomicAdd(&stats[r + 1u], ratio_fixed(ratio_px(g.x, g.y)));
            atomicOr(&stats[r + STATS_BANDS], bands_of(g.x, g.y));
            if (border != 0u) {
                atomicOr(&stats[r], border);
            }
        }
        let f = fl_label(l);
        if (f != 0u) {
            // A 4-neighbour in the fluorescent mask is of the same (8-connected) component, any other of
            // another: the pixel is on its component's boundary where a 4-neighbour is not fluorescent.
            let edge = (g.x > 0u && mask_at(g.x - 1u, g.y) == 0u) || (g.x + 1u < w && mask_at(g.x + 1u, g.y) == 0u)
                || (g.y > 0u && mask_at(g.x, g.y - 1u) == 0u) || (g.y + 1u < P.height && mask_at(g.x, g.y + 1u) == 0u);
            var sharp = false;
            if (edge && border == 0u) {
                let gx = 0.5 * (ratio_px(g.x + 1u, g.y) - ratio_px(g.x - 1u, g.y));
                let gy = 0.5 * (ratio_px(g.x, g.y + 1u) - ratio_px(g.x, g.y - 1u));
                sharp = gx * gx + gy * gy >= P.sharp_grad_px * P.sharp_grad_px;
            }
            if (f == fl_leader) {
                atomicAdd(&fl_area, 1u);
                atomicOr(&fl_flags, border);
                atomicOr(&fl_bands, bands_of(g.x, g.y));
                if (edge) {
                    atomicAdd(&fl_edges, 1u);
                }
                if (sharp) {
                    atomicAdd(&fl_sharp, 1u);
                }
            } else {
                let r = stats_base(f - 1u);
                atomicAdd(&stats[r], 1u);
                atomicOr(&stats[r], border | FLAG_FL);
                atomicOr(&stats[r + STATS_BANDS], bands_of(g.x, g.y));
                if (edge) {
                    atomicAdd(&stats[r + 1u], 1u);
                }
                if (sharp) {
                    atomicAdd(&stats[r + 2u], 1u);
                }
            }
        }
    }
    workgroupBarrier();
    if (li == 0u && leader != 0u) {
        let r = stats_base(leader - 1u);
        atomicAdd(&stats[r], atomicLoad(&lead_area));
        atomicAdd(&stats[r + 1u], atomicLoad(&lead_sum));
        let flags = atomicLoad(&lead_flags);
        if (flags != 0u) {
            atomicOr(&stats[r], flags);
        }
        atomicOr(&stats[r + STATS_BANDS], atomicLoad(&lead_bands));
    }
    if (li == 0u && fl_leader != 0u) {
        // A fluorescent pixel in the tile: the composite draws it.
        drawn[tile_of(wg)] = 1u;
        let r = stats_base(fl_leader - 1u);
        atomicAdd(&stats[r], atomicLoad(&fl_area));
        atomicOr(&stats[r], atomicLoad(&fl_flags) | FLAG_FL);
        atomicOr(&stats[r + STATS_BANDS], atomicLoad(&fl_bands));
        let edges = atomicLoad(&fl_edges);
        if (edges != 0u) {
            atomicAdd(&stats[r + 1u], edges);
        }
        let sharp = atomicLoad(&fl_sharp);
        if (sharp != 0u) {
            atomicAdd(&stats[r + 2u], sharp);
        }
    }
}
