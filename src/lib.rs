//! nirf-margin: real-time measurement of fluorescent rims and tumour margins in ICG near-infrared
//! fluorescence video, as decision support for liver-metastasis resection.
//!
//! Layers, each knowing only those below it (no import cycle):
//! - `frame`, `params`, `stats` (median, percentile, histogram quantile), `values` (settings given as
//!   text: ranges and parsers shared by the command line, the manifest and the element), then
//!   `analysis`: plain data types, the overlay's palette and style-table words, and the `Analyzer`
//!   contract;
//! - `phantom`: synthetic data with ground truth;
//! - `reference` (CPU) and `gpu` (wgpu): the per-frame analysis backends (neither knows the other;
//!   they composite from the processor's per-lesion style table and decide nothing);
//! - `measure`: figures in mm, tracking, smoothing, the transection / wound-bed checks, scoring against
//!   ground truth; `annotate`: everything drawn on the CPU after the composite (text, outlines, badges);
//! - `processor`: one frame pair in, one result out; the only place the margin verdict is decided;
//!   `backend`: which analyzer (`auto`, `gpu`, `cpu`) a command or the element gets;
//! - `metrics`: the one metrics schema (serde, versioned, with a JSON Schema file);
//! - `media`: GStreamer sources and sinks; `live`: latency-first scheduling and fail-safe passthrough;
//! - `report`: the HTML procedure report from a metrics file; `archive`: a batch's run records and the
//!   cohort over them (table, distributions, comparison of two runs); `cli`: the command line (clap only here).
//!
//! Public API: what the GStreamer element (`gst-plugin/`), the integration tests and the benches use —
//! frames, params, values, the analysis contract and both backends, `backend`, measure, the processor,
//! metrics, media, live, the element, phantom, report, `annotate` (the element's tests draw the badge they
//! expect with it) and `cli`'s `options`, `paths` and `evaluate`. The rest (`archive`, the other
//! subcommands) is `pub(crate)`.

pub mod analysis;
pub(crate) mod archive;
pub mod backend;
pub mod cli;
pub mod element;
pub mod frame;
pub mod gpu;
pub mod live;
pub mod measure;
pub mod media;
pub mod metrics;
pub mod overlay;
pub mod params;
pub(crate) mod paths;
pub mod phantom;
pub mod processor;
pub mod reference;
pub mod report;
pub mod stats;
pub(crate) mod values;
