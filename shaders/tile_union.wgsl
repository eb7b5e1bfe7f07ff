// tile_union.wgsl — appended to components.wgsl and hysteresis.wgsl: a 16×16 tile's union-find in
// workgroup memory (local_find, local_unite, tile_unions), and the union-find over the includer's global
// `parent` array (find, unite: link the larger root under the smaller with atomicMin, path halving; words
// read through parent_index). The includer defines `root_lost(a)`, told of each root `unite` hangs under
// another. Also the numbering of a tile's perimeter (border_slot, slot_pixel), for the passes that run
// an invocation a border pixel.

const TILE: u32 = 16u;

// A tile pixel's class: 0 (4-connected), 1 (8-connected), 2 (joins nothing: outside the image, or a pixel
// the includer does not label).
var<workgroup> tile_mask: array<u32, 256>;
var<workgroup> tile_parent: array<atomic<u32>, 256>;

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

fn local_find(i0: u32) -> u32 {
    var i = i0;
    loop {
        let p = atomicLoad(&tile_parent[i]);
        if (p == i) {
            break;
        }
        let gp = atomicLoad(&tile_parent[p]);
        if (gp < p) {
            atomicMin(&tile_parent[i], gp);
        }
        i = p;
    }
    return i;
}

fn local_unite(a0: u32, b0: u32) {
    var a = local_find(a0);
    var b = local_find(b0);
    loop {
        if (a == b) {
            break;
        }
        if (a < b) {
            let t = a;
            a = b;
            b = t;
        }
        let old = atomicMin(&tile_parent[a], b);
        if (old == a) {
            break;
        }
        a = local_find(old);
        b = local_find(b);
    }
}

// Tile pixel li's unions with its left and upper neighbours of its class (class 1 also the two upper
// diagonals), once tile_mask and tile_parent are set and a barrier passed.
fn tile_unions(l: vec3<u32>, li: u32) {
    let v = tile_mask[li];
    if (v == 2u) {
        return;
    }
    if (l.x > 0u && tile_mask[li - 1u] == v) {
        local_unite(li, li - 1u);
    }
    if (l.y > 0u) {
        if (tile_mask[li - TILE] == v) {
            local_unite(li, li - TILE);
        }
        if (v == 1u) {
            if (l.x > 0u && tile_mask[li - TILE - 1u] == v) {
                local_unite(li, li - TILE - 1u);
            }
            if (l.x + 1u < TILE && tile_mask[li - TILE + 1u] == v) {
                local_unite(li, li - TILE + 1u);
            }
        }
    }
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
