import Foundation

/// A value behind a plain (non-priority-inheriting) pthread mutex.
///
/// `Synchronization.Mutex` on Linux is a priority-inheritance futex: every contended unlock
/// hands the lock to a sleeping waiter, which must be scheduled before anyone can proceed. With
/// eight appenders on two cores that turned the append lane into a convoy (buffered appends:
/// 270,000/s with one thread, 50,000/s with eight). A plain mutex lets a running thread take a
/// just-released lock; the lane's critical sections are a few hundred nanoseconds, so that is
/// the right trade there. The writer's lock is one too, for the opposite reason: it is held
/// for milliseconds (a round of a thousand rows, an acknowledgement's delete and commit), and a
/// waiter on a contended PI futex spins in the kernel while the holder runs (3–4 % of `spool
/// forward --stdin`'s CPU); a waiter on this one sleeps. Both were measured on Linux (glibc);
/// Darwin's default pthread mutex is fair, so there the lane may convoy as `Mutex` did here.
/// Everywhere else Spool uses `Mutex`.
package final class FastLock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        #if DEBUG
        // Taking the lock twice on one thread fails the assertion in `withLock` in debug
        // builds (tests) instead of deadlocking, as `Mutex` would trap.
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        #else
        pthread_mutex_init(mutex, nil)
        #endif
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        let locked = pthread_mutex_lock(mutex)
        assert(locked == 0, "a FastLock taken twice by one thread")
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
