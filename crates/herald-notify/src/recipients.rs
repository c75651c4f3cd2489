//! Recipients: locale, time zone, quiet hours, contacts per channel and opt-outs.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use herald_db::{Database, Statement};
use serde::{Deserialize, Serialize};

use crate::{NotifyError, Result, micros};

/// Local quiet hours: messages wait until they end. The end may be before the start
/// (across midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// When they start, local time.
    pub start: NaiveTime,
    /// When they end, local time.
    pub end: NaiveTime,
}

impl QuietHours {
    /// Parses `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Result<QuietHours> {
        let invalid = || NotifyError::Invalid {
            field: "quiet_hours".into(),
            reason: format!("`{text}` is not `HH:MM-HH:MM` (e.g. `22:00-07:00`)"),
        };
        let (start, end) = text.split_once('-').ok_or_else(invalid)?;
        let parse = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| invalid());
        let hours = QuietHours { start: parse(start)?, end: parse(end)? };
        if hours.start == hours.end {
            return Err(invalid());
        }
        Ok(hours)
    }

    /// When a message due at `now` may go: `None` if now is outside the quiet hours in
    /// `zone`, else the end of these quiet hours.
    pub fn hold_until(&self, zone: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&zone);
        let time = local.time();
        let quiet = if self.start < self.end {
            time >= self.start && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !quiet {
            return None;
        }
        let mut day = local.date_naive();
        if time >= self.end {
            day = day.succ_opt()?;
        }
        // The end as a local time; in a DST gap, the first instant after it.
        let mut end = day.and_time(self.end);
        for _ in 0..4 {
            if let Some(at) = zone.from_local_datetime(&end).earliest() {
                return Some(at.with_timezone(&Utc));
            }
            end += Duration::minutes(30);
        }
        Some(now + Duration::hours(1))
    }
}

/// What is known about a recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    /// The recipient's id (the services' user id).
    pub id: String,
    /// The locale templates are chosen by, e.g. `en` or `de-CH`.
    pub locale: String,
    /// An IANA time zone, e.g. `Europe/Zurich`.
    pub timezone: String,
    /// Quiet hours, if any.
    pub quiet_hours: Option<QuietHours>,
    /// Addresses by channel.
    pub contacts: Vec<(String, String)>,
    /// Opt-outs: (channel or `*`, category or `*`).
    pub opt_outs: Vec<(String, String)>,
}

impl Recipient {
    /// The time zone, checked.
    pub fn zone(&self) -> Result<Tz> {
        parse_zone(&self.timezone)
    }

    /// The address for `channel`.
    pub fn contact(&self, channel: &str) -> Option<&str> {
        self.contacts.iter().find(|(c, _)| c == channel).map(|(_, address)| address.as_str())
    }

    /// Whether the recipient opted out of `channel` for `category`.
    pub fn opted_out(&self, channel: &str, category: Option<&str>) -> bool {
        self.opt_outs
            .iter()
            .any(|(c, k)| (c == "*" || c == channel) && (k == "*" || Some(k.as_str()) == category))
    }
}

fn parse_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| NotifyError::Invalid {
        field: "timezone".into(),
        reason: format!("`{name}` is not an IANA time zone (e.g. `Europe/Zurich`)"),
    })
}

/// Checks a channel name.
pub fn check_channel(channel: &str) -> Result<()> {
    if crate::CHANNELS.contains(&channel) {
        return Ok(());
    }
    Err(NotifyError::Invalid {
        field: "channel".into(),
        reason: format!("`{channel}` is not a channel: expected email, sms, push or webhook"),
    })
}

/// Recipients in `herald_recipients`, `herald_contacts` and `herald_preferences`.
#[derive(Debug, Clone)]
pub struct RecipientStore {
    db: Database,
}

impl RecipientStore {
    /// The store over `db`.
    pub fn new(db: Database) -> RecipientStore {
        RecipientStore { db }
    }

    /// Creates or updates a recipient's locale, time zone and quiet hours.
    pub async fn upsert(
        &self,
        id: &str,
        locale: &str,
        timezone: &str,
        quiet_hours: Option<QuietHours>,
    ) -> Result<()> {
        if id.is_empty() || locale.is_empty() {
            return Err(NotifyError::Invalid {
                field: if id.is_empty() { "id" } else { "locale" }.into(),
                reason: "must not be empty".into(),
            });
        }
        parse_zone(timezone)?;
        let (start, end) = match quiet_hours {
            Some(q) => {
                (Some(q.start.format("%H:%M").to_string()), Some(q.end.format("%H:%M").to_string()))
            }
            None => (None, None),
        };
        let sql = "INSERT INTO herald_recipients (id, locale, timezone, quiet_start, quiet_end, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET locale = $2, \
                   timezone = $3, quiet_start = $4, quiet_end = $5, updated_at = $6";
        let statement = Statement::new(sql)
            .bind(id)
            .bind(locale)
            .bind(timezone)
            .bind(start)
            .bind(end)
            .bind(micros(Utc::now()));
        self.db.writer().execute(statement).await?;
        Ok(())
    }

