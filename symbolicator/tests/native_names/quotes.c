/* Built by tests/native_names.rs with gcc and clang at -O2: static and
 * inline functions, a cold split, constant propagation and IPA-SRA clones,
 * a function in a shared library. Nothing here is run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct quote { const char *sym; long bid, ask; int flags; };

static inline long spread(const struct quote *q) { return q->ask - q->bid; }

static inline long clamp(long v, long lo, long hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

__attribute__((noinline)) static long mid(const struct quote *q, int unused) {
    (void)unused;
    return (q->bid + q->ask) / 2;
}

__attribute__((noinline)) static long weigh(long v, int factor) {
    if (__builtin_expect(v < 0, 0)) {
        fprintf(stderr, "negative %ld\n", v);
        abort();
    }
    return v * factor;
}

long book_value(const struct quote *qs, int n) {
    long total = 0;
    for (int i = 0; i < n; i++) {
        total += clamp(spread(&qs[i]), 0, 1000) + mid(&qs[i], 0);
        total += weigh(qs[i].bid, 4);
    }
    return total;
}

int main(int argc, char **argv) {
    struct quote qs[4];
    for (int i = 0; i < 4; i++) {
        qs[i].sym = argc > i ? argv[i] : "X";
        qs[i].bid = (long)strlen(qs[i].sym) * 10;
        qs[i].ask = qs[i].bid + i;
        qs[i].flags = i;
    }
    printf("%ld\n", book_value(qs, argc < 4 ? argc : 4));
    return 0;
}
