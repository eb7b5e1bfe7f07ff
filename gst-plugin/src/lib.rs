//! The `nirfmargin` GStreamer plugin: the nirf-margin analysis as an element that anyone can put in a
//! pipeline (a `gst-launch-1.0` line, a recorder, a second display). The element only pairs frames,
//! converts them to the library's plain frame types, calls the processor through the fail-safe policy
//! of the live path and posts the results; the analysis itself is the `nirf-margin` library's.

mod message;
mod nirfmargin;

pub use message::frame_structure;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    nirfmargin::register(plugin)
}

gst::plugin_define!(
    nirfmargin,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    "2026-11-29"
);
