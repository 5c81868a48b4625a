//! The process's memory allocator and its figures on `/metrics`.
//!
//! On Linux the binary uses jemalloc instead of glibc's malloc: under the
//! collector's request churn (many short-lived buffers freed on other
//! threads than the ones that allocated them) glibc's per-thread arenas
//! kept freed memory, and the 30-minute soak saw the RSS creep upwards
//! (docs/RELIABILITY.md). jemalloc returns unused pages to the system
//! after a decay time, so RSS follows live memory.
//!
//! [`AllocatorStats`] exports what the allocator holds, read at each
//! scrape: `allocated` (live bytes the program asked for), `active`,
//! `resident` (physically mapped, what RSS sees of the heap), `mapped` and
//! `retained`. A rising `allocated` is a leak; a rising `resident` with a
//! flat `allocated` is fragmentation.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};

#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One allocator figure, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figure {
    pub state: &'static str,
    pub bytes: u64,
}

/// The allocator's current figures (none when not built with jemalloc).
pub fn figures() -> Vec<Figure> {
    #[cfg(target_os = "linux")]
    {
        use tikv_jemalloc_ctl::{epoch, stats};
        // The statistics are cached; advancing the epoch refreshes them.
        if epoch::advance().is_err() {
            return Vec::new();
        }
        let read = [
            ("allocated", stats::allocated::read()),
            ("active", stats::active::read()),
            ("resident", stats::resident::read()),
            ("mapped", stats::mapped::read()),
            ("retained", stats::retained::read()),
        ];
        read.into_iter()
            .filter_map(|(state, v)| {
                v.ok().map(|b| Figure {
                    state,
                    bytes: b as u64,
                })
            })
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// A Prometheus collector for [`figures`]:
/// `vitals_allocator_bytes{state="allocated|active|resident|mapped|retained"}`.
pub struct AllocatorStats {
    gauge: IntGaugeVec,
}

impl AllocatorStats {
    pub fn new() -> Self {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "vitals_allocator_bytes",
                "Heap bytes held by the memory allocator, by state (allocated = live)",
            ),
            &["state"],
        )
        .expect("valid metric");
        AllocatorStats { gauge }
    }
}

impl Default for AllocatorStats {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for AllocatorStats {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for f in figures() {
            self.gauge
                .with_label_values(&[f.state])
                .set(i64::try_from(f.bytes).unwrap_or(i64::MAX));
        }
        self.gauge.collect()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn allocated() -> u64 {
        figures()
            .iter()
            .find(|f| f.state == "allocated")
            .map(|f| f.bytes)
            .expect("jemalloc reports allocated bytes")
    }

    #[test]
    fn live_bytes_follow_allocations_and_the_collector_exports_them() {
        let before = allocated();
        let block = vec![7u8; 64 << 20];
        let during = allocated();
        assert!(
            during >= before + (64 << 20) - (1 << 20),
            "{before} → {during}"
        );
        drop(block);
        assert!(allocated() + (32 << 20) < during);

        let r = prometheus::Registry::new();
        r.register(Box::new(AllocatorStats::new()))
            .expect("register");
        let fams = r.gather();
        let fam = fams
            .iter()
            .find(|f| f.get_name() == "vitals_allocator_bytes")
            .expect("family");
        let states: Vec<_> = fam
            .get_metric()
            .iter()
            .flat_map(|m| m.get_label().iter().map(|l| l.get_value().to_string()))
            .collect();
        for s in ["allocated", "active", "resident", "mapped", "retained"] {
            assert!(states.iter().any(|x| x == s), "{s} missing in {states:?}");
        }
        assert!(
            fam.get_metric()
                .iter()
                .all(|m| m.get_gauge().get_value() > 0.0
                    || m.get_label()[0].get_value() == "retained")
        );
    }
}
