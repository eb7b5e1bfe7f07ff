//! `nirf-margin analyze`: replay a recorded white-light + NIR pair (two sources, or one side-by-side
//! source: `media::source::Inputs`) through the analysis and write the
//! metrics (JSONL), class masks (PNG), the overlay (Matroska) and a snapshot (PNG). Every output path is
//! checked against the inputs and the other outputs before anything is written (`paths`); files are
//! written under temporary names and renamed into place at the end. On an error what was written so
//! far is flushed and closed before the non-zero exit, and takes the place only of files that did not
//! exist before.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::analysis::LesionKind;
use crate::backend::{BackendChoice, make_analyzer};
use crate::paths::{PathGuard, Staged, is_findings_file, is_mask_frame, refuse_existing, write_atomic};
use crate::media::recorder::VideoRecorder;
use crate::frame::NirSide;
use crate::media::source::{Inputs, PairSource};
use crate::media::stills;
use crate::params::AnalysisParams;
use crate::cli::options::{CheckArgs, ScaleArgs};
use crate::measure::findings::Mode;
use crate::metrics::FrameMetrics;
use crate::stats::median;
use crate::processor::{CheckSettings, FrameProcessor, FrameResult};

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// White-light source: a video file, or an image sequence pattern such as wl/%05d.png.
    #[arg(long, required_unless_present = "side_by_side", requires = "nir")]
    pub wl: Option<String>,
    /// NIR source: a video file, or an image sequence pattern (8- or 16-bit gray PNG).
    #[arg(long, required_unless_present = "side_by_side", requires = "wl")]
    pub nir: Option<String>,
    /// One source carrying both channels side by side (white light and NIR in one frame of even width,
    /// as many NIR towers record): a video file or an image sequence pattern. The NIR is its half's luma.
    #[arg(long, conflicts_with_all = ["wl", "nir"])]
    pub side_by_side: Option<String>,
    /// The half of a --side-by-side frame that carries the NIR: left or right (default right).
    #[arg(long)]
    pub nir_side: Option<NirSide>,
    #[command(flatten)]
    pub scale: ScaleArgs,
    /// Frame rate of image sequences (1–1000).
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Per-frame metrics, one JSON object a line.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Directory for per-frame class masks (00000.png, ...: 0 background, 1 rim, 2 core, 3 other fluorescence).
    #[arg(long)]
    pub masks: Option<PathBuf>,
    /// Replace masks (or findings) already in their folder; without it such a folder is an error.
    #[arg(long)]
    pub overwrite: bool,
    /// Overlay video (Matroska, H.264).
    #[arg(long)]
    pub overlay: Option<PathBuf>,
    /// PNG of the overlay frame with the most rim lesions.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    #[arg(long, value_parser = crate::cli::options::backend_parser(), default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub checks: CheckArgs,
    /// Directory for a snapshot of each wound-bed spot found (and findings.json).
    #[arg(long)]
    pub findings: Option<PathBuf>,
}

/// Per-lesion figures over the run, for the closing table.
#[derive(Default)]
struct LesionSummary {
    kind: Option<LesionKind>,
    frames: u32,
    diameters: Vec<f32>,
    thickness: Vec<f32>,
    min_thickness: Vec<f32>,
    tbr: Vec<f32>,
}

fn fmt_opt(v: Option<f32>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
}

/// Sinks of one run; `close` flushes and closes everything, also after an error.
struct Outputs {
    metrics: Option<(Staged, BufWriter<File>)>,
    masks: Option<PathBuf>,
    overlay: Option<Staged>,
    recorder: Option<VideoRecorder>,
    snapshot: Option<Staged>,
    best: Option<(usize, crate::frame::RgbFrame)>,
    fps: u32,
}

