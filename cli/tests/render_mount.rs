//! Both render commands (`isthmus render` and `isthmus gateway render`) write into an output
//! folder that cannot be renamed or replaced, such as a mount point: as root the folder is a
//! tmpfs mounted for the test; otherwise its parent is made read-only, so no temporary folder
//! can be made beside it and it cannot be swapped. Where neither can be arranged the test says
//! so on stderr and checks nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use isthmus_testing::paths::testdata;

/// A folder the render commands cannot swap, undone on drop.
struct Unswappable {
    dir: PathBuf,
    mounted: bool,
}

impl Unswappable {
    fn new(dir: &Path) -> Unswappable {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "isthmus-test"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        let parent = dir.parent().unwrap();
        if !mounted {
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        let guard = Unswappable {
            dir: dir.to_path_buf(),
            mounted,
        };
        // Prove that the folder really cannot be swapped.
        let aside = parent.join("aside");
        if std::fs::rename(dir, &aside).is_ok() {
            std::fs::rename(&aside, dir).unwrap();
            panic!(
                "cannot make a folder that cannot be renamed here: `mount -t tmpfs` failed and a read-only parent does not stop this user (root without CAP_SYS_ADMIN?)"
            );
        }
        guard
    }
}

impl Drop for Unswappable {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        } else if let Some(parent) = self.dir.parent() {
            let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755));
        }
    }
}

fn isthmus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .args(args)
        .output()
        .unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs `args` (which write to `out`) twice into an unswappable `out`, with a stale file in
/// between, and checks the folder holds exactly what a render into a new folder holds.
fn renders_into_unswappable(args: &[&str], marker: &str) {
    let tmp = tempfile::tempdir().unwrap();
    // The reference: the same render into a new folder.
    let fresh = tmp.path().join("fresh");
    let fresh_s = fresh.display().to_string();
    let o = isthmus(&[args, &["--output", &fresh_s]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected = entries(&fresh);
    assert!(expected.iter().any(|e| e == marker), "{expected:?}");

    let out = tmp.path().join("mnt").join("out");
    let _guard = Unswappable::new(&out);
    let out_s = out.display().to_string();
    let o = isthmus(&[args, &["--output", &out_s]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(entries(&out), expected);

    // A second render replaces the contents, stale entries included.
    std::fs::write(out.join("stale.yaml"), "x").unwrap();
    let o = isthmus(&[args, &["--output", &out_s]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(entries(&out), expected);
    for name in &expected {
        let (a, b) = (fresh.join(name), out.join(name));
        if a.is_dir() {
            assert_eq!(entries(&a), entries(&b), "{name}");
        }
    }
}

#[test]
fn render_writes_into_a_folder_that_cannot_be_swapped() {
    let case = testdata("cli").join("render").join("basic");
    let cs = case.join("clusterset.yaml").display().to_string();
    let input = case.join("input").display().to_string();
    renders_into_unswappable(
        &["render", "--clusterset", &cs, "--input", &input, "--istio"],
        ".mesh-controller-render",
    );
}

#[test]
fn gateway_render_writes_into_a_folder_that_cannot_be_swapped() {
    renders_into_unswappable(
        &["gateway", "render", "--example"],
        ".gateway-config-render",
    );
}
