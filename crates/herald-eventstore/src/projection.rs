//! Projections: read models built from the global order of events, each with a
//! checkpoint in `herald_projections`.

use async_trait::async_trait;
use herald_db::{Database, Statement};

use crate::store::check_limit;
use crate::{EventStoreBackend, RecordedEvent, Result};

/// A read model kept from the event store's global order.
///
/// Its writes run in the projector's transaction, the one that also moves its checkpoint,
/// so the read model and the checkpoint never disagree: an event is applied exactly once.
/// Write it once for both databases, as `impl<DB: herald_db::Dialect> Projection<DB>`,
/// running [`herald_db::Statement`]s on `tx`.
#[async_trait]
pub trait Projection<DB: sqlx::Database>: Send + Sync {
    /// The projection's stable name, the key of its checkpoint.
    fn name(&self) -> &str;

    /// Applies one event to the read model.
    async fn apply(&self, tx: &mut DB::Connection, event: &RecordedEvent) -> Result<()>;

    /// Empties the read model, before a rebuild.
    async fn reset(&self, tx: &mut DB::Connection) -> Result<()>;
}

/// Runs projections: catches them up from their checkpoints, or rebuilds them.
#[derive(Debug, Clone)]
pub struct Projector {
    db: Database,
    batch_size: i64,
}

impl Projector {
    /// A projector over `db`, applying 500 events per transaction.
    pub fn new(db: Database) -> Self {
        Self { db, batch_size: 500 }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Applies up to `batch_size` events per transaction (at least 1).
    pub fn with_batch_size(mut self, batch_size: i64) -> Result<Self> {
        check_limit(batch_size)?;
        self.batch_size = batch_size;
        Ok(self)
    }

    /// Applies every event after the projection's checkpoint, in position order. Each
    /// batch is applied, and the checkpoint moved past it, in one transaction. Returns how
    /// many events were applied. Concurrent catch-ups of one projection take turns.
    pub async fn catch_up<DB: EventStoreBackend>(
        &self,
        projection: &dyn Projection<DB>,
    ) -> Result<u64> {
        let mut applied = 0;
        loop {
            let batch = self.apply_batch(projection).await?;
            applied += batch;
            if batch < self.batch_size.unsigned_abs() {
                return Ok(applied);
            }
        }
    }

    async fn apply_batch<DB: EventStoreBackend>(
        &self,
        projection: &dyn Projection<DB>,
    ) -> Result<u64> {
        let name = projection.name();
        let mut tx = DB::begin_write(&self.db).await?;
        let checkpoint = DB::claim_checkpoint(&mut tx, name).await?;
        let events = DB::read_after(&mut tx, checkpoint, self.batch_size).await?;
        for event in &events {
            projection.apply(&mut tx, event).await?;
        }
        if let Some(last) = events.last() {
            DB::set_checkpoint(&mut tx, name, last.position).await?;
        }
        tx.commit().await?;
        Ok(events.len() as u64)
    }

    /// Empties the read model and sets the checkpoint to 0 in one transaction, then
    /// catches up from the first event. Returns how many events were applied. Readers see
    /// the model grow from empty while it rebuilds.
    pub async fn rebuild<DB: EventStoreBackend>(
        &self,
        projection: &dyn Projection<DB>,
    ) -> Result<u64> {
        let mut tx = DB::begin_write(&self.db).await?;
        DB::claim_checkpoint(&mut tx, projection.name()).await?;
        projection.reset(&mut tx).await?;
        DB::set_checkpoint(&mut tx, projection.name(), 0).await?;
        tx.commit().await?;
        self.catch_up(projection).await
    }

    /// The projection's checkpoint: the position of the last event applied (0 if none).
    pub async fn checkpoint(&self, name: &str) -> Result<i64> {
        let sql = "SELECT COALESCE(MAX(position), 0) FROM herald_projections WHERE name = $1";
        let (position,): (i64,) =
            self.db.reader().fetch_one(Statement::new(sql).bind(name)).await?;
        Ok(position)
    }
}
