//! The embedded engine's fast write path: one thread owning a `rusqlite` connection, which
//! runs write jobs with cached prepared statements and commits the jobs queued together in
//! one transaction (group commit).
//!
//! SQLite lets one connection write at a time, so writes queue anyway; sqlx's SQLite
//! driver hands every statement to a worker thread of its own and commits each transaction
//! alone. Here a job is a closure that runs on the writer thread with the open
//! transaction: its statements cost no thread hop, and every job that arrived while the
//! previous commit ran shares the next commit. Each job runs inside a savepoint, so a job
//! that fails is rolled back alone and the others of its batch still commit. A job's
//! caller hears of its result only after the commit: `Ok` means durable (as durable as
//! the database's `synchronous` setting makes any commit).

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior, ffi};
use tokio::sync::{mpsc, oneshot};

/// Jobs that share one commit, at most.
const MAX_JOBS_PER_COMMIT: usize = 512;
/// How long a write waits for another connection's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept by the connection.
const STATEMENT_CACHE: usize = 64;
/// How often the checkpointer copies the WAL's pages into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);
/// WAL pages past which the writer checkpoints by itself, if the checkpointer falls
/// behind (SQLite's default is 1000, done by whichever commit crosses it).
const WRITER_CHECKPOINT_PAGES: i64 = 20_000;

/// Settings of the writer thread's connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterOptions {
    /// `synchronous=FULL` (every commit fsynced) instead of `NORMAL`.
    pub sync_full: bool,
}

/// The handle on a writer thread; cheap to clone. The thread ends once every handle is
/// dropped, after it has run the jobs it was given.
#[derive(Debug, Clone)]
pub struct SqliteWriter {
    jobs: mpsc::UnboundedSender<Job>,
    /// Dropped with the last handle, which stops the checkpointer.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

impl SqliteWriter {
    /// Opens a connection to an SQLite file (switching it to WAL) and starts the writer
    /// thread.
    pub fn open(path: &Path, options: WriterOptions) -> rusqlite::Result<SqliteWriter> {
        let connection = Connection::open(path)?;
        configure(&connection, options)?;
        let checkpoints = Connection::open(path)?;
        checkpoints.busy_handler(Some(wait_briefly))?;
        let (jobs, queue) = mpsc::unbounded_channel();
        let (checkpointer, stop) = std::sync::mpsc::channel();
        spawn("herald-sqlite-writer", move || run_writer(connection, queue))?;
        spawn("herald-sqlite-checkpoint", move || run_checkpointer(&checkpoints, &stop))?;
        Ok(SqliteWriter { jobs, _checkpointer: checkpointer })
    }

    /// Runs `work` on the writer thread inside a write transaction, and returns its result
    /// once that transaction has committed. An `Err` from `work` rolls back what it wrote
    /// (and nothing else); a failed commit fails every job of the batch, none of which
    /// wrote anything. Other jobs' writes may precede `work`'s in the same transaction.
    ///
    /// The job is queued when this is called, not when the future is first polled, so
    /// jobs run in the order of the calls.
    pub fn transaction<T, E, F>(&self, work: F) -> impl Future<Output = Result<T, E>> + use<T, E, F>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + Send + 'static,
    {
        let (reply, result) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(Closure { work, reply });
        let queued = self.jobs.send(job).is_ok();
        async move {
            if !queued {
                return Err(E::from(dropped()));
            }
            result.await.unwrap_or_else(|_| Err(E::from(dropped())))
        }
    }
}

/// A write job, run on the writer thread inside a batch's transaction.
trait WriteJob: Send {
    /// Runs the job: whether its writes stay, and how to tell its caller once the batch's
    /// fate is known.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Ran;
    /// Tells the caller of a job that never ran that its batch was lost.
    fn abandon(self: Box<Self>, error: &rusqlite::Error);
}

type Job = Box<dyn WriteJob>;

/// Tells a job's caller its result: given `None` after a commit, or the error that lost
/// the batch.
type Settle = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

/// A job that ran: keep its writes or roll them back, and how to settle it.
struct Ran {
    keep: bool,
    settle: Settle,
}

/// A caller's closure and where its result goes.
struct Closure<F, T, E> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> WriteJob for Closure<F, T, E>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<rusqlite::Error> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Ran {
        let Closure { work, reply } = *self;
        let outcome = work(tx);
        let keep = outcome.is_ok();
        let settle: Settle = Box::new(move |lost| {
            let outcome = match (outcome, lost) {
                (Ok(_), Some(error)) => Err(E::from(duplicate(error))),
                (outcome, _) => outcome,
            };
            let _ = reply.send(outcome);
        });
        Ran { keep, settle }
    }

