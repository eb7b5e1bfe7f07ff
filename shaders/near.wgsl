// near.wgsl — appended to distance.wgsl, reduce.wgsl and composite.wgsl, which bind the tiles near a core
// as `near` and read a word of it through their own `near_word` (an atomic load where the stage writes
// it). Layout: `gpu::prelude::near` (NEAR_* in the prelude). distance.wgsl's `activate` marks each 16×16
// tile within the distance bound + 2 of a core's box; the distance columns and rows write the field there
// only, and every reader of the field (and the sub-pixel pass, which works near cores only) takes a tile
// not marked as beyond every core's bound (field 0) without reading it. Where the field can be non-zero
// (a core pixel within the bound) the tile is marked, so the answers are those of the whole frame.

fn near_tiles_x() -> u32 {
    return (P.width + 15u) / 16u;
}

fn near_active(x: u32, y: u32) -> bool {
    return near_word(NEAR_TILES + (y >> 4u) * near_tiles_x() + (x >> 4u)) != 0u;
}
