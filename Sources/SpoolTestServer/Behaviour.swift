import NIOConcurrencyHelpers

/// How the test server answers: a function from each received request to an ``Action``.
///
/// Set ``TestHTTPServer/behaviour`` at any time, from any thread; requests that have not been
/// answered yet get the new behaviour. The ready-made faults live in `Behaviour+Faults.swift`;
/// they compose, because most take the behaviour to use `otherwise` or `then`.
///
/// ```swift
/// server.behaviour = .failFor(3, then: .ok())       // an outage of three requests
/// server.behaviour = .rejectEntries(containing: "POISON")
/// server.behaviour = Behaviour { request in .respond(Response(status: 200, body: request.bodyText)) }
/// ```
///
/// Connection refusal is not a behaviour: a refused connection never reaches one. Use
/// ``TestHTTPServer/stop()`` and ``TestHTTPServer/restart()``.
public struct Behaviour: Sendable {
    let decide: @Sendable (RecordedRequest) -> Action

    /// Creates a behaviour from a function that picks the action for each request.
    ///
    /// The function runs on the connection's event loop, one request at a time per connection
    /// but concurrently across connections, so any state it keeps must be synchronized.
    ///
    /// - Parameter decide: Returns what to do with a request.
    public init(_ decide: @escaping @Sendable (RecordedRequest) -> Action) {
        self.decide = decide
    }

    /// Always carries out the same action.
    ///
    /// - Parameter action: The action for every request.
    public static func always(_ action: Action) -> Behaviour {
        Behaviour { _ in action }
    }

    /// Uses `first` for the next `count` requests, then `next` for every later one.
    ///
    /// The count is kept inside this value: each `Behaviour` made by this call counts on its own,
    /// from the moment it is first used.
    ///
    /// - Parameters:
    ///   - count: How many requests get `first`.
    ///   - first: The behaviour for those requests.
    ///   - next: The behaviour afterwards.
    public static func first(_ count: Int, _ first: Behaviour, then next: Behaviour) -> Behaviour {
        let served = NIOLockedValueBox(0)
        return Behaviour { request in
            let isEarly = served.withLockedValue { served in
                defer { served += 1 }
                return served < count
            }
            return isEarly ? first.decide(request) : next.decide(request)
        }
    }

    /// Uses `matching` for requests the predicate accepts and `otherwise` for the rest.
    ///
    /// - Parameters:
    ///   - predicate: Chooses the requests that get `matching`.
    ///   - matching: The behaviour for the chosen requests.
    ///   - otherwise: The behaviour for the others.
    public static func when(
        _ predicate: @escaping @Sendable (RecordedRequest) -> Bool,
        _ matching: Behaviour,
        otherwise: Behaviour
    ) -> Behaviour {
        Behaviour { request in
            predicate(request) ? matching.decide(request) : otherwise.decide(request)
        }
    }
}
