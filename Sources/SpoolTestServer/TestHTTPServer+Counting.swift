import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

// MARK: - Events from connections

extension TestHTTPServer {
    /// Registers an accepted connection, or returns `nil` if it belongs to a listener that has
    /// since been stopped.
    func connectionOpened(_ channel: any Channel, generation: Int) -> Int? {
        var number: Int?
        update { state in
            guard state.generation == generation, !state.isShutDown else { return }
            state.stats.connectionsAccepted += 1
            state.stats.openConnections += 1
            state.stats.peakOpenConnections = max(state.stats.peakOpenConnections, state.stats.openConnections)
            let assigned = state.stats.connectionsAccepted
            state.connections[assigned] = channel
            number = assigned
        }
        guard let number else { return nil }
        channel.closeFuture.whenComplete { _ in
            self.update { state in
                state.connections[number] = nil
                state.stats.openConnections -= 1
            }
        }
        return number
    }

    func requestStarted() {
        update { state in
            state.stats.inFlightRequests += 1
            state.stats.peakInFlightRequests = max(state.stats.peakInFlightRequests, state.stats.inFlightRequests)
        }
    }

    func requestFinished() {
        requestsAbandoned(1)
    }

    func requestsAbandoned(_ count: Int) {
        guard count > 0 else { return }
        update { $0.stats.inFlightRequests -= count }
    }

    /// Counts a complete request and keeps it; decoding happens here, off the lock.
    func record(_ head: HTTPRequestHead, body: [UInt8], connectionNumber: Int) -> RecordedRequest {
        let headers = head.headers.map { (name: $0.name, value: $0.value) }
        var decoded = body
        var decodingError: String?
        let encoding = head.headers[canonicalForm: "content-encoding"].map { $0.lowercased() }
        if encoding.contains("gzip") || encoding.contains("x-gzip") {
            do { decoded = try Gzip.decompress(body) } catch { decodingError = error.description }
        } else if let other = encoding.first(where: { $0 != "identity" }) {
            decodingError = "unsupported Content-Encoding \(other)"
        }
        var request: RecordedRequest!
        update { state in
            state.stats.requestsReceived += 1
            request = RecordedRequest(
                method: head.method.rawValue, uri: head.uri, headers: headers, rawBody: body, body: decoded,
                bodyDecodingError: decodingError, connectionNumber: connectionNumber,
                sequenceNumber: state.stats.requestsReceived)
            if configuration.keepsRequests { state.requests.append(request) }
        }
        return request
    }

    /// Changes the state, then wakes the waits whose condition now holds (outside the lock).
    func update(_ change: (inout State) -> Void) {
        let ready = state.withLockedValue { state -> [Waiter] in
            change(&state)
            let stats = state.stats
            let ready = state.waiters.filter { $0.value.condition(stats) }
            for id in ready.keys { state.waiters[id] = nil }
            return Array(ready.values)
        }
        for waiter in ready {
            waiter.timeout.cancel()
            waiter.continuation.resume()
        }
    }
}
