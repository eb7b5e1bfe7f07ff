// components.wgsl — CPU twin: src/reference/components.rs
// Connected-component labelling by block-based concurrent union-find (link to the smaller root with
// atomicMin, path halving in find): a fixed sequence of passes, no convergence flag read back.
// local_merge: one 16×16 tile a workgroup: union-find of the tile in workgroup memory, both classes at
//              once (mask 0 4-connected, mask 1 8-connected); writes parent[i] = image index of the
//              tile-local root, sets each tile-local root's bit in `root_bits` (a bit a pixel, rows
//              padded to whole words: `bits_index`; cleared before the frame), and adds each row's
//              tile-local roots to its root count in the table's ids (ids_base() + y; the table is
//              cleared before the frame).
// merge:       an invocation a pixel of a tile's perimeter: the edges that cross a tile border, in global memory: non-fluorescent pixels (mask 0)
//              4-connected, fluorescent ones (mask 1) 8-connected (their pixels are disjoint, so they
//              share one parent array and one pass); each root it hangs under another is taken off its
//              row's count and its bit cleared, so the counts and the bits are the rows' roots
//              (parent[i] == i) when it ends: roots are only ever lost, one successful atomicMin on a
//              root's own word each, and no pass over the parent array is needed to find them.
// scan_rows:   one workgroup: the exclusive prefix sum of those counts, so ids_base() + y holds the
//              first dense id of row y; the total at ids_base() + height and T_COMPONENTS.
// assign_ids:  one workgroup a row, an invocation a word of the row's root bits: each root takes the
//              next dense id in raster order (a prefix sum over the row's words): the id of each word's
//              first root goes to `word_ids`, roots[id] = the root's raster index, and its statistics
//              record is zeroed (so no clear of a frame-sized array). The parent array is not read.
// compress:    every pixel's parent word becomes its component's label (`label_of`), LABELLED | (1 +
//              id) (FL_TAG for a fluorescent one), a root's id being its word's first id plus the roots
//              before it in the word (`root_label`): the parent array is then the labels array, one word
//              a pixel for both classes (common.wgsl), read by the distance and reduce stages; no second
//              frame-sized array is written. As it labels, it adds each pixel to its component's
//              statistics record (by dense id: area and border flag; ratio sum, or boundary and sharp
//              boundary pixels; its bands, STATS_BANDS: common.wgsl's `bands_of`;
//              the tile's leading components summed in workgroup memory first), so
//              the labels are not read again for them.
// The root of a component is its smallest raster index and ids go by raster order of roots, so ids are
// deterministic and in the CPU's label order (its label is roots[id] + 1).
// The union-find's find and unite and the tile's union-find in workgroup memory: tile_union.wgsl
// (appended). The threshold's hysteresis labels its low mask with the same tile passes: hysteresis.wgsl.

@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> roots: array<u32>;
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> table: array<atomic<u32>>;
// The roots' bits (a bit a pixel), then from word bits_words() on, each bit word's first dense id.
@group(0) @binding(6) var<storage, read_write> root_bits: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read> ratio: array<u32>;

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

// A root hung under another (tile_union.wgsl's unite) is taken off its row's root count and its bit cleared.
fn root_lost(a: u32) {
    let ay = a / P.width;
    let ax = a - ay * P.width;
    atomicSub(&table[ids_base() + ay], 1u);
    atomicAnd(&root_bits[bits_index(ax, ay)], ~(1u << (ax & 31u)));
}

// Tile-local roots a row of the tile.
var<workgroup> tile_roots: array<atomic<u32>, 16>;

