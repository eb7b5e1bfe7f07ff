//! The cohort over an archive written by `batch`: one row per recording and lesion (kind, core diameter,
//! rim thickness, thinnest rim, coverage, TBR, the margin verdict recorded, the wound-bed or transection
//! verdict, frames analysed), as CSV and as a self-contained HTML page with the distributions over the
//! cohort (inline SVG); and the comparison of two runs of the archive (`compare`): recordings and lesions
//! found or lost, verdicts that changed, figures that moved by more than a tolerance. Each lesion's
//! figures are those of the procedure report (`report::summarize`): nothing is measured again here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use plotters::prelude::*;

use crate::archive::record::{RUN_FILE, RunRecord, Status};
use crate::report::{LesionRow, summarize};

/// One recording of the archive.
#[derive(Clone, Debug)]
pub struct Recording {
    pub id: String,
    pub status: Status,
    pub error: Option<String>,
    pub frames: u64,
    /// `mm` where the scale is known, else `px`.
    pub unit: &'static str,
    pub mode: String,
    /// The first margin recorded, mm.
    pub margin_mm: Option<f32>,
    /// Transection / wound-bed runs: the verdict line of `findings.json`.
    pub checks_verdict: Option<String>,
    /// Frames whose check raised its flag, of those checked.
    pub flagged: Option<(usize, usize)>,
    pub lesions: Vec<LesionRow>,
}

/// Every recording of an archive folder, by id.
#[derive(Clone, Debug)]
pub struct Cohort {
    pub dir: PathBuf,
    pub recordings: Vec<Recording>,
}

/// Read every `DIR/<id>/run.json` and its metrics.
pub fn load(dir: &Path) -> Result<Cohort> {
    let mut recordings = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}: cannot read the archive folder", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("{}: cannot read", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().join(RUN_FILE).exists() {
            continue; // staging folders of a running batch, other files
        }
        let Some(rec) = RunRecord::load(&e.path())? else { continue };
        recordings.push(recording(&e.path(), rec)?);
    }
    if recordings.is_empty() {
        bail!("{}: holds no recording analysed by batch (no <id>/{RUN_FILE})", dir.display());
    }
    recordings.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Cohort { dir: dir.to_path_buf(), recordings })
}

fn recording(dir: &Path, rec: RunRecord) -> Result<Recording> {
    let mut r = Recording {
        id: rec.id.clone(),
        status: rec.status,
        error: rec.error.clone(),
        frames: rec.frames,
        unit: "px",
        mode: rec.settings.mode.name().to_string(),
        margin_mm: rec.settings.margins_mm.first().copied(),
        checks_verdict: None,
        flagged: None,
        lesions: Vec::new(),
    };
    if rec.status != Status::Ok {
        return Ok(r);
    }
    let s = summarize(&dir.join("metrics.jsonl"))?;
    r.frames = s.frames;
    r.unit = if s.scale.is_some() { "mm" } else { "px" };
    r.lesions = s.lesions();
    r.flagged = s.flagged_frames();
    let findings = dir.join("findings").join("findings.json");
    if findings.exists() {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&findings).with_context(|| format!("{}: cannot read", findings.display()))?)
            .with_context(|| format!("{}: not JSON", findings.display()))?;
        r.checks_verdict = v.get("verdict").and_then(|v| v.as_str()).map(str::to_string);
    }
    Ok(r)
}

fn f2(x: Option<f64>) -> String {
    x.map_or(String::new(), |x| format!("{x:.3}"))
}

/// The CSV header.
pub const CSV_COLUMNS: [&str; 20] = [
    "recording", "status", "frames", "mode", "unit", "margin_mm", "lesion", "kind", "partial", "lesion_frames", "core_diameter", "rim_thickness",
    "min_rim_thickness", "rim_coverage", "tbr", "verdict", "warned_frames", "checks_verdict", "flagged_frames", "error",
];

