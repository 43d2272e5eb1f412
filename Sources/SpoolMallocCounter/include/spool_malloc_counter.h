#ifndef SPOOL_MALLOC_COUNTER_H
#define SPOOL_MALLOC_COUNTER_H
/* Counts heap allocations of the whole process while enabled. Only useful when this library is
   preloaded (LD_PRELOAD), which is what `spool bench log` does to report allocations per call. */
void spool_malloc_counter_enable(int on);
unsigned long long spool_malloc_counter_count(void);
#endif
