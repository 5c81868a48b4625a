//! 5: each scheduled job has exactly one leader (`vitals_leader{job}`),
//! and after `kill -9` of the leader the survivor takes over.

use crate::cluster::*;
use crate::common::*;
use std::time::{Duration, Instant};

const JOBS: [&str; 2] = ["alerts", "prober"];

/// `vitals_leader{job}` of each job on each running node (None: not
/// running or not answering).
fn leaders(c: &Cluster) -> Vec<[Option<f64>; 2]> {
    let texts: Vec<Option<String>> = (0..2)
        .map(|i| c.nodes[i].as_ref().and_then(Vitals::metrics_text))
        .collect();
    JOBS.iter()
        .map(|job| {
            [0, 1].map(|i| {
                texts[i]
                    .as_deref()
                    .and_then(|t| metric_sample(t, "vitals_leader", &format!("job=\"{job}\"")))
            })
        })
        .collect()
}

/// The lease holders in the control plane: job → node id.
pub fn lease_holders(c: &Cluster) -> Vec<(String, String)> {
    let rows = psql_query(
        &c.pg.url,
        "SELECT name, holder FROM leases WHERE expires_at > extract(epoch from now()) ORDER BY name",
    )
    .expect("read leases");
    rows.lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Polls until, for every job, exactly one of `candidates` reports 1 and
/// every other running node 0, the same way on `rounds` consecutive polls
/// spanning more than a lease period; returns the leader per job.
pub async fn stable_leaders(c: &Cluster, candidates: &[usize], rounds: u32) -> Vec<usize> {
    let deadline = Instant::now() + PATIENCE;
    let (mut last, mut same) = (Vec::new(), 0);
    loop {
        let seen = leaders(c);
        let pick: Option<Vec<usize>> = seen
            .iter()
            .map(|per| {
                let ones: Vec<usize> = (0..2).filter(|&i| per[i] == Some(1.0)).collect();
                let others_zero = (0..2)
                    .filter(|i| !ones.contains(i) && c.nodes[*i].is_some())
                    .all(|i| per[i] == Some(0.0));
                match ones.as_slice() {
                    [one] if candidates.contains(one) && others_zero => Some(*one),
                    _ => None,
                }
            })
            .collect();
        match pick {
            Some(p) if p == last => same += 1,
            Some(p) => {
                last = p;
                same = 1;
            }
            None => same = 0,
        }
        if same >= rounds {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "no stable single leader per job among {candidates:?} within {PATIENCE:?}: {seen:?}\n\
             node a:\n{}\nnode b:\n{}",
            c.log_tail(0),
            c.log_tail(1)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_per_job_and_the_survivor_of_a_kill_9_takes_over() {
    let Some(mut c) = Cluster::new("leader") else {
        return;
    };
    c.start_both();
    // Stable over 2 × lease (renewals every lease / 3).
    let rounds = (4 * LEASE_SECS) as u32 + 1;
    let lead = stable_leaders(&c, &[0, 1], rounds).await;
    let holders = lease_holders(&c);
    let want: Vec<(String, String)> = JOBS
        .iter()
        .zip(&lead)
        .map(|(j, &i)| (j.to_string(), NODE_IDS[i].to_string()))
        .collect();
    assert_eq!(holders, want, "the gauges name the lease holders");

    // kill -9 the alert scheduler's leader: no clean release, so the
    // survivor takes over when the lease expires.
    let victim = lead[0];
    let survivor = 1 - victim;
    c.kill9(victim);
    let lead = stable_leaders(&c, &[survivor], 3).await;
    assert_eq!(lead, vec![survivor; 2]);
    assert_eq!(
        lease_holders(&c),
        JOBS.iter()
            .map(|j| (j.to_string(), NODE_IDS[survivor].to_string()))
            .collect::<Vec<_>>(),
        "the survivor holds every lease"
    );

    // The killed node comes back under the same name: it does not take
    // the leases back while the survivor renews them.
    c.start(victim);
    let lead = stable_leaders(&c, &[survivor], rounds).await;
    assert_eq!(lead, vec![survivor; 2]);
    let back = leaders(&c);
    for (job, per) in JOBS.iter().zip(&back) {
        assert_eq!(per[victim], Some(0.0), "{job}: the restarted node follows");
    }
}

// ---------------------------------------------------------------------------
// 5: debug files uploaded through one node, used by the other
