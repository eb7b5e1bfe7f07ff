//! `bench --compare`: a run checked against a baseline of earlier `bench --json` lines exits non-zero
//! when a stage regressed beyond the tolerance, and zero when it did not.

mod common;

use common::*;

#[test]
fn bench_compare_fails_on_a_regressed_stage_and_passes_within_tolerance() {
    let d = tmpdir();
    let args = ["bench", "--backend", "cpu", "--size", "320x240", "--frames", "5", "--json"];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let measured: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(measured["stages_ms"].as_object().is_some_and(|s| !s.is_empty()));
    // The host's memory read rate before and after the run, a plausible one (a machine reads 64 MB at
    // somewhere between 0.1 and 1000 GB/s).
    let host = measured["host_read_gbps"].as_array().expect("host_read_gbps");
    assert_eq!(host.len(), 2);
    assert!(host.iter().all(|r| r.as_f64().is_some_and(|r| (0.1..1000.0).contains(&r))), "{host:?}");
    // A baseline where every stage took a tenth of a millisecond less than a hundredth of what it takes
    // now: every stage above the noise floor regressed.
    let mut fast = measured.clone();
    for v in fast["stages_ms"].as_object_mut().unwrap().values_mut() {
        *v = serde_json::json!(v.as_f64().unwrap() / 100.0);
    }
    fast["ms_median"] = serde_json::json!(measured["ms_median"].as_f64().unwrap() / 100.0);
    let other = serde_json::json!({"backend": "cpu", "width": 1920, "height": 1080, "ms_median": 1e-6});
    let base = d.path().join("baseline.jsonl");
    std::fs::write(&base, format!("{other}\n{fast}\n")).unwrap();
    let o = run(&[&args[..], &["--compare", base.to_str().unwrap()]].concat());
    assert!(!o.status.success(), "a hundredfold slower run passed: {}", stderr(&o));
    assert!(stderr(&o).contains("regression: frame"), "{}", stderr(&o));
    // The same run against itself as the baseline, with room for a loaded machine: no regression.
    std::fs::write(&base, format!("{other}\n{measured}\n")).unwrap();
    let o = run(&[&args[..], &["--compare", base.to_str().unwrap(), "--tolerance", "400"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
}
