// threshold.wgsl — CPU twin: src/reference/threshold.rs
// threshold: reads ratio, wl_in (packed RGB8); writes mask (1 fluorescent and not a specular glint, else 0).

@group(0) @binding(1) var<storage, read> ratio: array<f32>;
@group(0) @binding(2) var<storage, read> wl_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;

fn wl_byte(b: u32) -> u32 {
    return (wl_in[b >> 2u] >> (8u * (b & 3u))) & 255u;
}

@compute @workgroup_size(16, 16)
fn threshold(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x >= P.width || g.y >= P.height) {
        return;
    }
    let i = g.y * P.width + g.x;
    let darkest = min(wl_byte(3u * i), min(wl_byte(3u * i + 1u), wl_byte(3u * i + 2u)));
    let glint = darkest >= P.glint_level;
    mask[i] = select(0u, 1u, ratio[i] >= P.fluo_ratio && !glint);
}
