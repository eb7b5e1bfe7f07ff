// regions.wgsl — CPU twin: src/reference/regions.rs
// region_stats: reads ratio, labels; adds to stats (the per-component records of common.wgsl, by dense
//               id: area and border flag; ratio sum, or boundary and sharp boundary pixels).
// select_cores: over the dense ids (T_COMPONENTS of them, COMPONENT_GROUPS workgroups striding): each
//               large enough non-fluorescent component that is not most of the frame, under the core
//               level (a dark one where it touches the border), is a core: flags it (FLAG_CORE), counts
//               it (table[0]) and its root's row (T_ROWS).
// assign_cores: each core whose rank in raster order of label is under MAX_CORES takes slot = rank (the
//               CPU's order, whatever order the GPU ran in): writes slot + 1 in its stats record and the
//               slot's label (its root's raster index + 1, the CPU's label), kind and partial flag (the
//               core touches the border) in table.

@group(0) @binding(1) var<storage, read> ratio: array<u32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> table: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read> roots: array<u32>;

fn ratio_px(x: u32, y: u32) -> f32 {
    return ratio_decode(ratio[ratio_index(x, y)], x);
}

fn ratio_fixed(v: f32) -> u32 {
    return u32(clamp(v, 0.0, 4.0) * RATIO_FIXED);
}

// Most pixels of a tile belong to one non-fluorescent component (the liver background above all), and
// most fluorescent pixels of a tile to one fluorescent component: the tile sums each leading component's
// pixels in workgroup memory and adds them once, so a frame does not serialise on a large component's
// counters. Integer sums: the result is the same as pixel by pixel.
var<workgroup> lead: u32;
var<workgroup> lead_area: atomic<u32>;
var<workgroup> lead_sum: atomic<u32>;
var<workgroup> lead_flags: atomic<u32>;
// The fluorescent leader: the tile's largest fluorescent label (any present one would do).
var<workgroup> fl_lead: atomic<u32>;
var<workgroup> fl_area: atomic<u32>;
var<workgroup> fl_edges: atomic<u32>;
var<workgroup> fl_sharp: atomic<u32>;
var<workgroup> fl_flags: atomic<u32>;

