//! Sets `FMQ_COMMIT` for `fmq --version`: the commit the tool was built from (12 hex
//! digits), or `unknown` outside a git checkout (a source tarball, a crate). Rerun when HEAD
//! moves. (No "-dirty" mark: edits do not rerun a build script, so it would go stale.)

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FMQ_COMMIT={commit}");
    // HEAD, the branch it names, and packed refs: a new commit or checkout rebuilds.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/packed-refs");
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{r}");
        }
        // A worktree's HEAD is its own; its branches live in the common dir.
        if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
            if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                println!("cargo:rerun-if-changed={common}/{r}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