// Within a tile, local raster order is image raster order, so the local root (smallest local index) is
// the smallest image index of the tile's part of the component: parent[i] <= i holds as before. Each
// row's tile-local roots are added to its root count.
@compute @workgroup_size(16, 16)
fn local_merge(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let inside = g.x < P.width && g.y < P.height;
    if (li < TILE) {
        atomicStore(&tile_roots[li], 0u);
    }
    var v = 2u; // outside the image: joins nothing
    if (inside) {
        v = mask_at(g.x, g.y);
    }
    tile_mask[li] = v;
    atomicStore(&tile_parent[li], li);
    workgroupBarrier();
    tile_unions(l, li);
    workgroupBarrier();
    if (inside) {
        let r = local_find(li);
        let root = (g.y - l.y + r / TILE) * P.width + (g.x - l.x + r % TILE);
        atomicStore(&parent[g.y * P.width + g.x], root);
        if (r == li) {
            atomicAdd(&tile_roots[l.y], 1u);
            atomicOr(&root_bits[bits_index(g.x, g.y)], 1u << (g.x & 31u));
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

// The edges from pixel (x, y) to its left and upper neighbours that cross a tile border (the others were
// united by local_merge).
fn merge_edges(x: u32, y: u32, value: u32, eight: bool) {
    let w = P.width;
    let i = y * w + x;
    let left_edge = x % TILE == 0u;
    let top_edge = y % TILE == 0u;
    if (!(left_edge || top_edge || (eight && (x + 1u) % TILE == 0u)) || mask_at(x, y) != value) {
        return;
    }
    if (left_edge && x > 0u && mask_at(x - 1u, y) == value) {
        unite(i, i - 1u);
    }
    if (y > 0u) {
        if (top_edge && mask_at(x, y - 1u) == value) {
            unite(i, i - w);
        }
        if (eight) {
            if ((left_edge || top_edge) && x > 0u && mask_at(x - 1u, y - 1u) == value) {
                unite(i, i - w - 1u);
            }
            if ((top_edge || (x + 1u) % TILE == 0u) && x + 1u < w && mask_at(x + 1u, y - 1u) == value) {
                unite(i, i - w + 1u);
            }
        }
    }
}

// An invocation a pixel of the tile's perimeter (tile_union.wgsl's border slots): only they have edges
// that cross a tile border.
@compute @workgroup_size(64)
fn merge(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    if (li >= LOW_BORDER) {
        return;
    }
    let p = slot_pixel(li);
    let x = wg.x * TILE + p.x;
    let y = wg.y * TILE + p.y;
    if (x < P.width && y < P.height) {
        let v = mask_at(x, y);
        merge_edges(x, y, v, v == 1u);
    }
}

// The label of root r: LABELLED | (1 + its dense id), FL_TAG for a fluorescent one; its id is its bit
// word's first id (assign_ids) plus the roots before it in the word.
fn root_label(r: u32) -> u32 {
    let y = r / P.width;
    let x = r - y * P.width;
    let k = bits_index(x, y);
    let before = atomicLoad(&root_bits[k]) & ((1u << (x & 31u)) - 1u);
    let id = atomicLoad(&root_bits[bits_words() + k]) + countOneBits(before);
    return LABELLED | (id + 1u) | select(0u, FL_TAG, mask_at(x, y) == 1u);
}

// The label of pixel i0's component: the first labelled word on its path to the root (that of a pixel
// of the same component this pass has labelled already, the root's own included), else the root's
// (`root_label`). The path is halved on the way with a compare-exchange, which leaves a word alone once
// it is a label (a plain atomicMin could put a pointer back over it).
fn label_of(i0: u32) -> u32 {
    var i = i0;
    var label = 0u;
    loop {
        let p = atomicLoad(&parent[i]);
        if ((p & LABELLED) != 0u) {
            label = p;
            break;
        }
        if (p == i) {
            label = root_label(i);
            break;
        }
        let gp = atomicLoad(&parent[p]);
        if ((gp & LABELLED) != 0u) {
            label = gp;
            break;
        }
        if (gp == p) {
            label = root_label(p);
            break;
        }
        _ = atomicCompareExchangeWeak(&parent[i], p, gp);
        i = gp;
    }
    return label;
}

// A workgroup's 256 partial counts, scanned in place (inclusive, Hillis–Steele: eight steps).
var<workgroup> part: array<u32, 256>;

fn scan_part(li: u32) {
    for (var o = 1u; o < 256u; o <<= 1u) {
        workgroupBarrier();
        var v = part[li];
        if (li >= o) {
            v += part[li - o];
        }
        workgroupBarrier();
        part[li] = v;
    }
    workgroupBarrier();
}

// Invocation li's contiguous chunk of a row of `len` entries: [start, end).
fn chunk_of(li: u32, len: u32) -> vec2<u32> {
    let c = (len + 255u) / 256u;
    let start = min(li * c, len);
    return vec2<u32>(start, min(start + c, len));
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
fn compress(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w = P.width;
    let inside = g.x < w && g.y < P.height;
    let i = g.y * w + g.x;
    var l = 0u;
    if (inside) {
        l = label_of(i);
        atomicStore(&parent[i], l);
    }
    if (li == 0u) {
        // The tile's first pixel is always inside the image.
        lead = bg_label(l);
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
    workgroupBarrier();
    atomicMax(&fl_lead, fl_label(l));
    workgroupBarrier();
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
