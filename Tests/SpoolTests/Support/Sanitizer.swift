import Foundation

/// What the test process was built with.
enum Sanitizer {
    /// Whether ThreadSanitizer is on (`swift test --sanitize=thread`, `tools/tsan`): its runtime
    /// is linked into the process then, so its entry point resolves.
    static let thread: Bool = dlsym(dlopen(nil, RTLD_LAZY), "__tsan_init") != nil
}
