import Foundation
import Spool
import Synchronization

/// The demo's sample app: a small shop logging checkouts, payments and stock changes through
/// ``SpoolLogger`` and a ``SpoolStoreHandler``, paced over a few seconds. Every message holds
/// `#<n>`, the demo id the receiver counts entries by (``EntryID/demoID``).
final class DemoApp: Sendable {
    let store: SpoolStore
    let entries: Int
    let duration: Duration
    private let count = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)

    init(store: SpoolStore, entries: Int, duration: Duration) {
        self.store = store
        self.entries = entries
        self.duration = duration
    }

    /// Entries logged so far.
    var written: Int { count.load(ordering: .acquiring) }
    /// Appends that failed (reported to the logger's fallback); none expected.
    var handlerFailures: Int { failures.load(ordering: .acquiring) }

    func run() async {
        let log = SpoolLogger(topic: "shop", handlers: [SpoolStoreHandler(store)])
        let checkout = log.child("checkout"), payment = log.child("payment"), stock = log.child("inventory")
        let chunk = 50
        let pause = duration / max(1, (entries + chunk - 1) / chunk)
        var next = 1
        while next <= entries {
            for id in next..<min(entries + 1, next + chunk) {
                let order: JSONValue = .int(Int64(10_000 + id / 3))
                switch id % 10 {
                case 0: payment.warning("card declined, asking the customer again #\(id)", context: ["order": order, "attempt": 1])
                case 1, 2, 3: payment.info("payment captured #\(id)", context: ["order": order, "amount_cents": .int(Int64(199 + id % 5000))])
                case 4, 5: stock.info("stock reserved #\(id)", context: ["sku": .string("SKU-\(id % 97)"), "left": .int(Int64(id % 40))])
                default: checkout.info("order checked out #\(id)", context: ["order": order, "items": .int(Int64(1 + id % 4))])
                }
                count.add(1, ordering: .releasing)
            }
            next += chunk
            try? await Task.sleep(for: pause)
        }
        failures.store(log.statistics.handlerFailures, ordering: .releasing)
    }
}
