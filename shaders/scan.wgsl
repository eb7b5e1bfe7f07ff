// scan.wgsl — appended to the stages that number rows or roots with a one-workgroup prefix sum
// (components.wgsl's `scan_rows` and `assign_ids`).
// A workgroup's 256 partial counts, scanned in place (inclusive, Hillis–Steele: eight steps).
var<workgroup> part: array<u32, 256>;

fn scan_part(li: u32) {
    for (var o = 1u; o < 256u; o <<= 1u) {
        workgroupBarrier();
        var v = part[li];
        if (li >= o) {
            v += part[li - o];
        }
        workgroupBarrier();
        part[li] = v;
    }
    workgroupBarrier();
}

// Invocation li's contiguous chunk of a row of `len` entries: [start, end).
fn chunk_of(li: u32, len: u32) -> vec2<u32> {
    let c = (len + 255u) / 256u;
    let start = min(li * c, len);
    return vec2<u32>(start, min(start + c, len));
}
