//! A recording's run record, `DIR/<id>/run.json`, written by `batch` after the recording's outputs:
//! what went in (each input file's size, modification time and SHA-256, and a hash over them), the
//! settings, the program (version and git commit), the backend, the frames and the time taken, and
//! whether the run succeeded. A rerun compares it with the present inputs, settings and program
//! (`RunRecord::stale_because`) to decide what to redo.
//!
//! Hashing a long archive again on every rerun would read every frame; a file whose size and
//! modification time equal those recorded keeps its recorded hash (`hash_input`'s `previous`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::measure::findings::Mode;

/// The run record's file name in a recording's folder.
pub const RUN_FILE: &str = "run.json";

/// The program that produced the outputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub version: String,
    /// The git commit built from (`unknown` outside a checkout; see `build.rs`).
    pub commit: String,
}

impl Program {
    pub fn this() -> Self {
        Self { version: env!("CARGO_PKG_VERSION").to_string(), commit: env!("NIRF_GIT_COMMIT").to_string() }
    }
}

/// A recording's settings as the manifest gave them (defaults filled in): a change to any of them
/// makes the recording's outputs stale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// For a side-by-side source: the half that carries the NIR (absent for a white-light and NIR pair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nir_side: Option<crate::frame::NirSide>,
    /// `--mm-per-px`; `None` with a calibration file (an input, hashed) or no scale.
    pub mm_per_px: Option<f32>,
    pub margins_mm: Vec<f32>,
    pub fluo_noise_sigmas: f32,
    pub mode: Mode,
    /// x, y, w, h in px; `None`: the central 60%.
    pub roi: Option<[usize; 4]>,
    pub tbr: f32,
    pub fps: u32,
    /// `auto`, `cpu` or `gpu`.
    pub backend: String,
    pub masks: bool,
    pub overlay: bool,
}

/// One input file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file's name in its folder.
    pub name: String,
    pub bytes: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: u64,
    pub sha256: String,
}

/// One input (`wl`, `nir`, `calibration`): a video file or an image sequence's frames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    pub role: String,
    /// As the manifest gave it, resolved against the manifest's folder.
    pub source: String,
    pub bytes: u64,
    /// SHA-256 over each file's name, size and SHA-256 in order: equal when the content is.
    pub sha256: String,
    pub files: Vec<FileRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub status: Status,
    /// Why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub program: Program,
    pub settings: Settings,
    pub inputs: Vec<InputRecord>,
    /// The backend that ran (`Analyzer::describe`).
    #[serde(default)]
    pub backend: Option<String>,
    /// The machine it ran on.
    #[serde(default)]
    pub host: String,
    /// The Slurm job (`JOB_TASK` for an array task) it ran in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    #[serde(default)]
    pub frames: u64,
    /// Start, seconds since the epoch.
    pub started_unix_s: u64,
    /// Wall time of the analysis and its outputs, s.
    pub seconds: f64,
    /// The files and folders written beside the record.
    #[serde(default)]
    pub outputs: Vec<String>,
}

impl RunRecord {
    /// Read `dir/run.json`; `None` when absent, an error when unreadable.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(RUN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| format!("{}: not a run record", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
        }
    }

    /// Why the outputs in `dir` are not current for these settings and inputs under this program, or
    /// `None` when they are: a failed run, another program or settings, inputs whose content changed,
    /// an output missing.
    pub fn stale_because(&self, dir: &Path, settings: &Settings, inputs: &[InputRecord]) -> Option<String> {
        if self.status != Status::Ok {
            return Some(format!("the last run failed ({})", self.error.as_deref().unwrap_or("no reason recorded")));
        }
        let program = Program::this();
        if self.program != program {
            return Some(format!("made by {} ({}), this is {} ({})", self.program.version, short(&self.program.commit), program.version, short(&program.commit)));
        }
        if &self.settings != settings {
            return Some("the settings changed".to_string());
        }
        let hashes = |v: &[InputRecord]| v.iter().map(|i| (i.role.clone(), i.sha256.clone())).collect::<Vec<_>>();
        if hashes(&self.inputs) != hashes(inputs) {
            let changed: Vec<&str> =
                inputs.iter().filter(|i| !self.inputs.iter().any(|o| o.role == i.role && o.sha256 == i.sha256)).map(|i| i.role.as_str()).collect();
            return Some(format!("input changed: {}", if changed.is_empty() { "inputs removed".to_string() } else { changed.join(", ") }));
        }
        self.outputs.iter().find(|o| !dir.join(o).exists()).map(|o| format!("output {o} missing"))
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("{}: cannot read", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record of an input made of `files` (in reading order). A file whose name, size and modification
/// time equal `previous`'s keeps its recorded hash; every other file is read.
pub fn hash_input(role: &str, source: &str, files: &[PathBuf], previous: Option<&InputRecord>) -> Result<InputRecord> {
    let mut out = Vec::with_capacity(files.len());
    let mut total = Sha256::new();
    let mut bytes = 0;
    for (i, path) in files.iter().enumerate() {
        let meta = std::fs::metadata(path).with_context(|| format!("{role} {}: cannot read", path.display()))?;
        let mtime_ns = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let known = previous
            .and_then(|p| p.files.get(i))
            .filter(|f| f.name == name && f.bytes == meta.len() && f.mtime_ns == mtime_ns && mtime_ns != 0)
            .map(|f| f.sha256.clone());
        let sha256 = match known {
            Some(h) => h,
            None => sha256_file(path).with_context(|| format!("{role} {source}"))?,
        };
        total.update(format!("{name}\t{}\t{sha256}\n", meta.len()).as_bytes());
        bytes += meta.len();
        out.push(FileRecord { name, bytes: meta.len(), mtime_ns, sha256 });
    }
    Ok(InputRecord { role: role.to_string(), source: source.to_string(), bytes, sha256: hex(&total.finalize()), files: out })
}

/// The Slurm job this process runs in: `ARRAYJOB_TASK` for an array task, else the job id.
pub fn slurm_job() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(j), Some(t)) => Some(format!("{j}_{t}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// This machine's name (for the record: which node of a cluster ran it).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or truncates.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_hash_follows_content_and_reuses_unchanged_files() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("00000.png");
        let b = d.path().join("00001.png");
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"second").unwrap();
        let files = [a.clone(), b.clone()];
        let r1 = hash_input("nir", "nir/%05d.png", &files, None).unwrap();
        assert_eq!(r1.bytes, 11);
        assert_eq!(r1.files[0].sha256, hex(&Sha256::digest(b"first")));
        // A recorded hash is kept for a file of the same size and time (here a deliberately wrong one,
        // to show it is not re-read) ...
        let mut fake = r1.clone();
        fake.files[1].sha256 = "0".repeat(64);
        let r2 = hash_input("nir", "nir/%05d.png", &files, Some(&fake)).unwrap();
        assert_eq!(r2.files[1].sha256, "0".repeat(64));
        assert_ne!(r2.sha256, r1.sha256);
        // ... and a changed file is read again: another size gives another hash.
        std::fs::write(&b, b"second, changed").unwrap();
        let r3 = hash_input("nir", "nir/%05d.png", &files, Some(&r1)).unwrap();
        assert_ne!(r3.sha256, r1.sha256);
        assert_eq!(r3.files[0], r1.files[0]);
        assert!(hash_input("nir", "x", &[d.path().join("missing.png")], None).unwrap_err().to_string().contains("missing.png"));
    }
}
