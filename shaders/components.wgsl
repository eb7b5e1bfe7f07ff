// components.wgsl — CPU twin: src/reference/components.rs
// Connected-component labelling by block-based concurrent union-find (link to the smaller root with
// atomicMin, path halving in find): a fixed sequence of passes, no convergence flag read back.
// local_merge: one 16×16 tile a workgroup: union-find of the tile in workgroup memory, both classes at
//              once (mask 0 4-connected, mask 1 8-connected); writes parent[i] = image index of the
//              tile-local root.
// merge:       the edges that cross a tile border, in global memory: non-fluorescent pixels (mask 0)
//              4-connected, fluorescent ones (mask 1) 8-connected (their pixels are disjoint, so they
//              share one parent array and one pass).
// compress:    writes labels[i] = 1 + root, with FL_TAG set for fluorescent pixels (common.wgsl): one
//              word a pixel for both classes.
// The root of a component is its smallest raster index, so labels are canonical (equal to the CPU's).

@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;

fn mask_at(x: u32, y: u32) -> u32 {
    return mask_byte(mask[mask_index(x, y)], x);
}

fn find(i0: u32) -> u32 {
    var i = i0;
    loop {
        let p = atomicLoad(&parent[i]);
        if (p == i) {
            break;
        }
        let gp = atomicLoad(&parent[p]);
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
            break;
        }
        a = find(old);
        b = find(b);
    }
}

const TILE: u32 = 16u;

var<workgroup> tile_mask: array<u32, 256>;
var<workgroup> tile_parent: array<atomic<u32>, 256>;

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

// Within a tile, local raster order is image raster order, so the local root (smallest local index) is
// the smallest image index of the tile's part of the component: parent[i] <= i holds as before.
@compute @workgroup_size(16, 16)
fn local_merge(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let inside = g.x < P.width && g.y < P.height;
    var v = 2u; // outside the image: joins nothing
    if (inside) {
        v = mask_at(g.x, g.y);
    }
    tile_mask[li] = v;
    atomicStore(&tile_parent[li], li);
    workgroupBarrier();
    if (v != 2u) {
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
    workgroupBarrier();
    if (inside) {
        let r = local_find(li);
        let root = (g.y - l.y + r / TILE) * P.width + (g.x - l.x + r % TILE);
        atomicStore(&parent[g.y * P.width + g.x], root);
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

@compute @workgroup_size(16, 16)
fn merge(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x < P.width && g.y < P.height) {
        let v = mask_at(g.x, g.y);
        merge_edges(g.x, g.y, v, v == 1u);
    }
}

fn root_of(i: u32) -> u32 {
    let r = find(i);
    atomicStore(&parent[i], r);
    return r;
}

@compute @workgroup_size(16, 16)
fn compress(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    let i = g.y * P.width + g.x;
    labels[i] = (root_of(i) + 1u) | select(0u, FL_TAG, mask_at(g.x, g.y) == 1u);
}
