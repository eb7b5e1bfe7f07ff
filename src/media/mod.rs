//! GStreamer plumbing and still images: recorded sources paired frame by frame, two files or one
//! side-by-side file (`source`), Matroska recording (`recorder`), PNG masks and snapshots (`stills`).
//! Frames cross into the rest of the program as plain `RgbFrame`/`NirFrame`; nothing here knows about
//! the analysis or the `nirfmargin` element (the live pipeline around the element is `live::pipeline`).

pub(crate) mod recorder;
pub mod source;
pub mod stills;

use anyhow::{Context, Result, bail};
use gstreamer_video as gst_video;

/// Initialise GStreamer once; cheap to call again.
pub fn init() -> Result<()> {
    gstreamer::init().context("initialising GStreamer (is libgstreamer1.0 installed? run scripts/install-deps.sh)")
}

/// Lay packed rows (`width` × bytes a pixel, no padding) out as GStreamer expects raw video of `info`:
/// each row at the plane's stride (rows are padded to 4 bytes, so RGB at 641 px is 1924 bytes a row,
/// not 1923). The bytes are returned as they are where the layouts agree.
pub fn packed_to_layout(info: &gst_video::VideoInfo, packed: Vec<u8>) -> Result<Vec<u8>> {
    let (w, h) = (info.width() as usize, info.height() as usize);
    let row = w * info.format_info().pixel_stride()[0] as usize;
    if packed.len() != row * h {
        bail!("a frame of {} bytes is not {w}x{h} {:?}", packed.len(), info.format());
    }
    let (stride, offset) = (info.stride()[0] as usize, info.offset()[0]);
    if stride == row && offset == 0 && info.size() == packed.len() {
        return Ok(packed);
    }
    let mut out = vec![0u8; info.size()];
    for (y, src) in packed.chunks_exact(row.max(1)).enumerate().take(h) {
        out[offset + y * stride..offset + y * stride + row].copy_from_slice(src);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_widths_get_padded_rows() {
        gstreamer::init().unwrap();
        for (w, h, format, bpp) in [(641, 3, gst_video::VideoFormat::Rgb, 3), (33, 17, gst_video::VideoFormat::Gray16Le, 2), (642, 2, gst_video::VideoFormat::Rgb, 3)] {
            let info = gst_video::VideoInfo::builder(format, w, h).build().unwrap();
            let row = w as usize * bpp;
            let packed: Vec<u8> = (0..row * h as usize).map(|i| (i % 251) as u8).collect();
            let out = packed_to_layout(&info, packed.clone()).unwrap();
            assert_eq!(out.len(), info.size());
            let stride = info.stride()[0] as usize;
            assert_eq!(stride % 4, 0, "{w}x{h}");
            for y in 0..h as usize {
                assert_eq!(&out[y * stride..y * stride + row], &packed[y * row..(y + 1) * row], "{w}x{h} row {y}");
            }
        }
    }
}