@compute @workgroup_size(16, 16)
fn region_stats(@builtin(global_invocation_id) g: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w = P.width;
    let n = n_pixels();
    if (li == 0u) {
        lead = bg_label(labels[wg.y * 16u * w + wg.x * 16u]);
        atomicStore(&lead_area, 0u);
        atomicStore(&lead_sum, 0u);
        atomicStore(&lead_flags, 0u);
        atomicStore(&fl_lead, 0u);
        atomicStore(&fl_area, 0u);
        atomicStore(&fl_edges, 0u);
        atomicStore(&fl_sharp, 0u);
        atomicStore(&fl_flags, 0u);
    }
    workgroupBarrier();
    let inside = g.x < P.width && g.y < P.height;
    let i = g.y * w + g.x;
    if (inside) {
        atomicMax(&fl_lead, fl_label(labels[i]));
    }
    workgroupBarrier();
    let leader = lead;
    let fl_leader = atomicLoad(&fl_lead);
    if (inside) {
        let border = select(0u, FLAG_BORDER, is_border_px(g.x, g.y));
        let b = bg_label(labels[i]);
        if (b != 0u && b == leader) {
            atomicAdd(&lead_area, 1u);
            atomicAdd(&lead_sum, ratio_fixed(ratio_px(g.x, g.y)));
            atomicOr(&lead_flags, border);
        } else if (b != 0u) {
            let r = stats_base(b - 1u);
            atomicAdd(&stats[r], 1u);
            atomicAdd(&stats[r + 1u], ratio_fixed(ratio_px(g.x, g.y)));
            if (border != 0u) {
                atomicOr(&stats[r], border);
            }
        }
        let f = fl_label(labels[i]);
        if (f != 0u) {
            // Any other word is another component (of either class: roots are distinct pixels).
            let l = labels[i];
            let edge = (g.x > 0u && labels[i - 1u] != l) || (g.x + 1u < w && labels[i + 1u] != l)
                || (g.y > 0u && labels[i - w] != l) || (g.y + 1u < P.height && labels[i + w] != l);
            var sharp = false;
            if (edge && border == 0u) {
                let gx = 0.5 * (ratio_px(g.x + 1u, g.y) - ratio_px(g.x - 1u, g.y));
                let gy = 0.5 * (ratio_px(g.x, g.y + 1u) - ratio_px(g.x, g.y - 1u));
                sharp = gx * gx + gy * gy >= P.sharp_grad_px * P.sharp_grad_px;
            }
            if (f == fl_leader) {
                atomicAdd(&fl_area, 1u);
                atomicOr(&fl_flags, border);
                if (edge) {
                    atomicAdd(&fl_edges, 1u);
                }
                if (sharp) {
                    atomicAdd(&fl_sharp, 1u);
                }
            } else {
                let r = stats_base(f - 1u);
                atomicAdd(&stats[r], 1u);
                atomicOr(&stats[r], border | FLAG_FL);
                if (edge) {
                    atomicAdd(&stats[r + 1u], 1u);
                }
                if (sharp) {
                    atomicAdd(&stats[r + 2u], 1u);
                }
            }
        }
    }
    workgroupBarrier();
    if (li == 0u && leader != 0u) {
        let r = stats_base(leader - 1u);
        atomicAdd(&stats[r], atomicLoad(&lead_area));
        atomicAdd(&stats[r + 1u], atomicLoad(&lead_sum));
        let flags = atomicLoad(&lead_flags);
        if (flags != 0u) {
            atomicOr(&stats[r], flags);
        }
    }
    if (li == 0u && fl_leader != 0u) {
        let r = stats_base(fl_leader - 1u);
        atomicAdd(&stats[r], atomicLoad(&fl_area));
        atomicOr(&stats[r], atomicLoad(&fl_flags) | FLAG_FL);
        let edges = atomicLoad(&fl_edges);
        if (edges != 0u) {
            atomicAdd(&stats[r + 1u], edges);
        }
        let sharp = atomicLoad(&fl_sharp);
        if (sharp != 0u) {
            atomicAdd(&stats[r + 2u], sharp);
        }
    }
}

@compute @workgroup_size(256)
fn select_cores(@builtin(global_invocation_id) g: vec3<u32>) {
    let count = atomicLoad(&table[T_COMPONENTS]);
    for (var id = g.x; id < count; id += 256u * COMPONENT_GROUPS) {
        select_core(id);
    }
}

fn select_core(id: u32) {
    let n = n_pixels();
    let word = atomicLoad(&stats[stats_base(id)]);
    let area = word & AREA_MASK;
    if ((word & FLAG_FL) != 0u) {
        return;
    }
    let sum = atomicLoad(&stats[stats_base(id) + 1u]);
    let max_ratio = select(P.core_max_ratio, P.partial_core_max_ratio, (word & FLAG_BORDER) != 0u);
    let is_core = f32(area) >= P.min_core_area && area * 3u <= n
        && f32(sum) < max_ratio * RATIO_FIXED * f32(area);
    if (!is_core) {
        return;
    }
    atomicOr(&stats[stats_base(id)], FLAG_CORE);
    atomicAdd(&table[0], 1u);
    atomicAdd(&table[T_ROWS + roots[id] / P.width], 1u);
}

@compute @workgroup_size(256)
fn assign_cores(@builtin(global_invocation_id) g: vec3<u32>) {
    let count = atomicLoad(&table[T_COMPONENTS]);
    for (var id = g.x; id < count; id += 256u * COMPONENT_GROUPS) {
        assign_core(id);
    }
}

fn assign_core(id: u32) {
    let word = atomicLoad(&stats[stats_base(id)]);
    if ((word & FLAG_CORE) == 0u) {
        return;
    }
    let slot = raster_rank(id, FLAG_CORE, T_ROWS);
    if (slot < MAX_CORES) {
        atomicStore(&stats[stats_base(id) + 2u], slot + 1u);
        atomicStore(&table[slot_base(slot) + T_LABEL], roots[id] + 1u);
        atomicStore(&table[slot_base(slot) + T_KIND], 0u);
        atomicStore(&table[slot_base(slot) + T_PARTIAL], select(0u, 1u, (word & FLAG_BORDER) != 0u));
    }
}
