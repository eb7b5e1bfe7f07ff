//! The `nirfmargin` GStreamer plugin: the element as a plugin file (`libgstnirfmargin.so`) for any
//! GStreamer application (`gst-launch-1.0`, a recorder, a second display; `GST_PLUGIN_PATH`).
//!
//! The element itself is the `nirf-margin` library's (`nirf_margin::element`): the `live` command
//! registers that same type in-process, and this crate only wraps it in a plugin. Why not the other way
//! round (the binary depending on this crate): this crate depends on the library, and the binary lives in
//! the library's package, so it could not; loading the plugin file at run time would make `live` depend
//! on finding a file beside it, and on its version matching. One type, two ways to register it.

pub use nirf_margin::element::{FRAME_MESSAGE, NirfMargin, frame_structure};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    nirf_margin::element::register(Some(plugin))
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
