//! Standard output has one writer, `src/output.rs` (issue 19): `println!` and `print!` panic
//! when the reader of a pipe has gone or the disk is full, which loses an alert's exit
//! status. This test fails on any other path to stdout in `src/`.

use std::path::{Path, PathBuf};

/// Files allowed to write to stdout directly, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("src/output.rs", "the writer helper itself"),
    (
        "src/api/tests.rs",
        "unit tests (a manual UI session prints its address)",
    ),
];

const FORBIDDEN: &[&str] = &["println!", "print!(", "io::stdout()", "dbg!("];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_the_output_module_writes_to_stdout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        if ALLOWED.iter().any(|(f, _)| *f == rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.replace("eprintln!", "").replace("eprint!(", "");
            if let Some(f) = FORBIDDEN.iter().find(|f| code.contains(*f)) {
                found.push(format!("{rel}:{}: `{f}`: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "write to stdout through tidewatch::output (outln!, output::text) instead:\n{}",
        found.join("\n")
    );
}
