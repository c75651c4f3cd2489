//! The web dashboard in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (ChromeDriver and `fantoccini`), against `herald up` on PostgreSQL, which relays to a
//! consuming service of the test's own that dead-letters one event.
//!
//! - The overview loads with live figures: the relay running, the DLQ depth, and the
//!   published total moving while events flow, without a reload.
//! - The DLQ page, which shows payloads, is refused without a token (the page says which
//!   field to fill); with a read-only token it lists the dead-lettered event; its replay
//!   button asks for confirmation, is refused with the read-only token (the message says
//!   so), and with the full token gets the event replayed and processed.
//! - The event's journey page shows its states, in order.
//!
//! Screenshots of each step are kept in `target/tmp/dashboard/`. The test needs
//! `chromium` and `chromium-driver` (`cargo xtask test` installs them); without them it
//! fails, saying how to install them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fantoccini::{Client, ClientBuilder, Locator};
use herald_consumer::{Consumer, ConsumerConfig, Handler, HandlerContext, HandlerError, Router};
use herald_db::Database;
use herald_envelope::{Envelope, Event, EventKind};
use herald_outbox::{Outbox, OutboxConfig};
use herald_testkit::{TestDb, wait_until};

use herald_log::{SqlLog, SqlLogConfig};
use serde_json::{Value, json};
use tokio::sync::watch;

const TOKEN: &str = "dashboard-test-token-0123456789ab";
const READ_TOKEN: &str = "dashboard-read-token-0123456789ab";
const SERVICE: &str = "billing";
/// The invoice the service cannot bill until it is fixed.
const BROKEN_INVOICE: u32 = 7;
const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Invoiced {
    number: u32,
}

impl Event for Invoiced {
    const TYPE: &'static str = "test.invoiced";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;
    fn partition_key(&self) -> String {
        format!("customer-{}", self.number % 5)
    }
}

/// Bills invoices; rejects the broken one (straight to the DLQ) until `fixed`.
struct Billing {
    fixed: Arc<AtomicBool>,
}

#[async_trait]
impl Handler<Invoiced, sqlx::Postgres> for Billing {
    async fn handle(
        &self,
        event: Invoiced,
        _ctx: HandlerContext<'_, sqlx::Postgres>,
    ) -> Result<(), HandlerError> {
        if event.number == BROKEN_INVOICE && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandlerError::dead_letter("invoice 7 names no customer"));
        }
        Ok(())
    }
}

/// The consuming service, on the embedded log in the database `herald up` relays.
fn start_billing(
    db: &Database,
    fixed: Arc<AtomicBool>,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let Database::Postgres(pool) = db.clone() else { panic!("a PostgreSQL database") };
    let log = SqlLog::new(
        db.clone(),
        SqlLogConfig { poll_interval: Duration::from_millis(20), ..SqlLogConfig::default() },
    );
    let consumer = Consumer::new(
        ConsumerConfig::new(SERVICE),
        pool,
        Router::new().on::<Invoiced, _>(Billing { fixed }),
    );
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let until = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        consumer.run(&log, until).await.expect("billing consumer");
    });
    (stop, task)
}

/// Commits invoices `numbers` to the outbox; returns their event ids.
async fn invoice(db: &Database, numbers: std::ops::Range<u32>) -> Vec<uuid::Uuid> {
    let Database::Postgres(pool) = db else { panic!("a PostgreSQL database") };
    let outbox = Outbox::new(OutboxConfig::default()).expect("outbox");
    let mut tx = pool.begin().await.expect("begin");
    let mut ids = Vec::new();
    for number in numbers {
        let envelope = Envelope::from_event("/billing", &Invoiced { number }).expect("envelope");
        outbox.enqueue(&mut tx, &envelope).await.expect("enqueue");
        ids.push(*envelope.id.as_uuid());
    }
    tx.commit().await.expect("commit");
    ids
}

/// GETs `url` with the full token (the dead letters show payloads: reading needs one).
async fn get_json(url: &str) -> Value {
    let request = reqwest::Client::new().get(url).bearer_auth(TOKEN);
    let response = request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = response.text().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// ChromeDriver (its own process group, killed with its browser) and a session whose
/// browser profile lives in a directory removed afterwards.
struct Browser {
    driver: Child,
    client: Client,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

fn installed(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} is required for the dashboard test: `cargo xtask test` installs it, or \
         `apt-get install chromium chromium-driver` (or set {variable})",
        path.display()
    );
    path
}

