//! nirf-margin: real-time measurement of fluorescent rims and tumour margins in ICG near-infrared
//! fluorescence video, as decision support for liver-metastasis resection.
//!
//! Layers, lowest first, each importing only those before it, and no file importing one that imports
//! it back (`tests/layers.rs` checks both on the sources, in the order of the README's code map):
//! - `frame`, `params`, `stats` (median, percentile, histogram quantile), `values` (the ranges and parsers
//!   of settings given as text, shared by the command line, the manifest and the element; it imports
//!   nothing of the crate); `raster` (rectangles and the exact distance transform, shared by the CPU
//!   backend and the overlay); then `analysis`: plain data types, the style-table words, the constants
//!   both backends share and the `Analyzer` contract;
//! - `overlay`: the overlay's palette, lines, text, badges, banners, boxes and homogeneous outlines from
//!   the component labels, and `draw`;
//! - `phantom`: synthetic data with ground truth;
//! - `reference` (CPU) and `gpu` (wgpu): the per-frame analysis backends (neither knows the other;
//!   they composite the fluorescence, cores and contours from the processor's per-lesion style table
//!   and decide nothing);
//! - `measure`: figures in mm, tracking, smoothing, the transection / wound-bed checks, the scale
//!   settings, scoring against ground truth;
//! - `processor`: one frame pair in, one result out; the only place the margin verdict is decided and
//!   the one caller of `overlay::draw`; `backend`: which analyzer (`auto`, `gpu`, `cpu`) a command or
//!   the element gets; `evaluation`: a phantom run scored against its truth (`evaluate`'s engine and the
//!   accuracy tests');
//! - `metrics`: the one metrics schema (serde, versioned, with a JSON Schema file);
//! - `media`: GStreamer sources and sinks; `paths`: output-path safety and atomic writes; `element`: the
//!   `nirfmargin` GStreamer element, with its latency-first analysis thread and fail-safe passthrough;
//!   `live`: the `live` command's pipeline around the element, recordings and statistics;
//! - `report`: the HTML procedure report from a metrics file; `archive`: a batch's run records and the
//!   cohort over them (table, distributions, comparison of two runs); `cli`: the command line (clap
//!   only here; nothing outside it imports it).
//!
//! Public API: what the GStreamer element's crate (`gst-plugin/`), the integration tests, the benches and
//! the binary use — frames, params, stats, raster, the analysis contract and both backends, `backend`,
//! measure, the processor, metrics, `overlay` (the element's tests draw the badge they expect with it),
//! media's sources and stills, the element (and its `failsafe`), phantom, `evaluation`, report, and `cli`
//! (`run`, for the binary; no test imports it). The rest is `pub(crate)`: `values`, `paths`,
//! `archive`, `live`, the subcommands and option groups, overlay's palette and lines, the element's
//! analysis factory and faults, live's pipeline, recording and statistics, media's recorder, measure's
//! smoothing and tracking, gpu's prelude and uniform.

pub mod analysis;
pub(crate) mod archive;
pub mod backend;
pub mod cli;
pub mod element;
pub mod evaluation;
pub mod frame;
pub mod gpu;
pub(crate) mod live;
pub mod measure;
pub mod media;
pub mod metrics;
pub mod overlay;
pub mod params;
pub(crate) mod paths;
pub mod phantom;
pub mod processor;
pub mod raster;
pub mod reference;
pub mod report;
pub mod stats;
pub(crate) mod values;
