//! External programs a test may need (`dig`, `kdig`, `unbound`, `openssl`, `kubectl`, `bash`).
//!
//! A test that needs one is marked `#[ignore = "needs <tool>"]`, so a plain run leaves it out,
//! and calls [`require`]: run with `--run-ignored`, it fails with the name of the missing tool
//! instead of passing without checking anything (see `tests/README.md`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Searched after `$PATH`: daemons such as `unbound` live in sbin, which is often not on a
/// user's `PATH`.
const SBIN: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// The path of the program `name`, found on `$PATH` or in the sbin directories.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
}

/// The path of the program `name`; panics, naming it, when it is not installed.
#[track_caller]
pub fn require(name: &str) -> PathBuf {
    tool(name).unwrap_or_else(|| {
        panic!(
            "this test needs `{name}`, which is neither on PATH nor in {SBIN:?}: install it, \
             or leave the test out (it is #[ignore = \"needs ...\"])"
        )
    })
}

#[cfg(unix)]
fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(p: &Path) -> bool {
    p.is_file()
}

/// Runs `program` with `args` in `dir` and returns its output.
pub fn run_in(dir: &Path, program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

/// Exit status, stdout and stderr of a finished program, for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_names_missing_ones() {
        assert!(tool("sh").is_some(), "sh is on every PATH");
        assert!(tool("no-such-tool-isthmus").is_none());
        let err = std::panic::catch_unwind(|| require("no-such-tool-isthmus")).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("needs `no-such-tool-isthmus`"), "{msg}");
    }
}
