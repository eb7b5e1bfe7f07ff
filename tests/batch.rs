//! `batch` and `cohort` on small phantom archives: a batch killed mid-run and run again gives the outputs
//! of an uninterrupted one; a rerun with nothing changed does nothing; a changed input or setting redoes
//! that recording only; a bad recording fails alone, named; shards together give the whole; the cohort's
//! figures match the phantoms' ground truth, and `cohort --compare` reports a changed setting's effect and
//! nothing else.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{bin, phantom_on_disk, tmpdir};
use serde_json::Value;

const SIZE: (usize, usize) = (320, 180);
const SCALE: f32 = 0.15;

/// `n` phantom recordings `r0..` of `frames` frames in `root`, and a `bad` one whose NIR frame 3 is not
/// a PNG. Returns the manifest's CSV lines (without header) and each recording's ground truth.
fn archive(root: &Path, n: usize, frames: u32) -> (Vec<String>, Vec<nirf_margin::phantom::GroundTruth>) {
    let mut lines = Vec::new();
    let mut truths = Vec::new();
    for k in 0..n {
        truths.push(phantom_on_disk(&root.join(format!("r{k}")), SIZE.0, SIZE.1, frames, 11 + k as u64, SCALE));
        lines.push(format!("r{k},r{k}/wl/%05d.png,r{k}/nir/%05d.png,{SCALE},"));
        if k == 0 {
            phantom_on_disk(&root.join("bad"), SIZE.0, SIZE.1, 6, 99, SCALE);
            std::fs::write(root.join("bad/nir/00003.png"), b"not a png").unwrap();
            lines.push(format!("bad,bad/wl/%05d.png,bad/nir/%05d.png,{SCALE},"));
        }
    }
    (lines, truths)
}

fn manifest(root: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = root.join(name);
    std::fs::write(&p, format!("id,wl,nir,mm_per_px,margins_mm\n{}\n", lines.join("\n"))).unwrap();
    p
}

