// An LD_PRELOAD allocation counter for `spool bench log`: malloc and friends forward to the
// next definition (glibc's) and count calls while counting is on. Never linked into `spool`.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include "spool_malloc_counter.h"

static _Atomic unsigned long long allocations = 0;
static _Atomic int counting = 0;

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);

// dlsym may allocate (calloc) before the real functions are known: serve it from here.
static char bootstrap[4096];
static size_t bootstrap_used = 0;
static int resolving = 0;

static void resolve(void) {
    if (next_malloc || resolving) return;
    resolving = 1;
    next_calloc = dlsym(RTLD_NEXT, "calloc");
    next_malloc = dlsym(RTLD_NEXT, "malloc");
    next_realloc = dlsym(RTLD_NEXT, "realloc");
    next_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    next_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    resolving = 0;
}

static inline void note(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    }
}

void *malloc(size_t size) {
    resolve();
    note();
    return next_malloc(size);
}

void *calloc(size_t count, size_t size) {
    if (!next_calloc) {
        resolve();
        if (!next_calloc) {  // inside dlsym: a zeroed slice of the bootstrap buffer
            size_t bytes = (count * size + 15) & ~(size_t)15;
            if (bootstrap_used + bytes > sizeof bootstrap) return NULL;
            void *slice = bootstrap + bootstrap_used;
            bootstrap_used += bytes;
            memset(slice, 0, bytes);
            return slice;
        }
    }
    note();
    return next_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    resolve();
    note();
    return next_realloc(pointer, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    resolve();
    note();
    return next_posix_memalign(result, alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    resolve();
    note();
    return next_aligned_alloc(alignment, size);
}

void free(void *pointer) {
    static void (*next_free)(void *);
    if ((char *)pointer >= bootstrap && (char *)pointer < bootstrap + sizeof bootstrap) return;
    if (!next_free) next_free = dlsym(RTLD_NEXT, "free");
    next_free(pointer);
}

void spool_malloc_counter_enable(int on) { atomic_store(&counting, on); }
unsigned long long spool_malloc_counter_count(void) { return atomic_load(&allocations); }