/// One line a recording and lesion (a recording with no lesion, or failed, has one line with the lesion
/// columns empty).
pub fn to_csv(c: &Cohort) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS)?;
    for r in &c.recordings {
        let head = [
            r.id.clone(),
            format!("{:?}", r.status).to_lowercase(),
            r.frames.to_string(),
            r.mode.clone(),
            r.unit.to_string(),
            r.margin_mm.map_or(String::new(), |m| m.to_string()),
        ];
        let tail = [
            r.checks_verdict.clone().unwrap_or_default(),
            r.flagged.map_or(String::new(), |(f, n)| format!("{f}/{n}")),
            r.error.clone().unwrap_or_default(),
        ];
        let lesions: Vec<Option<&LesionRow>> = if r.lesions.is_empty() { vec![None] } else { r.lesions.iter().map(Some).collect() };
        for l in lesions {
            let mid: [String; 11] = match l {
                Some(l) => [
                    l.id.to_string(),
                    l.kind.clone(),
                    l.partial.to_string(),
                    l.frames.to_string(),
                    f2(l.core_diameter),
                    f2(l.rim_thickness),
                    f2(l.min_rim_thickness),
                    f2(l.rim_coverage),
                    f2(l.tbr),
                    l.verdict.map_or(String::new(), |v| v.name().to_string()),
                    l.warned_frames.to_string(),
                ],
                None => Default::default(),
            };
            w.write_record(head.iter().chain(mid.iter()).chain(tail.iter()))?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// How far a figure may move between two runs before `compare` reports it.
#[derive(Clone, Copy, Debug)]
pub struct Tolerances {
    /// Core diameter, rim thickness, thinnest rim (mm, or px without a scale).
    pub size: f64,
    pub tbr: f64,
    pub coverage: f64,
    /// Two lesions of the two runs are the same lesion when their median centroids are this close, px.
    pub match_px: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Self { size: 0.1, tbr: 0.1, coverage: 0.02, match_px: 20.0 }
    }
}

/// One difference between two runs of the archive.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub recording: String,
    /// The lesion, as `#id kind at (x, y)` of the new run (of the old one where it was lost).
    pub lesion: Option<String>,
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.lesion {
            Some(l) => write!(f, "{}: lesion {l}: {}", self.recording, self.what),
            None => write!(f, "{}: {}", self.recording, self.what),
        }
    }
}

fn lesion_name(l: &LesionRow) -> String {
    format!("#{} {} at ({:.0}, {:.0})", l.id, l.kind, l.centroid_px[0], l.centroid_px[1])
}

/// Pair the lesions of two runs of a recording: nearest median centroids first, within `match_px`.
fn pair<'a>(old: &'a [LesionRow], new: &'a [LesionRow], match_px: f64) -> (Vec<(&'a LesionRow, &'a LesionRow)>, Vec<&'a LesionRow>, Vec<&'a LesionRow>) {
    let mut cands: Vec<(f64, usize, usize)> = Vec::new();
    for (i, a) in old.iter().enumerate() {
        for (j, b) in new.iter().enumerate() {
            let d = (a.centroid_px[0] - b.centroid_px[0]).hypot(a.centroid_px[1] - b.centroid_px[1]);
            if d <= match_px {
                cands.push((d, i, j));
            }
        }
    }
    cands.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut used_a, mut used_b) = (vec![false; old.len()], vec![false; new.len()]);
    let mut pairs = Vec::new();
    for (_, i, j) in cands {
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            pairs.push((&old[i], &new[j]));
        }
    }
    let lost = old.iter().zip(&used_a).filter(|(_, u)| !**u).map(|(l, _)| l).collect();
    let found = new.iter().zip(&used_b).filter(|(_, u)| !**u).map(|(l, _)| l).collect();
    (pairs, lost, found)
}