fn batch(manifest: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = bin();
    c.arg("batch").arg(manifest).arg("--out").arg(out).args(["--backend", "cpu", "--jobs", "1"]).args(extra);
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn run_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

/// The outputs of two runs of a recording are the same: metrics line for line (but the stage timings),
/// the report byte for byte, the run record but for when, where and how long.
fn assert_same_outputs(a: &Path, b: &Path) {
    let metrics = |d: &Path| {
        common::read_jsonl(&d.join("metrics.jsonl"))
            .into_iter()
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("timings_ms");
                v
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(metrics(a), metrics(b), "{} and {}", a.display(), b.display());
    assert_eq!(std::fs::read(a.join("report.html")).unwrap(), std::fs::read(b.join("report.html")).unwrap(), "{}", a.display());
    let record = |d: &Path| {
        let mut v = run_json(d);
        for k in ["started_unix_s", "seconds", "host", "slurm_job"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(record(a), record(b));
}

#[test]
fn batch_resumes_after_a_kill_skips_what_is_current_and_redoes_what_changed() {
    let d = tmpdir();
    let root = d.path();
    let (lines, _) = archive(root, 4, 16);
    let m = manifest(root, "archive.csv", &lines);

    // Uninterrupted: the bad recording fails alone, named, and the batch goes on.
    let whole = root.join("whole");
    let o = batch(&m, &whole, &[]);
    assert!(!o.status.success());
    let text = stdout(&o);
    assert!(text.contains("4 analysed, 0 current (skipped), 1 failed"), "{text}");
    assert!(text.contains("failed: bad:") && text.contains("00003.png"), "{text}");
    let bad = run_json(&whole.join("bad"));
    assert_eq!(bad["status"], "failed");
    assert!(bad["error"].as_str().unwrap().contains("00003.png"), "{bad}");
    for k in 0..4 {
        assert_eq!(run_json(&whole.join(format!("r{k}")))["status"], "ok");
        assert_eq!(run_json(&whole.join(format!("r{k}")))["frames"], 16);
    }

    // Killed (SIGKILL: no chance to clean up) once the first recording is in place, then run again.
    let resumed = root.join("resumed");
    let mut child = bin().arg("batch").arg(&m).arg("--out").arg(&resumed).args(["--backend", "cpu", "--jobs", "1"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    while !resumed.join("r0/run.json").exists() {
        assert!(t.elapsed() < Duration::from_secs(120), "the first recording never finished");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = (0..4).filter(|k| resumed.join(format!("r{k}/run.json")).exists()).count();
    assert!(done < 4, "the kill came after the whole batch: nothing was resumed");
    let o = batch(&m, &resumed, &[]);
    let text = stdout(&o);
    assert!(text.contains(&format!("{} analysed, {done} current (skipped), 1 failed", 4 - done)), "{text}");
    for k in 0..4 {
        assert_same_outputs(&whole.join(format!("r{k}")), &resumed.join(format!("r{k}")));
    }
    let scratch: Vec<String> =
        std::fs::read_dir(&resumed).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect();
    assert!(scratch.is_empty(), "staging folders left behind: {scratch:?}");

    // Nothing changed: nothing is redone, no record is rewritten.
    let records = |dir: &Path| (0..4).map(|k| std::fs::read(dir.join(format!("r{k}/run.json"))).unwrap()).collect::<Vec<_>>();
    let before = records(&resumed);
    let text = stdout(&batch(&m, &resumed, &[]));
    assert!(text.contains("0 analysed, 4 current (skipped), 1 failed"), "{text}");
    assert_eq!(records(&resumed), before);

    // One input changed (a frame of r1 replaced) and one setting (r2's margin): those two are redone.
    std::fs::copy(root.join("r0/nir/00005.png"), root.join("r1/nir/00005.png")).unwrap();
    let mut changed = lines.clone();
    let r2 = changed.iter().position(|l| l.starts_with("r2,")).unwrap();
    changed[r2].push('2');
    let m2 = manifest(root, "archive-2.csv", &changed);
    let text = stdout(&batch(&m2, &resumed, &[]));
    assert!(text.contains("2 analysed, 2 current (skipped), 1 failed"), "{text}");
    assert!(text.contains("r1: 16 frames") && text.contains("r2: 16 frames") && text.contains("r0: current") && text.contains("r3: current"), "{text}");
    let after = records(&resumed);
    assert_eq!((after[0] == before[0], after[1] == before[1], after[2] == before[2], after[3] == before[3]), (true, false, false, true));
    assert_eq!(run_json(&resumed.join("r2"))["settings"]["margins_mm"], serde_json::json!([2.0]));
    assert_ne!(run_json(&resumed.join("r1"))["inputs"][1]["sha256"], run_json(&whole.join("r1"))["inputs"][1]["sha256"]);
    // --force redoes everything.
    let text = stdout(&batch(&m2, &resumed, &["--force"]));
    assert!(text.contains("4 analysed, 0 current (skipped), 1 failed"), "{text}");
}

#[test]
fn shards_together_give_the_whole_batch() {
    let d = tmpdir();
    let root = d.path();
    let (lines, _) = archive(root, 3, 6);
    let m = manifest(root, "archive.csv", &lines);
    let whole = root.join("whole");
    batch(&m, &whole, &[]);
    let sharded = root.join("sharded");
    let mut seen = Vec::new();
    for i in 0..3 {
        let text = stdout(&batch(&m, &sharded, &["--shard", &format!("{i}/3")]));
        seen.extend(text.lines().filter_map(|l| l.strip_prefix('[')).filter_map(|l| l.split_once("] ")).map(|(_, r)| r.split(':').next().unwrap().to_string()));
    }
    seen.sort();
    assert_eq!(seen, ["bad", "r0", "r1", "r2"], "each recording in exactly one shard");
    for k in 0..3 {
        assert_same_outputs(&whole.join(format!("r{k}")), &sharded.join(format!("r{k}")));
    }
}

#[test]
fn cohort_matches_the_truth_and_compare_flags_a_changed_setting() {
    let d = tmpdir();
    let root = d.path();
    let (lines, truths) = archive(root, 2, 6);
    let base = root.join("base");
    batch(&manifest(root, "archive.csv", &lines), &base, &[]);
    // Every rim row of the cohort is a rim of the phantom, its core and rim measured within 0.5 mm.
    let html = root.join("cohort.html");
    let o = bin().arg("cohort").arg(&base).arg("--out").arg(&html).output().unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let csv = std::fs::read_to_string(root.join("cohort.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    let col = |r: &csv::StringRecord, name: &str| r.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    let mut rims = 0;
    for r in rows.records().map(Result::unwrap) {
        if col(&r, "recording") == "bad" {
            assert_eq!(col(&r, "status"), "failed");
            continue;
        }
        if col(&r, "kind") != "rim" {
            continue;
        }
        let truth = &truths[col(&r, "recording")[1..].parse::<usize>().unwrap()].frames[0];
        let core: f32 = col(&r, "core_diameter").parse().unwrap();
        let rim: f32 = col(&r, "rim_thickness").parse().unwrap();
        let near = truth.lesions.iter().any(|t| {
            t.kind == nirf_margin::analysis::LesionKind::Rim
                && (t.core_diameter_mm.unwrap() - core).abs() < 0.5
                && (t.rim_thickness_mm.unwrap() - rim).abs() < 0.5
        });
        assert!(near, "cohort row {r:?} is no rim of the phantom");
        rims += 1;
    }
    let truth_rims: usize = truths.iter().map(|t| t.frames[0].lesions.iter().filter(|l| l.kind == nirf_margin::analysis::LesionKind::Rim).count()).sum();
    assert_eq!(rims, truth_rims, "{csv}");
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));

    // The same archive again: no difference.
    let o = bin().arg("cohort").arg(&base).arg("--out").arg(root.join("same.html")).arg("--compare").arg(&base).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 differences"));

    // r1 with a 20 mm margin: every measured rim of r1 is under it; r0 is unchanged.
    let mut changed = lines.clone();
    let r1 = changed.iter().position(|l| l.starts_with("r1,")).unwrap();
    changed[r1].push_str("20");
    let new = root.join("new");
    batch(&manifest(root, "archive-2.csv", &changed), &new, &[]);
    let o = bin().arg("cohort").arg(&new).arg("--out").arg(root.join("new.html")).arg("--compare").arg(&base).output().unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    let r1_ok = truths[1].frames[0].lesions.iter().filter(|l| l.min_rim_thickness_mm.is_some_and(|t| t > 1.2)).count();
    assert!(r1_ok > 0, "the phantom r1 has no rim thicker than the first margin");
    let flips = text.lines().filter(|l| l.starts_with("  r1: lesion") && l.contains("margin verdict ok → under_margin")).count();
    let r1_rims = truths[1].frames[0].lesions.iter().filter(|l| l.kind == nirf_margin::analysis::LesionKind::Rim).count();
    assert!(flips >= r1_ok && flips <= r1_rims, "{flips} verdicts flipped, {r1_ok}..={r1_rims} expected: {text}");
    assert!(!text.lines().any(|l| l.starts_with("  r0:")), "{text}");
    assert!(std::fs::read_to_string(root.join("new.html")).unwrap().contains("margin verdict ok → under_margin"));
}

/// A manifest row giving one side-by-side recording (`side_by_side`, `nir_side`) is analysed as the same
/// frames given as a pair: the same metrics; its run record names the input `side_by_side` and the NIR's
/// half, and a rerun finds it current.
#[test]
fn a_side_by_side_row_gives_the_pair_rows_outputs() {
    let d = tmpdir();
    let root = d.path();
    phantom_on_disk(&root.join("p"), SIZE.0, SIZE.1, 3, 17, SCALE);
    let (sbs, nir8) = common::compose_side_by_side(&root.join("p"), 3, true, false);
    let m = root.join("m.csv");
    std::fs::write(&m, format!("id,wl,nir,side_by_side,nir_side,mm_per_px\npair,p/wl/%05d.png,{nir8},,,{SCALE}\nsbs,,,{sbs},left,{SCALE}\n")).unwrap();
    let out = root.join("out");
    let o = batch(&m, &out, &[]);
    assert!(o.status.success(), "{}{}", stdout(&o), common::stderr(&o));
    let untimed = |id: &str| {
        common::read_jsonl(&out.join(id).join("metrics.jsonl"))
            .into_iter()
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("timings_ms");
                v
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(untimed("sbs").len(), 3);
    assert_eq!(untimed("sbs"), untimed("pair"));
    let rec = run_json(&out.join("sbs"));
    let roles: Vec<&str> = rec["inputs"].as_array().unwrap().iter().map(|i| i["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["side_by_side"]);
    assert_eq!(rec["settings"]["nir_side"], "left");
    assert!(run_json(&out.join("pair"))["settings"].get("nir_side").is_none());
    let again = batch(&m, &out, &[]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("2 current (skipped)"), "{}", stdout(&again));
}