impl Outputs {
    fn write(&mut self, index: u64, pts_ns: u64, params: &AnalysisParams, r: &FrameResult) -> Result<()> {
        if let Some((staged, w)) = self.metrics.as_mut() {
            serde_json::to_writer(&mut *w, &FrameMetrics::analysed(index, pts_ns, params, r))?;
            w.write_all(b"\n").and_then(|_| w.flush()).with_context(|| format!("writing {}", staged.target().display()))?;
        }
        if let (Some(dir), Some(classes)) = (&self.masks, &r.classes) {
            stills::write_mask(&dir.join(format!("{index:05}.png")), classes)?;
        }
        if let Some(staged) = &self.overlay {
            if self.recorder.is_none() {
                self.recorder = Some(VideoRecorder::create(staged.path(), r.overlay.width, r.overlay.height, self.fps)?);
            }
            if let Some(rec) = self.recorder.as_mut() {
                rec.push(&r.overlay, index)?;
            }
        }
        if self.snapshot.is_some() {
            let rims = r.lesions.iter().filter(|l| l.kind == LesionKind::Rim).count();
            if self.best.as_ref().is_none_or(|(n, _)| rims > *n) {
                self.best = Some((rims, r.overlay.clone()));
            }
        }
        Ok(())
    }

    /// Flush and close every output; `ok` puts each in place, else only where no file was there before.
    fn close(&mut self, ok: bool) -> Result<()> {
        let mut first_err = None;
        if let Some((staged, w)) = self.metrics.as_mut() {
            if let Err(e) = w.flush() {
                first_err.get_or_insert(anyhow::anyhow!("writing {}: {e}", staged.target().display()));
            }
        }
        if let Some(rec) = self.recorder.take() {
            if let Err(e) = rec.finish() {
                first_err.get_or_insert(e);
            }
        }
        if let (Some(staged), Some((_, frame))) = (&self.snapshot, &self.best) {
            if let Err(e) = stills::write_rgb(staged.path(), frame) {
                first_err.get_or_insert(e);
            }
        }
        let ok = ok && first_err.is_none();
        let staged = self.metrics.take().map(|(s, w)| {
            drop(w);
            s
        });
        for s in [staged, self.overlay.take(), self.snapshot.take()].into_iter().flatten() {
            let placed = if ok { s.commit() } else { s.finish_failed() };
            if let Err(e) = placed {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// One recording's analysis as plain settings: what `analyze` parses from its flags and `batch` from a
/// manifest line. `execute` runs it.
#[derive(Clone, Debug)]
pub struct Job {
    /// The sources, checked.
    pub inputs: Inputs,
    /// A calibration file the scale came from (an input, guarded like the sources).
    pub calibration: Option<PathBuf>,
    pub params: AnalysisParams,
    pub checks: CheckSettings,
    pub fps: u32,
    pub backend: BackendChoice,
    pub metrics: Option<PathBuf>,
    pub masks: Option<PathBuf>,
    pub overlay: Option<PathBuf>,
    pub snapshot: Option<PathBuf>,
    pub findings: Option<PathBuf>,
    pub overwrite: bool,
}

/// What a run measured, for the closing summary.
pub struct Outcome {
    pub frames: u64,
    pub wall_s: f64,
    /// Median analysis time a frame, ms.
    pub frame_ms: f32,
    /// The backend that ran (`Analyzer::describe`).
    pub backend: String,
    /// Inputs of unequal length: which gave how many frames.
    pub unequal: Option<String>,
    /// Transection / wound-bed runs: the verdict line (mode, verdict, ROI, TBR, frames checked).
    pub checks_line: Option<String>,
    per_lesion: BTreeMap<u32, LesionSummary>,
}

impl Job {
    /// A job from `analyze`'s flags.
    pub fn from_args(a: &AnalyzeArgs) -> Result<Self> {
        if a.fps == 0 || a.fps > 1000 {
            bail!("--fps must be between 1 and 1000, got {}", a.fps);
        }
        let inputs = match (&a.side_by_side, &a.wl, &a.nir) {
            (Some(source), _, _) => Inputs::SideBySide { source: source.clone(), nir_side: a.nir_side.unwrap_or_default() },
            (None, _, _) if a.nir_side.is_some() => bail!("--nir-side is only for a --side-by-side source"),
            (None, Some(wl), Some(nir)) => Inputs::Pair { wl: wl.clone(), nir: nir.clone() },
            _ => bail!("give --wl and --nir, or --side-by-side"),
        };
        Ok(Self {
            params: a.scale.params()?,
            inputs: inputs.parse()?,
            calibration: a.scale.calibration.clone(),
            checks: a.checks.settings()?,
            fps: a.fps,
            backend: a.backend,
            metrics: a.metrics.clone(),
            masks: a.masks.clone(),
            overlay: a.overlay.clone(),
            snapshot: a.snapshot.clone(),
            findings: a.findings.clone(),
            overwrite: a.overwrite,
        })
    }

    /// Frames the inputs hold, where both know it before decoding (image sequences).
    pub fn known_frames(&self) -> Option<u32> {
        self.inputs.known_frames()
    }

    /// Refuse any output that is, overwrites or holds an input, or writes another output's file; and
    /// (without `overwrite`) a masks or findings folder that already holds such files. Touches nothing.
    pub fn check_paths(&self) -> Result<()> {
        let mut guard = PathGuard::new();
        for (channel, spec) in self.inputs.sources() {
            guard.source(channel.flag(), spec);
        }
        if let Some(c) = &self.calibration {
            guard.input_file("--calibration", c);
        }
        for (flag, p) in [("--metrics", &self.metrics), ("--overlay", &self.overlay), ("--snapshot", &self.snapshot)] {
            if let Some(p) = p {
                guard.output_file(flag, p);
            }
        }
        if let Some(d) = &self.masks {
            guard.output_folder("--masks", d, is_mask_frame);
        }
        if let Some(d) = &self.findings {
            guard.output_folder("--findings", d, is_findings_file);
        }
        guard.check()?;
        if let Some(d) = &self.masks {
            refuse_existing("--masks", d, is_mask_frame, self.overwrite)?;
        }
        if let Some(d) = &self.findings {
            refuse_existing("--findings", d, is_findings_file, self.overwrite)?;
        }
        Ok(())
    }
}

/// Run one recording through the analysis and write its outputs (paths checked first, files staged and
/// renamed into place; on an error what was written is flushed and closed). `on_frame` is called after
/// each frame pair. Stops, as after an error, when a stop signal was caught (`catch_stop_signals`).
pub fn execute(job: &Job, on_frame: &dyn Fn()) -> Result<Outcome> {
    job.check_paths()?;
    let params = &job.params;
    let analyzer = make_analyzer(job.backend, params)?;
    let mut processor = FrameProcessor::new(analyzer, params.clone(), job.fps as f64);
    let mode = job.checks.mode;
    let roi = job.checks.roi;
    processor.set_checks(job.checks.clone());
    if let Some(d) = &job.findings {
        std::fs::create_dir_all(d).with_context(|| format!("--findings {}: cannot create the directory", d.display()))?;
    }
    tracing::info!("backend: {}", processor.describe());

    let metrics = match &job.metrics {
        Some(p) => {
            let staged = Staged::new("--metrics", p)?;
            let file = File::create(staged.path()).with_context(|| format!("--metrics {}: cannot create", p.display()))?;
            Some((staged, BufWriter::new(file)))
        }
        None => None,
    };
    if let Some(d) = &job.masks {
        std::fs::create_dir_all(d).with_context(|| format!("--masks {}: cannot create the directory", d.display()))?;
    }
    let mut out = Outputs {
        metrics,
        masks: job.masks.clone(),
        overlay: job.overlay.as_deref().map(|p| Staged::new("--overlay", p)).transpose()?,
        recorder: None,
        snapshot: job.snapshot.as_deref().map(|p| Staged::new("--snapshot", p)).transpose()?,
        best: None,
        fps: job.fps,
    };

    let started = Instant::now();
    let mut frames = 0u64;
    let mut per_lesion: BTreeMap<u32, LesionSummary> = BTreeMap::new();
    let mut frame_ms: Vec<f32> = Vec::new();
    let mut frame_size = (0, 0);
    let mut unequal: Option<String> = None;
    let result = (|| -> Result<()> {
        let mut source = PairSource::open(&job.inputs, job.fps)?;
        while let Some(pair) = source.next_pair()? {
            if let Some(sig) = super::signals::stop_requested() {
                bail!("stopped by {sig} after {frames} frames: the outputs hold the frames analysed before it");
            }
            if pair.index == 0 {
                frame_size = (pair.wl.width, pair.wl.height);
                if let Some(r) = &roi {
                    r.in_frame(pair.wl.width, pair.wl.height).with_context(|| job.inputs.describe())?;
                }
            }
            let t = Instant::now();
            let r = processor.process(&pair.wl, &pair.nir, job.masks.is_some())?;
            frame_ms.push(t.elapsed().as_secs_f32() * 1e3);
            out.write(pair.index, pair.pts_ns, params, &r)?;
            if let (Some(dir), Some(f)) = (&job.findings, &r.findings) {
                for id in &f.new_spots {
                    stills::write_rgb(&dir.join(format!("spot-{id:03}-frame-{:05}.png", pair.index)), &r.overlay)?;
                }
            }
            for l in &r.lesions {
                let s = per_lesion.entry(l.id).or_default();
                s.kind = Some(l.kind);
                s.frames += 1;
                s.diameters.extend(l.core_diameter_mm);
                s.thickness.extend(l.rim_thickness_mm);
                s.min_thickness.extend(l.min_rim_thickness_mm);
                s.tbr.push(l.tbr);
            }
            frames += 1;
            on_frame();
        }
        unequal = source.unequal_lengths().map(str::to_string);
        if frames == 0 {
            bail!("the inputs held no frame pair ({})", job.inputs.describe());
        }
        Ok(())
    })();
    let closed = out.close(result.is_ok());
    result?;
    closed?;

    let mut checks_line = None;
    if mode != Mode::Survey {
        let f = processor.findings();
        let roi = roi.unwrap_or_else(|| crate::measure::findings::Roi::central(frame_size.0, frame_size.1));
        checks_line = Some(format!(
            "{}: {} (ROI {},{},{},{}; TBR from {}; {frames} frames checked)",
            mode.name(),
            f.verdict(),
            roi.x,
            roi.y,
            roi.w,
            roi.h,
            job.checks.min_tbr
        ));
        if let Some(dir) = &job.findings {
            let doc = json!({
                "mode": mode,
                "min_tbr": job.checks.min_tbr,
                "roi": [roi.x, roi.y, roi.w, roi.h],
                "frames_checked": frames,
                "verdict": f.verdict(),
                "spots": f.confirmed(),
            });
            write_atomic("--findings", &dir.join("findings.json"), serde_json::to_string_pretty(&doc)?.as_bytes())?;
        }
    }
    Ok(Outcome {
        frames,
        wall_s: started.elapsed().as_secs_f64(),
        frame_ms: median(&mut frame_ms).unwrap_or(0.0),
        backend: processor.describe(),
        unequal,
        checks_line,
        per_lesion,
    })
}

pub fn run(a: AnalyzeArgs) -> Result<()> {
    let job = Job::from_args(&a)?;
    let bar = match job.known_frames() {
        Some(n) => ProgressBar::new(n as u64),
        None => ProgressBar::new_spinner(),
    }
    .with_style(
        ProgressStyle::with_template("analyze {bar:40} {pos}/{len} frames {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    super::signals::catch_stop_signals();
    let result = execute(&job, &|| bar.inc(1));
    bar.finish_and_clear();
    let mut o = result?;

    let frames = o.frames;
    println!(
        "{frames} frames in {:.1} s ({:.1} frames/s; analysis median {:.1} ms/frame) on {}",
        o.wall_s,
        frames as f64 / o.wall_s,
        o.frame_ms,
        o.backend
    );
    println!("{:>4}  {:<8} {:>6}  {:>12}  {:>13}  {:>13}  {:>5}", "id", "kind", "frames", "core_diam_mm", "rim_median_mm", "rim_min_mm", "TBR");
    for (id, s) in o.per_lesion.iter_mut() {
        // Lesions seen in under 5% of the frames are flickers; leave them out of the table.
        if (s.frames as u64) * 20 < frames {
            continue;
        }
        let kind = match s.kind {
            Some(LesionKind::Rim) => "rim",
            Some(LesionKind::Diffuse) => "diffuse",
            Some(LesionKind::Homogeneous) => "homogeneous",
            None => "?",
        };
        println!(
            "{:>4}  {:<8} {:>6}  {:>12}  {:>13}  {:>13}  {:>5}",
            id,
            kind,
            s.frames,
            fmt_opt(median(&mut s.diameters)),
            fmt_opt(median(&mut s.thickness)),
            fmt_opt(median(&mut s.min_thickness)),
            fmt_opt(median(&mut s.tbr))
        );
    }
    if let Some(msg) = &o.unequal {
        println!("inputs of unequal length: {msg}");
    }
    if let Some(line) = &o.checks_line {
        println!("{line}");
    }
    for (flag, p) in [("metrics", &a.metrics), ("masks", &a.masks), ("overlay", &a.overlay), ("snapshot", &a.snapshot)] {
        if let Some(p) = p {
            println!("{flag}: {}", p.display());
        }
    }
    Ok(())
}
