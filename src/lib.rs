//! nirf-margin: real-time measurement of fluorescent rims and tumour margins in ICG near-infrared
//! fluorescence video, as decision support for liver-metastasis resection.
//!
//! Layers, each knowing only those below it (no import cycle between files):
//! - `frame`, `params`, `stats` (median, percentile, histogram quantile), `values` (the ranges and parsers
//!   of settings given as text, shared by the command line, the manifest and the element; it imports
//!   nothing of the crate), then `analysis`: plain data types, the style-table words and the `Analyzer`
//!   contract; `overlay::palette` and `overlay::lines` (the overlay's colours and line coverage: leaves);
//! - `phantom`: synthetic data with ground truth;
//! - `reference` (CPU) and `gpu` (wgpu): the per-frame analysis backends (neither knows the other;
//!   they composite the fluorescence, cores and contours from the processor's per-lesion style table
//!   and decide nothing);
//! - `overlay` (the rest: text, badges, banners, boxes, homogeneous outlines from the component labels,
//!   `draw`); `measure`: figures in mm, tracking, smoothing, the transection / wound-bed checks, the
//!   scale settings, scoring against ground truth;
//! - `processor`: one frame pair in, one result out; the only place the margin verdict is decided and
//!   the one caller of `overlay::draw`; `backend`: which analyzer (`auto`, `gpu`, `cpu`) a command or
//!   the element gets;
//! - `metrics`: the one metrics schema (serde, versioned, with a JSON Schema file);
//! - `media`: GStreamer sources and sinks; `paths`: output-path safety and atomic writes; `live`:
//!   latency-first scheduling and fail-safe passthrough; `element`: the `nirfmargin` GStreamer element;
//! - `report`: the HTML procedure report from a metrics file; `archive`: a batch's run records and the
//!   cohort over them (table, distributions, comparison of two runs); `cli`: the command line (clap
//!   only here; nothing outside it imports it).
//!
//! Public API: what the GStreamer element's crate (`gst-plugin/`), the integration tests, the benches and
//! the binary use — frames, params, stats, the analysis contract and both backends, `backend`, measure,
//! the processor, metrics, `overlay` (the element's tests draw the badge they expect with it), media's
//! sources and stills, `live::failsafe`, the element, phantom, report, and `cli` (`run` for the binary,
//! `evaluate` for the accuracy tests). The rest is `pub(crate)`: `values`, `paths`, `archive`, the
//! subcommands and option groups, overlay's palette and lines, the live analysis, faults, recording and
//! statistics, media's live pipeline and recorder, measure's smoothing and tracking, gpu's prelude and
//! uniform.

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

#[cfg(test)]
mod layering {
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The code (comments left out) of every library file but the command line's (and this one, which
    /// declares it).
    fn outside_cli() -> Vec<(PathBuf, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        files
            .into_iter()
            .filter(|p| !p.starts_with(src.join("cli")) && *p != src.join("main.rs") && *p != src.join("lib.rs"))
            .map(|p| {
                let code = std::fs::read_to_string(&p).unwrap().lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
                (p, code)
            })
            .collect()
    }

    #[test]
    fn only_the_command_line_knows_the_command_line_and_clap() {
        let files = outside_cli();
        assert!(files.len() > 50, "{} files", files.len());
        for (p, code) in files {
            for word in ["crate::cli", "clap::", "use clap"] {
                assert!(!code.contains(word), "{} uses {word}", p.display());
            }
        }
    }
}
