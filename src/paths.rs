//! Output-path safety, one place for every command: before anything is opened for writing, each output
//! (a file, or a folder and the names written into it) is checked against every input (a file, or an
//! image sequence's folder and the names its pattern matches) and every other output, after resolving
//! links (`canonicalize` of the longest existing part, and same device + inode for hard links). A clash
//! is an error naming both paths, and nothing has been touched. `Staged` then writes a file under a
//! temporary name beside its target and renames it into place when complete, so that a failed run
//! leaves a file that existed before as it was.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::media::source::{SeqPattern, SourceSpec};

/// Names an input folder holds that belong to the input.
type NameMatch = Box<dyn Fn(&str) -> bool>;

enum Kind {
    File(PathBuf),
    /// A folder and the names in it that are (inputs) or will be (outputs) part of the file set.
    Folder(PathBuf, NameMatch),
}

struct Entry {
    /// The flag and the path as given, for messages.
    label: String,
    kind: Kind,
}

/// Every input and output of one command, checked together by `check`.
#[derive(Default)]
pub struct PathGuard {
    inputs: Vec<Entry>,
    outputs: Vec<Entry>,
}

/// The absolute path with links resolved: the longest existing prefix canonicalised, the rest appended
/// (`.` dropped, `..` taken lexically).
pub fn resolve(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    let mut base = abs.clone();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let canonical = loop {
        if let Ok(c) = base.canonicalize() {
            break c;
        }
        match (base.file_name().map(OsStr::to_os_string), base.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                base = parent.to_path_buf();
            }
            _ => break base,
        }
    };
    let mut out = canonical;
    for name in rest.iter().rev() {
        for c in Path::new(name).components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
    }
    out
}

/// Whether two paths name the same file: equal once resolved, or (both existing) the same inode.
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// `dir` is `p`'s folder and `p`'s name is one `matches` claims.
fn in_set(p: &Path, dir: &Path, matches: &NameMatch) -> bool {
    p.parent().is_some_and(|d| same_file(d, dir)) && p.file_name().and_then(OsStr::to_str).is_some_and(matches)
}

