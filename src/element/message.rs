//! The per-frame element message: a `nirf-margin/frame` structure holding the frame's metrics line
//! (`crate::metrics::FrameMetrics`, the one schema, converted field by field: numbers, strings,
//! booleans; objects as structures named by their field; lists as arrays; null fields left out) plus
//! the element's own timings. An application reads it from the bus; nothing is defined twice.

use gstreamer as gst;
use serde_json::Value;

/// The structure an element message carries for one frame.
pub const FRAME_MESSAGE: &str = "nirf-margin/frame";

fn to_value(name: &str, v: &Value) -> Option<gst::glib::SendValue> {
    use gst::prelude::*;
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => b.to_send_value(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.to_send_value(),
            (None, Some(i)) => i.to_send_value(),
            _ => n.as_f64().unwrap_or(f64::NAN).to_send_value(),
        },
        Value::String(s) => s.to_send_value(),
        Value::Array(items) => {
            // A list of objects is a list of structures named by the list's field without its plural
            // `s` (`lesions` → `lesion`).
            let item = name.strip_suffix('s').unwrap_or(name);
            gst::Array::new(items.iter().filter_map(|i| to_value(item, i))).to_send_value()
        }
        Value::Object(_) => to_structure(name, v).to_send_value(),
    })
}

/// A JSON object as a structure of that name (other values: an empty structure).
pub fn to_structure(name: &str, v: &Value) -> gst::Structure {
    let mut s = gst::Structure::new_empty(name);
    if let Value::Object(map) = v {
        for (k, v) in map {
            if let Some(val) = to_value(k, v) {
                s.set_value(k.as_str(), val);
            }
        }
    }
    s
}

/// The `nirf-margin/frame` structure of one frame's metrics line.
pub fn frame_structure(line: &crate::metrics::FrameMetrics) -> gst::Structure {
    to_structure(FRAME_MESSAGE, &serde_json::to_value(line).unwrap_or(Value::Null))
}
