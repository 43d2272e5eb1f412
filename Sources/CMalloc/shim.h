#ifndef SPOOL_CMALLOC_SHIM_H
#define SPOOL_CMALLOC_SHIM_H
#if __has_include(<malloc.h>)
#include <malloc.h>
#endif

// glibc's mallopt(M_ARENA_MAX, n), which Swift's Glibc module does not import. Elsewhere (musl,
// Darwin) there are no per-thread arenas to limit and this does nothing. Returns 1 when set.
static inline int spool_limit_malloc_arenas(int count) {
#if defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}
#endif