/// Names written by `analyze --masks`: `00000.png`, ...
pub fn is_mask_frame(name: &str) -> bool {
    name.strip_suffix(".png").is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// Names written by `analyze --findings`.
pub fn is_findings_file(name: &str) -> bool {
    name == "findings.json" || (name.starts_with("spot-") && name.ends_with(".png"))
}

/// Names written by `live --record`.
pub const RECORDINGS: [&str; 3] = ["wl.mkv", "nir.mov", "overlay.mkv"];

impl PathGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// An input file (a video, a calibration, a metrics file, an image).
    pub fn input_file(&mut self, flag: &str, path: &Path) -> &mut Self {
        self.inputs.push(Entry { label: format!("{flag} {}", path.display()), kind: Kind::File(resolve(path)) });
        self
    }

    /// An input image sequence: its folder and the names its pattern matches (`prefix`, digits, `suffix`).
    pub fn input_sequence(&mut self, flag: &str, pattern: &str, dir: &Path, prefix: &str, suffix: &str) -> &mut Self {
        let (pre, suf) = (prefix.to_string(), suffix.to_string());
        let matches: NameMatch = Box::new(move |name: &str| {
            name.len() > pre.len() + suf.len()
                && name.starts_with(&pre)
                && name.ends_with(&suf)
                && name[pre.len()..name.len() - suf.len()].bytes().all(|b| b.is_ascii_digit())
        });
        self.inputs.push(Entry { label: format!("{flag} {pattern}"), kind: Kind::Folder(resolve(dir), matches) });
        self
    }

    /// A `--wl`/`--nir` source: a video file, or an image sequence's folder and the names it matches.
    pub fn source(&mut self, flag: &str, spec: &SourceSpec) -> &mut Self {
        match spec {
            SourceSpec::ImageSequence { pattern, .. } => {
                if let Ok(p) = SeqPattern::parse(pattern) {
                    self.input_sequence(flag, pattern, &p.folder(), p.name_prefix(), &p.suffix);
                }
            }
            SourceSpec::VideoFile(p) => {
                self.input_file(flag, p);
            }
        }
        self
    }

    /// An input folder whose files with extension `ext` are read (`report --snapshots`).
    pub fn input_folder(&mut self, flag: &str, dir: &Path, ext: &'static str) -> &mut Self {
        let matches: NameMatch = Box::new(move |name: &str| Path::new(name).extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)));
        self.inputs.push(Entry { label: format!("{flag} {}", dir.display()), kind: Kind::Folder(resolve(dir), matches) });
        self
    }

    pub fn output_file(&mut self, flag: &str, path: &Path) -> &mut Self {
        self.outputs.push(Entry { label: format!("{flag} {}", path.display()), kind: Kind::File(resolve(path)) });
        self
    }

    /// An output folder and the names written into it.
    pub fn output_folder(&mut self, flag: &str, dir: &Path, writes: fn(&str) -> bool) -> &mut Self {
        self.outputs.push(Entry { label: format!("{flag} {}", dir.display()), kind: Kind::Folder(resolve(dir), Box::new(writes)) });
        self
    }

    /// Refuse any output that is, would write over, or (a folder) holds an input, and any two outputs
    /// that would write the same file. Touches nothing.
    pub fn check(&self) -> Result<()> {
        for (i, o) in self.outputs.iter().enumerate() {
            match &o.kind {
                Kind::File(p) if p.is_dir() => bail!("{}: is a folder, not a file", o.label),
                Kind::Folder(d, _) if d.exists() && !d.is_dir() => bail!("{}: exists and is not a folder", o.label),
                _ => {}
            }
            for inp in &self.inputs {
                let clash = match (&o.kind, &inp.kind) {
                    (Kind::File(p), Kind::File(q)) => same_file(p, q),
                    (Kind::File(p), Kind::Folder(dir, matches)) => same_file(p, dir) || in_set(p, dir, matches),
                    (Kind::Folder(d, _), Kind::File(q)) => q.starts_with(d) || same_file(d, q),
                    (Kind::Folder(d, _), Kind::Folder(dir, _)) => dir.starts_with(d) || same_file(d, dir),
                };
                if clash {
                    let what = if matches!(o.kind, Kind::Folder(..)) { "is or holds" } else { "would overwrite" };
                    bail!("{} {what} the input {}: choose another output path (nothing was written)", o.label, inp.label);
                }
            }
            for o2 in &self.outputs[i + 1..] {
                let clash = match (&o.kind, &o2.kind) {
                    (Kind::File(p), Kind::File(q)) => same_file(p, q),
                    (Kind::File(p), Kind::Folder(d, writes)) | (Kind::Folder(d, writes), Kind::File(p)) => same_file(p, d) || in_set(p, d, writes),
                    (Kind::Folder(d, _), Kind::Folder(e, _)) => same_file(d, e),
                };
                if clash {
                    bail!("{} and {} would write the same file: give each output its own path (nothing was written)", o.label, o2.label);
                }
            }
        }
        Ok(())
    }
}

/// Refuse an output folder that already holds files this run would write, unless `overwrite`.
pub fn refuse_existing(flag: &str, dir: &Path, writes: fn(&str) -> bool, overwrite: bool) -> Result<()> {
    if overwrite {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut found: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| writes(n)).collect();
    if !found.is_empty() {
        found.sort();
        bail!(
            "{flag} {}: the folder already holds {} file(s) this run would replace ({}{}): pass --overwrite to replace them, or choose another folder",
            dir.display(),
            found.len(),
            found[0],
            if found.len() > 1 { ", …" } else { "" }
        );
    }
    Ok(())
}

/// A file written under a temporary name in its target's folder and renamed over the target by
/// `commit`; dropped uncommitted, the temporary file is removed and the target left as it was.
pub struct Staged {
    target: PathBuf,
    temp: PathBuf,
    /// Whether the target existed when the run started.
    pub existed: bool,
    done: bool,
}

impl Staged {
    /// Prepare `target` (creating its folder); `flag` names it in errors. The temporary name keeps the
    /// target's extension, for writers that choose the format by it.
    ///
    /// A target that exists but is no regular file (`/dev/null`, a pipe) is written directly; a link is
    /// followed, so that the file it points to is replaced and the link kept.
    pub fn new(flag: &str, target: &Path) -> Result<Self> {
        if std::fs::metadata(target).is_ok_and(|m| !m.is_file()) {
            return Ok(Self { target: target.to_path_buf(), temp: target.to_path_buf(), existed: true, done: true });
        }
        let real = target.canonicalize().unwrap_or_else(|_| target.to_path_buf());
        let dir = real.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("{flag} {}: cannot create the folder {}", target.display(), dir.display()))?;
        let name = real.file_name().with_context(|| format!("{flag} {}: not a file name", target.display()))?;
        let temp = dir.join(format!(".nirf-{}-{}", std::process::id(), name.to_string_lossy()));
        Ok(Self { target: real.clone(), temp, existed: real.exists(), done: false })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Put the written file in place.
    pub fn commit(mut self) -> Result<()> {
        if self.done {
            return Ok(()); // written directly
        }
        self.done = true;
        std::fs::rename(&self.temp, &self.target).with_context(|| format!("moving {} to {}", self.temp.display(), self.target.display()))
    }

