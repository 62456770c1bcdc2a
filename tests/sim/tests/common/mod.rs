//! What the kubectl suites share: a kubectl runner against a TLS + token simulated cluster,
//! reading kubectl's printed tables, and the ages the API server prints.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use kube_sim::{SimCluster, SimOptions, mcs_crds};

pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub home: PathBuf,
}

impl Kubectl {
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .args(args)
            .env("HOME", &self.home)
            .env("KUBECACHEDIR", self.home.join("cache"))
            .env_remove("KUBECONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.unwrap();
        }
        drop(input);
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("kubectl did not finish within 60s")
                .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.run(args, stdin).await;
        assert!(ok, "kubectl {args:?} failed:\nstdout: {out}\nstderr: {err}");
        out
    }
}

pub async fn setup(dir: &Path) -> (SimCluster, Kubectl) {
    let bin = isthmus_testing::require("kubectl");
    let sim = SimCluster::start(SimOptions {
        name: "kubectl-test".into(),
        tls: true,
        token: Some("kubectl-token".into()),
        crds: mcs_crds(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let kubeconfig = dir.join("kubeconfig.yaml");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let k = Kubectl {
        bin,
        kubeconfig,
        home,
    };
    // The Google Cloud SDK ships kubectl as a dispatcher that may need components that are absent.
    let (ok, _, err) = k.run(&["version", "--client"], None).await;
    assert!(ok, "the kubectl on PATH does not run: {err}");
    (sim, k)
}

impl Kubectl {
    /// Starts kubectl with these arguments, its stdout read line by line (for `get -w`).
    pub fn spawn(&self, args: &[&str]) -> Streaming {
        let mut child = tokio::process::Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .args(args)
            .env("HOME", &self.home)
            .env("KUBECACHEDIR", self.home.join("cache"))
            .env_remove("KUBECONFIG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        Streaming {
            _child: child,
            lines: tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout)),
        }
    }
}

/// A running kubectl whose output is read line by line; killed when dropped.
pub struct Streaming {
    _child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Streaming {
    /// The next line kubectl prints.
    pub async fn line(&mut self) -> String {
        tokio::time::timeout(std::time::Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("kubectl printed nothing within 60s")
            .unwrap()
            .expect("kubectl ended")
    }
}

/// A table kubectl printed: the header names and each row's cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Where each column starts in a header line: at 0 and after every run of two or more spaces
/// (kubectl pads columns with at least three; header names have single spaces).
fn column_starts(header: &str) -> Vec<usize> {
    let chars: Vec<char> = header.chars().collect();
    let mut starts = vec![0];
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' {
            let run = chars[i..].iter().take_while(|c| **c == ' ').count();
            if run >= 2 && i + run < chars.len() {
                starts.push(i + run);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    starts
}

/// Splits a line at the column starts of its header (cells may be empty).
fn cut(line: &str, starts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &from)| {
            let to = starts.get(i + 1).copied().unwrap_or(chars.len());
            let from = from.min(chars.len());
            let to = to.min(chars.len()).max(from);
            chars[from..to]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect()
}

/// Reads kubectl's table output (header line first).
pub fn parse_table(out: &str) -> Printed {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or_default();
    let starts = column_starts(header);
    Printed {
        headers: cut(header, &starts),
        rows: lines.map(|l| cut(l, &starts)).collect(),
    }
}

/// The cells of a row printed on its own (a watch event), split at runs of two or more
/// spaces; every cell must be non-empty and free of double spaces.
pub fn split_row(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A duration as the API server prints ages: `HumanDuration` in
/// `k8s.io/apimachinery/pkg/util/duration/duration.go` (the test's own reading of it).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// A window of wall-clock time around a kubectl run, to know which ages it may print.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub before: jiff::Timestamp,
    pub after: jiff::Timestamp,
}

impl Window {
    pub fn open() -> jiff::Timestamp {
        jiff::Timestamp::now()
    }

    pub fn close(before: jiff::Timestamp) -> Self {
        Self {
            before,
            after: jiff::Timestamp::now(),
        }
    }

    /// Every age the server may have printed for this timestamp during the window
    /// (`translateTimestampSince` at any second of it).
    pub fn ages(&self, timestamp: &str) -> Vec<String> {
        let t: jiff::Timestamp = timestamp.parse().unwrap();
        let from = self.before.duration_since(t).as_secs() - 1;
        let to = self.after.duration_since(t).as_secs() + 1;
        let mut out: Vec<String> = (from..=to).map(human_duration).collect();
        out.dedup();
        out
    }

    /// Checks an age cell against [`Window::ages`].
    pub fn assert_age(&self, cell: &str, timestamp: &str, what: &str) {
        let ages = self.ages(timestamp);
        assert!(
            ages.iter().any(|a| a == cell),
            "{what}: age {cell:?} is none of {ages:?}"
        );
    }
}

/// A timestamp `seconds` before now, as the API server writes `metav1.Time`.
pub fn ago(seconds: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn printed_tables_split_at_header_columns() {
    let out = format!(
        "{:<12}{:<7}{:<15}{:<17}{}\n{:<12}{:<7}{:<15}{:<17}{}\n{:<12}{:<7}{:<15}{:<17}{}\n",
        "NAMESPACE",
        "NAME",
        "TYPE",
        "IP",
        "AGE",
        "shop",
        "cart",
        "ClusterSetIP",
        "[\"10.0.0.1\"]",
        "5s",
        "shop",
        "db",
        "Headless",
        "",
        "7s",
    );
    let p = parse_table(&out);
    assert_eq!(p.headers, ["NAMESPACE", "NAME", "TYPE", "IP", "AGE"]);
    assert_eq!(
        p.rows,
        [
            ["shop", "cart", "ClusterSetIP", "[\"10.0.0.1\"]", "5s"],
            ["shop", "db", "Headless", "", "7s"]
        ]
    );
    assert_eq!(column_starts("LAST SEEN   TYPE   OBJECT"), [0, 12, 19]);
    assert_eq!(human_duration(330), "5m30s");
    assert_eq!(human_duration(3600), "60m");
    assert_eq!(
        split_row("5s   Normal   x y   z"),
        ["5s", "Normal", "x y", "z"]
    );
}
