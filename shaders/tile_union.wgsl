// tile_union.wgsl — appended to components.wgsl and hysteresis.wgsl: a 16×16 tile's labelling (tile_mark,
// tile_part: each invocation grows its pixel's component on the tile's bit rows, in registers), and the union-find over the includer's global
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
// (`tile_mark`; workgroup memory starts zeroed), then after a barrier finds its pixel's component
// (`tile_part`).
var<workgroup> tile_rows: array<atomic<u32>, 32>;

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

// A tile's pixels as 256 bits in registers: word k of the eight (lo.x..lo.w, hi.x..hi.w) holds rows 2k
// (bits 0..15, bit x column x) and 2k + 1 (bits 16..31); bit b of word k is tile pixel 32 k + b.
struct Plane {
    lo: vec4<u32>,
    hi: vec4<u32>,
}

fn plane_and(a: Plane, b: Plane) -> Plane {
    return Plane(a.lo & b.lo, a.hi & b.hi);
}

fn plane_or(a: Plane, b: Plane) -> Plane {
    return Plane(a.lo | b.lo, a.hi | b.hi);
}

fn plane_same(a: Plane, b: Plane) -> bool {
    return all(a.lo == b.lo) && all(a.hi == b.hi);
}

// Every bit moved k columns right (towards higher columns; k of 1, 2, 4, 8), none across a row's end.
fn plane_right(a: Plane, k: u32) -> Plane {
    let keep = vec4<u32>(((0xffffu << k) & 0xffffu) * 0x10001u);
    return Plane((a.lo << vec4<u32>(k)) & keep, (a.hi << vec4<u32>(k)) & keep);
}

fn plane_left(a: Plane, k: u32) -> Plane {
    let keep = vec4<u32>((0xffffu >> k) * 0x10001u);
    return Plane((a.lo >> vec4<u32>(k)) & keep, (a.hi >> vec4<u32>(k)) & keep);
}

// Every bit moved one row down (towards higher rows), and one row up.
fn plane_down(a: Plane) -> Plane {
    let s = vec4<u32>(16u);
    return Plane((a.lo << s) | (vec4<u32>(0u, a.lo.xyz) >> s), (a.hi << s) | (vec4<u32>(a.lo.w, a.hi.xyz) >> s));
}

fn plane_up(a: Plane) -> Plane {
    let s = vec4<u32>(16u);
    return Plane((a.lo >> s) | (vec4<u32>(a.lo.yzw, a.hi.x) << s), (a.hi >> s) | (vec4<u32>(a.hi.yzw, 0u) << s));
}

// Two, four and eight rows down and up (whole words).
fn plane_down_words(a: Plane, k: u32) -> Plane {
    if (k == 1u) {
        return Plane(vec4<u32>(0u, a.lo.xyz), vec4<u32>(a.lo.w, a.hi.xyz));
    }
    if (k == 2u) {
        return Plane(vec4<u32>(0u, 0u, a.lo.xy), vec4<u32>(a.lo.zw, a.hi.xy));
    }
    return Plane(vec4<u32>(0u), a.lo);
}

fn plane_up_words(a: Plane, k: u32) -> Plane {
    if (k == 1u) {
        return Plane(vec4<u32>(a.lo.yzw, a.hi.x), vec4<u32>(a.hi.yzw, 0u));
    }
    if (k == 2u) {
        return Plane(vec4<u32>(a.lo.zw, a.hi.xy), vec4<u32>(a.hi.zw, 0u, 0u));
    }
    return Plane(a.hi, vec4<u32>(0u));
}

// The runs of m (a row's, and a column's) that hold a bit of s: s spread through m along the rows, then
// along the columns (Kogge–Stone fills, four steps a way: no loop depends on the data).
fn plane_fill_rows(m: Plane, s: Plane) -> Plane {
    var r = plane_and(s, m);
    var l = r;
    var pr = m;
    var pl = m;
    for (var k = 1u; k < TILE; k <<= 1u) {
        r = plane_or(r, plane_and(pr, plane_right(r, k)));
        pr = plane_and(pr, plane_right(pr, k));
        l = plane_or(l, plane_and(pl, plane_left(l, k)));
        pl = plane_and(pl, plane_left(pl, k));
    }
    return plane_or(r, l);
}

fn plane_fill_columns(m: Plane, s: Plane) -> Plane {
    var d = plane_and(s, m);
    var u = d;
    // One row.
    var pd = plane_and(m, plane_down(m));
    var pu = plane_and(m, plane_up(m));
    d = plane_or(d, plane_and(m, plane_down(d)));
    u = plane_or(u, plane_and(m, plane_up(u)));
    // Two, four, eight rows: whole words.
    for (var k = 1u; k < 8u; k <<= 1u) {
        d = plane_or(d, plane_and(pd, plane_down_words(d, k)));
        pd = plane_and(pd, plane_down_words(pd, k));
        u = plane_or(u, plane_and(pu, plane_up_words(u, k)));
        pu = plane_and(pu, plane_up_words(pu, k));
    }
    return plane_or(d, u);
}