/// What changed from `old` to `new`: recordings added, missing or failed; frames analysed; lesions
/// found or lost; kinds and verdicts that changed; figures that moved by more than the tolerances.
pub fn compare(old: &Cohort, new: &Cohort, tol: Tolerances) -> Vec<Difference> {
    let mut out = Vec::new();
    let diff = |out: &mut Vec<Difference>, rec: &str, lesion: Option<String>, what: String| out.push(Difference { recording: rec.to_string(), lesion, what });
    let by_id = |c: &Cohort| c.recordings.iter().map(|r| (r.id.clone(), r.clone())).collect::<BTreeMap<_, _>>();
    let (a, b) = (by_id(old), by_id(new));
    for id in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (ra, rb) = match (a.get(id), b.get(id)) {
            (Some(x), Some(y)) => (x, y),
            (Some(_), None) => {
                diff(&mut out, id, None, format!("recording missing from {}", new.dir.display()));
                continue;
            }
            (None, Some(_)) => {
                diff(&mut out, id, None, format!("recording not in {}", old.dir.display()));
                continue;
            }
            (None, None) => continue,
        };
        if ra.status != rb.status {
            let why = rb.error.as_deref().map_or(String::new(), |e| format!(": {e}"));
            diff(&mut out, id, None, format!("status {:?} → {:?}{why}", ra.status, rb.status));
            continue;
        }
        if ra.frames != rb.frames {
            diff(&mut out, id, None, format!("frames analysed {} → {}", ra.frames, rb.frames));
        }
        if ra.checks_verdict != rb.checks_verdict {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
            diff(&mut out, id, None, format!("{} verdict '{}' → '{}'", rb.mode, v(&ra.checks_verdict), v(&rb.checks_verdict)));
        }
        let (pairs, lost, found) = pair(&ra.lesions, &rb.lesions, tol.match_px);
        for l in lost {
            diff(&mut out, id, Some(lesion_name(l)), "lost (no lesion of the new run within the match distance)".into());
        }
        for l in found {
            diff(&mut out, id, Some(lesion_name(l)), "found (no lesion of the old run within the match distance)".into());
        }
        for (x, y) in pairs {
            let name = Some(lesion_name(y));
            if x.kind != y.kind {
                diff(&mut out, id, name.clone(), format!("kind {} → {}", x.kind, y.kind));
            }
            if x.verdict != y.verdict {
                let v = |v: Option<crate::analysis::MarginVerdict>| v.map_or("none", |v| v.name());
                diff(&mut out, id, name.clone(), format!("margin verdict {} → {}", v(x.verdict), v(y.verdict)));
            }
            let figures = [
                ("core diameter", x.core_diameter, y.core_diameter, tol.size, rb.unit),
                ("rim thickness", x.rim_thickness, y.rim_thickness, tol.size, rb.unit),
                ("thinnest rim", x.min_rim_thickness, y.min_rim_thickness, tol.size, rb.unit),
                ("rim coverage", x.rim_coverage, y.rim_coverage, tol.coverage, ""),
                ("TBR", x.tbr, y.tbr, tol.tbr, ""),
            ];
            for (what, p, q, t, unit) in figures {
                match (p, q) {
                    (Some(p), Some(q)) if (q - p).abs() > t => {
                        diff(&mut out, id, name.clone(), format!("{what} {p:.3} → {q:.3} {unit} (moved {:+.3}, tolerance {t})", q - p));
                    }
                    (Some(_), None) | (None, Some(_)) => diff(&mut out, id, name.clone(), format!("{what} {} → {}", f2(p), f2(q))),
                    _ => {}
                }
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A histogram of `values` as an SVG string (10 bins over their range).
fn histogram(title: &str, x_label: &str, values: &[f64]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 220)).into_drawing_area();
        root.fill(&WHITE)?;
        let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        // One value (every rim complete, say): a narrow range around it.
        let pad = 0.05 * lo.abs().max(1.0);
        let (lo, hi) = if !lo.is_finite() { (0.0, 1.0) } else if hi > lo { (lo, hi) } else { (lo - pad, lo + pad) };
        const BINS: usize = 10;
        let width = (hi - lo) / BINS as f64;
        let mut counts = [0u32; BINS];
        for &v in values {
            counts[(((v - lo) / width) as usize).min(BINS - 1)] += 1;
        }
        let top = counts.iter().copied().max().unwrap_or(0).max(1);
        let mut c = ChartBuilder::on(&root)
            .caption(format!("{title} (n = {})", values.len()), ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(36)
            .build_cartesian_2d(lo..hi, 0u32..top + 1)?;
        c.configure_mesh().x_desc(x_label).y_desc("lesions").light_line_style(WHITE.mix(0.0)).draw()?;
        c.draw_series(counts.iter().enumerate().map(|(k, &n)| {
            let x0 = lo + k as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width * 0.95, n)], BLUE.mix(0.6).filled())
        }))?;
        root.present()?;
    }
    Ok(svg)
}

