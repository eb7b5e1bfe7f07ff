// rank.wgsl — appended to the stages that hand out lesion slots (regions, reduce), which bind `stats`
// and `table` under these names. CPU twin: the CPU takes the first cores / coreless lesions by label.

// The rank of root i among the roots whose stats carry `flag`, in raster order of their labels: the
// flagged roots of the rows above (counted per row at table[rows + y] by the selecting pass) plus those
// before it in its own row. Only flagged roots call it: a few hundred words read each.
fn raster_rank(i: u32, flag: u32, rows: u32) -> u32 {
    let y = i / P.width;
    var rank = 0u;
    for (var r = 0u; r < y; r++) {
        rank += atomicLoad(&table[rows + r]);
    }
    for (var j = y * P.width; j < i; j++) {
        if ((atomicLoad(&stats[stats_base(j)]) & flag) != 0u) {
            rank += 1u;
        }
    }
    return rank;
}
