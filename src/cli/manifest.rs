//! `batch`'s manifest: one recording a row, as CSV (a header row naming the columns) or JSON lines (one
//! object a line, the same names as keys). Columns: `id` (required), the sources: `wl` and `nir`, or
//! `side_by_side` (one source carrying both) with `nir_side` (`left`/`right`, default right); `mm_per_px` or
//! `calibration`; `margins_mm` (`1,5` or a JSON array), `mode`, `roi` (`x,y,w,h` or an array), `tbr`,
//! `fluo_noise_sigmas`, `fps`, `masks`, `overlay` (true/false). Every value is checked as the same flag
//! of `analyze` is (`values`), and the whole manifest is checked before anything runs: an unknown
//! column, a bad value, missing or mixed source columns or a repeated id is an error naming the line and
//! column. Relative paths are taken from the manifest's folder. Blank lines and lines starting with `#`
//! are skipped.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::archive::record::Settings;
use crate::backend::BackendChoice;
use crate::values;
use crate::frame::NirSide;
use crate::measure::findings::{Mode, Roi};
use crate::media::source::Inputs;
use crate::params::AnalysisParams;
use crate::processor::DEFAULT_MIN_TBR;

/// Every column a manifest may have.
pub const COLUMNS: [&str; 15] =
    ["id", "wl", "nir", "side_by_side", "nir_side", "mm_per_px", "calibration", "margins_mm", "mode", "roi", "tbr", "fluo_noise_sigmas", "fps", "masks", "overlay"];

/// One recording of the manifest, checked.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The manifest's line it came from (1-based), for messages.
    pub line: usize,
    pub id: String,
    /// The sources, resolved against the manifest's folder.
    pub inputs: Inputs<String>,
    pub calibration: Option<PathBuf>,
    pub settings: Settings,
}

/// Defaults a manifest row does not override: `batch`'s own `--backend`, `--masks`, `--overlay`.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub backend: BackendChoice,
    pub masks: bool,
    pub overlay: bool,
}

/// Read and check the whole manifest.
pub fn read(path: &Path, defaults: Defaults) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("manifest {}: cannot read", path.display()))?;
    let base = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let rows = if is_json_lines(path, &text) { json_rows(&text) } else { csv_rows(&text) }.with_context(|| format!("manifest {}", path.display()))?;
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for (line, row) in rows {
        let e = entry(line, &row, base, defaults).with_context(|| format!("manifest {} line {line}", path.display()))?;
        if !seen.insert(e.id.clone()) {
            bail!("manifest {} line {line}: id {} is used twice: each recording needs its own id (its output folder)", path.display(), e.id);
        }
        entries.push(e);
    }
    if entries.is_empty() {
        bail!("manifest {}: lists no recording", path.display());
    }
    Ok(entries)
}

fn is_json_lines(path: &Path, text: &str) -> bool {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => false,
        Some("jsonl" | "ndjson" | "json") => true,
        _ => text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).is_some_and(|l| l.starts_with('{')),
    }
}

type Row = BTreeMap<String, String>;

fn check_column(name: &str) -> Result<()> {
    if !COLUMNS.contains(&name) {
        bail!("unknown column '{name}' (the columns are {})", COLUMNS.join(", "));
    }
    Ok(())
}

fn csv_rows(text: &str) -> Result<Vec<(usize, Row)>> {
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).trim(csv::Trim::All).flexible(false).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().context("no header row")?.iter().map(str::to_string).collect();
    for h in &header {
        check_column(h).context("header row")?;
    }
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| anyhow::anyhow!("{e}"))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let row = header.iter().zip(rec.iter()).filter(|(_, v)| !v.is_empty()).map(|(h, v)| (h.clone(), v.to_string())).collect();
        rows.push((line, row));
    }
    Ok(rows)
}

fn json_rows(text: &str) -> Result<Vec<(usize, Row)>> {
    let mut rows = Vec::new();
    for (n, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let line = n + 1;
        let v: Value = serde_json::from_str(l).with_context(|| format!("line {line}: not a JSON object"))?;
        let Value::Object(o) = v else { bail!("line {line}: not a JSON object") };
        let mut row = Row::new();
        for (k, v) in o {
            check_column(&k).with_context(|| format!("line {line}"))?;
            let text = match &v {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Array(a) => a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).collect::<Vec<_>>().join(","),
                other => other.to_string(),
            };
            row.insert(k, text);
        }
        rows.push((line, row));
    }
    Ok(rows)
}

/// A recording id names its output folder: letters, digits, `.`, `_`, `-`, not starting with `.`.
fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        bail!("column id: '{id}' is not a usable folder name (1-100 letters, digits, '.', '_' or '-', not starting with '.')");
    }
    Ok(())
}

fn flag(name: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => bail!("column {name}: '{v}' is not true or false"),
    }
}

