// tile_union.wgsl — appended to components.wgsl and hysteresis.wgsl: a 16×16 tile's labelling in
// workgroup memory (tile_mark, label_tile, tile_root: bit rows flooded by one invocation), and the union-find over the includer's global
// `parent` array (find, unite: link the larger root under the smaller with atomicMin, path halving; words
// read through parent_index). The includer defines `root_lost(a)`, told of each root `unite` hangs under
// another. Also the numbering of a tile's perimeter (border_slot, slot_pixel), for the passes that run
// an invocation a border pixel.

const TILE: u32 = 16u;

// The border slot of tile pixel (lx, ly): the top row 0..15, the bottom row 16..31, the left column's
// other pixels 32..45, the right column's 46..59 (LOW_BORDER of them, prelude); LOW_BORDER inside the
// tile.
fn border_slot(lx: u32, ly: u32) -> u32 {
    if (ly == 0u) {
        return lx;
    }
    if (ly == TILE - 1u) {
        return TILE + lx;
    }
    if (lx == 0u) {
        return 2u * TILE + ly - 1u;
    }
    if (lx == TILE - 1u) {
        return 3u * TILE - 2u + ly - 1u;
    }
    return LOW_BORDER;
}

// The tile pixel of border slot s (the inverse of border_slot).
fn slot_pixel(s: u32) -> vec2<u32> {
    if (s < TILE) {
        return vec2<u32>(s, 0u);
    }
    if (s < 2u * TILE) {
        return vec2<u32>(s - TILE, TILE - 1u);
    }
    if (s < 3u * TILE - 2u) {
        return vec2<u32>(0u, s - 2u * TILE + 1u);
    }
    return vec2<u32>(TILE - 1u, s - (3u * TILE - 2u) + 1u);
}

// The tile's labelled pixels as bit rows (bit x of row y: tile pixel (x, y)): rows 0..15 the 8-connected
// class, rows 16..31 the 4-connected one (disjoint from it). Each invocation sets its pixel's bit
// (`tile_mark`; workgroup memory starts zeroed), then after a barrier one invocation labels the tile
// (`label_tile`), and after another every invocation reads its pixel's tile-local root (`tile_root`).
var<workgroup> tile_rows: array<atomic<u32>, 32>;
// At the first pixel of each run (a row's pixels of one class between pixels of neither or the other),
// the tile-local root of the run's component: the component's first pixel in raster order (its smallest
// index in the tile: within a tile, local raster order is image raster order).
var<workgroup> tile_run_root: array<u32, 256>;
// Each tile-local root's representative: its component's smallest border slot (`border_slot`), or
// LOW_NO_REP when it touches no pixel of the tile's perimeter.
var<workgroup> tile_rep: array<u32, 256>;

// Tile pixel l of class v: 1 (8-connected), 0 (4-connected), 2 (joins nothing: outside the image, or a
// pixel the includer does not label).
fn tile_mark(l: vec3<u32>, v: u32) {
    if (v < 2u) {
        atomicOr(&tile_rows[(1u - v) * TILE + l.y], 1u << l.x);
    }
}

// The class of tile pixel l, as tile_mark took it.
fn tile_class(l: vec3<u32>) -> u32 {
    let bit = 1u << l.x;
    if ((atomicLoad(&tile_rows[l.y]) & bit) != 0u) {
        return 1u;
    }
    if ((atomicLoad(&tile_rows[TILE + l.y]) & bit) != 0u) {
        return 0u;
    }
    return 2u;
}

// The bits of the runs of row m (16 bits) that hold a bit of s: s spread both ways through m (a
// Kogge–Stone fill, four steps a way, so no loop depends on the data).
fn tile_fill(m: u32, s: u32) -> u32 {
    var up = s & m;
    var down = up;
    var pu = m;
    var pd = m;
    for (var k = 1u; k < TILE; k <<= 1u) {
        up |= pu & (up << k);
        pu &= pu << k;
        down |= pd & (down >> k);
        pd &= pd >> k;
    }
    return up | down;
}

// The pixels of a row next to a row's bits: the same columns (4-connected), and the diagonal ones too
// (8-connected).
fn tile_spread(row: u32, eight: bool) -> u32 {
    if (eight) {
        return (row | (row << 1u) | (row >> 1u)) & 0xffffu;
    }
    return row;
}

