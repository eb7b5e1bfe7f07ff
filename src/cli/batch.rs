//! `nirf-margin batch MANIFEST --out DIR`: analyse every recording of a manifest (`manifest`) through the
//! same `analyze::execute` as `analyze`, each into `DIR/<id>/` (metrics, report, masks and overlay on
//! request, findings in the checks' modes) with its run record (`archive::record`). A recording is
//! analysed in a staging folder beside its own (`DIR/.<id>~partial-<pid>`) and swapped into place with
//! its run record when complete, so `DIR/<id>/` is always a whole run: a batch killed at any point is
//! resumed by running it again. A rerun skips each recording whose record is current (same inputs,
//! settings and program) and redoes the missing, failed and stale ones (`--force`: all). A recording that
//! fails gets a record saying why and the batch goes on; the summary and the exit status say how many
//! failed. `--shard I/N` takes the manifest's recordings I, I+N, ... (a Slurm array task each);
//! `--jobs` recordings run at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::archive::record::{self, InputRecord, RUN_FILE, RunRecord, Status};
use crate::cli::analyze::{self, Job};
use crate::backend::BackendChoice;
use crate::cli::manifest::{self, Defaults, Entry};
use crate::cli::options::CheckArgs;
use crate::measure::calibration::ScaleSettings;
use crate::paths::{PathGuard, write_atomic};
use crate::measure::findings::{Mode, Roi};
use crate::media::source::{Channel, SourceSpec, expand_pattern};

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// The recordings: CSV with a header row, or JSON lines (columns in README, "Archives").
    pub manifest: PathBuf,
    /// The archive's output folder: one folder a recording, `DIR/<id>/`.
    #[arg(long)]
    pub out: PathBuf,
    /// Recordings analysed at once (1-256; default: the cores over the analysis's threads, at least 1).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Take only the manifest's recordings I, I+N, I+2N, ... (I from 0): one shard of N.
    #[arg(long, value_parser = manifest::shard)]
    pub shard: Option<(usize, usize)>,
    /// Redo every recording, current or not.
    #[arg(long)]
    pub force: bool,
    /// Write class masks (`DIR/<id>/masks/`) for recordings whose row does not say.
    #[arg(long)]
    pub masks: bool,
    /// Write the overlay video and snapshot for recordings whose row does not say.
    #[arg(long)]
    pub overlay: bool,
    #[arg(long, value_parser = crate::cli::options::backend_parser(), default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// What became of one recording.
enum Done {
    Skipped,
    Ran { frames: u64, seconds: f64 },
}

/// Names inside `DIR` that are a recording's staging or replaced folder, not a recording.
fn scratch_prefix(id: &str) -> [String; 2] {
    [format!(".{id}~partial-"), format!(".{id}~old-")]
}

