//! Measurement: what turns a backend's per-lesion statistics into figures a surgeon or engineer reads
//! (`figures`), keeps a lesion's identity across frames (`tracking`) and smooths its figures over
//! three (`smoothing`), runs the transection / wound-bed checks (`findings`), reads a chessboard scale
//! (`calibration`, OpenCV), and scores results against a phantom's ground truth (`accuracy`,
//! `conditions`). Knows nothing of pixels' storage on a GPU or of GStreamer.

pub mod accuracy;
pub mod calibration;
pub mod conditions;
pub mod figures;
pub mod findings;
pub(crate) mod smoothing;
pub(crate) mod tracking;
