// Built by tests/native_names.rs with g++ and clang++ at -O2: templates
// (Ledger<long, 64>), an anonymous namespace, inlining (scale, std::string,
// std::vector), cold splits (the unlikely throw and abort), compiler clones
// (.isra, .constprop, .part). Nothing here is run.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <stdexcept>

namespace vitals { namespace risk {
namespace {
__attribute__((noinline)) long check_limit(long amount, long limit) {
    if (__builtin_expect(amount > limit, 0)) {
        std::fprintf(stderr, "limit %ld > %ld\n", amount, limit);
        throw std::runtime_error(std::string("over limit"));
    }
    return limit - amount;
}
}

template <typename T, unsigned long N>
struct Ledger {
    T entries[N];
    unsigned long count = 0;
    __attribute__((noinline)) void post(T v) {
        if (count < N) { entries[count] = v * 3 + (T)count; ++count; }
        else std::abort();
    }
    T sum() const { T s = 0; for (unsigned long i = 0; i < count; ++i) s += entries[i]; return s; }
};

static inline long scale(long v, int f) { return v * f + 7; }

static long write_balance(std::vector<long>& out, long v, long unused) {
    (void)unused;
    out.push_back(scale(v, 3));
    return (long)out.size();
}

// Partly inlined: the cheap test is copied into callers (a .part clone).
static long tally(const std::vector<long>& v, int k) {
    if (v.empty()) return 0;
    long t = 0;
    for (long x : v) t += x % (k + 3);
    for (long x : v) if (x > 1000000) { std::fprintf(stderr, "big %ld\n", x); t -= x / 7; }
    return t;
}

__attribute__((noinline)) long run(int argc) {
    Ledger<long, 64> l;
    std::vector<long> out;
    for (int i = 0; i < argc * 10; ++i) {
        l.post(check_limit(i, 1000));
        write_balance(out, i, 0);
    }
    std::string label("ledger");
    return l.sum() + (long)label.size() + out[0] + tally(out, argc);
}
}}

int main(int argc, char**) {
    try { return (int)vitals::risk::run(argc) & 1; } catch (const std::exception& e) { std::puts(e.what()); return 2; }
}
