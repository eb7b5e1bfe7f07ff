//! GStreamer plumbing and still images: recorded sources paired frame by frame (`source`), Matroska
//! recording (`recorder`), PNG masks and snapshots (`stills`). Frames cross into the rest of the
//! program as plain `RgbFrame`/`NirFrame`; nothing here knows about the analysis.

pub mod live;
pub mod recorder;
pub mod source;
pub mod stills;

use anyhow::{Context, Result};

/// Initialise GStreamer once; cheap to call again.
pub fn init() -> Result<()> {
    gstreamer::init().context("initialising GStreamer (is libgstreamer1.0 installed? run scripts/install-deps.sh)")
}