fn entry(line: usize, row: &Row, base: &Path, d: Defaults) -> Result<Entry> {
    let get = |k: &str| row.get(k).map(String::as_str);
    let need = |k: &str| get(k).with_context(|| format!("column {k} is missing or empty"));
    let val = |k: &str, f: fn(&str) -> Result<f32, String>| get(k).map(|v| f(v).map_err(|e| anyhow::anyhow!("column {k}: {e}"))).transpose();
    let id = need("id")?.to_string();
    check_id(&id)?;
    let path = |s: &str| if Path::new(s).is_absolute() { s.to_string() } else { base.join(s).to_string_lossy().into_owned() };
    let mm_per_px = val("mm_per_px", values::mm_per_px)?;
    let calibration = get("calibration").map(|c| PathBuf::from(path(c)));
    if mm_per_px.is_some() && calibration.is_some() {
        bail!("columns mm_per_px and calibration: give one scale, not both");
    }
    let margins_mm = match get("margins_mm") {
        Some(m) => m.split(',').map(|x| values::margin_mm(x.trim()).map_err(|e| anyhow::anyhow!("column margins_mm: {e}"))).collect::<Result<Vec<_>>>()?,
        None => vec![1.0],
    };
    let mode = get("mode").map(|m| m.parse::<Mode>().map_err(|e| anyhow::anyhow!("column mode: {e}"))).transpose()?.unwrap_or(Mode::Survey);
    let roi = get("roi").map(|r| r.parse::<Roi>().map(|r| [r.x, r.y, r.w, r.h]).map_err(|e| anyhow::anyhow!("column roi: {e}"))).transpose()?;
    let fps = match get("fps") {
        Some(f) => f.parse::<u32>().ok().filter(|f| (1..=1000).contains(f)).with_context(|| format!("column fps: '{f}' is not a whole number of frames a second, 1–1000"))?,
        None => 30,
    };
    let nir_side = get("nir_side").map(|v| v.parse::<NirSide>().map_err(|e| anyhow::anyhow!("column nir_side: {e}"))).transpose()?;
    let inputs = match (get("side_by_side"), get("wl"), get("nir")) {
        (Some(sbs), None, None) => Inputs::SideBySide { source: path(sbs), nir_side: nir_side.unwrap_or_default() },
        (Some(_), _, _) => bail!("columns side_by_side and wl/nir: give a side-by-side source or a white-light and NIR pair, not both"),
        (None, wl, nir) => {
            if nir_side.is_some() {
                bail!("column nir_side: only for a side_by_side source");
            }
            let (Some(wl), Some(nir)) = (wl, nir) else {
                bail!("column {} is missing or empty (give wl and nir, or side_by_side)", if wl.is_none() { "wl" } else { "nir" })
            };
            Inputs::Pair { wl: path(wl), nir: path(nir) }
        }
    };
    let settings = Settings {
        nir_side: inputs.nir_side(),
        mm_per_px,
        margins_mm,
        fluo_noise_sigmas: val("fluo_noise_sigmas", values::noise_sigmas)?.unwrap_or(AnalysisParams::default().fluo_noise_sigmas),
        mode,
        roi,
        tbr: val("tbr", values::tbr)?.unwrap_or(DEFAULT_MIN_TBR),
        fps,
        backend: d.backend.name().to_string(),
        masks: get("masks").map(|v| flag("masks", v)).transpose()?.unwrap_or(d.masks),
        overlay: get("overlay").map(|v| flag("overlay", v)).transpose()?.unwrap_or(d.overlay),
    };
    Ok(Entry { line, id, inputs, calibration, settings })
}

/// `--shard I/N`: the recordings at positions I, I+N, I+2N, ... of the manifest (I from 0).
pub fn shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or_else(|| format!("'{s}': expected I/N, such as 0/4"))?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| format!("'{s}': I is not a whole number"))?, n.trim().parse().map_err(|_| format!("'{s}': N is not a whole number"))?);
    if n == 0 || i >= n {
        return Err(format!("'{s}': needs 0 <= I < N"));
    }
    Ok((i, n))
}