/// Remove a recording's staging and replaced folders left by a run that was killed.
fn remove_scratch(out: &Path, id: &str) {
    let Ok(entries) = std::fs::read_dir(out) else { return };
    let prefixes = scratch_prefix(id);
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A staging folder, made by `create` once the recording is to be analysed (a current one touches
/// nothing), removed on drop unless swapped into place.
struct Staging {
    path: PathBuf,
    placed: bool,
}

impl Staging {
    fn new(out: &Path, id: &str) -> Self {
        Self { path: out.join(format!(".{id}~partial-{}", std::process::id())), placed: false }
    }

    /// Make the folder, empty.
    fn create(&self) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.path);
        std::fs::create_dir_all(&self.path).with_context(|| format!("cannot create {}", self.path.display()))
    }

    /// Replace `dir` by the staging folder: the old folder is renamed aside first, then removed.
    fn place(mut self, dir: &Path, id: &str) -> Result<()> {
        let old = dir.with_file_name(format!(".{id}~old-{}", std::process::id()));
        if dir.exists() {
            std::fs::rename(dir, &old).with_context(|| format!("moving {} aside", dir.display()))?;
        }
        std::fs::rename(&self.path, dir).with_context(|| format!("moving {} to {}", self.path.display(), dir.display()))?;
        self.placed = true;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The files a source reads, in order.
fn source_files(spec: &SourceSpec) -> Vec<PathBuf> {
    match spec {
        SourceSpec::VideoFile(p) => vec![p.clone()],
        SourceSpec::ImageSequence { pattern, start, count } => (*start..start + count).filter_map(|i| expand_pattern(pattern, i)).map(PathBuf::from).collect(),
    }
}

/// The analysis job of a manifest entry, its outputs in `dir`.
fn job(e: &Entry, dir: &Path) -> Result<Job> {
    let s = &e.settings;
    let scale = ScaleSettings { mm_per_px: s.mm_per_px, calibration: e.calibration.clone(), margins_mm: s.margins_mm.clone(), fluo_noise_sigmas: s.fluo_noise_sigmas };
    let checks = CheckArgs { mode: s.mode, roi: s.roi.map(|[x, y, w, h]| Roi { x, y, w, h }), tbr: s.tbr };
    let backend: BackendChoice = s.backend.parse().map_err(|e| anyhow::anyhow!("run settings: backend {e}"))?;
    Ok(Job {
        params: scale.params()?,
        inputs: e.inputs.parse()?,
        calibration: e.calibration.clone(),
        checks: checks.settings()?,
        fps: s.fps,
        backend,
        metrics: Some(dir.join("metrics.jsonl")),
        masks: s.masks.then(|| dir.join("masks")),
        overlay: s.overlay.then(|| dir.join("overlay.mkv")),
        snapshot: s.overlay.then(|| dir.join("snapshot.png")),
        findings: (s.mode != Mode::Survey).then(|| dir.join("findings")),
        overwrite: false,
    })
}

/// An input's role in the run record: `wl`, `nir`, `side_by_side`.
fn role(channel: Channel) -> &'static str {
    match channel {
        Channel::WhiteLight => "wl",
        Channel::Nir => "nir",
        Channel::SideBySide => "side_by_side",
    }
}

/// The inputs' records, reusing the hashes of unchanged files from the previous record.
fn hash_inputs(e: &Entry, job: &Job, previous: Option<&RunRecord>) -> Result<Vec<InputRecord>> {
    let prev = |role: &str| previous.and_then(|r| r.inputs.iter().find(|i| i.role == role));
    let mut inputs = Vec::new();
    for (channel, spec) in job.inputs.sources() {
        let role = role(channel);
        inputs.push(record::hash_input(role, &spec.describe(), &source_files(spec), prev(role))?);
    }
    if let Some(c) = &e.calibration {
        inputs.push(record::hash_input("calibration", &c.display().to_string(), std::slice::from_ref(c), prev("calibration"))?);
    }
    Ok(inputs)
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Analyse one recording into `out/<id>/` unless its outputs are current.
fn process(e: &Entry, manifest_path: &Path, out: &Path, force: bool, on_frame: &dyn Fn(), on_known: &dyn Fn(bool)) -> Result<Done> {
    let dir = out.join(&e.id);
    remove_scratch(out, &e.id);
    let previous = RunRecord::load(&dir).unwrap_or_else(|err| {
        tracing::warn!("{err:#}: redoing {}", e.id);
        None
    });
    let started = Instant::now();
    let started_unix_s = now_unix();
    let staging = Staging::new(out, &e.id);
    let outcome = (|| -> Result<(u64, String, Vec<InputRecord>, bool)> {
        let job = job(e, &staging.path)?;
        let inputs = hash_inputs(e, &job, previous.as_ref())?;
        if let Some(prev) = previous.as_ref().filter(|_| !force) {
            match prev.stale_because(&dir, &e.settings, &inputs) {
                None => return Ok((0, String::new(), inputs, true)),
                Some(why) => tracing::info!("{}: redone: {why}", e.id),
            }
        }
        on_known(true);
        // The recording's folder is replaced as a whole: it must hold no input, and neither may its
        // staging folder; nor may it be the manifest.
        let mut guard = PathGuard::new();
        for (channel, spec) in job.inputs.sources() {
            guard.source(channel.flag(), spec);
        }
        guard.input_file("manifest", manifest_path);
        if let Some(c) = &e.calibration {
            guard.input_file("calibration", c);
        }
        guard.output_folder("--out", &dir, |_| true).output_folder("--out", &staging.path, |_| true);
        guard.check()?;
        staging.create()?;
        let o = analyze::execute(&job, on_frame)?;
        let metrics = staging.path.join("metrics.jsonl");
        let summary = crate::report::summarize(&metrics)?;
        let html = crate::report::render_summary(&summary, "metrics.jsonl", job.findings.as_deref())?;
        write_atomic("report", &staging.path.join("report.html"), html.as_bytes())?;
        Ok((o.frames, o.backend, inputs, false))
    })();
    let (status, error, frames, backend, inputs) = match outcome {
        Ok((_, _, _, true)) => {
            on_known(false);
            return Ok(Done::Skipped);
        }
        Ok((frames, backend, inputs, false)) => (Status::Ok, None, frames, Some(backend), inputs),
        Err(err) => {
            if let Some(sig) = super::signals::stop_requested() {
                // Stopped, not failed: the recording's folder stays as it was, the rerun redoes it.
                bail!("stopped by {sig}");
            }
            // A failed run's folder holds its record only: nothing half-written passes for a result.
            staging.create()?;
            (Status::Failed, Some(format!("{err:#}")), 0, None, Vec::new())
        }
    };
    let mut outputs: Vec<String> = ["metrics.jsonl", "report.html", "masks", "overlay.mkv", "snapshot.png", "findings"]
        .into_iter()
        .filter(|n| staging.path.join(n).exists())
        .map(str::to_string)
        .collect();
    outputs.sort();
    let rec = RunRecord {
        id: e.id.clone(),
        status,
        error: error.clone(),
        program: record::Program::this(),
        settings: e.settings.clone(),
        inputs,
        backend,
        host: record::host_name(),
        slurm_job: record::slurm_job(),
        frames,
        started_unix_s,
        seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        outputs,
    };
    write_atomic("run record", &staging.path.join(RUN_FILE), (serde_json::to_string_pretty(&rec)? + "\n").as_bytes())?;
    staging.place(&dir, &e.id)?;
    match error {
        Some(err) => Err(anyhow::anyhow!(err)),
        None => Ok(Done::Ran { frames, seconds: rec.seconds }),
    }
}

/// Recordings run at once by default: the cores over the threads one analysis uses.
fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / rayon::current_num_threads().max(1)).max(1)
}

