// rank.wgsl — appended to the stages that hand out lesion slots (regions, reduce), which bind `stats`,
// `table` and `roots` under these names. CPU twin: the CPU takes the first cores / coreless lesions by label.

// The rank of component `id` among the components whose stats carry `flag`, in raster order of their
// labels (dense ids go by that order): the flagged components whose roots lie in the rows above (counted
// per row at table[rows + y] by the selecting pass) plus the flagged ids before it among its own row's
// (from the row's first id, ids_base() + y). Only flagged components call it: a few hundred words read
// each.
fn raster_rank(id: u32, flag: u32, rows: u32) -> u32 {
    let y = roots[id] / P.width;
    var rank = 0u;
    for (var r = 0u; r < y; r++) {
        rank += atomicLoad(&table[rows + r]);
    }
    for (var j = atomicLoad(&table[ids_base() + y]); j < id; j++) {
        if ((atomicLoad(&stats[stats_base(j)]) & flag) != 0u) {
            rank += 1u;
        }
    }
    return rank;
}
