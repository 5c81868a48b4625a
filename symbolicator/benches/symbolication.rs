//! Symbolication benchmarks (harness = false), each against raw `symbolic`
//! calls on the same files in the same run:
//!
//! 1. warm symbolication of a 50-frame native stack (CrashLibiOS dSYM);
//! 2. cold SymCache build for the 3.7 MB CrashLibiOS dSYM and the 4 MB
//!    `crash-client.sym`;
//! 3. memory: the in-memory cache tier stays within its budget.
//!
//! `cargo bench -p vitals-symbolicator --bench symbolication`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use symbolic_debuginfo::Archive;
use symbolic_demangle::{Demangle, DemangleOptions};
use symbolic_symcache::{SymCache, SymCacheConverter};
use vitals_symbolicator::cache::CacheLimits;
use vitals_symbolicator::store::UploadHints;
use vitals_symbolicator::{Config, Symbolicator};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/")).join(rel)
}

const DSYM: &str = "apple/crashprobe-ios/dSYMs/arm64-CrashLibiOS.framework.dSYM/Contents/Resources/DWARF/CrashLibiOS";
const SYM: &str = "minidump/rust-minidump/symbols/crash-client/509C0610949836F7B70BD88BCF03E5400/crash-client.sym";

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn build_raw(data: &[u8]) -> Vec<u8> {
    let archive = Archive::parse(data).expect("archive");
    let object = archive.objects().next().expect("object").expect("object");
    let mut conv = SymCacheConverter::new();
    conv.process_object(&object).expect("process");
    let mut out = Vec::new();
    conv.serialize(&mut out).expect("serialize");
    out
}

fn main() {
    let dsym = std::fs::read(fixture(DSYM)).expect("dSYM fixture");
    let sym = std::fs::read(fixture(SYM)).expect("sym fixture");
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);

    // ---- 1. warm 50-frame stack ------------------------------------------
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::new(dir.path());
    cfg.workers = 1;
    cfg.cache = CacheLimits {
        memory_bytes: 64 << 20,
        disk_bytes: 1 << 30,
    };
    let s = Symbolicator::start(cfg).expect("start");
    let put = s
        .store()
        .put("bench", "CrashLibiOS", &dsym, &UploadHints::default())
        .expect("put");
    let debug_id = put.meta.objects[0].debug_id.clone();
    let symcache_bytes = build_raw(&dsym);
    let addrs: Vec<u64> = {
        let cache = SymCache::parse(&symcache_bytes).expect("symcache");
        let fns: Vec<u64> = cache
            .functions()
            .map(|f| u64::from(f.entry_pc()))
            .filter(|a| *a > 0)
            .collect();
        let step = (fns.len() / 50).max(1);
        fns.iter().step_by(step).take(50).map(|a| a + 4).collect()
    };
    assert_eq!(addrs.len(), 50);
    // warm up: build and load the SymCache once
    for a in &addrs {
        s.native()
            .lookup("bench", &debug_id, *a, false)
            .expect("lookup");
    }
    let mut ours = Vec::with_capacity(iters);
    let mut base = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        for (i, a) in addrs.iter().enumerate() {
            black_box(
                s.native()
                    .lookup("bench", &debug_id, *a, i > 0)
                    .expect("lookup"),
            );
        }
        ours.push(t.elapsed());
        let t = Instant::now();
        let cache = SymCache::parse(&symcache_bytes).expect("parse");
        for (i, a) in addrs.iter().enumerate() {
            let addr = if i > 0 { (a & !3) - 4 } else { *a };
            let v: Vec<(String, Option<String>, u32)> = cache
                .lookup(addr)
                .map(|l| {
                    let f = l.function();
                    (
                        f.name_for_demangling()
                            .try_demangle(DemangleOptions::complete())
                            .into_owned(),
                        l.file().map(|f| f.full_path()),
                        l.line(),
                    )
                })
                .collect();
            black_box(v);
        }
        base.push(t.elapsed());
    }
    println!("## warm 50-frame native stack (CrashLibiOS dSYM, {iters} iterations)");
    println!("| | p50 | p90 | p99 |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| vitals-symbolicator (`NativeSymbolizer::lookup` ×50) | {} | {} | {} |",
        us(pct(ours.clone(), 0.5)),
        us(pct(ours.clone(), 0.9)),
        us(pct(ours, 0.99))
    );
    println!(
        "| baseline: raw `SymCache::parse` + `lookup` + demangle ×50 | {} | {} | {} |",
        us(pct(base.clone(), 0.5)),
        us(pct(base.clone(), 0.9)),
        us(pct(base, 0.99))
    );

    // ---- 2. cold SymCache builds ------------------------------------------
    println!();
    println!("## cold SymCache build (median of 5)");
    println!(
        "| file | size | vitals-symbolicator (store put + lazy build + disk write) | baseline: raw `Archive::parse` + `SymCacheConverter` |"
    );
    println!("| --- | --- | --- | --- |");
    for (label, data) in [("CrashLibiOS dSYM", &dsym), ("crash-client.sym", &sym)] {
        let mut ours = Vec::new();
        let mut base = Vec::new();
        for _ in 0..5 {
            let d = tempfile::tempdir().expect("tempdir");
            let mut cfg = Config::new(d.path());
            cfg.workers = 1;
            let s = Symbolicator::start(cfg).expect("start");
            let t = Instant::now();
            let put = s
                .store()
                .put("bench", label, data, &UploadHints::default())
                .expect("put");
            let id = put.meta.objects[0].debug_id.clone();
            black_box(
                s.native()
                    .symcache("bench", &id)
                    .expect("build")
                    .expect("some"),
            );
            ours.push(t.elapsed());
            s.shutdown();
            let t = Instant::now();
            black_box(build_raw(data));
            base.push(t.elapsed());
        }
        println!(
            "| {label} | {:.1} MB | {} | {} |",
            data.len() as f64 / 1e6,
            ms(pct(ours, 0.5)),
            ms(pct(base, 0.5))
        );
    }

    // ---- 3. memory bound ---------------------------------------------------
    let budget = 4u64 << 20;
    let d = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::new(d.path());
    cfg.workers = 1;
    cfg.cache = CacheLimits {
        memory_bytes: budget,
        disk_bytes: 1 << 30,
    };
    let s = Symbolicator::start(cfg).expect("start");
    let a = s
        .store()
        .put("bench", "CrashLibiOS", &dsym, &UploadHints::default())
        .expect("put");
    let b = s
        .store()
        .put("bench", "crash-client.sym", &sym, &UploadHints::default())
        .expect("put");
    let before = rss_kib("VmRSS:");
    let mut max_mem = 0;
    for _ in 0..50 {
        for m in [&a, &b] {
            let id = &m.meta.objects[0].debug_id;
            black_box(
                s.native()
                    .lookup("bench", id, 0x1000, false)
                    .expect("lookup"),
            );
            max_mem = max_mem.max(s.caches().memory_bytes());
        }
    }
    println!();
    println!("## memory");
    println!(
        "in-memory cache budget {} KiB; largest held {} KiB over 100 alternating lookups on two SymCaches; RSS {} KiB → {} KiB (peak {} KiB)",
        budget >> 10,
        max_mem >> 10,
        before,
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:")
    );
    assert!(max_mem <= budget);
}
