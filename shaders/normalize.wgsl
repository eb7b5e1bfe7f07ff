// normalize.wgsl — CPU twin: src/reference/normalize.rs
// block_median:   reads nir_in; writes medians (one workgroup a block, exact radix select on 16 bits, of
//                 the block's pixels with x + y even: a checkerboard, half the work, the same estimate).
// fit_background: reads medians; writes coeffs (one workgroup: trimmed least squares of a log-quadratic).
// normalize:      reads nir_in, coeffs; writes ratio (3×3 binomial smoothing / background, as 16-bit codes
//                 two a word: `ratio_encode`, common.wgsl), and adds the
//                 ratios at even rows and columns to the threshold's histogram, level[0..LEVEL_BINS] (bins
//                 of 1/256 from 0.5; threshold.wgsl's fluo_level reads it): each workgroup counts in its own
//                 workgroup-memory histogram first, then one atomic a non-empty bin, so a dark, uniform
//                 frame does not serialise on one global counter. Counted here, from the value stored, the
//                 ratio map is not read again for it. Also each tile's word of `drawn`: whether a ratio
//                 stored is over TINT_FROM (the composite's fluorescence colour shows there).

@group(0) @binding(1) var<storage, read> nir_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> medians: array<f32>;
@group(0) @binding(3) var<storage, read_write> coeffs: array<f32>;
@group(0) @binding(4) var<storage, read_write> ratio: array<u32>;
@group(0) @binding(5) var<storage, read_write> level: array<atomic<u32>>;
// The tiles the composite draws (`gpu::prelude::drawn`): normalize writes each tile's word, non-zero where a
// ratio is over TINT_FROM.
@group(0) @binding(6) var<storage, read_write> drawn: array<u32>;

fn nir_at(i: u32) -> u32 {
    let w = nir_in[i >> 1u];
    return select(w & 0xffffu, w >> 16u, (i & 1u) == 1u);
}

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> pick: vec2<u32>;

fn pick_bin(rank: u32) {
    var acc = 0u;
    var b = 0u;
    loop {
        let c = atomicLoad(&hist[b]);
        if (acc + c > rank || b == 255u) {
            break;
        }
        acc += c;
        b += 1u;
    }
    pick = vec2<u32>(b, rank - acc);
}

@compute @workgroup_size(256)
fn block_median(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let x0 = wg.x * P.block;
    let y0 = wg.y * P.block;
    let bw = min(x0 + P.block, P.width) - x0;
    let bh = min(y0 + P.block, P.height) - y0;
    let count = bw * bh;
    // Pixels with x + y even: half of them, one more when an odd-sized block starts on one; a lone pixel
    // with x + y odd (a 1×1 edge block of an odd block size) stands for itself.
    var included = count / 2u + select(0u, 1u, (count & 1u) == 1u && ((x0 + y0) & 1u) == 0u);
    let parity = select(0u, 1u, included == 0u);
    included = max(included, 1u);
    atomicStore(&hist[li], 0u);
    workgroupBarrier();
    for (var j = li; j < count; j += 256u) {
        let x = x0 + j % bw;
        let y = y0 + j / bw;
        if (((x + y) & 1u) == parity) {
            atomicAdd(&hist[nir_at(y * P.width + x) >> 8u], 1u);
        }
    }
    workgroupBarrier();
    if (li == 0u) {
        pick_bin(included / 2u);
    }
    workgroupBarrier();
    let high = pick.x;
    let rank = pick.y;
    workgroupBarrier();
    atomicStore(&hist[li], 0u);
    workgroupBarrier();
    for (var j = li; j < count; j += 256u) {
        let x = x0 + j % bw;
        let y = y0 + j / bw;
        if (((x + y) & 1u) == parity) {
            let v = nir_at(y * P.width + x);
            if ((v >> 8u) == high) {
                atomicAdd(&hist[v & 255u], 1u);
            }
        }
    }
    workgroupBarrier();
    if (li == 0u) {
        pick_bin(rank);
        medians[wg.y * P.grid_w + wg.x] = f32((high << 8u) | pick.x);
    }
}

const FIT_THREADS: u32 = 64u;
const LOG_BINS: u32 = 1024u;
const LOG_RANGE: f32 = 12.0;

var<workgroup> part: array<array<f32, 28>, 64>;
var<workgroup> coef: array<f32, 6>;
var<workgroup> lhist: array<atomic<u32>, 1024>;
var<workgroup> stop: u32;

