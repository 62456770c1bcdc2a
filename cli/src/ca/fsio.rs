//! File-system edge of the `ca` commands: reading PEM and bundles, and writing key material
//! with the right modes, all-or-nothing per directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::CliError;
use gateway_config::ca::{CaCerts, RootCa, RootCert};

/// Mode of files holding private keys.
pub(super) const KEY_MODE: u32 = 0o600;
/// Mode of files holding only certificates.
pub(super) const CERT_MODE: u32 = 0o644;
/// Mode of directories this tool creates (they hold keys).
const DIR_MODE: u32 = 0o700;

/// Name of the Secret manifest file in an output or bundle directory.
pub(super) const SECRET_FILE: &str = "cacerts.yaml";
/// Root certificate file name.
pub(super) const ROOT_CERT_FILE: &str = "root-cert.pem";
/// Root key file name.
pub(super) const ROOT_KEY_FILE: &str = "root-key.pem";

/// One file to write.
pub(super) struct OutFile {
    pub name: &'static str,
    pub content: String,
    pub mode: u32,
}

/// Reads a UTF-8 text file; errors name the path.
pub(super) fn read_text(path: &Path) -> Result<String, CliError> {
    fs::read_to_string(path).map_err(|e| CliError::Read {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// Reads a text file that may be absent.
fn read_optional(path: &Path) -> Result<Option<String>, CliError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Read {
            path: path.to_path_buf(),
            problem: e.to_string(),
        }),
    }
}

/// Loads DIR/root-cert.pem and DIR/root-key.pem.
pub(super) fn read_root(dir: &Path, now: Timestamp) -> Result<RootCa, CliError> {
    let cert_path = dir.join(ROOT_CERT_FILE);
    let key_path = dir.join(ROOT_KEY_FILE);
    let cert = read_text(&cert_path)?;
    let key = read_text(&key_path)?;
    Ok(RootCa::from_pem(
        &cert,
        &key,
        &display(&cert_path),
        &display(&key_path),
        now,
    )?)
}

/// Loads DIR/root-cert.pem alone.
pub(super) fn read_root_cert(dir: &Path) -> Result<RootCert, CliError> {
    let cert_path = dir.join(ROOT_CERT_FILE);
    Ok(RootCert::from_pem(
        &read_text(&cert_path)?,
        &display(&cert_path),
    )?)
}

/// How a bundle directory holds its bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// The four PEM files.
    Files,
    /// cacerts.yaml only.
    Secret,
    /// Both.
    Both,
}

/// Reads the bundle in `dir`: the four files when `ca-cert.pem` is there (missing ones become
/// empty parts), else `cacerts.yaml`. `None` when the directory holds neither.
pub(super) fn read_bundle(dir: &Path) -> Result<Option<(CaCerts, Layout)>, CliError> {
    let secret_path = dir.join(SECRET_FILE);
    let has_secret = secret_path.is_file();
    let mut parts = Vec::new();
    for name in CaCerts::FILE_NAMES {
        parts.push((name, read_optional(&dir.join(name))?));
    }
    let any_file = parts.iter().any(|(_, c)| c.is_some());
    if any_file {
        let bundle = CaCerts::from_lookup(|name| {
            parts
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, c)| c.clone())
        });
        let layout = if has_secret {
            Layout::Both
        } else {
            Layout::Files
        };
        return Ok(Some((bundle, layout)));
    }
    if has_secret {
        let text = read_text(&secret_path)?;
        let bundle = CaCerts::from_secret_yaml(&text, &display(&secret_path))?;
        return Ok(Some((bundle, Layout::Secret)));
    }
    Ok(None)
}

/// The files a bundle becomes in `layout`.
pub(super) fn bundle_files(bundle: &CaCerts, layout: Layout) -> Result<Vec<OutFile>, CliError> {
    let mut out = Vec::new();
    if matches!(layout, Layout::Files | Layout::Both) {
        for (name, content) in bundle.files() {
            let mode = if name == CaCerts::FILE_NAMES[1] {
                KEY_MODE
            } else {
                CERT_MODE
            };
            out.push(OutFile {
                name,
                content: content.to_string(),
                mode,
            });
        }
    }
    if matches!(layout, Layout::Secret | Layout::Both) {
        out.push(OutFile {
            name: SECRET_FILE,
            content: bundle.to_secret_yaml()?,
            mode: KEY_MODE,
        });
    }
    Ok(out)
}

/// Errors when any of `names` already exists in `dir` (unless `force`).
pub(super) fn check_overwrite(dir: &Path, names: &[&str], force: bool) -> Result<(), CliError> {
    if force {
        return Ok(());
    }
    for name in names {
        let path = dir.join(name);
        if path.exists() {
            return Err(CliError::Input(format!(
                "{}: already exists; refusing to overwrite existing key material (pass --force)",
                display(&path)
            )));
        }
    }
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::Input(format!(
            "{}: exists and is not a directory",
            display(dir)
        )));
    }
    Ok(())
}

/// Writes `files` into `dir` (created with mode 0700 when missing): each file is first written
/// to a temporary name in `dir`, created with its final mode (so a key is never readable by
/// others, even briefly), synced, and only when every file is written are they renamed into
/// place. On error the temporary files are removed.
pub(super) fn write_files(dir: &Path, files: &[OutFile]) -> Result<Vec<PathBuf>, CliError> {
    let write_err = |path: &Path, e: std::io::Error| CliError::Write {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| write_err(dir, e))?;
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        for f in files {
            let tmp = dir.join(format!(".{}.tmp-{}-{stamp}", f.name, std::process::id()));
            let mut handle = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(f.mode)
                .open(&tmp)
                .map_err(|e| write_err(&tmp, e))?;
            temps.push((tmp.clone(), dir.join(f.name)));
            handle
                .write_all(f.content.as_bytes())
                .map_err(|e| write_err(&tmp, e))?;
            handle.sync_all().map_err(|e| write_err(&tmp, e))?;
        }
        for (tmp, target) in &temps {
            fs::rename(tmp, target).map_err(|e| write_err(target, e))?;
        }
        Ok(temps.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
    })();
    if result.is_err() {
        for (tmp, _) in &temps {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

/// A path for messages.
pub(super) fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_get_their_modes_and_no_temp_is_left() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new");
        let files = vec![
            OutFile {
                name: "k.pem",
                content: "secret".into(),
                mode: KEY_MODE,
            },
            OutFile {
                name: "c.pem",
                content: "cert".into(),
                mode: CERT_MODE,
            },
        ];
        write_files(&dir, &files).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("k.pem")), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(fs::read_to_string(dir.join("c.pem")).unwrap(), "cert");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn overwrite_is_refused_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("k.pem"), "x").unwrap();
        assert!(check_overwrite(tmp.path(), &["k.pem"], false).is_err());
        assert!(check_overwrite(tmp.path(), &["k.pem"], true).is_ok());
        assert!(check_overwrite(tmp.path(), &["other.pem"], false).is_ok());
    }

    #[test]
    fn bundle_dir_reading_prefers_files_and_reports_absence() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(read_bundle(tmp.path()).unwrap().is_none());
        fs::write(tmp.path().join("ca-cert.pem"), "C").unwrap();
        let (b, layout) = read_bundle(tmp.path()).unwrap().unwrap();
        assert_eq!(layout, Layout::Files);
        assert_eq!(b.ca_cert, "C");
        assert!(b.ca_key.is_empty());
    }
}