    /// After a failed run: a partial file takes the target's place only where no file was there before.
    pub fn finish_failed(self) -> Result<()> {
        if self.done {
            Ok(())
        } else if self.existed {
            tracing::warn!("{} left as it was; this run's partial output is discarded", self.target.display());
            Ok(()) // dropped: the temporary file is removed
        } else if self.temp.exists() {
            self.commit()
        } else {
            Ok(())
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Write `bytes` to `target` through a temporary file and a rename.
pub fn write_atomic(flag: &str, target: &Path, bytes: &[u8]) -> Result<()> {
    let staged = Staged::new(flag, target)?;
    std::fs::write(staged.path(), bytes).with_context(|| format!("{flag} {}: cannot write", target.display()))?;
    staged.commit().with_context(|| format!("{flag} {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashes_are_found_through_links_folders_and_patterns() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("nir")).unwrap();
        std::fs::write(root.join("nir/00000.png"), b"x").unwrap();
        std::fs::write(root.join("wl.mkv"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("wl.mkv"), root.join("link.mkv")).unwrap();
        let guard = |out: &dyn Fn(&mut PathGuard)| {
            let mut g = PathGuard::new();
            g.input_file("--wl", &root.join("wl.mkv")).input_sequence("--nir", "nir/%05d.png", &root.join("nir"), "", ".png");
            out(&mut g);
            g.check()
        };
        let err = |out: &dyn Fn(&mut PathGuard)| guard(out).unwrap_err().to_string();
        assert!(err(&|g| { g.output_file("--overlay", &root.join("link.mkv")); }).contains("--wl"));
        assert!(err(&|g| { g.output_file("--metrics", &root.join("nir/../wl.mkv")); }).contains("--metrics"));
        assert!(err(&|g| { g.output_file("--snapshot", &root.join("nir/00003.png")); }).contains("--nir"));
        assert!(err(&|g| { g.output_folder("--masks", &root.join("nir"), is_mask_frame); }).contains("--masks"));
        assert!(err(&|g| { g.output_folder("--masks", root, is_mask_frame); }).contains("holds"));
        let same = err(&|g| {
            g.output_file("--metrics", &root.join("out/x")).output_file("--overlay", &root.join("out/./x"));
        });
        assert!(same.contains("--metrics") && same.contains("--overlay"), "{same}");
        assert!(err(&|g| { g.output_folder("--masks", &root.join("m"), is_mask_frame).output_file("--snapshot", &root.join("m/00001.png")); }).contains("same file"));
        // Not clashes: a metrics file beside the frames, a snapshot named unlike them, masks elsewhere.
        guard(&|g| {
            g.output_file("--metrics", &root.join("nir/m.jsonl"))
                .output_file("--snapshot", &root.join("nir/snap.png"))
                .output_folder("--masks", &root.join("masks"), is_mask_frame)
                .output_file("--overlay", &root.join("masks/overlay.mkv"));
        })
        .unwrap();
    }

    #[test]
    fn a_staged_file_replaces_its_target_only_when_committed() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("m.jsonl");
        std::fs::write(&t, b"old").unwrap();
        let s = Staged::new("--metrics", &t).unwrap();
        std::fs::write(s.path(), b"new").unwrap();
        drop(s);
        assert_eq!(std::fs::read(&t).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "the temporary file is removed");
        write_atomic("--out", &t, b"new").unwrap();
        assert_eq!(std::fs::read(&t).unwrap(), b"new");
        // Through a link: the file it points to is replaced, the link kept.
        let link = d.path().join("link.jsonl");
        std::os::unix::fs::symlink(&t, &link).unwrap();
        write_atomic("--out", &link, b"newer").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&t).unwrap(), b"newer");
        // Not a regular file: written directly, never replaced.
        write_atomic("--out", Path::new("/dev/null"), b"x").unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }
}
