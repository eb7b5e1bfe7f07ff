//! Element `nirfmargin`: white light and NIR in, the margin overlay out.
//!
//! A `VideoAggregator` with two sink pads, `wl` (the white light: RGB, RGBx or RGBA) and `nir` (the NIR
//! camera: GRAY8, GRAY16_LE or GRAY16_BE, any size: scaled onto the white light), and one src pad in the
//! white light's format, size and frame rate. Frames pair by running time (the aggregator's); live, a
//! frame that a newer one of its input waits behind is skipped and counted (`skipped`), so that neither
//! input stays a frame behind the other; each pair
//! goes to the analysis thread (`worker`, built from `analysis::LiveAnalysis`, with `faults` for the
//! drills) through the fail-safe policy (`failsafe`):
//! the overlay when the analysis answers within `budget-ms`, else the white light as it is with a badge
//! ("OVERLAY OFF (over time budget)", "OVERLAY OFF (analysis fault)"). A NIR input that falls silent in
//! a live pipeline (the aggregator's timeout), or whose newest frame is older than the white light by
//! more than a frame gives the white light with "NIR LOST"; a NIR that ended is such a frame (its last
//! frame is kept after its EOS: the white light's last frame pairs with it when both end together, and
//! a run stopped by an EOS into each source ends without a spurious "NIR LOST"). The frame period, and
//! so the default budget and the analysis's tracking rate, come from the white light's caps (30
//! frames/s for a variable rate, `0/1`). A live white light with no frame yet at
//! the aggregator's timeout gives a black frame with "NO WHITE LIGHT" (nothing analysed); one that stops
//! delivering has its last frame repeated by the aggregator (the `wl` pad's `max-last-buffer-repeat`,
//! until EOS by default), from half a frame past its end with "WHITE LIGHT FROZEN" (nothing analysed);
//! the white light ending ends the stream. A variable rate (`0/1`) gives output caps of 30/1.
//!
//! Every frame posts an element message `nirf-margin/frame`: the frame's metrics line (the lesions with
//! their figures and margin verdict, the transection / wound-bed check, the overlay state and the reason
//! it is off) plus `element-ms` and `process-ms`; its `latency_ms` counts from the earlier of the white
//! light's running time and the moment the element took the pair (live: capture to output; a replay,
//! ahead of the clock: the element's time on the frame). The latency query is answered with the budget
//! plus 5 ms for the element's own work.
//!
//! ```text
//! gst-launch-1.0 -m filesrc location=wl.mkv ! decodebin ! videoconvert ! nirfmargin name=m mm-per-px=0.1 \
//!     ! videoconvert ! autovideosink  filesrc location=nir.mkv ! decodebin ! videoconvert ! m.nir
//! ```

use gstreamer as gst;
use gstreamer_base as gst_base;
use gstreamer_video as gst_video;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::ObjectSubclassIsExt;

pub(crate) mod analysis;
pub mod failsafe;
pub(crate) mod faults;
mod imp;
pub mod message;
pub mod worker;

pub use message::{FRAME_MESSAGE, frame_structure};

glib::wrapper! {
    pub struct NirfMargin(ObjectSubclass<imp::NirfMargin>) @extends gst_video::VideoAggregator, gst_base::Aggregator, gst::Element, gst::Object;
}

impl NirfMargin {
    /// Each frame's metrics line, as it leaves the element (the same line the bus message carries), on
    /// a channel that never blocks the element: for an application linked with this library.
    pub fn set_frame_channel(&self, tx: Option<crossbeam_channel::Sender<crate::metrics::FrameMetrics>>) {
        self.imp().set_frame_channel(tx);
    }
}

/// Register the element for this process (an application linked with this library; a second call is
/// a no-op: GStreamer keeps the first registration of a name for the same type).
pub fn register_once() -> Result<(), glib::BoolError> {
    register(None)
}

/// Register the element with a plugin (the `gstnirfmargin` cdylib does), or with none: in-process, for
/// an application linked with this library (`live` does; `None` registers it for this process only).
pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    gst::Element::register(plugin, "nirfmargin", gst::Rank::NONE, NirfMargin::static_type())
}
