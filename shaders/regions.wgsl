// regions.wgsl — CPU twin: src/reference/regions.rs
// (The per-component statistics are added by components.wgsl's compress as it writes the labels.)
// select_cores: over the dense ids (T_COMPONENTS of them, COMPONENT_GROUPS workgroups striding): each
//               large enough non-fluorescent component that is not most of the frame, under the core
//               level (a dark one where it touches the border), is a core: flags it (FLAG_CORE), counts
//               it (table[0]) and its root's row (T_ROWS).
// assign_cores: each core whose rank in raster order of label is under MAX_CORES takes slot = rank (the
//               CPU's order, whatever order the GPU ran in): writes slot + 1 in its stats record and the
//               slot's label (its root's raster index + 1, the CPU's label), kind and partial flag (the
//               core touches the border) in table; and a box holding the core (its first row its root's,
//               the rest to whole bands, `bands_of`) as the slot's box in `near`, from which the distance
//               stage marks the tiles near a core (`activate`).

@group(0) @binding(1) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> table: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> roots: array<u32>;
// The tiles near a core (near.wgsl, `gpu::prelude::near`): assign_cores writes each slot's box.
@group(0) @binding(4) var<storage, read_write> near: array<u32>;

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
        // The box [x0, x1) × [y0, y1): the first and past the last band of each side the core touches.
        let b = band_box(atomicLoad(&stats[stats_base(id) + STATS_BANDS]), roots[id]);
        for (var k = 0u; k < 4u; k += 1u) {
            near[4u * slot + k] = b[k];
        }
    }
}