fn model_center() -> vec3<f32> {
    // (cx, cy, inv_s) as in BackgroundModel::for_size
    return vec3<f32>(f32(P.width) * 0.5, f32(P.height) * 0.5, 2.0 / f32(max(P.width, P.height)));
}

fn log_level(x: f32, y: f32) -> f32 {
    let m = model_center();
    let u = (x - m.x) * m.z;
    let v = (y - m.y) * m.z;
    return coef[0] + coef[1] * u + coef[2] * v + coef[3] * u * u + coef[4] * u * v + coef[5] * v * v;
}

fn sample_pos(s: u32) -> vec2<f32> {
    let bx = s % P.grid_w;
    let by = s / P.grid_w;
    let x0 = f32(bx * P.block);
    let y0 = f32(by * P.block);
    let x1 = f32(min((bx + 1u) * P.block, P.width));
    let y1 = f32(min((by + 1u) * P.block, P.height));
    return vec2<f32>((x0 + x1) * 0.5, (y0 + y1) * 0.5);
}

fn log_bin(l: f32) -> u32 {
    return u32(clamp(floor(l / LOG_RANGE * f32(LOG_BINS)), 0.0, f32(LOG_BINS - 1u)));
}

fn solve6(a_in: array<f32, 21>, b_in: array<f32, 6>) -> bool {
    var a: array<array<f32, 6>, 6>;
    var b = b_in;
    var k = 0u;
    for (var i = 0u; i < 6u; i += 1u) {
        for (var j = i; j < 6u; j += 1u) {
            a[i][j] = a_in[k];
            a[j][i] = a_in[k];
            k += 1u;
        }
        a[i][i] += 1e-6;
    }
    for (var col = 0u; col < 6u; col += 1u) {
        var piv = col;
        for (var r = col + 1u; r < 6u; r += 1u) {
            if (abs(a[r][col]) > abs(a[piv][col])) {
                piv = r;
            }
        }
        if (abs(a[piv][col]) < 1e-12) {
            return false;
        }
        let tmp = a[col];
        a[col] = a[piv];
        a[piv] = tmp;
        let tb = b[col];
        b[col] = b[piv];
        b[piv] = tb;
        for (var r = col + 1u; r < 6u; r += 1u) {
            let f = a[r][col] / a[col][col];
            for (var c = col; c < 6u; c += 1u) {
                a[r][c] -= f * a[col][c];
            }
            b[r] -= f * b[col];
        }
    }
    var x: array<f32, 6>;
    for (var rr = 0u; rr < 6u; rr += 1u) {
        let r = 5u - rr;
        var s = b[r];
        for (var c = r + 1u; c < 6u; c += 1u) {
            s -= a[r][c] * x[c];
        }
        x[r] = s / a[r][r];
    }
    for (var i = 0u; i < 6u; i += 1u) {
        coef[i] = x[i];
    }
    return true;
}

@compute @workgroup_size(64)
fn fit_background(@builtin(local_invocation_index) li: u32) {
    let n = P.grid_w * P.grid_h;
    for (var b = li; b < LOG_BINS; b += FIT_THREADS) {
        atomicStore(&lhist[b], 0u);
    }
    workgroupBarrier();
    for (var s = li; s < n; s += FIT_THREADS) {
        atomicAdd(&lhist[log_bin(log(max(medians[s], 1.0)))], 1u);
    }
    workgroupBarrier();
    if (li == 0u) {
        var acc = 0u;
        var b = 0u;
        loop {
            let c = atomicLoad(&lhist[b]);
            if (acc + c > n / 2u || b == LOG_BINS - 1u) {
                break;
            }
            acc += c;
            b += 1u;
        }
        coef[0] = (f32(b) + 0.5) * LOG_RANGE / f32(LOG_BINS);
        for (var i = 1u; i < 6u; i += 1u) {
            coef[i] = 0.0;
        }
        stop = 0u;
    }
    workgroupBarrier();
    let m = model_center();
    var trims = array<f32, 6>(1.0, 0.6, 0.4, 0.3, 0.2, 0.2);
    for (var it = 0u; it < 6u; it += 1u) {
        var acc: array<f32, 28>;
        for (var s = li; s < n; s += FIT_THREADS) {
            let p = sample_pos(s);
            let l = log(max(medians[s], 1.0));
            let r = l - log_level(p.x, p.y);
            if (abs(r) > trims[it]) {
                continue;
            }
            let u = (p.x - m.x) * m.z;
            let v = (p.y - m.y) * m.z;
            let basis = array<f32, 6>(1.0, u, v, u * u, u * v, v * v);
            var k = 0u;
            for (var i = 0u; i < 6u; i += 1u) {
                for (var j = i; j < 6u; j += 1u) {
                    acc[k] += basis[i] * basis[j];
                    k += 1u;
                }
                acc[21u + i] += basis[i] * l;
            }
            acc[27] += 1.0;
        }
        part[li] = acc;
        workgroupBarrier();
        if (li == 0u && stop == 0u) {
            var ata: array<f32, 21>;
            var atb: array<f32, 6>;
            var used = 0.0;
            for (var t = 0u; t < FIT_THREADS; t += 1u) {
                for (var k = 0u; k < 21u; k += 1u) {
                    ata[k] += part[t][k];
                }
                for (var k = 0u; k < 6u; k += 1u) {
                    atb[k] += part[t][21u + k];
                }
                used += part[t][27];
            }
            if (used < 12.0 || !solve6(ata, atb)) {
                stop = 1u;
            }
        }
        workgroupBarrier();
    }
    if (li < 6u) {
        coeffs[li] = coef[li];
    }
}

