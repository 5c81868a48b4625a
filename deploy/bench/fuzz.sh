#!/usr/bin/env bash
# Fuzzing: every cargo-fuzz (libFuzzer) target under fuzz/ for a fixed time,
# one after the other (niced, one libFuzzer process at a time), seeded from
# the real fixtures in tests/fixtures and the repo's own examples, and
# re-running the saved crash inputs in fuzz/regressions/<target>/ first.
#
#   deploy/bench/fuzz.sh [SECONDS_PER_TARGET]   (default 600; CI's short mode: 20)
#
# Prints a Markdown table (target, seconds, executions, exec/s, crashes), the
# date and the commit. Exits non-zero if any target crashed (panic, sanitizer
# report, timeout, out-of-memory) or could not run; the crashing inputs are
# kept under $VITALS_FUZZ_DIR/artifacts/<run>/<target>/ and named in the output.
#
# Environment:
#   VITALS_FUZZ_DIR      corpus, seeds and artifacts (default $HOME/.cache/vitals-fuzz;
#                        the corpus grows across runs there, outside the repo)
#   VITALS_FIXTURES      the fixtures (default tests/fixtures)
#   VITALS_FUZZ_TARGETS  space-separated subset of targets (default: all)
#   VITALS_FUZZ_TIMEOUT  seconds one input may take before it counts as a crash (default 30)
#   VITALS_FUZZ_RSS_MB   memory limit of a fuzzer process in MB (default 2048)
#   VITALS_FUZZ_SANITIZER  address (default) or none: CI's short form builds
#                        without AddressSanitizer (coverage-guided libFuzzer,
#                        debug assertions and overflow checks still on) on the
#                        stable toolchain, so it needs no nightly
#   VITALS_FUZZ_TARGET_DIR  build directory (default fuzz/target)
#
# Needs the nightly toolchain (libFuzzer's sanitizer flags) and cargo-fuzz;
# installs cargo-fuzz with `cargo install cargo-fuzz --locked` when missing.
# Builds into fuzz/target (git-ignored), with debug assertions and overflow
# checks on, AddressSanitizer on.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

secs=${1:-600}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]   (a positive whole number; default 600)" >&2
  exit 2
fi
all_targets="batch_decode sentry_envelope minidump_intake apple_report proguard_intake sourcemap_intake policy_parse"
targets=${VITALS_FUZZ_TARGETS:-$all_targets}
fuzz_dir=${VITALS_FUZZ_DIR:-$HOME/.cache/vitals-fuzz}
fixtures=${VITALS_FIXTURES:-$root/tests/fixtures}
timeout=${VITALS_FUZZ_TIMEOUT:-30}
rss_mb=${VITALS_FUZZ_RSS_MB:-2048}

sanitizer=${VITALS_FUZZ_SANITIZER:-address}
target_dir=${VITALS_FUZZ_TARGET_DIR:-$root/fuzz/target}

# --- toolchain -------------------------------------------------------------
# AddressSanitizer needs nightly; without it, the stable compiler with
# RUSTC_BOOTSTRAP=1 accepts cargo-fuzz's flags.
if [ "$sanitizer" = none ]; then
  toolchain=+stable
  export RUSTC_BOOTSTRAP=1
elif rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=+nightly
else
  echo "fuzz.sh: AddressSanitizer needs the nightly Rust toolchain (or VITALS_FUZZ_SANITIZER=none)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2
  nice -n 10 cargo install cargo-fuzz --locked
fi

# --- build (one cargo build, niced; the machine is shared) -----------------
echo "fuzz.sh: building fuzz targets (cargo $toolchain fuzz build -a -s $sanitizer) …" >&2
(cd fuzz && nice -n 10 cargo "$toolchain" fuzz build -a -s "$sanitizer" --target-dir "$target_dir") >&2
bin_dir=$target_dir/x86_64-unknown-linux-gnu/release
# The commit the binaries were built from (HEAD may move during a long run).
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with local changes)')"

# --- seeds, made fresh from the fixtures at every run (never committed) ----
seeds=$fuzz_dir/seeds
rm -rf "$seeds"
mkdir -p "$seeds"
if [ ! -d "$fixtures" ]; then
  echo "fuzz.sh: no fixtures at $fixtures: seeding from the repo alone" >&2
fi
FIXTURES=$fixtures SEEDS=$seeds ROOT=$root python3 - <<'PY'
import glob, gzip, json, os, re, struct, sys, zlib

fx, out, root = os.environ["FIXTURES"], os.environ["SEEDS"], os.environ["ROOT"]
n = {}

def seed(target, data, name=None):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    n[target] = n.get(target, 0) + 1
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name or f"seed-{n[target]:04d}"), "wb") as f:
        f.write(data)

def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()

def fixture_files(pattern):
    return sorted(glob.glob(os.path.join(fx, pattern), recursive=True))

