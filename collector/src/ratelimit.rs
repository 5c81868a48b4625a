//! Per-app token buckets (events per second with a burst allowance).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(events_per_sec: u64, burst: u64) -> Self {
        RateLimiter {
            rate: events_per_sec as f64,
            burst: burst.max(events_per_sec) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` tokens for `app`; on refusal returns seconds to wait.
    pub fn take(&self, app: &str, n: u64, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut b) = self.buckets.lock() else {
            return Ok(());
        };
        let entry = b.entry(app.to_string()).or_insert((self.burst, now));
        let elapsed = now.saturating_duration_since(entry.1).as_secs_f64();
        entry.0 = (entry.0 + elapsed * self.rate).min(self.burst);
        entry.1 = now;
        let need = n as f64;
        if entry.0 >= need {
            entry.0 -= need;
            Ok(())
        } else {
            Err(((need - entry.0) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refuses_beyond_burst_and_refills() {
        let rl = RateLimiter::new(100, 200);
        let t = Instant::now();
        assert!(rl.take("a", 150, t).is_ok());
        assert_eq!(rl.take("a", 100, t), Err(1));
        assert!(rl.take("b", 100, t).is_ok(), "per app");
        assert!(rl.take("a", 100, t + Duration::from_secs(1)).is_ok());
        assert!(
            RateLimiter::new(0, 0).take("a", 1_000_000, t).is_ok(),
            "0 disables"
        );
    }
}
