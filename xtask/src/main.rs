//! Project chores, in Rust so they run wherever cargo does (`cargo xtask <task>`).
//!
//! - `services`: make sure PostgreSQL, RabbitMQ and NATS answer on loopback, starting
//!   any that is installed but stopped.
//! - `test`: `services`, then the whole test suite (`cargo test --workspace`).
//! - `lint`: `cargo fmt --check` and `cargo clippy --workspace --all-targets -D warnings`.
//! - `ci`: `lint`, then `test` — what `.ci/run` does.
//! - `bench`: the release-build benchmark runs recorded in BENCHMARKS.md.
//! - `fuzz [--seconds N]`: every `cargo fuzz` target of `fuzz/` for N seconds (60 by
//!   default), one after the other; fails if any finds a crash.
//! - `chaos`: the long forms of `herald chaos` (RELIABILITY.md) against this machine's
//!   servers; fails if any report shows an event lost, applied twice or out of order.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A server the test suite talks to.
struct Service {
    name: &'static str,
    port: u16,
    start: &'static str,
}

const SERVICES: [Service; 3] = [
    Service {
        name: "PostgreSQL",
        port: 5432,
        start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    },
    Service { name: "RabbitMQ", port: 5672, start: "rabbitmq-server -detached" },
    Service {
        name: "NATS",
        port: 4222,
        start: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
                -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
    },
];

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "services" => services(),
        "test" => {
            services()?;
            test()
        }
        "lint" => lint(),
        "ci" => {
            lint()?;
            services()?;
            test()
        }
        "bench" => bench(),
        "fuzz" => fuzz(&std::env::args().skip(2).collect::<Vec<_>>()),
        "chaos" => {
            services()?;
            chaos()
        }
        _ => {
            eprintln!("usage: cargo xtask <services|test|lint|ci|bench|fuzz [--seconds N]|chaos>");
            bail!("unknown task `{task}`")
        }
    }
}

