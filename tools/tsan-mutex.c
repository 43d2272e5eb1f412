// Teaches ThreadSanitizer the two steps of Synchronization.Mutex it cannot see (tools/tsan
// preloads it into every test process; docs/reliability.md).
//
// Mutex's fast paths are atomics inlined into our code, so TSan instruments them: an
// uncontended lock is an acquire, an uncontended unlock a release. Its slow paths are not:
// _lockSlow and _unlockSlow live in libswiftSynchronization.so, which is not instrumented, and
// hand the lock over with FUTEX_LOCK_PI / FUTEX_UNLOCK_PI system calls (after a spin of plain
// cmpxchg). A lock taken after waiting therefore has no happens-before edge to the unlock that
// released it, and TSan reports the values the mutex protects as races.
//
// These wrappers interpose the three slow-path symbols, call the real ones, and add the edges
// with TSan's own annotations on the lock word's address (the address the inlined atomics use):
// release before a slow unlock, acquire after a slow lock or a successful slow try-lock. Nothing
// is suppressed: any access that is really unprotected still races with these edges in place.
//
// The functions use Swift's calling convention: `self` (the lock word's address) arrives in
// r13, which is callee-saved, so the real function receives it untouched. x86_64 only.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

static void no_annotation(void *address) { (void)address; }

// Hidden, so the naked functions below reach them relative to rip.
#define HIDDEN __attribute__((visibility("hidden"), used))
HIDDEN void *spool_tsan_real_lock_slow;
HIDDEN void *spool_tsan_real_try_lock_slow;
HIDDEN void *spool_tsan_real_unlock_slow;
HIDDEN void (*spool_tsan_acquire)(void *) = no_annotation;
HIDDEN void (*spool_tsan_release)(void *) = no_annotation;

static void *required(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (!symbol) {
        fprintf(stderr, "tsan-mutex: %s not found (is libswiftSynchronization.so loaded?)\n", name);
        abort();
    }
    return symbol;
}

__attribute__((constructor)) static void resolve(void) {
    // Only processes that load the Swift runtime call the wrappers; others never reach them.
    if (!dlsym(RTLD_NEXT, LOCK_SLOW)) return;
    spool_tsan_real_lock_slow = required(LOCK_SLOW);
    spool_tsan_real_try_lock_slow = required(TRY_LOCK_SLOW);
    spool_tsan_real_unlock_slow = required(UNLOCK_SLOW);
    // Present in processes built with -sanitize=thread only (swift build itself is not).
    void *acquire = dlsym(RTLD_DEFAULT, "__tsan_acquire");
    void *release = dlsym(RTLD_DEFAULT, "__tsan_release");
    if (acquire && release) {
        spool_tsan_acquire = (void (*)(void *))acquire;
        spool_tsan_release = (void (*)(void *))release;
    }
}

// At entry rsp is 8 mod 16; one push makes calls aligned.
__attribute__((naked)) void lock_slow(void) __asm__(LOCK_SLOW);
void lock_slow(void) {
    __asm__ volatile(
        "pushq %r13\n\t"
        "callq *spool_tsan_real_lock_slow(%rip)\n\t"
        "popq %rdi\n\t"
        "jmpq *spool_tsan_acquire(%rip)\n\t");
}

__attribute__((naked)) void try_lock_slow(void) __asm__(TRY_LOCK_SLOW);
void try_lock_slow(void) {
    __asm__ volatile(
        "pushq %r13\n\t"
        "callq *spool_tsan_real_try_lock_slow(%rip)\n\t"
        "popq %rdi\n\t"
        "testb %al, %al\n\t"
        "jz 1f\n\t"
        "pushq %rax\n\t"
        "callq *spool_tsan_acquire(%rip)\n\t"
        "popq %rax\n\t"
        "1: retq\n\t");
}

__attribute__((naked)) void unlock_slow(void) __asm__(UNLOCK_SLOW);
void unlock_slow(void) {
    __asm__ volatile(
        "pushq %r13\n\t"
        "movq %r13, %rdi\n\t"
        "callq *spool_tsan_release(%rip)\n\t"
        "popq %r13\n\t"
        "jmpq *spool_tsan_real_unlock_slow(%rip)\n\t");
}
