import Foundation
import Testing
@testable import SpoolCommand

/// `spool`'s one HTTP receiver (the demo's Loki, the benchmarks' counting receiver), on
/// 127.0.0.1, sent raw requests: what it counts, what it refuses, what it answers.
@Suite struct ReceiverTests {
    typealias Client = RawHTTPClient

    /// A Loki push of `lines`, as the Loki sink writes it.
    static func push(_ lines: [String]) -> [UInt8] {
        let values = lines.enumerated().map { #"["\#(1_700_000_000_000_000_000 + $0.offset)","\#($0.element)"]"# }
        return Array(#"{"streams":[{"stream":{"service":"shop"},"values":[\#(values.joined(separator: ","))]}]}"#.utf8)
    }

    /// Runs `body` against a receiver started for it, and stops the receiver after.
    static func withReceiver(ids: EntryID, _ body: (Receiver) async throws -> Void) async throws {
        let receiver = try await Receiver.start(ids: ids)
        do {
            try await body(receiver)
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }

    static let loki = "/loki/api/v1/push"
    static let gzip = [("Content-Encoding", "gzip")]

    @Test func demoIDsAreCountedOnceAndResentEntriesAsDuplicates() async throws {
        try await Self.withReceiver(ids: .demoID) { (receiver: Receiver) async throws in
            let first = try gzipped(Self.push(["paid #1", "order checked out #2", "no id here", "sku #x then #3"]))
            #expect(try await Client.exchange(port: receiver.port, Client.request("POST", Self.loki, headers: Self.gzip, body: first)).response?.status == 204)
            // A resend of #2 with a new entry, uncompressed.
            let second = Self.push(["order checked out #2", "stock reserved #40"])
            #expect(try await Client.exchange(port: receiver.port, Client.request("POST", Self.loki, body: second)).response?.status == 204)

            let tally = receiver.tally
            #expect(tally.accepted == 2 && tally.invalid == 0 && tally.refused == 0)
            #expect(tally.entries == 6)
            #expect(tally.unrecognised == 2, "'no id here', and '#x' (the first # has no digits)")
            #expect(tally.distinct == 3 && tally.duplicates == 1)
            #expect([1, 2, 40].allSatisfy(tally.ids.contains) && !tally.ids.contains(3))
            let count = try await Client.exchange(port: receiver.port, Client.request("GET", "/count")).response
            #expect(count?.status == 200 && count?.bodyText == "6 3 0\n")
        }
    }

    @Test func whileFailingBodiesAreRefusedUnreadWith503() async throws {
        try await Self.withReceiver(ids: .demoID) { (receiver: Receiver) async throws in
            receiver.failing = true
            let body = Self.push(["paid #1"])
            #expect(try await Client.exchange(port: receiver.port, Client.request("POST", Self.loki, body: body)).response?.status == 503)
            #expect(try await Client.exchange(port: receiver.port, Client.request("GET", "/count")).response?.bodyText == "0 0 0\n")
            receiver.failing = false
            #expect(try await Client.exchange(port: receiver.port, Client.request("POST", Self.loki, body: body)).response?.status == 204)
            let tally = receiver.tally
            #expect(tally.refused == 1 && tally.accepted == 1 && tally.distinct == 1 && tally.requests == 2)
        }
    }

    @Test func bodiesThatDoNotReadWholeAreInvalidAndCountNothing() async throws {
        try await Self.withReceiver(ids: .sequenceNumber) { (receiver: Receiver) async throws in
            let lines = Array("GET / seq=7 status=200\n{\"msg\":\"x\",\"seq\":8}\n".utf8)
            let compressed = try gzipped(lines)
            let bad: [(path: String, headers: [(String, String)], body: [UInt8])] = [
                ("/lines", Self.gzip, Array(compressed.dropLast(8))),  // cut short
                ("/lines", Self.gzip, Array("not gzip".utf8)),
                ("/lines", [], Array("seq=9\n{\"seq\":10,}\n".utf8)),  // a line that is not JSON
                (Self.loki, [], Array("seq=11 a line, not a push".utf8)),
                ("/lines", [], []),  // no entry
            ]
            for request in bad {
                let reply = try await Client.exchange(port: receiver.port, Client.request("POST", request.path, headers: request.headers, body: request.body))
                #expect(reply.response?.status == 400, "\(request.path) \(String(decoding: request.body, as: UTF8.self))")
            }
            #expect(try await Client.exchange(port: receiver.port, Client.request("POST", "/lines", headers: Self.gzip, body: compressed)).response?.status == 204)
            #expect(try await Client.exchange(port: receiver.port, Client.request("GET", "/count")).response?.bodyText == "2 2 5\n")
            #expect(receiver.tally.ids.contains(7) && receiver.tally.ids.contains(8))
            #expect(try await Client.exchange(port: receiver.port, Client.request("GET", "/reset")).response?.status == 200)
            #expect(receiver.tally.requests == 0 && receiver.tally.distinct == 0)
        }
    }
}
