//! Partition leases: several processes share `partitions` numbered partitions of one
//! `scope` (the relays, or the members of a consumer group).
//!
//! Each owner heartbeats as a member and holds a lease per partition it works on, renewed
//! every third of the time to live. Owners take a fair share, `ceil(partitions / members)`:
//! a newcomer gets partitions as the others release their surplus, and when an owner dies
//! its leases expire and the survivors claim them within one time to live plus one tick.
//! Times come from the database's clock, so owners on different machines agree.
//!
//! An owner must stop working on a partition as soon as [`Leases::owned`] stops listing
//! it: that set is emptied locally once the last successful renewal is older than the time
//! to live minus a safety margin, even when the database cannot be reached.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use sqlx::{Postgres, Sqlite};

use crate::{Backend, Database, Dialect, Result, Statement};

/// What to lease, and for how long.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The group of processes sharing partitions, e.g. `relay` or `group:billing`.
    pub scope: String,
    /// This process's unique name within the scope.
    pub owner: String,
    /// Number of partitions in the scope.
    pub partitions: u32,
    /// How long a lease lives without renewal; a dead owner's partitions are taken over
    /// after at most this plus one renewal interval.
    pub ttl: Duration,
}

/// The leases this process holds in one scope.
#[derive(Debug)]
pub struct Leases {
    db: Database,
    config: LeaseConfig,
    owned: BTreeSet<u32>,
    valid_until: Instant,
    next_tick: Instant,
}

