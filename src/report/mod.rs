//! The procedure report: a self-contained HTML page (inline SVG plots, embedded PNG snapshots) made from
//! a run's metrics file — the lesion table, each lesion's figures over time, the transection and
//! wound-bed findings, the added latency of a live run, and the settings and scale used. Reads the
//! metrics schema (`metrics::FrameMetrics`, files of every schema version); knows nothing of the
//! analysis or GStreamer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use plotters::prelude::*;
use serde_json::Value;

use crate::analysis::{LesionKind, MarginVerdict};
use crate::stats::{median, percentile};
use crate::metrics::{FrameMetrics, OverlayState};

fn kind_name(k: LesionKind) -> &'static str {
    match k {
        LesionKind::Rim => "rim",
        LesionKind::Diffuse => "diffuse",
        LesionKind::Homogeneous => "homogeneous",
    }
}

/// One lesion's series over the run.
#[derive(Default)]
struct Track {
    kind: String,
    frames: Vec<u64>,
    diameter: Vec<(u64, f64)>,
    thickness: Vec<(u64, f64)>,
    min_thickness: Vec<(u64, f64)>,
    tbr: Vec<(u64, f64)>,
    coverage: Vec<f64>,
    centroid: Vec<[f64; 2]>,
    partial: u32,
    /// Frames of each margin verdict, as the metrics recorded it.
    verdicts: BTreeMap<MarginVerdict, u32>,
}

/// The margin cell of a lesion's row: the verdict the processor recorded on most of its frames (a
/// warning on a tie), and on how many frames it warned when that was not most. Nothing is re-decided
/// here; files from before verdicts were recorded say so.
fn margin_cell(t: &Track, margin_mm: Option<f32>) -> String {
    if t.kind != "rim" {
        return "–".to_string();
    }
    let Some((&verdict, _)) = t.verdicts.iter().max_by_key(|(v, n)| (**n, v.warns())) else {
        return "not recorded".to_string();
    };
    let m = margin_mm.map_or("the margin".to_string(), |m| format!("{m} mm"));
    let text = match verdict {
        MarginVerdict::Ok => format!("rim ≥ {m}"),
        MarginVerdict::UnderMargin => format!("<span class=\"warn\">rim under {m}</span>"),
        MarginVerdict::RimIncomplete => "<span class=\"warn\">rim incomplete</span>".to_string(),
        MarginVerdict::NoScale => "no scale".to_string(),
        MarginVerdict::Unmeasured => "rim not measured".to_string(),
    };
    let warned: u32 = t.verdicts.iter().filter(|(v, _)| v.warns()).map(|(_, n)| n).sum();
    let seen: u32 = t.verdicts.values().sum();
    if !verdict.warns() && warned > 0 {
        format!("{text}; <span class=\"warn\">warning on {warned} of {seen} frames</span>")
    } else {
        text
    }
}

/// Largest magnitude a number in a metrics file may have (nanosecond timestamps of a long run fit; a
/// value like 1e308 would make the plots' ranges infinite).
const MAX_MAGNITUDE: f64 = 1e15;