    /// Sets the recipient's address for `channel`.
    pub async fn set_contact(&self, id: &str, channel: &str, address: &str) -> Result<()> {
        check_channel(channel)?;
        if address.trim().is_empty() {
            return Err(NotifyError::Invalid {
                field: "address".into(),
                reason: "must not be empty".into(),
            });
        }
        self.require(id).await?;
        let sql = "INSERT INTO herald_contacts (recipient_id, channel, address) VALUES ($1, $2, $3) \
                   ON CONFLICT (recipient_id, channel) DO UPDATE SET address = $3";
        self.db.writer().execute(Statement::new(sql).bind(id).bind(channel).bind(address)).await?;
        Ok(())
    }

    /// Opts the recipient out of (or back into) `channel` (or `*`) for `category` (or `*`).
    pub async fn set_opt_out(
        &self,
        id: &str,
        channel: &str,
        category: &str,
        opted_out: bool,
    ) -> Result<()> {
        if channel != "*" {
            check_channel(channel)?;
        }
        self.require(id).await?;
        let sql = "INSERT INTO herald_preferences (recipient_id, channel, category, opted_out) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (recipient_id, channel, category) \
                   DO UPDATE SET opted_out = $4";
        let statement = Statement::new(sql).bind(id).bind(channel).bind(category).bind(opted_out);
        self.db.writer().execute(statement).await?;
        Ok(())
    }

    async fn require(&self, id: &str) -> Result<()> {
        match self.get(id).await? {
            Some(_) => Ok(()),
            None => Err(NotifyError::UnknownRecipient { id: id.to_owned() }),
        }
    }

    /// Everything known about a recipient, or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Recipient>> {
        let profile =
            "SELECT locale, timezone, quiet_start, quiet_end FROM herald_recipients WHERE id = $1";
        let contacts =
            "SELECT channel, address FROM herald_contacts WHERE recipient_id = $1 ORDER BY channel";
        let opt_outs = "SELECT channel, category FROM herald_preferences WHERE recipient_id = $1 AND opted_out ORDER BY channel, category";
        let reader = self.db.reader();
        let profile: Option<(String, String, Option<String>, Option<String>)> =
            reader.fetch_optional(Statement::new(profile).bind(id)).await?;
        let Some((locale, timezone, start, end)) = profile else {
            return Ok(None);
        };
        let quiet_hours = match (start, end) {
            (Some(start), Some(end)) => QuietHours::parse(&format!("{start}-{end}")).ok(),
            _ => None,
        };
        let contacts: Vec<(String, String)> =
            reader.fetch_all(Statement::new(contacts).bind(id)).await?;
        let opt_outs: Vec<(String, String)> =
            reader.fetch_all(Statement::new(opt_outs).bind(id)).await?;
        Ok(Some(Recipient { id: id.to_owned(), locale, timezone, quiet_hours, contacts, opt_outs }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    #[test]
    fn quiet_hours_across_midnight_hold_until_the_local_morning() {
        let quiet = QuietHours::parse("22:00-07:00").expect("quiet hours");
        let zurich: Tz = "Europe/Zurich".parse().expect("zone");
        // 23:30 in Zurich (UTC+1 in November) → held until 07:00 Zurich = 06:00 UTC.
        assert_eq!(
            quiet.hold_until(zurich, at("2026-11-21T22:30:00Z")),
            Some(at("2026-11-22T06:00:00Z"))
        );
        // 03:00 local → the same morning.
        assert_eq!(
            quiet.hold_until(zurich, at("2026-11-22T02:00:00Z")),
            Some(at("2026-11-22T06:00:00Z"))
        );
        // 12:00 local → not quiet.
        assert_eq!(quiet.hold_until(zurich, at("2026-11-22T11:00:00Z")), None);
    }

    #[test]
    fn quiet_hours_within_a_day_and_bad_input() {
        let quiet = QuietHours::parse("12:00-13:30").expect("quiet hours");
        let utc: Tz = "UTC".parse().expect("zone");
        assert_eq!(
            quiet.hold_until(utc, at("2026-11-22T12:10:00Z")),
            Some(at("2026-11-22T13:30:00Z"))
        );
        assert_eq!(quiet.hold_until(utc, at("2026-11-22T13:30:00Z")), None);
        for bad in ["22:00", "25:00-07:00", "07:00-07:00", "x"] {
            let error = QuietHours::parse(bad).expect_err(bad);
            assert!(error.to_string().contains("quiet_hours"), "{error}");
        }
    }

    #[test]
    fn opt_outs_match_channel_and_category_wildcards() {
        let recipient = Recipient {
            id: "u".into(),
            locale: "en".into(),
            timezone: "UTC".into(),
            quiet_hours: None,
            contacts: vec![],
            opt_outs: vec![("sms".into(), "*".into()), ("*".into(), "marketing".into())],
        };
        assert!(recipient.opted_out("sms", Some("orders")));
        assert!(recipient.opted_out("email", Some("marketing")));
        assert!(!recipient.opted_out("email", Some("orders")));
        assert!(!recipient.opted_out("email", None));
    }
}
