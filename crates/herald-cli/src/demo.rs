//! `herald demo`: the reference shop at work. Customers place, pay and cancel orders; the
//! orders service (event-sourced) raises domain events and publishes integration events
//! through the outbox; inventory, shipping and the customer notifications react; the
//! notification service delivers signed webhooks to the customers' endpoints (a receiver
//! in this process that checks every signature). A live view shows events by kind
//! flowing through each service; the summary counts, from the database, what was
//! produced and delivered, and checks that the services agree.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use herald_channels::{Channel, ChannelKind, WebhookConfig, WebhookProvider};
use herald_db::{Database, DatabaseOptions};
use herald_eventstore::EventStoreError;
use herald_http::Secret;
use herald_notify::{DispatcherConfig, RecipientStore};
use herald_shop::{
    Census, NotificationService, OrderItem, Orders, RunMark, Shop, ShopConfig, ShopError,
    ShopSummary,
};
use serde::Serialize;
use tracing::Instrument;

use crate::transport::BrokerArgs;

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Orders the customers place.
    pub orders: u64,
    /// Orders placed per second (0 = as fast as the shop takes them).
    pub rate: u64,
    /// Customers.
    pub customers: u64,
    /// Database URL; `None` = a fresh SQLite file in the temporary directory.
    pub database: Option<String>,
    /// The broker between the services.
    pub broker: BrokerArgs,
    /// How long the services may take to agree after the last command.
    pub settle_timeout: Duration,
    /// Show the live view on stderr.
    pub live: bool,
}

/// The orders the customers' commands made.
#[derive(Debug, Default)]
pub struct Commands {
    /// Orders placed.
    pub placed: AtomicU64,
    /// Orders paid.
    pub paid: AtomicU64,
    /// Orders the customer cancelled.
    pub cancelled: AtomicU64,
    /// Commands an order refused (paying an order inventory had already cancelled).
    pub refused: AtomicU64,
}

/// One service's figures in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceFigures {
    /// Events of this run it subscribes to.
    pub subscribed: u64,
    /// Of those, the ones it processed (in its inbox).
    pub processed: u64,
    /// Processed events per type.
    pub handled: BTreeMap<String, u64>,
    /// From the event's creation to the end of this service's handler.
    pub latency_ms: LatencyMs,
}

/// The final summary (`--json` prints exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// Events the shop committed to the outbox during the run.
    pub produced: u64,
    /// Of those, the ones every subscribing service processed.
    pub delivered: u64,
    /// Committed events some service never processed (must be 0).
    pub lost: u64,
    /// Redeliveries the services' inboxes recognised and skipped.
    pub duplicates_suppressed: u64,
    /// Delivered events per second, from the first command until the services agreed.
    pub throughput_eps: f64,
    /// From an event's creation (in its producer's transaction) to the end of a
    /// consuming service's handler, over every service.
    pub latency_ms: LatencyMs,
    /// Seconds from the first command until the services agreed.
    pub elapsed_s: f64,
    /// Seconds from the last command until the services agreed: how eventual the
    /// consistency was.
    pub agreed_after_s: f64,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// `embedded log`, `RabbitMQ` or `NATS JetStream`.
    pub transport: String,
    /// What the customers did.
    pub commands: CommandCounts,
    /// Committed events per type.
    pub events: BTreeMap<String, u64>,
    /// Per consuming service.
    pub services: BTreeMap<String, ServiceFigures>,
    /// The shop's state once the services agreed (orders in the read model and their
    /// statuses, shipments, notifications sent).
    pub shop: ShopSummary,
    /// Signed webhooks the customers' endpoint received and verified (distinct ids).
    pub webhooks_received: u64,
    /// Whether every check passed: nothing lost, the services agree, every notification
    /// sent once and received.
    pub consistent: bool,
    /// What disagreed, if anything.
    pub problems: Vec<String>,
}

/// [`Commands`] as numbers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CommandCounts {
    /// Orders placed.
    pub placed: u64,
    /// Orders paid.
    pub paid: u64,
    /// Orders the customer cancelled.
    pub cancelled: u64,
    /// Commands an order refused.
    pub refused: u64,
}

