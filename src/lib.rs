//! nirf-margin: real-time measurement of fluorescent rims and tumour margins in ICG near-infrared
//! fluorescence video, as decision support for liver-metastasis resection.
//!
//! Layers, each knowing only those below it:
//! - `frame`, `params`, `analysis`: plain data types and the `Analyzer` contract;
//! - `reference` (CPU) and `gpu` (wgpu): the per-frame analysis backends;
//! - `measure`: figures in mm, tracking, scoring against ground truth; `annotate`: overlay text;
//! - `processor`: one frame pair in, one result out;
//! - `phantom`: synthetic data with ground truth;
//! - `media`: GStreamer sources and sinks; `live`: latency-first scheduling and fail-safe passthrough;
//! - `report`: the HTML procedure report from a metrics file; `cli`: the command line.

pub mod analysis;
pub mod annotate;
pub mod cli;
pub mod frame;
pub mod gpu;
pub mod live;
pub mod measure;
pub mod media;
pub mod metrics;
pub mod params;
pub mod phantom;
pub mod processor;
pub mod reference;
pub mod report;
pub mod stats;