/// The entries of shard `(i, n)`.
pub fn take_shard(entries: Vec<Entry>, (i, n): (usize, usize)) -> Vec<Entry> {
    entries.into_iter().enumerate().filter(|(k, _)| k % n == i).map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Defaults = Defaults { backend: BackendChoice::Cpu, masks: false, overlay: false };

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn csv_and_json_lines_give_the_same_entries() {
        let d = tempfile::tempdir().unwrap();
        let csv = write(
            d.path(),
            "m.csv",
            "# archive\nid,wl,nir,mm_per_px,margins_mm,mode,roi,tbr,masks\np1,a/wl/%05d.png,a/nir/%05d.png,0.1,\"1,5\",wound-bed,\"1,2,30,40\",2,true\np2,/x/wl.mkv,/x/nir.mkv,,,,,,\n",
        );
        let jsonl = write(
            d.path(),
            "m.jsonl",
            "{\"id\":\"p1\",\"wl\":\"a/wl/%05d.png\",\"nir\":\"a/nir/%05d.png\",\"mm_per_px\":0.1,\"margins_mm\":[1,5],\"mode\":\"wound-bed\",\"roi\":[1,2,30,40],\"tbr\":2,\"masks\":true}\n\n{\"id\":\"p2\",\"wl\":\"/x/wl.mkv\",\"nir\":\"/x/nir.mkv\"}\n",
        );
        let (a, b) = (read(&csv, D).unwrap(), read(&jsonl, D).unwrap());
        assert_eq!(a.len(), 2);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.id, &x.inputs, &x.settings), (&y.id, &y.inputs, &y.settings));
        }
        let s = &a[0].settings;
        assert_eq!((s.mm_per_px, s.margins_mm.as_slice(), s.mode, s.roi, s.tbr, s.masks), (Some(0.1), &[1.0, 5.0][..], Mode::WoundBed, Some([1, 2, 30, 40]), 2.0, true));
        let wl = |e: &Entry| match &e.inputs {
            Inputs::Pair { wl, .. } => wl.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(wl(&a[0]), d.path().join("a/wl/%05d.png").to_string_lossy(), "relative to the manifest's folder");
        assert_eq!((a[1].settings.mm_per_px, a[1].settings.mode, a[1].settings.tbr, wl(&a[1]).as_str()), (None, Mode::Survey, 1.5, "/x/wl.mkv"));
        assert_eq!((a[0].line, a[1].line), (3, 4));
    }

    #[test]
    fn a_bad_manifest_is_refused_naming_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let err = |text: &str| format!("{:#}", read(&write(d.path(), "m.csv", text), D).unwrap_err());
        let e = err("id,wl,nir,tbr\np1,a,b,0.5\n");
        assert!(e.contains("line 2") && e.contains("column tbr"), "{e}");
        assert!(err("id,wl,nir,speed\np1,a,b,3\n").contains("unknown column 'speed'"));
        assert!(err("id,wl,nir\np1,a,b\np1,c,d\n").contains("id p1 is used twice"));
        assert!(err("id,wl,nir\n../up,a,b\n").contains("column id"));
        assert!(err("id,wl\np1,a\n").contains("column nir is missing"));
        assert!(err("id,wl,nir,side_by_side\np1,a,b,c.mkv\n").contains("not both"));
        assert!(err("id,wl,nir,nir_side\np1,a,b,left\n").contains("column nir_side"));
        assert!(err("id,side_by_side,nir_side\np1,c.mkv,middle\n").contains("column nir_side"));
        assert!(err("id,wl,nir,mm_per_px,calibration\np1,a,b,0.1,c.json\n").contains("one scale"));
        assert!(err("id,wl,nir,mode\np1,a,b,cutting\n").contains("column mode"));
        assert!(err("id,wl,nir\n").contains("lists no recording"));
    }

    #[test]
    fn a_side_by_side_row_reads_as_one_source() {
        let d = tempfile::tempdir().unwrap();
        let a = read(&write(d.path(), "m.csv", "id,side_by_side,nir_side\np1,a/sbs.mkv,left\np2,b/%05d.png,\n"), D).unwrap();
        let j = read(&write(d.path(), "m.jsonl", "{\"id\":\"p1\",\"side_by_side\":\"a/sbs.mkv\",\"nir_side\":\"left\"}\n{\"id\":\"p2\",\"side_by_side\":\"b/%05d.png\"}\n"), D).unwrap();
        let base = |p: &str| d.path().join(p).to_string_lossy().into_owned();
        assert_eq!(a[0].inputs, Inputs::SideBySide { source: base("a/sbs.mkv"), nir_side: NirSide::Left });
        assert_eq!(a[1].inputs, Inputs::SideBySide { source: base("b/%05d.png"), nir_side: NirSide::Right });
        assert_eq!((a[0].settings.nir_side, a[1].settings.nir_side), (Some(NirSide::Left), Some(NirSide::Right)));
        for (x, y) in a.iter().zip(&j) {
            assert_eq!((&x.inputs, &x.settings), (&y.inputs, &y.settings));
        }
    }

    #[test]
    fn shards_partition_the_manifest() {
        let entries: Vec<Entry> = (0..10)
            .map(|k| Entry { line: k, id: format!("r{k}"), inputs: Inputs::Pair { wl: String::new(), nir: String::new() }, calibration: None, settings: read_one() })
            .collect();
        for n in 1..=4 {
            let mut ids: Vec<String> = (0..n).flat_map(|i| take_shard(entries.clone(), (i, n)).into_iter().map(|e| e.id)).collect();
            assert_eq!(ids.len(), 10, "disjoint shards of {n}");
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 10, "the union of {n} shards is the whole");
        }
        assert_eq!(shard("2/3"), Ok((2, 3)));
        for bad in ["3/3", "1/0", "x/2", "1"] {
            assert!(shard(bad).is_err(), "{bad}");
        }
    }

    fn read_one() -> Settings {
        let d = tempfile::tempdir().unwrap();
        read(&write(d.path(), "m.csv", "id,wl,nir\na,b,c\n"), D).unwrap().remove(0).settings
    }
}
