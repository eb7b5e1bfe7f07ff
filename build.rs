//! Embeds the git commit the program is built from (`NIRF_GIT_COMMIT`), recorded in each batch run's
//! `run.json`. Outside a git checkout (a source tarball) it is `unknown`, or what the environment
//! variable `NIRF_GIT_COMMIT` says at build time.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=NIRF_GIT_COMMIT");
    let commit = std::env::var("NIRF_GIT_COMMIT").ok().filter(|s| !s.is_empty()).or_else(|| git(&["rev-parse", "HEAD"]));
    println!("cargo:rustc-env=NIRF_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
    // Rebuild when HEAD moves: HEAD itself, the branch it points to, the packed refs (only files that
    // exist: a missing one would rerun this script on every build).
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for name in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]).filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