impl Leases {
    /// Creates the lease rows of the scope if needed; holds nothing until [`Leases::tick`].
    pub async fn new(db: Database, config: LeaseConfig) -> Result<Leases> {
        let partitions = i32::try_from(config.partitions.max(1)).unwrap_or(i32::MAX);
        for partition in 0..partitions {
            db.writer()
                .execute(
                    Statement::new(
                        "INSERT INTO herald_leases (scope, partition) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&config.scope)
                    .bind(partition),
                )
                .await?;
        }
        let now = Instant::now();
        Ok(Leases { db, config, owned: BTreeSet::new(), valid_until: now, next_tick: now })
    }

    /// The partitions this process may work on now.
    pub fn owned(&self) -> BTreeSet<u32> {
        if Instant::now() < self.valid_until { self.owned.clone() } else { BTreeSet::new() }
    }

    /// When the next [`Leases::tick`] is due.
    pub fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// Whether a [`Leases::tick`] is due.
    pub fn tick_due(&self) -> bool {
        Instant::now() >= self.next_tick
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Heartbeats, renews held leases, releases surplus and claims a fair share.
    /// Returns the partitions held afterwards.
    pub async fn tick(&mut self) -> Result<BTreeSet<u32>> {
        let started = Instant::now();
        self.next_tick = started + self.config.ttl / 3;
        let result = match self.db.backend() {
            Backend::Postgres => self.tick_on::<Postgres>().await,
            Backend::Sqlite => self.tick_on::<Sqlite>().await,
        };
        match result {
            Ok(owned) => {
                self.owned = owned;
                // Renewals started at `started`; stop trusting them a third early.
                self.valid_until = started + self.config.ttl * 2 / 3;
                Ok(self.owned())
            }
            Err(error) => Err(error),
        }
    }

    /// Gives up every lease (on shutdown), so others take over without waiting.
    pub async fn release_all(&mut self) -> Result<()> {
        self.owned.clear();
        self.valid_until = Instant::now();
        let (scope, owner) = (&self.config.scope, &self.config.owner);
        self.db
            .writer()
            .execute(
                Statement::new(
                    "UPDATE herald_leases SET owner = NULL, expires_at = 0 \
                     WHERE scope = $1 AND owner = $2",
                )
                .bind(scope)
                .bind(owner),
            )
            .await?;
        self.db
            .writer()
            .execute(
                Statement::new("DELETE FROM herald_lease_members WHERE scope = $1 AND owner = $2")
                    .bind(scope)
                    .bind(owner),
            )
            .await?;
        Ok(())
    }

    fn ttl_micros(&self) -> i64 {
        i64::try_from(self.config.ttl.as_micros()).unwrap_or(i64::MAX)
    }

    fn fair_share(&self, members: i64) -> usize {
        let members = usize::try_from(members.max(1)).unwrap_or(1);
        (self.config.partitions as usize).div_ceil(members)
    }

    /// One tick in one write transaction: heartbeat, renew, release the surplus, claim
    /// up to a fair share. Expiry times are microseconds on the database's clock.
    async fn tick_on<DB: Dialect>(&self) -> Result<BTreeSet<u32>> {
        let now = DB::NOW_MICROS;
        let skip_locked = DB::SKIP_LOCKED;
        let (scope, owner, ttl) = (&self.config.scope, &self.config.owner, self.ttl_micros());
        let mut tx = DB::begin_write(&self.db).await?;
        let heartbeat = format!(
            "INSERT INTO herald_lease_members (scope, owner, expires_at) VALUES ($1, $2, {now} + $3) \
             ON CONFLICT (scope, owner) DO UPDATE SET expires_at = excluded.expires_at"
        );
        Statement::new(&heartbeat)
            .bind(scope)
            .bind(owner)
            .bind(ttl)
            .execute::<DB>(&mut *tx)
            .await?;
        let count_members = format!(
            "SELECT count(*) FROM herald_lease_members WHERE scope = $1 AND expires_at > {now}"
        );
        let (members,): (i64,) =
            Statement::new(&count_members).bind(scope).fetch_one::<DB, _>(&mut *tx).await?;
        let renew = format!(
            "UPDATE herald_leases SET expires_at = {now} + $3 \
             WHERE scope = $1 AND owner = $2 RETURNING partition"
        );
        let renewed: Vec<(i32,)> = Statement::new(&renew)
            .bind(scope)
            .bind(owner)
            .bind(ttl)
            .fetch_all::<DB, _>(&mut *tx)
            .await?;
        let mut owned: BTreeSet<u32> = renewed.into_iter().map(|(p,)| to_partition(p)).collect();
        let fair = self.fair_share(members);
        if owned.len() > fair {
            let surplus: Vec<u32> = owned.iter().rev().take(owned.len() - fair).copied().collect();
            for partition in surplus {
                Statement::new(
                    "UPDATE herald_leases SET owner = NULL, expires_at = 0 \
                     WHERE scope = $1 AND owner = $2 AND partition = $3",
                )
                .bind(scope)
                .bind(owner)
                .bind(i64::from(partition))
                .execute::<DB>(&mut *tx)
                .await?;
                owned.remove(&partition);
            }
        } else if owned.len() < fair {
            let wanted = i64::try_from(fair - owned.len()).unwrap_or(0);
            let claim = format!(
                "UPDATE herald_leases SET owner = $2, expires_at = {now} + $3 \
                 WHERE scope = $1 AND partition IN ( \
                     SELECT partition FROM herald_leases \
                     WHERE scope = $1 AND (owner IS NULL OR expires_at <= {now}) \
                     ORDER BY partition LIMIT $4 {skip_locked}) \
                 RETURNING partition"
            );
            let claimed: Vec<(i32,)> = Statement::new(&claim)
                .bind(scope)
                .bind(owner)
                .bind(ttl)
                .bind(wanted)
                .fetch_all::<DB, _>(&mut *tx)
                .await?;
            owned.extend(claimed.into_iter().map(|(p,)| to_partition(p)));
        }
        // Members silent for a minute are forgotten.
        let forget = format!(
            "DELETE FROM herald_lease_members WHERE scope = $1 AND expires_at <= {now} - 60000000"
        );
        Statement::new(&forget).bind(scope).execute::<DB>(&mut *tx).await?;
        tx.commit().await?;
        Ok(owned)
    }
}

fn to_partition(partition: i32) -> u32 {
    u32::try_from(partition).unwrap_or(0)
}
