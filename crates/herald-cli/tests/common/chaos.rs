//! `herald chaos` run as users run it, and the guarantees every report must show.

use std::process::Command;

use serde_json::Value;

/// Events per scenario, and faults: short forms for the default test command.
pub(crate) const EVENTS: u64 = 4_000;
pub(crate) const KILLS: u64 = 3;

/// Runs `herald chaos` and returns its one scenario's report.
pub(crate) fn chaos(scenario: &str, database: &str, extra: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["chaos", "--database", database, "--scenario", scenario, "--json"])
        .args(["--events", &EVENTS.to_string(), "--kills", &KILLS.to_string()])
        .args(["--settle-timeout-secs", "120"])
        .args(extra)
        .env_remove("HERALD_BROKER_URL")
        .output()
        .expect("run herald chaos");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "herald chaos failed: {stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 1, "{report}");
    scenarios[0].clone()
}

/// Every guarantee held in a scenario's report: all committed events delivered, none
/// lost, applied twice or out of order, memory bounded, recovery prompt.
pub(crate) fn assert_held(scenario: &str, report: &Value) {
    assert_eq!(report["scenario"], scenario, "{report}");
    // Memory bounded whatever the fault (debug builds; a release relay takes far less).
    let relay_rss = report["relay_peak_rss_mib"].as_u64().expect("relay_peak_rss_mib");
    assert!((1..256).contains(&relay_rss), "the relay's peak memory: {report}");
    let consumer_processes = report["consumer_processes"].as_u64().expect("consumer_processes");
    let consumer_process = consumer_processes > 0;
    if ["consumer-kill", "slow-consumer"].contains(&scenario) {
        assert!(consumer_process, "{scenario} runs the consumer as a process: {report}");
    }
    assert!(report["relays"].as_u64().is_some_and(|relays| relays >= 1), "{report}");
    assert!(report["max_latency_ms"].as_i64().is_some_and(|ms| ms > 0), "{report}");
    assert!(report["producer_retries"].is_u64(), "{report}");
    match report["consumer_peak_rss_mib"].as_u64() {
        Some(mib) => assert!(consumer_process && (1..256).contains(&mib), "{report}"),
        None => assert!(!consumer_process && report["consumer_peak_rss_mib"].is_null(), "{report}"),
    }
    assert_eq!(report["faults"], KILLS, "{report}");
    assert_eq!(report["committed"], EVENTS, "{report}");
    assert_eq!(report["delivered"], EVENTS, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicates_applied"], 0, "{report}");
    assert_eq!(report["order_violations"], 0, "{report}");
    // A killed consumer process takes its count of absorbed redeliveries with it.
    match consumer_process {
        true => assert!(report["duplicates_delivered"].is_null(), "{report}"),
        false => assert!(report["duplicates_delivered"].is_u64(), "{report}"),
    }
    // The bar is 5 s on a quiet machine (RELIABILITY.md); a killed relay's leases expire
    // after 3 s, and the test suite runs beside other tests on two cores: 10 s here.
    let recovery = report["recovery_ms"].as_u64().expect("recovery_ms");
    assert!(recovery < 10_000, "an event committed after the fault took {recovery} ms");
}

/// A small tmpfs mounted on a temporary directory, unmounted when dropped: a filesystem
/// that `disk-full` may fill. `None`, with a note, on a machine where this user cannot
/// mount one; under `CI=true` that fails the test instead.
pub(crate) struct SmallFilesystem {
    directory: tempfile::TempDir,
}

impl SmallFilesystem {
    pub(crate) fn mount(mebibytes: u32) -> Option<SmallFilesystem> {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let size = format!("size={mebibytes}m");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
            .arg(directory.path())
            .output()
            .expect("run mount");
        if mounted.status.success() {
            return Some(SmallFilesystem { directory });
        }
        let why = String::from_utf8_lossy(&mounted.stderr);
        assert!(
            std::env::var("CI").is_err(),
            "disk-full needs a tmpfs, and mounting one failed: {why}"
        );
        eprintln!("skipped: mounting a tmpfs failed ({why}); CI=true makes this a failure");
        None
    }

    /// A database URL for a file on this filesystem.
    pub(crate) fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite://{}", self.directory.path().join(name).display())
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("--lazy").arg(self.directory.path()).status();
    }
}