# batch_decode: the complete example batch of docs/protocol.md (§6), as is
# and compressed the ways the collector accepts, plus one per event kind.
doc = read(os.path.join(root, "docs/protocol.md"), "r")
m = re.search(r"## 6\. Complete example batch.*?```json\n(.*?)```", doc, re.S)
if m:
    batch = m.group(1)
    for data in (batch.encode(), gzip.compress(batch.encode()), zlib.compress(batch.encode())):
        seed("batch_decode", data)
    b = json.loads(batch)
    for ev in b["events"]:
        one = dict(b, events=[ev])
        seed("batch_decode", json.dumps(one, separators=(",", ":")))

# sentry_envelope: envelopes captured from the real Python and Node SDKs.
for p in fixture_files("sdk-captures/*/*.envelope"):
    seed("sentry_envelope", read(p))

# minidump_intake: every minidump of the fixtures, and the microdumps (text
# that arrives through the same minidump attachment path).
for p in fixture_files("minidump/**/*.dmp") + fixture_files("android/breakpad-microdump/*.dmp"):
    seed("minidump_intake", read(p))

# apple_report: .crash texts, KSCrash JSON events, and the .ips example of
# the symbolicator's unit tests.
for p in fixture_files("apple/apple-crash-report-parser/*.txt") + fixture_files(
    "apple/crashprobe-ios/reports-debug-arm64/*.json"
):
    seed("apple_report", read(p))
# Compact copies as well (a few frames per thread, the images they use):
# the full reports are 50-180 KB, slow to mutate.
def compact_text(text):
    out, frames, images = [], 0, -1
    for line in text.splitlines():
        if re.match(r"^Thread \d+", line):
            frames = 0
        elif re.match(r"^\d+\s+\S", line):
            frames += 1
            if frames > 8:
                continue
        if line.startswith("Binary Images:"):
            images = 0
        elif images >= 0:
            images += 1
            if images > 12:
                continue
        out.append(line)
    return "\n".join(out) + "\n"
def compact_event(ev):
    def trim(st):
        if isinstance(st, dict) and isinstance(st.get("frames"), list):
            st["frames"] = st["frames"][-8:]
        return st
    for exc in ev.get("exception", {}).get("values", []):
        trim(exc.get("stacktrace"))
    threads = ev.get("threads", {}).get("values", [])
    threads = [t for t in threads if t.get("crashed")] + [t for t in threads if not t.get("crashed")][:2]
    for t in threads:
        trim(t.get("stacktrace"))
    if "threads" in ev:
        ev["threads"]["values"] = threads
    addrs = set()
    for st in [e.get("stacktrace") for e in ev.get("exception", {}).get("values", [])] + [t.get("stacktrace") for t in threads]:
        for f in (st or {}).get("frames", []):
            addrs.add(f.get("image_addr"))
    imgs = ev.get("debug_meta", {}).get("images", [])
    if imgs:
        ev["debug_meta"]["images"] = [i for i in imgs if i.get("image_addr") in addrs][:12]
    return json.dumps(ev, separators=(",", ":"))
for p in fixture_files("apple/apple-crash-report-parser/*.txt"):
    seed("apple_report", compact_text(read(p, "r")))
for p in fixture_files("apple/crashprobe-ios/reports-debug-arm64/*.json"):
    seed("apple_report", compact_event(json.loads(read(p, "r"))))
apple_rs = read(os.path.join(root, "symbolicator/src/apple.rs"), "r")
for ips in re.findall(r'r#"(\{"app_name".*?)"#', apple_rs, re.S):
    seed("apple_report", ips)

# proguard_intake: mapping NUL trace, from the retrace vectors; each mapping
# file alone.
pg = os.path.join(fx, "android/proguard")
vec = os.path.join(pg, "retrace_vectors.jsonl")
if os.path.exists(vec):
    for line in read(vec, "r").splitlines():
        v = json.loads(line)
        mapping = v.get("mapping_inline")
        if mapping is None:
            mapping = read(os.path.join(pg, v["mapping_file"]), "r")
        seed("proguard_intake", mapping.encode() + b"\0" + v["input"].encode())
for p in fixture_files("android/proguard/mapping*.txt"):
    seed("proguard_intake", read(p))

# sourcemap_intake: minified NUL map NUL positions (u16 LE line, column),
# from the lookup vectors; then every map with its minified file if any.
def pos(cases, mapname):
    return b"".join(
        struct.pack("<HH", min(c["pos"][0], 65535), min(c["pos"][1], 65535))
        for c in cases if c.get("map") == mapname
    )