fn answers(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

fn services() -> anyhow::Result<()> {
    for service in &SERVICES {
        if answers(service.port) {
            eprintln!("{} answers on 127.0.0.1:{}.", service.name, service.port);
            continue;
        }
        eprintln!(
            "{} is not answering on port {}; starting it: {}",
            service.name, service.port, service.start
        );
        let status = Command::new("sh").arg("-c").arg(service.start).status();
        if let Err(error) = status {
            bail!("cannot start {}: {error}", service.name);
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while !answers(service.port) {
            if Instant::now() > deadline {
                bail!(
                    "{} did not come up on 127.0.0.1:{} within 90 s (tried `{}`)",
                    service.name,
                    service.port,
                    service.start
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        eprintln!("{} is up.", service.name);
    }
    Ok(())
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).args(args).status().context("running cargo")?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn test() -> anyhow::Result<()> {
    test_tools()?;
    cargo(&["test", "--workspace", "--locked"])
}

/// The test-only tools that come from a package registry: `aiosmtpd` (PyPI), the local
/// SMTP server of the email tests, and Debian's `chromium` and `chromium-driver`, the
/// browser of the dashboard test.
fn test_tools() -> anyhow::Result<()> {
    browser()?;
    let present = Command::new("python3").args(["-c", "import aiosmtpd"]).status();
    if present.is_ok_and(|status| status.success()) {
        return Ok(());
    }
    eprintln!("Installing aiosmtpd (the email tests' SMTP server) from PyPI.");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "aiosmtpd"])
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("`python3 -m pip install aiosmtpd` failed ({status}); the email tests need it");
    }
    Ok(())
}

/// Installs Debian's Chromium and ChromeDriver when either is missing (the dashboard
/// test also takes them from `HERALD_CHROMIUM` and `HERALD_CHROMEDRIVER`).
fn browser() -> anyhow::Result<()> {
    let missing = [
        ("HERALD_CHROMIUM", "/usr/bin/chromium"),
        ("HERALD_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ]
    .iter()
    .any(|(variable, default)| {
        let path = std::env::var_os(variable).unwrap_or_else(|| (*default).into());
        !std::path::Path::new(&path).exists()
    });
    if !missing {
        return Ok(());
    }
    let root =
        Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !root {
        bail!(
            "the dashboard test needs Chromium and ChromeDriver: run `sudo apt-get install \
             chromium chromium-driver`, or set HERALD_CHROMIUM and HERALD_CHROMEDRIVER"
        );
    }
    eprintln!("Installing chromium and chromium-driver (the dashboard test's browser) with apt.");
    let install = "export DEBIAN_FRONTEND=noninteractive; \
                   apt-get install -y -q chromium chromium-driver \
                   || (apt-get update -q && apt-get install -y -q chromium chromium-driver)";
    let status = Command::new("sh").arg("-c").arg(install).status().context("running apt-get")?;
    if !status.success() {
        bail!(
            "installing chromium and chromium-driver failed ({status}); the dashboard test \
             needs them: `apt-get install chromium chromium-driver`"
        );
    }
    Ok(())
}

fn lint() -> anyhow::Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])
}

/// The local RabbitMQ and NATS of every machine of the project.
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const NATS: &str = "nats://127.0.0.1:4222";

/// The benchmark runs of BENCHMARKS.md: each pipeline run next to a baseline run (the
/// producers alone on the same kind of database), so that figures can be quoted as ratios
/// measured side by side on this shared, noisy machine.
fn bench() -> anyhow::Result<()> {
    cargo(&["build", "--release", "--locked", "-p", "herald-cli"])?;
    let postgres = std::env::var("HERALD_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/herald_bench".to_owned());
    // Ignore the outcome: the database usually exists already.
    let _ = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-qc", "CREATE DATABASE herald_bench"])
        .stderr(std::process::Stdio::null())
        .status();
    // `--compare` runs Herald, then every yardstick that applies (the producers alone; the
    // broker alone; the naive relay), with the same options, and prints the ratios.
    let pg = ["--database", postgres.as_str()];
    let runs: Vec<Vec<&str>> = vec![
        // Embedded SQLite: producers on the writer thread (rusqlite, the default), then
        // through sqlx, at saturation and at the rate of issue 14's latency bar.
        vec!["--compare", "--events", "150000"],
        vec!["--events", "50000", "--rate", "5000"],
        vec!["--compare", "--events", "30000", "--producer-api", "sqlx"],
        vec!["--events", "50000", "--rate", "1000"],
        [&["--compare", "--events", "30000"][..], &pg[..]].concat(),
        // PostgreSQL → relay → RabbitMQ or NATS → consumer, at saturation and at the
        // rates of issue 14's latency bars.
        [&["--compare", "--events", "30000", "--broker", AMQP][..], &pg[..]].concat(),
        [&["--events", "30000", "--rate", "3000", "--broker", AMQP][..], &pg[..]].concat(),
        [&["--compare", "--events", "30000", "--broker", NATS][..], &pg[..]].concat(),
        [&["--events", "30000", "--rate", "3000", "--broker", NATS][..], &pg[..]].concat(),
        // Four events per business transaction.
        [
            &["--compare", "--events", "60000", "--events-per-tx", "4", "--broker", AMQP][..],
            &pg[..],
        ]
        .concat(),
        [
            &["--events", "60000", "--events-per-tx", "4", "--rate", "8000", "--broker", AMQP][..],
            &pg[..],
        ]
        .concat(),
        // The relay alone draining a filled outbox, against the broker alone; then behind
        // 10 million sent rows, against the empty history (issue 14, item 5).
        [&["--drain", "--compare", "--events", "100000", "--broker", AMQP][..], &pg[..]].concat(),
        [&["--drain", "--events", "100000", "--broker", AMQP][..], &pg[..]].concat(),
        [
            &["--drain", "--events", "100000", "--history", "10000000", "--broker", AMQP][..],
            &pg[..],
        ]
        .concat(),
        vec!["--drain", "--events", "200000"],
        vec!["--drain", "--events", "200000", "--history", "10000000"],
    ];
    // Produce-time validation, and the notification service's bar (issue 5).
    cargo(&["run", "--release", "--locked", "-p", "herald-schema", "--example", "validate_rate"])?;
    test_tools()?;
    for channel in ["webhook", "email"] {
        let example = ["--example", "notify_rate", "--", channel, "10000"];
        cargo(
            &[&["run", "--release", "--locked", "-p", "herald-notify"][..], &example[..]].concat(),
        )?;
    }
    for args in runs {
        eprintln!("$ target/release/herald bench {}", args.join(" "));
        let status = Command::new("target/release/herald")
            .arg("bench")
            .args(&args)
            .status()
            .context("running herald bench")?;
        if !status.success() {
            bail!("herald bench failed ({status})");
        }
    }
    Ok(())
}

/// The fuzz targets of `fuzz/`, each with its corpus in `fuzz/corpus/<target>/`.
const FUZZ_TARGETS: [&str; 7] = [
    "envelope_json",
    "amqp_message",
    "http_ingest",
    "cesql",
    "schema_compat",
    "registry_schema",
    "config_file",
];

/// Runs every fuzz target for `--seconds` (default 60) on the stable toolchain
/// (`RUSTC_BOOTSTRAP=1`, as libFuzzer's flags are nightly-only), installing cargo-fuzz if
/// missing. Without a sanitizer: the workspace forbids `unsafe`, and what is looked for
/// is panics, stack overflows and slow inputs (`-timeout`). The committed corpus seeds
/// each run; new inputs go to `fuzz/target/new-corpus/<target>/` (to merge them, see
/// `cargo fuzz cmin` in README.md). Crashes are saved in `fuzz/artifacts/<target>/`.
fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let seconds = match args {
        [] => 60,
        [flag, value] if flag == "--seconds" => {
            value.parse::<u64>().with_context(|| format!("--seconds `{value}`: not a number"))?
        }
        _ => bail!("usage: cargo xtask fuzz [--seconds N]"),
    };
    let present = Command::new(env!("CARGO")).args(["fuzz", "--version"]).output();
    if !present.is_ok_and(|output| output.status.success()) {
        cargo(&["install", "cargo-fuzz", "--locked"])?;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let fuzz = |args: &[&str]| -> anyhow::Result<bool> {
        eprintln!("$ (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz {})", args.join(" "));
        let status = Command::new(env!("CARGO"))
            .arg("fuzz")
            .args(args)
            .current_dir(&dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .status()
            .context("running cargo fuzz")?;
        Ok(status.success())
    };
    if !fuzz(&["build", "--sanitizer", "none"])? {
        bail!("the fuzz targets do not build");
    }
    let max_time = format!("-max_total_time={seconds}");
    let mut crashed = Vec::new();
    for target in FUZZ_TARGETS {
        let new_corpus = format!("target/new-corpus/{target}");
        std::fs::create_dir_all(dir.join(&new_corpus))
            .with_context(|| format!("creating fuzz/{new_corpus}"))?;
        let corpus = format!("corpus/{target}");
        let args = ["run", "--sanitizer", "none", target, &new_corpus, &corpus, "--"];
        if !fuzz(&[&args[..], &[&max_time, "-timeout=10"]].concat())? {
            crashed.push(target);
        }
    }
    if !crashed.is_empty() {
        bail!("fuzz targets found crashes (inputs in fuzz/artifacts/): {}", crashed.join(", "));
    }
    Ok(())
}

/// The long forms of `herald chaos`: every scenario at the tool's defaults (20,000
/// events, 5 faults), the slow consumer for a minute, stalls past the publish timeout,
/// and two relays with two consumers, on SQLite (on a tmpfs, for `disk-full`),
/// PostgreSQL, and PostgreSQL with RabbitMQ and with NATS; restarts use this machine's
/// commands (the `SERVICES` ones). Runs as root, to mount the tmpfs and restart servers.
/// About 40 minutes on two cores.
fn chaos() -> anyhow::Result<()> {
    cargo(&["build", "-p", "herald-cli"])?;
    let herald = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/herald");
    let sh = |command: &str| Command::new("sh").args(["-c", command]).status();
    let tmpfs = std::env::temp_dir().join("herald-xtask-chaos");
    std::fs::create_dir_all(&tmpfs).context("creating the tmpfs mount point")?;
    let mount = format!("mount -t tmpfs -o size=256m tmpfs {}", tmpfs.display());
    if !sh(&mount).is_ok_and(|status| status.success()) {
        bail!("`{mount}` failed: disk-full needs a small filesystem (run as root)");
    }
    let result = chaos_runs(&herald, &tmpfs);
    let _ = sh(&format!("umount --lazy {}", tmpfs.display()));
    result
}

/// Each `herald chaos` invocation of `cargo xtask chaos`, one after the other.
fn chaos_runs(herald: &std::path::Path, tmpfs: &std::path::Path) -> anyhow::Result<()> {
    let database = "herald_xtask_chaos";
    let psql = format!(
        "psql -h 127.0.0.1 -U postgres -q -c 'DROP DATABASE IF EXISTS {database}' \
         -c 'CREATE DATABASE {database}'"
    );
    let created = Command::new("sh").args(["-c", &psql]).status().context("running psql")?;
    if !created.success() {
        bail!("`{psql}` failed");
    }
    let sqlite = format!("sqlite://{}/chaos.db", tmpfs.display());
    let postgres = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let amqp = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let nats = "nats://127.0.0.1:4222";
    let pg_stop = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main stop -m fast";
    let pg_restart = ["--database-stop-cmd", pg_stop, "--database-start-cmd", SERVICES[0].start];
    let rabbitmq_restart = [
        "--broker-stop-cmd",
        "rabbitmqctl stop_app",
        "--broker-start-cmd",
        "rabbitmqctl start_app && rabbitmqctl await_startup",
    ];
    let nats_stop =
        "pkill -TERM -x nats-server; while pgrep -x nats-server > /dev/null; do sleep 0.05; done";
    let nats_start = format!(
        "{} && for i in $(seq 200); do bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222' 2>/dev/null \
         && exit 0; sleep 0.05; done; exit 1",
        SERVICES[2].start
    );
    let nats_restart = ["--broker-stop-cmd", nats_stop, "--broker-start-cmd", &nats_start];
    let through = |broker: &'static str| ["--broker", broker, "--namespace", "xtask"];
    let scenarios = |names: &[&'static str]| {
        names.iter().flat_map(|name| ["--scenario", *name]).collect::<Vec<_>>()
    };
    let minute = ["--scenario", "slow-consumer", "--outage-secs", "60"];
    let stall = ["--scenario", "network-stall", "--outage-secs", "11"];
    let two_of_each = ["--relays", "2", "--consumers", "2", "--rate", "500"];
    let runs: Vec<Vec<&str>> = vec![
        [&["--database", &sqlite][..], &scenarios(&["relay-kill", "consumer-kill", "disk-full"])]
            .concat(),
        [&["--database", &sqlite][..], &minute].concat(),
        [&["--database", &postgres][..], &scenarios(&["relay-kill", "consumer-kill"]), &pg_restart]
            .concat(),
        [&["--database", &postgres][..], &minute].concat(),
        [
            &["--database", &postgres][..],
            &through(amqp),
            &scenarios(&[
                "relay-kill",
                "consumer-kill",
                "network-cut",
                "broker-restart",
                "database-restart",
            ]),
            &rabbitmq_restart,
            &pg_restart,
        ]
        .concat(),
        [&["--database", &postgres][..], &through(amqp), &stall].concat(),
        [
            &["--database", &postgres][..],
            &through(amqp),
            &scenarios(&["relay-kill", "consumer-kill"]),
            &two_of_each,
        ]
        .concat(),
        [
            &["--database", &postgres][..],
            &through(nats),
            &scenarios(&["relay-kill", "network-cut", "broker-restart"]),
            &nats_restart,
        ]
        .concat(),
        [&["--database", &postgres][..], &through(nats), &stall].concat(),
    ];
    let mut broken = Vec::new();
    for args in &runs {
        eprintln!("$ herald chaos {}", args.join(" "));
        let status = Command::new(herald)
            .arg("chaos")
            .args(args)
            .status()
            .context("running herald chaos")?;
        if !status.success() {
            broken.push(args.join(" "));
        }
    }
    if !broken.is_empty() {
        bail!("herald chaos reported a broken guarantee (or failed) in:\n{}", broken.join("\n"));
    }
    Ok(())
}