// The pixels next to a's diagonally.
fn plane_diagonals(a: Plane) -> Plane {
    let h = plane_or(plane_right(a, 1u), plane_left(a, 1u));
    return plane_or(plane_down(h), plane_up(h));
}

// The component of m (8-connected when `eight`, else 4-connected) that holds the bits of `seed`: runs
// along the rows and the columns (and for 8-connected ones diagonal steps) until nothing is added.
fn plane_component(m: Plane, seed: Plane, eight: bool) -> Plane {
    var c = plane_fill_rows(m, seed);
    loop {
        var n = plane_fill_columns(m, c);
        if (eight) {
            n = plane_or(n, plane_and(m, plane_diagonals(n)));
        }
        n = plane_fill_rows(m, n);
        if (plane_same(n, c)) {
            break;
        }
        c = n;
    }
    return c;
}

// Word k of a plane.
fn plane_word(a: Plane, k: u32) -> u32 {
    if (k < 4u) {
        return a.lo[k];
    }
    return a.hi[k - 4u];
}

// Column x of a plane as 16 bits (bit y: row y).
fn plane_column(a: Plane, x: u32) -> u32 {
    let lo = ((a.lo >> vec4<u32>(x)) & vec4<u32>(1u)) | (((a.lo >> vec4<u32>(16u + x)) & vec4<u32>(1u)) << vec4<u32>(1u));
    let hi = ((a.hi >> vec4<u32>(x)) & vec4<u32>(1u)) | (((a.hi >> vec4<u32>(16u + x)) & vec4<u32>(1u)) << vec4<u32>(1u));
    return lo.x | (lo.y << 2u) | (lo.z << 4u) | (lo.w << 6u) | (hi.x << 8u) | (hi.y << 10u) | (hi.z << 12u) | (hi.w << 14u);
}

// The smallest border slot (`border_slot`) of a component: its top row's first pixel, else its bottom
// row's, else its left column's, else its right column's; LOW_NO_REP when it touches none.
fn plane_rep(c: Plane) -> u32 {
    let top = c.lo.x & 0xffffu;
    if (top != 0u) {
        return firstTrailingBit(top);
    }
    let bottom = c.hi.w >> 16u;
    if (bottom != 0u) {
        return TILE + firstTrailingBit(bottom);
    }
    // Rows 1..14 (the corners are the top and bottom rows').
    let inner = 0x7ffeu;
    let left = plane_column(c, 0u) & inner;
    if (left != 0u) {
        return border_slot(0u, firstTrailingBit(left));
    }
    let right = plane_column(c, TILE - 1u) & inner;
    if (right != 0u) {
        return border_slot(TILE - 1u, firstTrailingBit(right));
    }
    return LOW_NO_REP;
}

// The first pixel of a plane (its smallest tile index; a plane with one at least).
fn plane_first(a: Plane) -> u32 {
    for (var k = 0u; k < 7u; k++) {
        let w = plane_word(a, k);
        if (w != 0u) {
            return 32u * k + firstTrailingBit(w);
        }
    }
    return 32u * 7u + firstTrailingBit(a.hi.w);
}

// Tile pixel l's (local index li) tile-local component, found by the invocation itself on the tile as 256
// bits in registers (`Plane`), with no workgroup atomics, barriers or memory in its loops (a union-find
// over workgroup atomics runs invocation by invocation on a CPU's Vulkan, lavapipe, and a labelling by
// one invocation leaves the others to wait): the component grown from the pixel by whole runs
// (`plane_component`). Returns its tile-local root, its first pixel in raster order (its smallest index
// in the tile: within a tile, local raster order is image raster order), and its representative, its
// smallest border slot (`border_slot`, LOW_NO_REP when it touches no pixel of the tile's perimeter); for
// a pixel not labelled, li and LOW_NO_REP. Call after tile_mark and a barrier.
fn tile_part(l: vec3<u32>, li: u32) -> vec2<u32> {
    let cls = tile_class(l);
    if (cls == 2u) {
        return vec2<u32>(li, LOW_NO_REP);
    }
    let base = (1u - cls) * TILE;
    var m: Plane;
    for (var k = 0u; k < 4u; k++) {
        let b = base + 2u * k;
        m.lo[k] = atomicLoad(&tile_rows[b]) | (atomicLoad(&tile_rows[b + 1u]) << 16u);
        m.hi[k] = atomicLoad(&tile_rows[b + 8u]) | (atomicLoad(&tile_rows[b + 9u]) << 16u);
    }
    var seed = Plane(vec4<u32>(0u), vec4<u32>(0u));
    let k = li / 32u;
    if (k < 4u) {
        seed.lo[k] = 1u << (li % 32u);
    } else {
        seed.hi[k - 4u] = 1u << (li % 32u);
    }
    // Most tiles are one class of pixels throughout (their inside part, a rectangle from the tile's
    // corner, in full rows): one component, no growing.
    let row0 = m.lo.x & 0xffffu;
    let full = vec4<u32>(row0 | (row0 << 16u));
    var comp = m;
    if (!(all(m.lo == full) && all(m.hi == full) && (row0 & (row0 + 1u)) == 0u)) {
        comp = plane_component(m, seed, cls == 1u);
    }
    return vec2<u32>(plane_first(comp), plane_rep(comp));
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