/// The path of the first number in `v` that is out of range, and the number.
fn out_of_range(v: &Value, path: &mut String) -> Option<(String, f64)> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| !x.is_finite() || x.abs() > MAX_MAGNITUDE).map(|x| (path.clone(), x)),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| {
            let len = path.len();
            let _ = write!(path, "[{i}]");
            let r = out_of_range(x, path);
            path.truncate(len);
            r
        }),
        Value::Object(o) => o.iter().find_map(|(k, x)| {
            let len = path.len();
            let _ = write!(path, "{}{k}", if path.is_empty() { "" } else { "." });
            let r = out_of_range(x, path);
            path.truncate(len);
            r
        }),
        _ => None,
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A line chart of several series as an SVG string.
fn chart(title: &str, y_label: &str, series: &[(String, Vec<(u64, f64)>)]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 260)).into_drawing_area();
        root.fill(&WHITE)?;
        let pts = series.iter().flat_map(|(_, s)| s.iter());
        let (mut x1, mut y0, mut y1) = (1u64, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y) in pts {
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if !y0.is_finite() {
            y0 = 0.0;
            y1 = 1.0;
        }
        let pad = ((y1 - y0) * 0.1).max(0.05);
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0u64..x1, (y0 - pad)..(y1 + pad))?;
        c.configure_mesh().x_desc("frame").y_desc(y_label).light_line_style(WHITE.mix(0.0)).draw()?;
        for (k, (name, s)) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            c.draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if !series.is_empty() {
            c.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// What a run's metrics say, gathered once: the settings recorded, each lesion's series, the checks'
/// flags and a live run's latency. `render` draws it; the cohort report (`cohort`) tabulates it.
pub struct RunSummary {
    /// Frames in the metrics file.
    pub frames: u64,
    /// The scale recorded (mm/px), if any.
    pub scale: Option<f64>,
    pub scale_source: String,
    /// The first (radicality) margin recorded, mm.
    pub margin: Option<f32>,
    /// The checks' mode recorded (`survey` when none).
    pub mode: String,
    tracks: BTreeMap<u64, Track>,
    latency: Vec<(u64, f64)>,
    flags: Vec<(u64, f64)>,
    spot_area: Vec<(u64, f64)>,
    off: u64,
}

/// One lesion over a run: its kind and the median of each figure over the frames it was seen on (mm
/// where the scale is known, else px), and the margin verdict the processor recorded on most of them.
#[derive(Clone, Debug, PartialEq)]
pub struct LesionRow {
    pub id: u64,
    pub kind: String,
    /// Cut by the image border on most of its frames.
    pub partial: bool,
    pub frames: u64,
    pub core_diameter: Option<f64>,
    pub rim_thickness: Option<f64>,
    pub min_rim_thickness: Option<f64>,
    pub rim_coverage: Option<f64>,
    pub tbr: Option<f64>,
    /// Median centroid, px.
    pub centroid_px: [f64; 2],
    /// The verdict on most frames (a warning on a tie); `None` for coreless kinds and schema 0 files.
    pub verdict: Option<MarginVerdict>,
    /// Frames whose verdict warned.
    pub warned_frames: u32,
}

impl Track {
    fn row(&self, id: u64) -> LesionRow {
        let med = |v: &Vec<(u64, f64)>| median(&mut v.iter().map(|p| p.1).collect::<Vec<_>>());
        let axis = |k: usize| median(&mut self.centroid.iter().map(|c| c[k]).collect::<Vec<_>>()).unwrap_or(0.0);
        LesionRow {
            id,
            kind: self.kind.clone(),
            partial: self.partial as usize * 2 > self.frames.len(),
            frames: self.frames.len() as u64,
            core_diameter: med(&self.diameter),
            rim_thickness: med(&self.thickness),
            min_rim_thickness: med(&self.min_thickness),
            rim_coverage: median(&mut self.coverage.clone()),
            tbr: med(&self.tbr),
            centroid_px: [axis(0), axis(1)],
            verdict: self.verdicts.iter().max_by_key(|(v, n)| (**n, v.warns())).map(|(v, _)| *v),
            warned_frames: self.verdicts.iter().filter(|(v, _)| v.warns()).map(|(_, n)| n).sum(),
        }
    }
}

impl RunSummary {
    /// The lesions worth a row: those seen on at least 5% of the frames (fewer are flickers).
    pub fn lesions(&self) -> Vec<LesionRow> {
        self.shown().into_iter().map(|(id, t)| t.row(*id)).collect()
    }

    fn shown(&self) -> Vec<(&u64, &Track)> {
        self.tracks.iter().filter(|(_, t)| t.frames.len() as u64 * 20 >= self.frames).collect()
    }

    /// Frames whose check raised the transection / wound-bed flag, of the frames checked.
    pub fn flagged_frames(&self) -> Option<(usize, usize)> {
        (!self.flags.is_empty()).then(|| (self.flags.iter().filter(|f| f.1 > 0.0).count(), self.flags.len()))
    }
}

/// The report of a metrics file.
pub fn render(metrics: &Path, snapshots: Option<&Path>) -> Result<String> {
    render_summary(&summarize(metrics)?, &metrics.display().to_string(), snapshots)
}

/// Read a metrics file (every schema version) into its summary; a line that is not a metrics line, or
/// a figure out of range, is an error naming the file and line.
pub fn summarize(metrics: &Path) -> Result<RunSummary> {
    let text = std::fs::read_to_string(metrics).with_context(|| format!("{}: cannot read the metrics", metrics.display()))?;
    let mut tracks: BTreeMap<u64, Track> = BTreeMap::new();
    let mut latency: Vec<(u64, f64)> = Vec::new();
    let mut flags: Vec<(u64, f64)> = Vec::new();
    let mut spot_area: Vec<(u64, f64)> = Vec::new();
    let (mut frames, mut off) = (0u64, 0u64);
    let (mut scale, mut source, mut mode) = (None, String::from("none"), String::from("survey"));
    let mut margin: Option<f32> = None;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).with_context(|| format!("{} line {}: not a JSON object", metrics.display(), n + 1))?;
        if !v.is_object() {
            bail!("{} line {}: not a JSON object", metrics.display(), n + 1);
        }
        if let Some((field, x)) = out_of_range(&v, &mut String::new()) {
            bail!("{} line {}: field {field} is {x:e}, beyond the ±{MAX_MAGNITUDE:e} a metrics file holds", metrics.display(), n + 1);
        }
        if v.get("frame").is_none_or(|f| !f.is_u64()) {
            bail!("{} line {}: no \"frame\" field", metrics.display(), n + 1);
        }
        let m: FrameMetrics = serde_json::from_value(v).with_context(|| format!("{} line {}: not a metrics line", metrics.display(), n + 1))?;
        let frame = m.frame;
        frames += 1;
        if m.mm_per_px.is_some() {
            scale = m.mm_per_px;
        }
        if let Some(&first) = m.margins_mm.first() {
            margin = Some(first);
        }
        if let Some(s) = m.scale_source {
            source = s;
        }
        if let Some(md) = m.mode {
            mode = md.name().to_string();
        }
        if let Some(l) = m.latency_ms {
            latency.push((frame, l));
        }
        off += (m.overlay == Some(OverlayState::Off)) as u64;
        if let Some(f) = &m.findings {
            flags.push((frame, f.flag as u8 as f64));
            let area: f64 = f.spots.iter().map(|s| s.area_mm2.unwrap_or(s.area_px as f64)).sum();
            spot_area.push((frame, area));
        }
        for l in &m.lesions {
            let t = tracks.entry(l.id as u64).or_default();
            t.kind = kind_name(l.kind).to_string();
            t.frames.push(frame);
            t.partial += l.partial as u32;
            let put = |mm: Option<f32>, px: Option<f32>, dst: &mut Vec<(u64, f64)>| {
                if let Some(x) = mm.or(px) {
                    dst.push((frame, x as f64));
                }
            };
            put(l.core_diameter_mm, l.core_diameter_px, &mut t.diameter);
            put(l.rim_thickness_mm, l.rim_thickness_px, &mut t.thickness);
            put(l.min_rim_thickness_mm, l.min_rim_thickness_px, &mut t.min_thickness);
            put(Some(l.tbr), None, &mut t.tbr);
            t.coverage.extend(l.rim_coverage.map(f64::from));
            t.centroid.push([l.centroid_px[0] as f64, l.centroid_px[1] as f64]);
            if let Some(v) = l.verdict {
                *t.verdicts.entry(v).or_default() += 1;
            }
        }
    }
    if frames == 0 {
        bail!("{}: the metrics hold no frame", metrics.display());
    }
    Ok(RunSummary { frames, scale, scale_source: source, margin, mode, tracks, latency, flags, spot_area, off })
}

