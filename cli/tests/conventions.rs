//! The tool's conventions (issue 14, items 6 and 7), through the built binary: bash
//! completions that bash loads and that complete commands and flags; man pages that `man`
//! renders; `--version` naming the commit; the exit codes in `--help`; `--json` on create,
//! write, check, mon (in `cli.rs`) and demo, with only the object on stdout; the demo's
//! progress as one updating line on a terminal and plain lines in a pipe.

use std::process::{Command, Output, Stdio};

mod common;
use common::{assert_ok, fmq, stderr, stdout, text, FMQ};

/// Loads `fmq completions bash` in bash and asks it to complete `words` (the last one is
/// the word under the cursor).
fn bash_completes(words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fmq.bash");
    let o = fmq(&["completions", "bash"]);
    assert_ok(&o);
    std::fs::write(&script, &o.stdout).unwrap();
    let list = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let prog = format!(
        "source '{}' || exit 9; complete -p fmq >/dev/null || exit 8; \
         COMP_WORDS=({list}); COMP_CWORD={cword}; _fmq fmq '{}' '{prev}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words[cword]
    );
    let o = Command::new("bash").args(["-c", &prog]).output().unwrap();
    assert!(o.status.success(), "bash: {o:?}");
    stdout(&o).lines().map(String::from).collect()
}

#[test]
fn bash_loads_the_completions_and_completes_commands_and_flags() {
    let cmds = bash_completes(&["fmq", "re"]);
    assert!(
        cmds.contains(&"read".into()) && cmds.contains(&"remove".into()),
        "{cmds:?}"
    );
    let flags = bash_completes(&["fmq", "read", "--fr"]);
    assert_eq!(flags, ["--from"]);
    let input = bash_completes(&["fmq", "write", "--inp"]);
    assert_eq!(input, ["--input"]);
    for shell in ["zsh", "fish"] {
        let o = fmq(&["completions", shell]);
        assert_ok(&o);
        assert!(stdout(&o).contains("until-id"), "{shell}");
    }
    let o = fmq(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn man_pages_are_written_per_command_and_man_renders_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    assert_ok(&fmq(&["man", out.to_str().unwrap()]));
    for page in [
        "fmq",
        "fmq-read",
        "fmq-write",
        "fmq-mon",
        "fmq-create",
        "fmq-completions",
    ] {
        let p = out.join(format!("{page}.1"));
        let body = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        assert!(
            body.starts_with(".ie") || body.starts_with(".TH"),
            "{page}: {body:.40}"
        );
    }
    assert!(
        !out.join("fmq-demo-writer.1").exists(),
        "internal commands get no page"
    );
    let o = Command::new("man")
        .args(["-l", out.join("fmq-read.1").to_str().unwrap()])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db) runs");
    assert!(o.status.success(), "{o:?}");
    let page = text(&o.stdout);
    assert!(
        page.contains("--from") && page.contains("--until-id"),
        "{page}"
    );
    let o = fmq(&["man"]);
    assert!(stdout(&o).contains("fmq"), "fmq.1 on stdout");
}

#[test]
fn version_names_the_commit_it_was_built_from_and_help_lists_the_exit_codes() {
    let o = fmq(&["--version"]);
    assert_ok(&o);
    let v = stdout(&o);
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    match commit {
        Some(c) => assert_eq!(
            v.trim(),
            format!("fmq {} (commit {c})", env!("CARGO_PKG_VERSION"))
        ),
        None => panic!("the tests run in a git checkout (CI clones the repository)"),
    }
    let help = stdout(&fmq(&["--help"]));
    for code in ["0 success", "1 error", "2 usage error", "128 + N"] {
        assert!(help.contains(code), "{code:?} not in --help");
    }
}

fn json(o: &Output) -> serde_json::Value {
    let out = stdout(o);
    assert_eq!(out.lines().count(), 1, "one object on stdout: {out:?}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn create_write_and_check_report_as_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("j").to_str().unwrap().to_string();
    let o = fmq(&["create", &q, "--slots", "16", "--size", "64K", "--json"]);
    assert_ok(&o);
    let v = json(&o);
    assert_eq!(
        (&v["queue"], &v["backend"]),
        (&q.as_str().into(), &"file".into())
    );
    assert_eq!(
        (&v["slots_count"], &v["buf_size_bytes"]),
        (&16.into(), &65536.into())
    );
    assert!(v["generation"].as_u64().unwrap() > 0);

    let o = fmq(&["write", &q, "--json", "a", "b", "c"]);
    assert_ok(&o);
    let v = json(&o);
    assert_eq!(
        (&v["written"], &v["first_id"], &v["last_id"]),
        (&3.into(), &1.into(), &3.into())
    );
    let o = fmq(&["write", &q, "--json", "d"]);
    assert_eq!(json(&o)["first_id"], 4);

    let o = fmq(&["check", &q, "--json"]);
    assert_ok(&o);
    let v = json(&o);
    assert_eq!(
        (&v["healthy"], &v["messages_checked"]),
        (&true.into(), &4.into())
    );

    // A damaged payload: check --json says so in the object and exits 1.
    let buf = dir.path().join("j.buf");
    let mut bytes = std::fs::read(&buf).unwrap();
    let at = bytes
        .windows(1)
        .rposition(|w| w == b"d")
        .expect("the payload d in .buf");
    bytes[at] = b'X';
    std::fs::write(&buf, &bytes).unwrap();
    let o = fmq(&["check", &q, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["healthy"], false);
    assert!(!v["problems"].as_array().unwrap().is_empty());
}

#[test]
fn demo_json_prints_only_the_summary_object_on_stdout() {
    let o = fmq(&[
        "demo",
        "--seconds",
        "0.5",
        "--readers",
        "1",
        "--rate",
        "2000",
        "--json",
    ]);
    assert_ok(&o);
    let v = json(&o);
    assert_eq!(v["ok"], true);
    let sent = v["sent"].as_u64().unwrap();
    assert!(sent > 0);
    let r = &v["readers"][0];
    assert_eq!(
        r["received"].as_u64().unwrap() + r["missed"].as_u64().unwrap(),
        sent
    );
    assert!(
        stderr(&o).contains("fmq demo: 1 writer process"),
        "the banner on stderr"
    );
}

#[test]
fn demo_progress_updates_one_line_on_a_terminal_and_prints_lines_in_a_pipe() {
    let cmd = format!("'{FMQ}' demo --seconds 2.5 --readers 1 --rate 1000");
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) (bsdutils) runs");
    let shown = text(&o.stdout);
    assert!(shown.contains("\r\x1b[2K"), "no updating line: {shown:?}");
    assert!(shown.contains("result     ok"), "{shown:?}");
    // In a pipe: a plain line per second, no carriage returns.
    let o = Command::new(FMQ)
        .args([
            "demo",
            "--seconds",
            "2.5",
            "--readers",
            "1",
            "--rate",
            "1000",
        ])
        .output()
        .unwrap();
    assert_ok(&o);
    let out = stdout(&o);
    assert!(!out.contains('\r'), "{out:?}");
    assert!(
        out.lines().filter(|l| l.contains(" s  sent ")).count() >= 2,
        "{out:?}"
    );
}