pub fn run(a: BatchArgs) -> Result<()> {
    let defaults = Defaults { backend: a.backend, masks: a.masks, overlay: a.overlay };
    let all = manifest::read(&a.manifest, defaults)?;
    let total_in_manifest = all.len();
    let entries = match a.shard {
        Some(s) => manifest::take_shard(all, s),
        None => all,
    };
    let jobs = match a.jobs {
        Some(j) if !(1..=256).contains(&j) => bail!("--jobs must be 1–256, got {j}"),
        Some(j) => j,
        None => default_jobs(),
    };
    if a.out.exists() && !a.out.is_dir() {
        bail!("--out {}: exists and is not a folder", a.out.display());
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("--out {}: cannot create the folder", a.out.display()))?;
    let shard_text = a.shard.map_or(String::new(), |(i, n)| format!(" (shard {i}/{n} of {total_in_manifest})"));
    println!("batch: {} recordings{shard_text}, {jobs} at a time, into {}", entries.len(), a.out.display());

    // Frames each recording holds where known before decoding (image sequences), for the progress bar.
    let known: Vec<Option<u64>> = entries.iter().map(|e| e.inputs.parse().ok().and_then(|i| i.known_frames()).map(u64::from)).collect();
    let bar = ProgressBar::new(known.iter().flatten().sum()).with_style(
        ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} frames {per_sec} eta {eta} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let counts = Mutex::new((0usize, 0usize, 0usize, 0usize)); // finished, ran, skipped, failed
    let set_prefix = |c: &(usize, usize, usize, usize)| bar.set_prefix(format!("recordings {}/{} ({} failed)", c.0, entries.len(), c.3));
    set_prefix(&counts.lock().map(|c| *c).unwrap_or_default());
    let failures: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let frames_done = AtomicU64::new(0);
    super::signals::catch_stop_signals();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(entries.len()) {
            scope.spawn(|| {
                loop {
                    if super::signals::stop_requested().is_some() {
                        break;
                    }
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(e) = entries.get(k) else { break };
                    let on_frame = || {
                        if known[k].is_none() {
                            bar.inc_length(1);
                        }
                        bar.inc(1);
                        frames_done.fetch_add(1, Ordering::Relaxed);
                    };
                    // A skipped recording's frames leave the bar's length.
                    let on_known = |runs: bool| {
                        if !runs {
                            if let Some(n) = known[k] {
                                bar.set_length(bar.length().unwrap_or(0).saturating_sub(n));
                            }
                        }
                    };
                    let r = process(e, &a.manifest, &a.out, a.force, &on_frame, &on_known);
                    if super::signals::stop_requested().is_some() && r.is_err() {
                        break;
                    }
                    let line = match &r {
                        Ok(Done::Skipped) => format!("{}: current, skipped", e.id),
                        Ok(Done::Ran { frames, seconds }) => format!("{}: {frames} frames in {seconds:.1} s", e.id),
                        Err(err) => format!("{}: FAILED: {err:#}", e.id),
                    };
                    if let Ok(mut c) = counts.lock() {
                        c.0 += 1;
                        match &r {
                            Ok(Done::Skipped) => c.2 += 1,
                            Ok(Done::Ran { .. }) => c.1 += 1,
                            Err(_) => c.3 += 1,
                        }
                        set_prefix(&c);
                        bar.suspend(|| println!("[{}/{}] {line}", c.0, entries.len()));
                    }
                    if let Err(err) = r {
                        if let Ok(mut f) = failures.lock() {
                            f.push((e.id.clone(), format!("{err:#} (manifest line {})", e.line)));
                        }
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    let (finished, ran, skipped, failed) = counts.into_inner().unwrap_or_default();
    let frames = frames_done.into_inner();
    let wall = started.elapsed().as_secs_f64();
    println!(
        "batch summary: {} recordings: {ran} analysed, {skipped} current (skipped), {failed} failed; {frames} frames in {wall:.1} s ({:.1} frames/s)",
        entries.len(),
        frames as f64 / wall.max(1e-9)
    );
    let failures = failures.into_inner().unwrap_or_default();
    for (id, why) in &failures {
        println!("  failed: {id}: {why}");
    }
    if let Some(sig) = super::signals::stop_requested() {
        bail!("stopped by {sig} after {finished} of {} recordings: run the same command again to resume", entries.len());
    }
    if failed > 0 {
        bail!("{failed} of {} recordings failed ({}): see DIR/<id>/run.json", entries.len(), failures.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", "));
    }
    Ok(())
}