impl Commands {
    fn counts(&self) -> CommandCounts {
        CommandCounts {
            placed: self.placed.load(Ordering::Relaxed),
            paid: self.paid.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Commands running at once (each holds a database connection for its transaction).
const COMMANDS_IN_FLIGHT: usize = 16;

/// The skus the shop stocks, and the one it does not know.
const PLENTIFUL: [&str; 3] = ["apple", "pear", "plum"];
const LIMITED: &str = "limited-edition";
const UNKNOWN: &str = "gift-card";

/// Runs the demo and returns its summary.
pub async fn run(options: &DemoOptions) -> anyhow::Result<DemoSummary> {
    let (url, _temp) = database_url(options.database.as_deref());
    let db_options = DatabaseOptions { max_connections: 48, ..DatabaseOptions::default() };
    let db = Database::connect(&url, &db_options).await.context("opening the database")?;
    let transport = options.broker.open(&db, 8)?;
    let secret = Secret::generate();
    let receiver = Receiver::start(&secret).await?;
    let shop = Shop::start(db.clone(), shop_config(options, &transport, &secret)?).await?;
    prepare_customers(&db, options.customers, &receiver).await?;
    let mark = shop.mark().await?;
    let commands = Arc::new(Commands::default());
    let started = Instant::now();
    let view = View {
        shop: &shop,
        commands: &commands,
        receiver: &receiver,
        started,
        drawn: std::sync::atomic::AtomicBool::new(false),
    };
    let workload = tokio::spawn(drive(shop.orders().clone(), options.clone(), commands.clone()));
    let outcome = view.follow(workload, options).await;
    let last_command = Instant::now();
    let settled = match outcome {
        Ok(()) => settle(&shop, &mark, &receiver, options.settle_timeout, &view, options).await,
        Err(error) => Err(error),
    };
    let (elapsed, agreed_after) = (started.elapsed(), last_command.elapsed());
    let census = shop.census(&mark).await?;
    let summary = summarize(&shop, &census, &commands, &receiver, settled, elapsed, &url);
    let summary = DemoSummary {
        transport: transport.name.to_owned(),
        agreed_after_s: agreed_after.as_secs_f64(),
        ..summary
    };
    shop.stop().await?;
    receiver.stop();
    db.close().await;
    Ok(summary)
}

/// The shop on `transport`, with stock for the workload and the notification service
/// delivering signed webhooks.
fn shop_config(
    options: &DemoOptions,
    transport: &crate::transport::Transport,
    secret: &Secret,
) -> anyhow::Result<ShopConfig> {
    let plenty = i64::try_from(options.orders.saturating_mul(10)).unwrap_or(i64::MAX);
    let mut stock: Vec<(String, i64)> =
        PLENTIFUL.iter().map(|sku| ((*sku).to_owned(), plenty)).collect();
    // About half of the orders that want the limited edition get it.
    stock.push((LIMITED.to_owned(), i64::try_from(options.orders / 14).unwrap_or(0).max(1)));
    let webhook = WebhookProvider::new(&WebhookConfig {
        allow_private_endpoints: true, // the customers' receiver is on 127.0.0.1
        ..WebhookConfig::new(secret.expose())
    })?;
    let channel = Channel::new(ChannelKind::Webhook).with_provider(Arc::new(webhook), None);
    let dispatcher = DispatcherConfig {
        poll_interval: Duration::from_millis(100),
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        ..DispatcherConfig::default()
    };
    Ok(ShopConfig {
        stock,
        broker: crate::transport::shop_broker(transport),
        notifications: Some(NotificationService { channels: vec![channel], dispatcher }),
        ..ShopConfig::default()
    })
}

/// Saves the notification templates and each customer's webhook endpoint.
async fn prepare_customers(
    db: &Database,
    customers: u64,
    receiver: &Receiver,
) -> anyhow::Result<()> {
    herald_shop::notifications::install_templates(db, "webhook").await?;
    let recipients = RecipientStore::new(db.clone());
    for customer in 0..customers.max(1) {
        let id = customer_name(customer);
        recipients.upsert(&id, "en", "UTC", None).await?;
        recipients.set_contact(&id, "webhook", &receiver.endpoint(&id)).await?;
    }
    Ok(())
}

fn customer_name(customer: u64) -> String {
    format!("customer-{customer}")
}

/// The database URL: the one given, or a fresh temporary SQLite file.
fn database_url(database: Option<&str>) -> (String, Option<TempFile>) {
    match database {
        Some(url) => (url.to_owned(), None),
        None => {
            let run = uuid::Uuid::now_v7().simple().to_string();
            let path = std::env::temp_dir().join(format!("herald-demo-{run}.db"));
            (format!("sqlite://{}", path.display()), Some(TempFile(path)))
        }
    }
}

/// A temporary SQLite file, removed (with its WAL) when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// Places the orders at the planned rate; each customer then pays, cancels or leaves
/// their order after a moment's thought.
async fn drive(
    orders: Orders,
    options: DemoOptions,
    commands: Arc<Commands>,
) -> anyhow::Result<()> {
    let start = tokio::time::Instant::now();
    let mut customers = tokio::task::JoinSet::new();
    // Each command holds a connection for its transaction; the services need theirs.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(COMMANDS_IN_FLIGHT));
    for n in 0..options.orders {
        if let Some(offset_us) = n.saturating_mul(1_000_000).checked_div(options.rate) {
            tokio::time::sleep_until(start + Duration::from_micros(offset_us)).await;
        }
        let (orders, commands) = (orders.clone(), Arc::clone(&commands));
        let in_flight = Arc::clone(&in_flight);
        let customer = customer_name(n % options.customers.max(1));
        customers.spawn(async move {
            order_journey(&orders, n, &customer, &commands, &in_flight).await
        });
    }
    while let Some(journey) = customers.join_next().await {
        journey??;
    }
    Ok(())
}

/// One order's life from the customer's side.
async fn order_journey(
    orders: &Orders,
    n: u64,
    customer: &str,
    commands: &Commands,
    in_flight: &tokio::sync::Semaphore,
) -> anyhow::Result<()> {
    let permit = in_flight.acquire().await?;
    // Each command is a request of its own: a trace that the events it raises carry to
    // every service (exported with `--otlp-endpoint`).
    let request = tracing::info_span!("customer.place_order", customer, order = n);
    let order_id = orders.place(customer, basket(n)).instrument(request).await?;
    commands.placed.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    tokio::time::sleep(Duration::from_millis(50 + (n * 37) % 350)).await;
    let (command, counter) = match n % 10 {
        0..=6 => ("pay", &commands.paid),
        7 | 8 => ("cancel", &commands.cancelled),
        _ => return Ok(()),
    };
    let _permit = in_flight.acquire().await?;
    for _ in 0..20 {
        let request = tracing::info_span!("customer.order", command, order = %order_id);
        let result = if command == "pay" {
            orders.pay(&order_id).instrument(request).await
        } else {
            orders.cancel(&order_id).instrument(request).await
        };
        match result {
            Ok(()) => {
                counter.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(ShopError::Rule { .. }) => {
                commands.refused.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            // The orders service cancelled it meanwhile (stock rejected): try again on
            // the new version, where the order's rules decide.
            Err(ShopError::EventStore(EventStoreError::Conflict { .. })) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    anyhow::bail!("order {order_id}: `{command}` conflicted 20 times in a row")
}

/// What order `n` contains: mostly plentiful fruit; every 7th wants the limited edition,
/// every 25th a gift card the inventory does not know (rejected, then cancelled).
fn basket(n: u64) -> Vec<OrderItem> {
    let quantity = 1 + i64::try_from(n % 3).unwrap_or(0);
    let fruit = PLENTIFUL[usize::try_from(n % 3).unwrap_or(0)];
    let mut items = vec![OrderItem { sku: fruit.to_owned(), quantity }];
    if n % 7 == 3 {
        items.push(OrderItem { sku: LIMITED.to_owned(), quantity: 1 });
    }
    if n % 25 == 24 {
        items.push(OrderItem { sku: UNKNOWN.to_owned(), quantity: 1 });
    }
    items
}

/// Waits until the services agree, every event reached every subscriber and every
/// notification was received; or names what still disagrees at the deadline.
async fn settle(
    shop: &Shop,
    mark: &RunMark,
    receiver: &Receiver,
    timeout: Duration,
    view: &View<'_>,
    options: &DemoOptions,
) -> anyhow::Result<ShopSummary> {
    let deadline = Instant::now() + timeout;
    let mut next_frame = Instant::now();
    loop {
        let problems = match shop.verify().await {
            Ok(summary) => match shop.census(mark).await {
                Ok(census) => {
                    let received = receiver.received();
                    let sent = summary.notifications_sent as u64;
                    if census.delivered == census.produced && received >= sent {
                        return Ok(summary);
                    }
                    vec![format!(
                        "{} of {} events reached every service, {received} of {sent} notifications received",
                        census.delivered, census.produced
                    )]
                }
                Err(error) => vec![error.to_string()],
            },
            Err(ShopError::Inconsistent(problems)) => problems,
            // A busy database (a pool timeout) is worth another look before the deadline.
            Err(error) => vec![error.to_string()],
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the services did not agree within {timeout:?} of the last command: {}",
                problems.join("; ")
            );
        }
        if options.live && Instant::now() >= next_frame {
            view.draw("settling");
            next_frame += Duration::from_millis(250);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn summarize(
    shop: &Shop,
    census: &Census,
    commands: &Commands,
    receiver: &Receiver,
    settled: anyhow::Result<ShopSummary>,
    elapsed: Duration,
    url: &str,
) -> DemoSummary {
    let activity = shop.activity().snapshot();
    let services = census
        .services
        .iter()
        .map(|(service, figures)| {
            let live = activity.get(service.as_str());
            let latency_ms = live.map_or_else(LatencyMs::zero, |a| LatencyMs::of(&a.latency_us));
            let figures = ServiceFigures {
                subscribed: figures.subscribed,
                processed: figures.processed,
                handled: figures.by_type.clone(),
                latency_ms,
            };
            (service.clone(), figures)
        })
        .collect();
    let mut problems = receiver.problems();
    let shop_summary = match settled {
        Ok(summary) => summary,
        Err(error) => {
            problems.push(format!("{error:#}"));
            ShopSummary::default()
        }
    };
    let received = receiver.received();
    if problems.is_empty() && received != shop_summary.notifications_sent as u64 {
        problems.push(format!(
            "{received} webhooks received, but {} notifications sent",
            shop_summary.notifications_sent
        ));
    }
    let lost = census.produced - census.delivered;
    let elapsed_s = elapsed.as_secs_f64().max(1e-9);
    DemoSummary {
        produced: census.produced,
        delivered: census.delivered,
        lost,
        duplicates_suppressed: shop
            .consumer_stats()
            .iter()
            .map(|(_, stats)| stats.duplicates_suppressed.load(Ordering::Relaxed))
            .sum(),
        throughput_eps: census.delivered as f64 / elapsed_s,
        latency_ms: LatencyMs::of(&shop.activity().overall_latency()),
        elapsed_s,
        agreed_after_s: 0.0,
        database: if url.starts_with("sqlite:") { "sqlite" } else { "postgres" }.to_owned(),
        transport: String::new(),
        commands: commands.counts(),
        events: census.by_type.clone(),
        services,
        shop: shop_summary,
        webhooks_received: received,
        consistent: problems.is_empty() && lost == 0,
        problems,
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Worst.
    pub max: f64,
}

impl LatencyMs {
    fn of(histogram: &hdrhistogram::Histogram<u64>) -> LatencyMs {
        if histogram.is_empty() {
            return LatencyMs::zero();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencyMs {
            p50: ms(histogram.value_at_quantile(0.50)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }

    fn zero() -> LatencyMs {
        LatencyMs { p50: 0.0, p99: 0.0, max: 0.0 }
    }
}

/// The customers' webhook endpoint: `POST /customers/{id}`, signature checked.
struct Receiver {
    address: std::net::SocketAddr,
    state: Arc<Received>,
    server: tokio::task::JoinHandle<()>,
}

/// What the receiver saw.
#[derive(Debug, Default)]
struct Received {
    ids: Mutex<HashSet<String>>,
    rejected: AtomicU64,
}

impl Receiver {
    /// Listens on a free loopback port, accepting webhooks signed with `secret`.
    async fn start(secret: &Secret) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("opening the customers' webhook endpoint on 127.0.0.1")?;
        let address = listener.local_addr()?;
        let secret = Arc::new(Secret::parse(secret.expose())?);
        let state = Arc::new(Received::default());
        #[allow(clippy::disallowed_methods)] // the customers' receiver, not a Herald API
        let app = axum::Router::new()
            .route("/customers/{id}", axum::routing::post(receive))
            .with_state((secret, Arc::clone(&state)));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { address, state, server })
    }

    fn endpoint(&self, customer: &str) -> String {
        format!("http://{}/customers/{customer}", self.address)
    }

    /// Distinct webhooks received with a valid signature.
    fn received(&self) -> u64 {
        self.state.ids.lock().map_or(0, |ids| ids.len() as u64)
    }

    fn problems(&self) -> Vec<String> {
        match self.state.rejected.load(Ordering::Relaxed) {
            0 => Vec::new(),
            n => vec![format!("{n} webhooks arrived with a signature that did not verify")],
        }
    }

    fn stop(self) {
        self.server.abort();
    }
}

type ReceiverState = (Arc<Secret>, Arc<Received>);

async fn receive(
    axum::extract::State((secret, received)): axum::extract::State<ReceiverState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    if herald_http::verify(&secret, &headers, &body).is_err() {
        received.rejected.fetch_add(1, Ordering::Relaxed);
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Ok(mut ids) = received.ids.lock() {
        ids.insert(id.to_owned());
    }
    axum::http::StatusCode::NO_CONTENT
}

/// The live view on stderr.
struct View<'a> {
    shop: &'a Shop,
    commands: &'a Commands,
    receiver: &'a Receiver,
    started: Instant,
    /// Whether a frame is on screen (a terminal redraws over it).
    drawn: std::sync::atomic::AtomicBool,
}

impl View<'_> {
    /// Redraws while the workload runs; returns its outcome.
    async fn follow(
        &self,
        mut workload: tokio::task::JoinHandle<anyhow::Result<()>>,
        options: &DemoOptions,
    ) -> anyhow::Result<()> {
        let mut ticker = tokio::time::interval(if std::io::stderr().is_terminal() {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(2)
        });
        loop {
            tokio::select! {
                outcome = &mut workload => return outcome?,
                _ = ticker.tick() => {
                    if options.live {
                        self.draw("customers at work");
                    }
                }
            }
        }
    }

    fn draw(&self, phase: &str) {
        let frame = self.frame(phase);
        let mut err = std::io::stderr().lock();
        if err.is_terminal() && self.drawn.swap(true, Ordering::Relaxed) {
            // Move up over the previous frame and clear it.
            let _ = write!(err, "\x1b[{FRAME_LINES}F\x1b[J");
        }
        let _ = writeln!(err, "{frame}");
        let _ = err.flush();
    }

    fn frame(&self, phase: &str) -> String {
        let c = self.commands.counts();
        let activity = self.shop.activity().snapshot();
        let mut lines = vec![
            format!(
                "[{:>5.1}s {phase}] orders placed {} · paid {} · cancelled {} · refused {}",
                self.started.elapsed().as_secs_f64(),
                c.placed,
                c.paid,
                c.cancelled,
                c.refused
            ),
            "  service        handled   p99 ms  events by kind".to_owned(),
        ];
        for service in SERVICES {
            let live = activity.get(service);
            let by_type: Vec<String> = live
                .map(|a| {
                    a.handled
                        .iter()
                        .map(|(t, n)| format!("{} {n}", t.trim_start_matches("shop.")))
                        .collect()
                })
                .unwrap_or_default();
            let p99 = live.map_or(0.0, |a| a.latency_us.value_at_quantile(0.99) as f64 / 1000.0);
            lines.push(format!(
                "  {service:<13}{:>8}  {p99:>7.1}  {}",
                live.map_or(0, herald_shop::ServiceActivity::total),
                if by_type.is_empty() { "-".to_owned() } else { by_type.join(" · ") }
            ));
        }
        let relayed = self.shop.relay_stats().published.load(Ordering::Relaxed);
        lines.push(format!(
            "  relay published {relayed} · customers received {} signed webhooks",
            self.receiver.received()
        ));
        debug_assert_eq!(lines.len(), FRAME_LINES);
        lines.join("\n")
    }
}

/// The services in the view, in the order events reach them.
const SERVICES: [&str; 5] = ["inventory", "orders", "shipping", "notifications", "notify"];

/// Lines of one frame: the headline, the header, one per service, the relay.
const FRAME_LINES: usize = SERVICES.len() + 3;

/// The introduction printed before the live view.
pub fn introduction(options: &DemoOptions) -> String {
    let rate = if options.rate == 0 {
        "as fast as they can".to_owned()
    } else {
        format!("at {}/s", options.rate)
    };
    format!(
        "Herald demo: the reference shop. {customers} customers place {orders} orders {rate}, then \
         pay (7 in 10),\ncancel (2 in 10) or leave them. Each command appends the order's domain \
         events to its event stream;\nin the same transaction the read model is updated and the \
         integration events enter the outbox.\nThe relay publishes them to the {transport}, and \
         the services react:\n  inventory      reserves stock for each order placed, releases it \
         when one is cancelled\n  orders         cancels the orders whose stock was rejected\n  \
         shipping       ships each paid order whose stock was reserved\n  notifications  asks to \
         confirm each reserved order and announce each shipment\n  notify         the \
         notification service: renders templates, sends signed webhooks\n",
        customers = options.customers,
        orders = options.orders,
        transport = match options.broker.broker.as_deref() {
            Some(url) if url.starts_with("amqp") => "RabbitMQ broker",
            Some(url) if url.starts_with("nats") || url.starts_with("tls") => "NATS JetStream",
            _ => "embedded log (in the database)",
        },
    )
}

impl DemoSummary {
    /// The summary for a person.
    pub fn render(&self) -> String {
        let verdict = if self.consistent { "ok" } else { "VIOLATED" };
        let c = &self.commands;
        let s = &self.shop;
        let mut text = format!(
            "Herald demo — {database}, {transport}: {placed} orders in {elapsed:.1} s\n\
             \x20 produced               {produced} events of {kinds} types\n\
             \x20 delivered              {delivered} to every subscribing service\n\
             \x20 lost                   {lost} ({lost_verdict})\n\
             \x20 duplicates suppressed  {duplicates}\n\
             \x20 throughput             {throughput:.0} events/s\n\
             \x20 services agreed        {agreed:.2} s after the last command\n\
             \x20 latency event→handler  p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms\n\
             \x20 orders                 {orders} in the read model: {paid} paid ({shipped} shipped), \
             {open} open,\n\
             \x20                        {cancelled} cancelled ({rejected} for lack of stock); \
             {refused} commands refused\n\
             \x20 notifications          {sent} sent, {received} signed webhooks received\n\
             \x20 per service            processed/subscribed   p50 ms   p99 ms\n",
            database = self.database,
            transport = self.transport,
            placed = c.placed,
            elapsed = self.elapsed_s,
            produced = self.produced,
            kinds = self.events.len(),
            delivered = self.delivered,
            lost = self.lost,
            lost_verdict = if self.lost == 0 { "ok" } else { "VIOLATED" },
            duplicates = self.duplicates_suppressed,
            throughput = self.throughput_eps,
            agreed = self.agreed_after_s,
            p50 = self.latency_ms.p50,
            p99 = self.latency_ms.p99,
            max = self.latency_ms.max,
            orders = s.orders,
            paid = s.paid,
            shipped = s.shipped,
            cancelled = s.cancelled,
            rejected = s.rejected,
            open = s.placed,
            refused = c.refused,
            sent = s.notifications_sent,
            received = self.webhooks_received,
        );
        for (service, figures) in &self.services {
            text.push_str(&format!(
                "    {service:<20} {:>8}/{:<12} {:>7.2}  {:>7.2}\n",
                figures.processed,
                figures.subscribed,
                figures.latency_ms.p50,
                figures.latency_ms.p99
            ));
        }
        text.push_str(&format!("  consistency            {verdict}"));
        if self.consistent {
            text.push_str(
                ": stock reserved = items of open orders; paid orders shipped once;\n\
                 \x20                        each notification sent once",
            );
        }
        for problem in &self.problems {
            text.push_str(&format!("\n    {problem}"));
        }
        text
    }
}