/// The HTML page of a run; `label` names its metrics file on the page.
pub fn render_summary(run: &RunSummary, label: &str, snapshots: Option<&Path>) -> Result<String> {
    let RunSummary { frames, scale, scale_source: source, margin, mode, latency, flags, spot_area, off, .. } = run;
    let (frames, scale, margin, off) = (*frames, *scale, *margin, *off);

    let unit = if scale.is_some() { "mm" } else { "px" };
    // Lesions seen in under 5% of the frames are flickers, not lesions worth a row.
    let shown = run.shown();

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>nirf-margin report</title><style>\
         body{{font-family:sans-serif;margin:24px;max-width:900px}} table{{border-collapse:collapse}} \
         td,th{{border:1px solid #999;padding:4px 8px;text-align:right}} th{{background:#eee}} .warn{{color:#b00;font-weight:bold}} \
         .note{{background:#fff6d5;padding:8px;border:1px solid #e0c060}} img{{max-width:420px;margin:4px;border:1px solid #999}}</style></head><body>\
         <h1>nirf-margin procedure report</h1>\
         <p class=\"note\">Decision support only. Validated on synthetic phantoms, not on patients. Figures are measurements \
         of the fluorescence image, not of the specimen.</p>"
    );
    let _ = write!(
        html,
        "<h2>Settings</h2><table><tr><th>metrics</th><td>{}</td></tr><tr><th>frames</th><td>{frames}</td></tr>\
         <tr><th>scale</th><td>{}</td></tr><tr><th>scale source</th><td>{}</td></tr><tr><th>first margin</th><td>{}</td></tr><tr><th>mode</th><td>{}</td></tr></table>",
        esc(label),
        scale.map_or("none: figures in px".to_string(), |s| format!("{s} mm/px")),
        margin.map_or("not recorded".to_string(), |m| format!("{m} mm")),
        esc(source),
        esc(mode)
    );
    let _ = write!(
        html,
        "<h2>Lesions</h2><table><tr><th>id</th><th>kind</th><th>frames</th><th>core diameter ({unit})</th>\
         <th>rim, median ({unit})</th><th>rim, thinnest ({unit})</th><th>TBR</th><th>margin</th></tr>"
    );
    for (id, t) in &shown {
        let med = |v: &Vec<(u64, f64)>| median(&mut v.iter().map(|p| p.1).collect::<Vec<_>>());
        let fmt = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.2}"));
        let thin = med(&t.min_thickness);
        let margin_text = margin_cell(t, margin);
        let kind = if t.partial as usize * 2 > t.frames.len() { format!("{} (partial)", t.kind) } else { t.kind.clone() };
        let _ = write!(
            html,
            "<tr><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{margin_text}</td></tr>",
            esc(&kind),
            t.frames.len(),
            fmt(med(&t.diameter)),
            fmt(med(&t.thickness)),
            fmt(thin),
            fmt(med(&t.tbr))
        );
    }
    html.push_str("</table><h2>Over time</h2>");
    let series = |f: fn(&Track) -> &Vec<(u64, f64)>| -> Vec<(String, Vec<(u64, f64)>)> {
        shown.iter().filter(|(_, t)| !f(t).is_empty()).map(|(id, t)| (format!("#{id}"), f(t).clone())).collect()
    };
    html.push_str(&chart(&format!("Rim thickness, median ({unit})"), unit, &series(|t| &t.thickness))?);
    html.push_str(&chart(&format!("Core diameter ({unit})"), unit, &series(|t| &t.diameter))?);
    html.push_str(&chart("Tumour-to-background ratio", "TBR", &series(|t| &t.tbr))?);
    if !flags.is_empty() {
        let _ = write!(html, "<h2>Transection / wound-bed findings</h2><p>flag raised on {} of {} frames</p>", flags.iter().filter(|f| f.1 > 0.0).count(), flags.len());
        html.push_str(&chart("Fluorescence in the region of interest", if scale.is_some() { "mm²" } else { "px" }, &[("area".into(), spot_area.clone())])?);
    }
    if !latency.is_empty() {
        let mut l: Vec<f64> = latency.iter().map(|p| p.1).collect();
        let (p50, p99) = (percentile(&mut l, 0.5).unwrap_or(0.0), percentile(&mut l, 0.99).unwrap_or(0.0));
        let _ = write!(html, "<h2>Live</h2><p>added latency p50 {p50:.1} ms, p99 {p99:.1} ms; overlay off on {off} frames</p>");
        html.push_str(&chart("Added latency", "ms", &[("latency".into(), latency.clone())])?);
    }
    if let Some(dir) = snapshots {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("--snapshots {}: cannot read", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
            .collect();
        files.sort();
        html.push_str("<h2>Snapshots</h2>");
        for f in files {
            let bytes = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let _ = write!(
                html,
                "<figure style=\"display:inline-block\"><img alt=\"{n}\" src=\"data:image/png;base64,{}\"><figcaption>{n}</figcaption></figure>",
                base64::engine::general_purpose::STANDARD.encode(bytes),
                n = esc(&name)
            );
        }
    }
    html.push_str("</body></html>\n");
    Ok(html)
}