/// The cohort page: the table, distributions, verdict counts, and the comparison when given.
pub fn to_html(c: &Cohort, comparison: Option<(&Cohort, &[Difference], Tolerances)>) -> Result<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>nirf-margin cohort</title><style>\
         body{{font-family:sans-serif;margin:24px}} table{{border-collapse:collapse}} td,th{{border:1px solid #999;padding:3px 6px;text-align:right}} \
         th{{background:#eee}} .warn{{color:#b00;font-weight:bold}} .note{{background:#fff6d5;padding:8px;border:1px solid #e0c060;max-width:900px}} \
         svg{{margin:4px}}</style></head><body><h1>nirf-margin cohort: {}</h1>\
         <p class=\"note\">Decision support only. Validated on synthetic phantoms, not on patients. Figures are measurements of the \
         fluorescence image (medians over the frames each lesion was seen on), not of the specimens.</p>",
        esc(&c.dir.display().to_string())
    );
    let ok = c.recordings.iter().filter(|r| r.status == Status::Ok).count();
    let lesions: Vec<(&Recording, &LesionRow)> = c.recordings.iter().flat_map(|r| r.lesions.iter().map(move |l| (r, l))).collect();
    let _ = write!(
        h,
        "<p>{} recordings ({ok} analysed, {} failed), {} frames, {} lesions.</p>",
        c.recordings.len(),
        c.recordings.len() - ok,
        c.recordings.iter().map(|r| r.frames).sum::<u64>(),
        lesions.len()
    );
    if let Some((old, diffs, tol)) = comparison {
        let _ = write!(
            h,
            "<h2>Compared with {}</h2><p>tolerances: sizes {} , TBR {}, coverage {}; lesions matched within {} px. ",
            esc(&old.dir.display().to_string()),
            tol.size,
            tol.tbr,
            tol.coverage,
            tol.match_px
        );
        if diffs.is_empty() {
            h.push_str("No difference.</p>");
        } else {
            let _ = write!(h, "<span class=\"warn\">{} differences</span></p><table><tr><th>recording</th><th>lesion</th><th>what changed</th></tr>", diffs.len());
            for d in diffs {
                let _ = write!(h, "<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>", esc(&d.recording), esc(d.lesion.as_deref().unwrap_or("")), esc(&d.what));
            }
            h.push_str("</table>");
        }
    }
    h.push_str("<h2>Distributions</h2>");
    let unit = if lesions.iter().all(|(r, _)| r.unit == "mm") { "mm" } else { "mm or px" };
    let rims: Vec<&LesionRow> = lesions.iter().filter(|(_, l)| l.kind == "rim" && !l.partial).map(|(_, l)| *l).collect();
    let take = |f: fn(&LesionRow) -> Option<f64>, of: &[&LesionRow]| of.iter().filter_map(|l| f(l)).collect::<Vec<f64>>();
    let whole: Vec<&LesionRow> = lesions.iter().filter(|(_, l)| !l.partial).map(|(_, l)| *l).collect();
    h.push_str(&histogram("Core diameter, all kinds", unit, &take(|l| l.core_diameter, &whole))?);
    h.push_str(&histogram("Rim thickness, median", unit, &take(|l| l.rim_thickness, &rims))?);
    h.push_str(&histogram("Thinnest rim", unit, &take(|l| l.min_rim_thickness, &rims))?);
    h.push_str(&histogram("Rim coverage", "fraction", &take(|l| l.rim_coverage, &rims))?);
    h.push_str(&histogram("TBR", "ratio", &take(|l| l.tbr, &whole))?);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, l) in &lesions {
        *kinds.entry(l.kind.clone()).or_default() += 1;
        if let Some(v) = l.verdict {
            *verdicts.entry(v.name()).or_default() += 1;
        }
    }
    h.push_str("<h2>Counts</h2><table><tr><th>lesion kind</th><th>lesions</th></tr>");
    for (k, n) in &kinds {
        let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
    }
    h.push_str("</table><br><table><tr><th>margin verdict (rim lesions)</th><th>lesions</th></tr>");
    for (v, n) in &verdicts {
        let _ = write!(h, "<tr><td>{v}</td><td>{n}</td></tr>");
    }
    h.push_str("</table><h2>Recordings and lesions</h2><table><tr>");
    for col in CSV_COLUMNS {
        let _ = write!(h, "<th>{}</th>", col.replace('_', " "));
    }
    h.push_str("</tr>");
    let csv = to_csv(c)?;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    for rec in reader.records() {
        let rec = rec?;
        let failed = rec.get(1) == Some("failed");
        h.push_str(if failed { "<tr class=\"warn\">" } else { "<tr>" });
        for (k, cell) in rec.iter().enumerate() {
            let warn = CSV_COLUMNS[k] == "verdict" && matches!(cell, "under_margin" | "rim_incomplete");
            let _ = write!(h, "<td{}>{}</td>", if warn { " class=\"warn\"" } else { "" }, esc(cell));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></body></html>\n");
    Ok(h)
}
