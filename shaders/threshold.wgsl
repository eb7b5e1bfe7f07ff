// threshold.wgsl — CPU twin: src/reference/threshold.rs
// ratio_hist: reads ratio at even rows and columns; adds to level[0..LEVEL_BINS] (bins of 1/256 from 0.5),
//             each workgroup counting in its own workgroup-memory histogram first, then one atomic a
//             non-empty bin, so a dark, uniform frame does not serialise on one global counter.
// fluo_level: reads level[0..LEVEL_BINS]; writes level[LEVEL_BINS..+3] = the fluorescence level, the
//             background mode and its noise sigma (f32 bits): max(fluo_ratio, mode + sigmas * noise).
// threshold:  reads ratio, wl_in (packed RGB8), the level; writes mask (1 fluorescent and not a glint).

@group(0) @binding(1) var<storage, read> ratio: array<f32>;
@group(0) @binding(2) var<storage, read> wl_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> level: array<atomic<u32>>;

var<workgroup> local_hist: array<atomic<u32>, 256>;

@compute @workgroup_size(16, 16)
fn ratio_hist(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    atomicStore(&local_hist[li], 0u);
    workgroupBarrier();
    let x = 2u * g.x;
    let y = 2u * g.y;
    if (x < P.width && y < P.height) {
        let b = floor((ratio[y * P.width + x] - LEVEL_LO) * LEVEL_SCALE);
        if (b >= 0.0 && b < f32(LEVEL_BINS)) {
            atomicAdd(&local_hist[u32(b)], 1u);
        }
    }
    workgroupBarrier();
    let c = atomicLoad(&local_hist[li]);
    if (c != 0u) {
        atomicAdd(&level[li], c);
    }
}

fn bin(k: u32) -> f32 {
    return f32(atomicLoad(&level[k]));
}

@compute @workgroup_size(1)
fn fluo_level() {
    var total = 0u;
    var m = 0u;
    for (var k = 0u; k < LEVEL_BINS; k += 1u) {
        let c = atomicLoad(&level[k]);
        total += c;
        if (c > atomicLoad(&level[m])) {
            m = k;
        }
    }
    if (total < MIN_LEVEL_SAMPLES) {
        atomicStore(&level[LEVEL_BINS], bitcast<u32>(P.fluo_ratio));
        atomicStore(&level[LEVEL_BINS + 1u], bitcast<u32>(1.0));
        atomicStore(&level[LEVEL_BINS + 2u], 0u);
        return;
    }
    let half = 0.5 * bin(m);
    var k = m;
    while (k > 0u && bin(k - 1u) >= half) {
        k -= 1u;
    }
    var left = f32(m) + 0.5;
    if (k > 0u) {
        let lo = bin(k - 1u);
        let hi = bin(k);
        left = f32(m - k) + (hi - half) / (hi - lo);
    }
    k = m;
    while (k + 1u < LEVEL_BINS && bin(k + 1u) >= half) {
        k += 1u;
    }
    var right = f32(LEVEL_BINS - m) - 0.5;
    if (k + 1u < LEVEL_BINS) {
        let hi = bin(k);
        let lo = bin(k + 1u);
        right = f32(k - m) + (hi - half) / (hi - lo);
    }
    let mode = LEVEL_LO + (f32(m) + 0.5) / LEVEL_SCALE;
    let noise = min(left, right) / LEVEL_SCALE / 1.1774100;
    atomicStore(&level[LEVEL_BINS], bitcast<u32>(max(P.fluo_ratio, mode + P.fluo_noise_sigmas * noise)));
    atomicStore(&level[LEVEL_BINS + 1u], bitcast<u32>(mode));
    atomicStore(&level[LEVEL_BINS + 2u], bitcast<u32>(noise));
}

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
    let cut = bitcast<f32>(atomicLoad(&level[LEVEL_BINS]));
    mask[i] = select(0u, 1u, ratio[i] >= cut && !glint);
}
