//! 5 (continued): with two nodes, each cron slot of the alert scheduler
//! fires once. Both nodes are configured as a user would (`[alerts.smtp]`
//! pointing at one real SMTP server on loopback, a daily digest whose
//! schedule is shortened to every few seconds); the mails that arrive are
//! grouped by the slot they belong to (their `Date`, floored to the
//! schedule's period): one per slot, none missing, all from the node
//! holding the scheduler's lease — before and after a `kill -9` of that
//! node.
//!
//! Each node sends from its own address (`[alerts.smtp] from`), which tells
//! the mails apart. The leader is killed right after a mail arrived, so the
//! takeover (lease expiry, at most `lease_secs` plus the one-second renewal
//! round) falls inside one period; a slot that falls inside the takeover is
//! still sent, late, by the new leader (the last run is in the control
//! plane): no slot may be missing.

use crate::cluster::*;
use crate::common::smtp::{Mail, Smtp};
use crate::common::*;
use crate::leader::{lease_holders, stable_leaders};
use std::collections::BTreeSet;

/// The digest's schedule, and its period in seconds (divides a minute, so
/// the slots are the Unix times divisible by it).
const DIGEST_CRON: &str = "*/6 * * * * *";
const PERIOD: i64 = 6;
/// Slots to see before and after the kill.
const SLOTS: usize = 4;

fn address(i: usize) -> String {
    format!("{}@vitals.test", NODE_IDS[i])
}

/// One received digest: its slot and the node that sent it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sent {
    slot: i64,
    node: usize,
    /// Seconds from the slot to the mail's `Date` (for the log).
    late: i64,
    file: String,
}

fn sent(m: &Mail) -> Sent {
    let date = m
        .date()
        .unwrap_or_else(|| panic!("no Date in the mail:\n{}", m.raw));
    let from = m.mail_from();
    let node = (0..2)
        .find(|&i| from == address(i))
        .unwrap_or_else(|| panic!("mail from an unknown sender {from:?}:\n{}", m.raw));
    let subject = m.header("Subject").unwrap_or_default();
    assert!(
        subject.contains("digest") || subject.contains("Digest"),
        "only digests are scheduled here: {subject:?}"
    );
    let slot = date.div_euclid(PERIOD) * PERIOD;
    Sent {
        slot,
        node,
        late: date - slot,
        file: m.file.clone(),
    }
}

/// Every digest received so far, by slot.
fn received(smtp: &Smtp) -> Vec<Sent> {
    let mut all: Vec<Sent> = smtp.mails().iter().map(sent).collect();
    all.sort();
    all
}

/// Exactly one mail per slot, from the first slot seen to the last: no
/// slot twice, none left out.
fn assert_one_per_slot(all: &[Sent]) {
    let slots: Vec<i64> = all.iter().map(|s| s.slot).collect();
    for w in slots.windows(2) {
        assert_eq!(
            w[1] - w[0],
            PERIOD,
            "one mail per {PERIOD}-second slot (0: a slot mailed twice, more: a slot \
             missed): slots {slots:?}\n{all:?}"
        );
    }
}

/// Waits until at least `n` mails arrived; returns how many.
async fn wait_for_mails(smtp: &Smtp, n: usize, what: &str) -> usize {
    eventually(&format!("{n} {what}"), PATIENCE, || {
        let got = received(smtp);
        async move {
            if got.len() >= n {
                Ok(got.len())
            } else {
                Err(format!("{got:?}"))
            }
        }
    })
    .await
}

/// The node that claimed the digest's last run in the control plane.
fn last_run_holder(c: &Cluster) -> String {
    psql_query(
        &c.pg.url,
        "SELECT holder FROM schedule_runs WHERE name = 'alerts:digest'",
    )
    .expect("read schedule_runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cron_slot_mails_once_from_the_leader_also_after_a_kill_9() {
    let mail_dir = tempfile::tempdir().expect("tempdir");
    let Some(smtp) = Smtp::start(mail_dir.path()) else {
        return;
    };
    let port = smtp.port;
    let Some(mut c) = Cluster::new_with("cron", |i| {
        format!(
            r#"
[alerts.smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "vitals {id} <{addr}>"

[alerts.digest]
schedule = "{DIGEST_CRON}"
recipients = ["ops@vitals.test"]
"#,
            id = NODE_IDS[i],
            addr = address(i),
        )
    }) else {
        return;
    };
    c.start_both();
    let lead = stable_leaders(&c, &[0, 1], 3).await[0];
    let survivor = 1 - lead;
    let holder = |c: &Cluster| {
        lease_holders(c)
            .into_iter()
            .find(|(job, _)| job == "alerts")
            .map(|(_, node)| node)
    };
    assert_eq!(
        holder(&c).as_deref(),
        Some(NODE_IDS[lead]),
        "the lease holder"
    );

    // Several slots under one leader.
    let n = wait_for_mails(&smtp, SLOTS, "digests sent").await;
    // Then kill it right after the next mail (the next slot is a period
    // away), with no clean release of its lease.
    wait_for_mails(&smtp, n + 1, "one more digest").await;
    c.kill9(lead);
    let before = received(&smtp);
    assert!(
        before.iter().all(|s| s.node == lead),
        "every mail from the leader {}: {before:?}\nnode a:\n{}\nnode b:\n{}",
        NODE_IDS[lead],
        c.log_tail(0),
        c.log_tail(1)
    );
    assert_one_per_slot(&before);
    assert_eq!(last_run_holder(&c), NODE_IDS[lead]);

    // The survivor takes the lease over and goes on with the schedule.
    assert_eq!(stable_leaders(&c, &[survivor], 3).await[0], survivor);
    assert_eq!(holder(&c).as_deref(), Some(NODE_IDS[survivor]));
    let seen: BTreeSet<String> = before.iter().map(|s| s.file.clone()).collect();
    let all = eventually(
        &format!("{SLOTS} digests after the takeover"),
        PATIENCE,
        || {
            let got = received(&smtp);
            let after = got.iter().filter(|s| !seen.contains(&s.file)).count();
            async move {
                if after >= SLOTS {
                    Ok(got)
                } else {
                    Err(format!("{after} new of {got:?}"))
                }
            }
        },
    )
    .await;
    let after: Vec<&Sent> = all.iter().filter(|s| !seen.contains(&s.file)).collect();
    assert!(
        after.iter().all(|s| s.node == survivor),
        "every mail after the kill from the survivor {}: {after:?}\n{}",
        NODE_IDS[survivor],
        c.log_tail(survivor)
    );
    let last_before = before.last().map(|s| s.slot).unwrap_or_default();
    assert!(
        after.iter().all(|s| s.slot > last_before),
        "no slot of the old leader sent again: {all:?}"
    );
    assert_one_per_slot(&all);
    assert_eq!(last_run_holder(&c), NODE_IDS[survivor]);
    eprintln!(
        "digest (slot, sender, seconds late), {} killed after {last_before}: {:?}",
        NODE_IDS[lead],
        all.iter()
            .map(|s| (s.slot, NODE_IDS[s.node], s.late))
            .collect::<Vec<_>>()
    );
}
