//! Cron schedules in the configured time zone (never the server's), and
//! the clock they run on, injectable so tests never sleep.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// The time source. Production uses [`SystemClock`]; tests pass times in.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A parsed cron expression (`sec min hour day-of-month month
/// day-of-week [year]`, the `cron` crate's syntax).
#[derive(Debug, Clone)]
pub struct Cron(cron::Schedule);

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, String> {
        cron::Schedule::from_str(expr)
            .map(Cron)
            .map_err(|e| e.to_string())
    }

    /// The first firing strictly after `after`, in time zone `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.0
            .after(&after.with_timezone(&tz))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether a run is due at `now` given the last run (`None`: never ran,
    /// due at the first firing after `created`).
    pub fn due(
        &self,
        last: Option<DateTime<Utc>>,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> bool {
        let from = last.unwrap_or(created);
        self.next_after(from, tz).is_some_and(|t| t <= now)
    }
}

/// Parses a time zone name (`Asia/Shanghai`); UTC if unknown.
pub fn tz(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// Unix seconds → UTC time.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn daily_digest_runs_at_nine_shanghai_time_not_server_time() {
        let tz = tz("Asia/Shanghai");
        let daily = Cron::parse("0 0 9 * * *").unwrap();
        // 08:59 Shanghai = 00:59 UTC: next run is 09:00 Shanghai the same day.
        let next = daily.next_after(shanghai(2024, 11, 29, 8, 59), tz).unwrap();
        assert_eq!(next, shanghai(2024, 11, 29, 9, 0));
        assert_eq!(next.format("%H:%M").to_string(), "01:00", "01:00 UTC");
        let last = Some(shanghai(2024, 11, 28, 9, 0));
        let created = shanghai(2024, 1, 1, 0, 0);
        assert!(!daily.due(last, created, shanghai(2024, 11, 29, 8, 59), tz));
        assert!(daily.due(last, created, shanghai(2024, 11, 29, 9, 0), tz));
    }

    #[test]
    fn weekly_report_runs_on_monday_and_rule_cadence_every_five_minutes() {
        let tz = tz("Asia/Shanghai");
        let weekly = Cron::parse("0 0 9 * * Mon").unwrap();
        // 2024-11-29 is a Friday; the next Monday is 12-02.
        let next = weekly
            .next_after(shanghai(2024, 11, 29, 12, 0), tz)
            .unwrap();
        assert_eq!(next, shanghai(2024, 12, 2, 9, 0));
        let every5 = Cron::parse("0 */5 * * * *").unwrap();
        let t0 = shanghai(2024, 11, 29, 10, 0);
        let runs: Vec<_> = (0..=20)
            .map(|m| t0 + chrono::Duration::minutes(m))
            .scan(Some(t0), |last, now| {
                let due = every5.due(*last, t0, now, tz);
                if due {
                    *last = Some(now);
                }
                Some(due)
            })
            .collect();
        assert_eq!(
            runs.iter().filter(|d| **d).count(),
            4,
            "10:05, 10:10, 10:15, 10:20"
        );
        assert!(Cron::parse("61 * * * * *").is_err());
    }
}