// The smoothed ratio to the background at (x, y).
fn ratio_at(x: u32, y: u32) -> f32 {
    let w = P.width;
    let xl = select(x - 1u, 0u, x == 0u);
    let xr = min(x + 1u, w - 1u);
    let ys = array<u32, 3>(select(y - 1u, 0u, y == 0u), y, min(y + 1u, P.height - 1u));
    let wy = array<u32, 3>(1u, 2u, 1u);
    var acc = 0u;
    for (var k = 0u; k < 3u; k += 1u) {
        let row = ys[k] * w;
        acc += wy[k] * (nir_at(row + xl) + 2u * nir_at(row + x) + nir_at(row + xr));
    }
    let smoothed = f32(acc) * (1.0 / 16.0);
    let m = model_center();
    let u = (f32(x) + 0.5 - m.x) * m.z;
    let v = (f32(y) + 0.5 - m.y) * m.z;
    let c0 = coeffs[0];
    let ll = c0 + coeffs[1] * u + coeffs[2] * v + coeffs[3] * u * u + coeffs[4] * u * v + coeffs[5] * v * v;
    return smoothed / exp(ll);
}

// Each invocation's ratio code, so that the even column stores the pair's word.
var<workgroup> codes: array<u32, 256>;
// Whether a ratio of the tile is over TINT_FROM.
var<workgroup> tinted: atomic<u32>;

// `hist` (block_median's) serves as the tile's level histogram: LEVEL_BINS == 256 bins, one an invocation.
// The ratio is rounded to its 16-bit code before it is stored and counted (the CPU's normalize rounds
// alike), and the tile's even columns store two codes a word (a tile starts on an even column).
@compute @workgroup_size(16, 16)
fn normalize(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    atomicStore(&hist[li], 0u);
    codes[li] = 0u;
    if (li == 0u) {
        atomicStore(&tinted, 0u);
    }
    workgroupBarrier();
    if (g.x < P.width && g.y < P.height) {
        let code = ratio_encode(ratio_at(g.x, g.y));
        codes[li] = code;
        // As the composite decodes it (`ratio_decode`).
        let r = f32(code) * (1.0 / RATIO_STEPS);
        if (r > TINT_FROM) {
            atomicOr(&tinted, 1u);
        }
        if ((g.x & 1u) == 0u && (g.y & 1u) == 0u) {
            let b = floor((r - LEVEL_LO) * LEVEL_SCALE);
            if (b >= 0.0 && b < f32(LEVEL_BINS)) {
                atomicAdd(&hist[u32(b)], 1u);
            }
        }
    }
    workgroupBarrier();
    if ((g.x & 1u) == 0u && g.x < P.width && g.y < P.height) {
        ratio[ratio_index(g.x, g.y)] = codes[li] | (codes[li + 1u] << 16u);
    }
    let c = atomicLoad(&hist[li]);
    if (c != 0u) {
        atomicAdd(&level[li], c);
    }
    if (li == 0u) {
        drawn[wg.y * ((P.width + 15u) / 16u) + wg.x] = atomicLoad(&tinted);
    }
}
