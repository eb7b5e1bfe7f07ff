// components.wgsl — CPU twin: src/reference/components.rs
// Connected-component labelling by concurrent union-find (link to the smaller root with atomicMin, path
// halving in find): a fixed sequence of three passes, no convergence flag read back.
// init:        writes parent[i] = i.
// merge_bg:    non-fluorescent pixels (mask 0), 4-connected; merge_fl: fluorescent (mask 1), 8-connected.
// compress_bg: writes labels[i]       = 1 + root for mask 0 pixels, else 0.
// compress_fl: writes labels[N + i]   = 1 + root for mask 1 pixels, else 0.
// The root of a component is its smallest raster index, so labels are canonical (equal to the CPU's).

@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;

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

@compute @workgroup_size(16, 16)
fn init(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    let i = g.y * P.width + g.x;
    atomicStore(&parent[i], i);
}

fn merge(x: u32, y: u32, value: u32, eight: bool) {
    let w = P.width;
    let i = y * w + x;
    if (mask[i] != value) {
        return;
    }
    if (x > 0u && mask[i - 1u] == value) {
        unite(i, i - 1u);
    }
    if (y > 0u) {
        if (mask[i - w] == value) {
            unite(i, i - w);
        }
        if (eight) {
            if (x > 0u && mask[i - w - 1u] == value) {
                unite(i, i - w - 1u);
            }
            if (x + 1u < w && mask[i - w + 1u] == value) {
                unite(i, i - w + 1u);
            }
        }
    }
}

@compute @workgroup_size(16, 16)
fn merge_bg(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x < P.width && g.y < P.height) {
        merge(g.x, g.y, 0u, false);
    }
}

@compute @workgroup_size(16, 16)
fn merge_fl(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x < P.width && g.y < P.height) {
        merge(g.x, g.y, 1u, true);
    }
}

fn root_of(i: u32) -> u32 {
    let r = find(i);
    atomicStore(&parent[i], r);
    return r;
}

@compute @workgroup_size(16, 16)
fn compress_bg(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    let i = g.y * P.width + g.x;
    labels[i] = select(0u, root_of(i) + 1u, mask[i] == 0u);
}

@compute @workgroup_size(16, 16)
fn compress_fl(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    let i = g.y * P.width + g.x;
    labels[n_pixels() + i] = select(0u, root_of(i) + 1u, mask[i] == 1u);
}