impl Browser {
    async fn open() -> Browser {
        let chromedriver = installed("HERALD_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = installed("HERALD_CHROMIUM", "/usr/bin/chromium");
        let port = free_port();
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()))
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let status = format!("{webdriver}/status");
        wait_until(WAIT, "ChromeDriver is ready", || async {
            match reqwest::get(&status).await {
                Ok(response) => response
                    .text()
                    .await
                    .ok()
                    .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                    .is_some_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.path().display())],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        let client = builder
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| panic!("open a Chromium session through ChromeDriver: {e}"));
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        Browser { driver, client, shots, _profile: profile }
    }

    /// Waits for the element `css` selects.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("the page shows `{css}`: {e}"))
    }

    /// The text of the element `css` selects, read in one script: the dashboard redraws
    /// what it polls, so a found element may be replaced before it is read.
    async fn text(&self, css: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); \
                      return e ? e.textContent.trim() : null;";
        let value = self.client.execute(script, vec![json!(css)]).await.expect("run a script");
        value.as_str().map(str::to_owned)
    }

    /// Waits until the text of `css` satisfies `good`; returns it.
    async fn text_until(&self, css: &str, what: &str, good: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let text = self.text(css).await;
            if let Some(text) = text.as_deref().filter(|t| good(t)) {
                return text.to_owned();
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: `{css}` shows {text:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` selects, finding it again if a redraw replaced it.
    async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.element(css).await.click().await {
                Ok(()) => return,
                Err(error) if tokio::time::Instant::now() < deadline && is_stale(&error) => {}
                Err(error) => panic!("click `{css}`: {error}"),
            }
        }
    }

    /// Saves a screenshot as `name`.png; checks it is a PNG image.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}: a real screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
    }
}

fn is_stale(error: &fantoccini::error::CmdError) -> bool {
    matches!(error, fantoccini::error::CmdError::Standard(e)
        if e.error == fantoccini::error::ErrorStatus::StaleElementReference)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The figure in a text such as "1,234 published in total".
fn leading_number(text: &str) -> Option<u64> {
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == ',').collect();
    digits.replace(',', "").parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_figures_replays_a_dead_letter_and_its_journey() {
    let test = TestDb::postgres("dashboard").await;
    let fixed = Arc::new(AtomicBool::new(false));
    let (stop_billing, billing) = start_billing(&test.db, Arc::clone(&fixed));
    let up = common::start_up(&test.url, &["--token", TOKEN, "--read-token", READ_TOKEN]);
    let base = up.base.clone();

    let ids = invoice(&test.db, 0..30).await;
    let broken = ids[BROKEN_INVOICE as usize];
    wait_until(WAIT, "the broken invoice is dead-lettered", || async {
        get_json(&format!("{base}/api/dlq")).await["entries"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    })
    .await;

    let browser = Browser::open().await;
    let client = &browser.client;

    // The overview: live figures, moving while events flow.
    client.goto(&format!("{base}/")).await.expect("open the overview");
    browser.element("[data-testid=relay-status][data-running=true]").await;
    let running = browser.text("[data-testid=relay-status]").await;
    assert_eq!(running.as_deref(), Some("running"));
    browser.text_until("[data-testid=stat-dlq-depth]", "the DLQ depth", |t| t == "1").await;
    let published = "[data-testid=stat-throughput] + .stat-sub";
    browser.text_until(published, "30 published", |t| leading_number(t) == Some(30)).await;
    invoice(&test.db, 30..130).await;
    browser
        .text_until(published, "130 published, without a reload", |t| {
            leading_number(t) == Some(130)
        })
        .await;
    browser.element(&format!("[data-testid=consumer-row][data-service={SERVICE}]")).await;
    browser.screenshot("1-overview").await;

    // The DLQ shows payloads: without a token it is refused, and the page says which
    // field to fill. With a read-only token it is listed, but a replay is refused, by name.
    client.goto(&format!("{base}/#/dlq")).await.expect("open the DLQ");
    browser
        .text_until("[data-testid=error-banner]", "a refusal asking for the token", |t| {
            t.contains("401") && t.contains("API token")
        })
        .await;
    browser.element("[data-testid=token-input][aria-invalid=true]").await;
    let token_input = browser.element("[data-testid=token-input]").await;
    token_input.send_keys(READ_TOKEN).await.expect("type the read token");
    let row = format!("[data-testid=dlq-row][data-event-id=\"{broken}\"]");
    browser.element(&row).await;
    let listed = browser.text(&row).await.unwrap_or_default();
    assert!(listed.contains("test.invoiced") && listed.contains(SERVICE), "{listed}");
    browser.screenshot("2-dlq").await;
    let replay = format!("{row} [data-testid=dlq-replay]");
    browser.click(&replay).await;
    browser.element("[data-testid=confirm-dialog]").await;
    browser.screenshot("3-confirm").await;
    browser.click("[data-testid=confirm-replay]").await;
    let refused = "[data-testid=replay-result]";
    browser
        .text_until(refused, "a refusal naming the token", |t| {
            t.contains("401") && t.contains("API token")
        })
        .await;
    browser.element("[data-testid=token-input][aria-invalid=true]").await;
    let dead = get_json(&format!("{base}/api/dlq")).await;
    assert_eq!(dead["entries"][0]["status"], "dead", "nothing replayed: {dead}");

    // With the token, after the fix, the replay gets it processed.
    fixed.store(true, Ordering::SeqCst);
    let token_input = browser.element("[data-testid=token-input]").await;
    token_input.clear().await.expect("clear the read token");
    token_input.send_keys(TOKEN).await.expect("type");
    browser.click(&replay).await;
    browser.click("[data-testid=confirm-replay]").await;
    browser
        .text_until("[data-testid=replay-result]", "the replay", |t| {
            t.starts_with("Replayed 1 event")
        })
        .await;
    browser.screenshot("4-replayed").await;

    // The journey: every state, in order, once the replayed event is processed.
    client.goto(&format!("{base}/#/events/{broken}")).await.expect("open the journey");
    let processed = "[data-testid=journey-state][data-state=processed]";
    wait_until(WAIT, "the journey shows the event processed", || async {
        client.refresh().await.expect("reload");
        client
            .wait()
            .at_most(Duration::from_secs(2))
            .for_element(Locator::Css(processed))
            .await
            .is_ok()
    })
    .await;
    let script = "return [...document.querySelectorAll('[data-testid=journey-state]')] \
                  .map((e) => e.dataset.state);";
    let states = client.execute(script, vec![]).await.expect("read the states");
    assert_eq!(
        states,
        json!(["committed", "published", "dead_lettered", "replayed", "delivered", "processed"])
    );
    browser.screenshot("5-journey").await;

    let _ = browser.client.clone().close().await;
    drop(browser);
    drop(up);
    stop_billing.send_replace(true);
    billing.await.expect("billing task");
    test.cleanup().await;
}
