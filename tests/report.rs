//! `nirf-margin report` turns a run's metrics (and snapshots) into a self-contained page, checked in
//! headless Chromium with a screenshot. Without Chromium the rendering step is skipped with a message,
//! unless NIRF_REQUIRE_BROWSER=1 (set by `make test`).

mod common;

use std::process::Command;

use common::*;

#[test]
fn report_of_a_wound_bed_run_renders_in_a_browser() {
    let d = tmpdir();
    let cfg = nirf_margin::phantom::PhantomConfig {
        width: 400,
        height: 300,
        frames: 8,
        seed: 61,
        mm_per_px: 0.1,
        options: nirf_margin::phantom::SceneOptions::cut_surface(1..=2),
        ..Default::default()
    };
    nirf_margin::phantom::write_sequence(&cfg, d.path(), |_| {}).unwrap();
    let (m, findings, html) = (d.path().join("m.jsonl"), d.path().join("findings"), d.path().join("report.html"));
    let o = run(&[
        "analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.1", "--mode", "wound-bed",
        "--metrics", m.to_str().unwrap(), "--findings", findings.to_str().unwrap(), "--backend", "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("fluorescent spot"));
    let o = run(&["report", m.to_str().unwrap(), "--snapshots", findings.to_str().unwrap(), "--out", html.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("data:image/png;base64,"), "plots and snapshots are inline");
    assert!(page.contains("0.1 mm/px") && page.contains("wound-bed"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "the page must be self-contained");

    let chromium = ["chromium", "chromium-browser"].into_iter().find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(browser) = chromium else {
        assert!(std::env::var("NIRF_REQUIRE_BROWSER").as_deref() != Ok("1"), "NIRF_REQUIRE_BROWSER=1 but no chromium");
        eprintln!("SKIPPED: no chromium to render the report");
        return;
    };
    let shot = d.path().join("report.png");
    let o = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        .arg(format!("--user-data-dir={}", d.path().join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1000,1400")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&shot).unwrap().into_rgb8();
    assert_eq!(img.dimensions(), (1000, 1400));
    // A rendered page has text, tables, plot lines and a snapshot: many colours, not a blank sheet.
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 200, "the screenshot looks blank ({} colours)", colours.len());
}