// The tile's labelling, by one invocation, in registers and bit rows, with no atomics or barriers in its
// loops (a union-find over workgroup atomics runs invocation by invocation on a CPU's Vulkan, lavapipe):
// each class's components in raster order of their first pixels, each flooded from its first pixel row
// by row (the runs of a row that touch the component's bits in the row above, or below: down and up
// sweeps until a sweep adds nothing); writes each run's root (`tile_run_root`) and each root's
// representative (`tile_rep`). Call after tile_mark and a barrier; read after another barrier.
fn label_tile() {
    for (var c = 0u; c < 2u; c++) {
        let eight = c == 0u;
        var rem: array<u32, 16>;
        for (var y = 0u; y < TILE; y++) {
            rem[y] = atomicLoad(&tile_rows[c * TILE + y]);
        }
        for (var y0 = 0u; y0 < TILE; y0++) {
            loop {
                let top = rem[y0];
                if (top == 0u) {
                    break;
                }
                // The component's first pixel: the first of the first row that still has one (the rows
                // above hold none: their components are done).
                let seed = top & (0u - top);
                var comp: array<u32, 16>;
                comp[y0] = tile_fill(top, seed);
                var last = y0;
                var down = true;
                loop {
                    var grew = false;
                    if (down) {
                        for (var y = y0 + 1u; y < TILE && y <= last + 1u; y++) {
                            let n = tile_spread(comp[y - 1u], eight) & rem[y] & ~comp[y];
                            if (n != 0u) {
                                comp[y] = tile_fill(rem[y], comp[y] | n);
                                grew = true;
                                last = max(last, y);
                            }
                        }
                    } else {
                        for (var y = last; y > y0; y--) {
                            let n = tile_spread(comp[y], eight) & rem[y - 1u] & ~comp[y - 1u];
                            if (n != 0u) {
                                comp[y - 1u] = tile_fill(rem[y - 1u], comp[y - 1u] | n);
                                grew = true;
                            }
                        }
                    }
                    // A sweep that adds nothing: closed both ways (the sweep before it closed the other).
                    if (!grew) {
                        break;
                    }
                    down = !down;
                }
                let root = y0 * TILE + firstTrailingBit(seed);
                var left = LOW_NO_REP;
                var right = LOW_NO_REP;
                for (var y = y0; y <= last; y++) {
                    let row = comp[y];
                    rem[y] &= ~row;
                    // A component holds whole runs: its bits' run starts are the class's.
                    var starts = row & ~(row << 1u);
                    while (starts != 0u) {
                        tile_run_root[y * TILE + firstTrailingBit(starts)] = root;
                        starts &= starts - 1u;
                    }
                    if (y > 0u && y + 1u < TILE) {
                        if (left == LOW_NO_REP && (row & 1u) != 0u) {
                            left = border_slot(0u, y);
                        }
                        if (right == LOW_NO_REP && (row >> (TILE - 1u)) != 0u) {
                            right = border_slot(TILE - 1u, y);
                        }
                    }
                }
                // The smallest border slot: the top row's, the bottom row's, the left column's, the right's.
                var rep = min(left, right);
                if (comp[TILE - 1u] != 0u) {
                    rep = border_slot(firstTrailingBit(comp[TILE - 1u]), TILE - 1u);
                }
                if (comp[0] != 0u) {
                    rep = border_slot(firstTrailingBit(comp[0]), 0u);
                }
                tile_rep[root] = rep;
            }
        }
    }
}

// The tile-local root of tile pixel l (local index li), once labelled: its run's (li itself for a pixel
// not labelled).
fn tile_root(l: vec3<u32>, li: u32) -> u32 {
    let bit = 1u << l.x;
    var row = atomicLoad(&tile_rows[l.y]);
    if ((row & bit) == 0u) {
        row = atomicLoad(&tile_rows[TILE + l.y]);
        if ((row & bit) == 0u) {
            return li;
        }
    }
    let starts = row & ~(row << 1u) & ((bit << 1u) - 1u);
    return tile_run_root[l.y * TILE + firstLeadingBit(starts)];
}

fn find(i0: u32) -> u32 {
    var i = i0;
    loop {
        let p = parent_index(atomicLoad(&parent[i]));
        if (p == i) {
            break;
        }
        let gp = parent_index(atomicLoad(&parent[p]));
        if (gp < p) {
            atomicMin(&parent[i], gp);
        }
        i = p;
    }
    return i;
}

fn unite(a0: u32, b0: u32) {
    var a = find(a0);
    var b = find(b0);
    loop {
        if (a == b) {
            break;
        }
        if (a < b) {
            let t = a;
            a = b;
            b = t;
        }
        // a > b: hang a under b, if a is still a root.
        let old = atomicMin(&parent[a], b);
        if (old == a) {
            root_lost(a);
            break;
        }
        a = find(old);
        b = find(b);
    }
}
