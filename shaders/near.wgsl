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

fn near_tile(x: u32, y: u32) -> u32 {
    return NEAR_TILES + (y >> 4u) * near_tiles_x() + (x >> 4u);
}

fn near_active(x: u32, y: u32) -> bool {
    return (near_word(near_tile(x, y)) & NEAR_CORE) != 0u;
}

// A box [x0, x1) × [y0, y1) of `near` (the slot's words at b, `gpu::prelude::near`) grown by `reach` meets
// tile t's pixels [16 tx, 16 tx + 16) × [16 ty, 16 ty + 16), clipped to the frame.
fn box_meets_tile(b: u32, t: u32, reach: u32) -> bool {
    let bx1 = near_word(b + 2u);
    if (bx1 == 0u) {
        return false;
    }
    let tx = near_tiles_x();
    let x0 = 16u * (t % tx);
    let y0 = 16u * (t / tx);
    let x1 = min(x0 + 16u, P.width);
    let y1 = min(y0 + 16u, P.height);
    return x0 < bx1 + reach && ~near_word(b) < x1 + reach && y0 < near_word(b + 3u) + reach && ~near_word(b + 1u) < y1 + reach;
}

// Tiles of the frame.
fn near_tiles() -> u32 {
    return near_tiles_x() * ((P.height + 15u) / 16u);
}