    fn abandon(self: Box<Self>, error: &rusqlite::Error) {
        let _ = self.reply.send(Err(E::from(duplicate(error))));
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> rusqlite::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map(drop)
        .map_err(|error| failure(ffi::SQLITE_CANTOPEN, &error.to_string()))
}

/// Checkpoints the WAL every [`CHECKPOINT_INTERVAL`] on a connection of its own, so that
/// the writer's commits never stop to copy pages and fsync the database file (which a
/// commit crossing `wal_autocheckpoint` otherwise does, stalling every job behind it).
/// `PASSIVE`: it never waits for readers or the writer. Ends when `stop` disconnects.
fn run_checkpointer(connection: &Connection, stop: &std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stop.recv_timeout(CHECKPOINT_INTERVAL)
    {
        let checkpoint =
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(0));
        if let Err(error) = checkpoint {
            tracing::debug!(%error, "A background WAL checkpoint failed; the next one retries.");
        }
    }
}

fn configure(connection: &Connection, options: WriterOptions) -> rusqlite::Result<()> {
    let synchronous = if options.sync_full { "FULL" } else { "NORMAL" };
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "cache_size", -65536)?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // SQLite's own busy handler sleeps 1, 2, 5, 10… ms between tries; another
    // connection's write usually ends sooner, so try again in short steps instead.
    connection.busy_handler(Some(wait_briefly))?;
    Ok(())
}

/// The busy handler: true to try again.
fn wait_briefly(attempt: i32) -> bool {
    let step = Duration::from_micros(100);
    if step * u32::try_from(attempt).unwrap_or(u32::MAX) > BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(step);
    true
}

/// The writer thread: takes every job queued, runs them in one transaction, commits,
/// settles them, and again, until every handle is gone.
fn run_writer(mut connection: Connection, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_JOBS_PER_COMMIT {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut connection, batch);
    }
}

/// Runs a batch of jobs in one transaction and settles each.
fn run_batch(connection: &mut Connection, batch: Vec<Job>) {
    let started = Instant::now();
    let jobs = batch.len();
    let mut settles = Vec::with_capacity(jobs);
    let lost = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Err(error) => {
            for job in batch {
                job.abandon(&error);
            }
            Some(error)
        }
        Ok(tx) => {
            let mut lost = None;
            for job in batch {
                if let Some(error) = &lost {
                    job.abandon(error);
                    continue;
                }
                match run_job(&tx, job) {
                    Ok(settle) => settles.push(settle),
                    Err((settle, error)) => {
                        settles.extend(settle);
                        lost = Some(error);
                    }
                }
            }
            match lost {
                Some(error) => {
                    let _ = tx.rollback();
                    Some(error)
                }
                None => tx.commit().err(),
            }
        }
    };
    if let Some(error) = &lost {
        tracing::warn!(%error, jobs, "An embedded write batch failed; none of it was written.");
    }
    for settle in settles {
        settle(lost.as_ref());
    }
    metrics::histogram!("herald_sqlite_write_batch_seconds").record(started.elapsed());
    metrics::histogram!("herald_sqlite_write_batch_jobs").record(jobs as f64);
}

/// Runs one job in a savepoint, undone if the job failed. `Err` when the whole
/// transaction is lost (SQLite rolls a transaction back by itself on some errors, such as
/// a full disk), with the job's settle if it ran.
fn run_job(tx: &Transaction<'_>, job: Job) -> Result<Settle, (Option<Settle>, rusqlite::Error)> {
    let run = |sql: &str| tx.prepare_cached(sql).and_then(|mut s| s.execute([]).map(drop));
    if let Err(error) = run("SAVEPOINT herald_job") {
        job.abandon(&error);
        return Err((None, error));
    }
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(tx))).unwrap_or_else(|_| {
        tracing::error!("An embedded write job panicked; its writes are rolled back.");
        Ran { keep: false, settle: Box::new(|_| {}) }
    });
    if tx.is_autocommit() {
        let error = failure(ffi::SQLITE_ABORT, "SQLite rolled the write transaction back");
        return Err((Some(ran.settle), error));
    }
    let undo = if ran.keep { Ok(()) } else { run("ROLLBACK TO herald_job") };
    match undo.and_then(|()| run("RELEASE herald_job")) {
        Ok(()) => Ok(ran.settle),
        Err(error) => Err((Some(ran.settle), error)),
    }
}

/// A copy of an error for each job of a lost batch (`rusqlite::Error` is not `Clone`).
fn duplicate(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => failure(ffi::SQLITE_ERROR, &other.to_string()),
    }
}

fn failure(code: i32, message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.to_owned()))
}

/// The error of a job whose writer let it go unanswered.
fn dropped() -> rusqlite::Error {
    failure(
        ffi::SQLITE_ABORT,
        "the embedded writer dropped the job: its thread stopped or the job panicked",
    )
}
