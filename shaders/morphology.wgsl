// morphology.wgsl — CPU twin: src/reference/morphology.rs
// erode / dilate: reads src, writes dst; 3×3 square; outside the image is neutral (foreground for
// erosion, background for dilation). Run erode, dilate (3×3 opening), then dilate, dilate, erode, erode
// (5×5 closing).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

fn sample_or(x: i32, y: i32, outside: u32) -> u32 {
    if (x < 0 || y < 0 || x >= i32(P.width) || y >= i32(P.height)) {
        return outside;
    }
    return src[u32(y) * P.width + u32(x)];
}

@compute @workgroup_size(16, 16)
fn erode(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    var all_on = 1u;
    for (var dy = -1; dy <= 1; dy += 1) {
        for (var dx = -1; dx <= 1; dx += 1) {
            all_on &= select(0u, 1u, sample_or(i32(g.x) + dx, i32(g.y) + dy, 1u) != 0u);
        }
    }
    dst[g.y * P.width + g.x] = all_on;
}

@compute @workgroup_size(16, 16)
fn dilate(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    var any_on = 0u;
    for (var dy = -1; dy <= 1; dy += 1) {
        for (var dx = -1; dx <= 1; dx += 1) {
            any_on |= select(0u, 1u, sample_or(i32(g.x) + dx, i32(g.y) + dy, 0u) != 0u);
        }
    }
    dst[g.y * P.width + g.x] = any_on;
}