for base in ("sourcemaps/symbolic-sourcemapcache", "sourcemaps/rust-sourcemap"):
    d = os.path.join(fx, base)
    exp = os.path.join(d, "expected_lookups.json")
    cases = json.loads(read(exp, "r")).get("cases", []) if os.path.exists(exp) else []
    minified_of = {c["map"]: c["minified"] for c in cases if c.get("minified")}
    for mp in sorted(glob.glob(os.path.join(d, "**/*.map"), recursive=True)):
        rel = os.path.relpath(mp, d)
        minified = os.path.join(d, minified_of[rel]) if rel in minified_of else mp[: -len(".map")]
        src = read(minified) if os.path.isfile(minified) else b""
        seed("sourcemap_intake", src + b"\0" + read(mp) + b"\0" + pos(cases, rel))

# policy_parse: the built-in policy and the TOML snippets of the analyzer's
# and the gate's tests.
seed("policy_parse", read(os.path.join(root, "analyzer/policy/standard.toml")))
for src in ("analyzer/src/policy.rs", "tests/gate.rs", "alerts/src/rule.rs"):
    p = os.path.join(root, src)
    if os.path.exists(p):
        text = read(p, "r")
        raw = re.findall(r'r#"(.*?)"#', text, re.S)
        plain = [re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), q)
                 for q in re.findall(r'"((?:[^"\\]|\\.)*)"', text)]
        for s in raw + plain:
            if "[[rule]]" in s or "[[override]]" in s:
                seed("policy_parse", s)

for t, c in sorted(n.items()):
    print(f"fuzz.sh: {c} seeds for {t}", file=sys.stderr)
PY

# Debug files the minidump target loads into its (temporary) store, so
# dumps of the fixtures' programs get CFI and symbols.
syms=$(find "$fixtures/minidump" \( -name '*.sym' -o -name 'crash.debug' -o -name 'crash.pdb' -type f \) \
  2>/dev/null | sort | tr '\n' ':')
export VITALS_FUZZ_SYMBOLS=${syms%:}

dict_of() {
  case $1 in
    batch_decode) echo batch ;;
    sentry_envelope) echo envelope ;;
    apple_report) echo apple ;;
    proguard_intake) echo proguard ;;
    sourcemap_intake) echo sourcemap ;;
    policy_parse) echo policy ;;
    *) echo "" ;;
  esac
}

# --- run ---------------------------------------------------------------------
run_id=$(date -u +%Y%m%dT%H%M%SZ)
art_root=$fuzz_dir/artifacts/$run_id
logs=$fuzz_dir/logs/$run_id
mkdir -p "$art_root" "$logs"
tmp_root=$(mktemp -d "${TMPDIR:-/tmp}/vitals-fuzz.XXXXXX")
trap 'rm -rf "$tmp_root"' EXIT

rows=()
failed=0
for t in $targets; do
  bin=$bin_dir/$t
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: no such fuzz target: $t" >&2
    rows+=("| $t | 0 | 0 | 0 | not built |")
    failed=1
    continue
  fi
  corpus=$fuzz_dir/corpus/$t
  art=$art_root/$t
  mkdir -p "$corpus" "$art" "$seeds/$t"
  dirs=("$corpus" "$seeds/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  args=(-max_total_time="$secs" -print_final_stats=1 -timeout="$timeout" -rss_limit_mb="$rss_mb"
    -artifact_prefix="$art/" -close_fd_mask=1)
  # Inputs longer than this are cut when loaded: the full Apple reports
  # (up to 180 KB) are slow to mutate; compact copies are among the seeds.
  case $t in
    apple_report) args+=(-max_len=16384) ;;
  esac
  d=$(dict_of "$t")
  [ -n "$d" ] && args+=(-dict="fuzz/dict/$d.dict")
  echo "fuzz.sh: $t for ${secs}s …" >&2
  start=$(date +%s.%N)
  set +e
  TMPDIR=$tmp_root nice -n 10 "$bin" "${args[@]}" "${dirs[@]}" >"$logs/$t.log" 2>&1
  rc=$?
  set -e
  end=$(date +%s.%N)
  elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
  execs=$(awk -F: '/stat::number_of_executed_units/ { n = $NF } END { print n + 0 }' "$logs/$t.log")
  rate=$(awk -v n="$execs" -v s="$elapsed" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  crashes=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then
    # Died without leaving an input (e.g. a crash while loading the corpus).
    crashes=1
  fi
  if [ "$crashes" != 0 ]; then
    failed=1
    echo "fuzz.sh: $t CRASHED (exit $rc); inputs in $art, log $logs/$t.log:" >&2
    grep -m1 -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)|==ERROR' "$logs/$t.log" >&2 || tail -20 "$logs/$t.log" >&2
    ls "$art" >&2
  fi
  rows+=("| $t | $elapsed | $execs | $rate | $crashes |")
done

echo
echo "Fuzzing, ${secs} s per target — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
echo
echo "| target | seconds | executions | exec/s | crashes |"
echo "| --- | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
echo
echo "Corpus: $fuzz_dir/corpus; logs: $logs"
exit "$failed"
