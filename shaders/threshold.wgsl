// threshold.wgsl — CPU twin: src/reference/threshold.rs
// (The ratio histogram, level[0..LEVEL_BINS], is counted by the normalize stage as it writes the ratio:
// normalize.wgsl.)
// fluo_level: reads level[0..LEVEL_BINS]; writes level[LEVEL_BINS..+3] = the fluorescence level, the
//             background mode and its noise sigma (f32 bits): max(fluo_ratio, mode + sigmas * noise), the
//             peak and its half-maximum width taken on the histogram summed over 5 bins; and at
//             level[LEVEL_BINS + 3] the hysteresis level (`threshold::low_level`: the larger of
//             fluo_low_ratio and mode + fluo_low_sigmas * noise, at most the level; the level when
//             hysteresis is off).
// (The threshold itself runs in the morphology stage's one pass, after the hysteresis's passes when it
// is on: morphology.wgsl.)

@group(0) @binding(1) var<storage, read_write> level: array<atomic<u32>>;

// Sum of the LEVEL_SMOOTH bins centred on bin k (bins past the ends count 0), as f32.
fn bin(k: u32) -> f32 {
    let r = LEVEL_SMOOTH / 2u;
    var acc = 0u;
    for (var j = select(0u, k - r, k >= r); j < min(k + r + 1u, LEVEL_BINS); j += 1u) {
        acc += atomicLoad(&level[j]);
    }
    return f32(acc);
}

fn store_level(lvl: f32, mode: f32, noise: f32) {
    atomicStore(&level[LEVEL_BINS], bitcast<u32>(lvl));
    atomicStore(&level[LEVEL_BINS + 1u], bitcast<u32>(mode));
    atomicStore(&level[LEVEL_BINS + 2u], bitcast<u32>(noise));
    var low = lvl;
    if (P.fluo_low_ratio < P.fluo_ratio) {
        low = min(max(P.fluo_low_ratio, mode + P.fluo_low_sigmas * noise), lvl);
    }
    atomicStore(&level[LEVEL_BINS + 3u], bitcast<u32>(low));
}

@compute @workgroup_size(1)
fn fluo_level() {
    var total = 0u;
    for (var k = 0u; k < LEVEL_BINS; k += 1u) {
        total += atomicLoad(&level[k]);
    }
    if (total < MIN_LEVEL_SAMPLES) {
        store_level(P.fluo_ratio, 1.0, 0.0);
        return;
    }
    // The peak of the smoothed histogram (the first of equal ones).
    var m = 0u;
    var best = bin(0u);
    for (var k = 1u; k < LEVEL_BINS; k += 1u) {
        let c = bin(k);
        if (c > best) {
            m = k;
            best = c;
        }
    }
    let half = 0.5 * best;
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
    // HWHM = sigma * sqrt(2 ln 2); in bins, less the smoothing box's variance ((B² - 1) / 12).
    let sigma_bins = min(left, right) / 1.1774100;
    let box_var = f32(LEVEL_SMOOTH * LEVEL_SMOOTH - 1u) / 12.0;
    let noise = sqrt(max(sigma_bins * sigma_bins - box_var, 0.0)) / LEVEL_SCALE;
    store_level(max(P.fluo_ratio, mode + P.fluo_noise_sigmas * noise), mode, noise);
}
