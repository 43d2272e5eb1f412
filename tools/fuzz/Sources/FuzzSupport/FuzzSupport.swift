import CFuzzer
@testable import Spool
#if canImport(Glibc)
import Glibc
#endif

// What every fuzz target shares: a property check that libFuzzer reports as a crash (saving the
// input), a reader that cuts the input into typed fields, and calendar arithmetic independent
// of the code under test, to check dates against.

/// Stops the run when a property does not hold: libFuzzer reports the trap as a crash and
/// writes the input to `crash-<sha1>`, which `tools/fuzz/run` then keeps.
public func expect(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { fatalError("fuzz property violated: \(message())", file: file, line: line) }
}

/// A thrown error is a `SpoolError` of the expected code with a message a person can read.
public func expectClear(_ error: SpoolError, code: SpoolError.Code, file: StaticString = #fileID, line: UInt = #line) {
    expect(error.code == code, "code \(error.code), expected \(code): \(error.message)", file: file, line: line)
    expect(!error.message.isEmpty && error.message.count <= 4096, "message empty or unbounded (\(error.message.count) characters)", file: file, line: line)
}

/// The fuzz input as bytes.
public func input(_ start: UnsafePointer<UInt8>?, _ count: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: count > 0 ? start : nil, count: count)
}

/// A parsed value as the one JSON writer stores it: non-finite doubles (from numbers like
/// `1e999`) become their documented string names.
public func storable(_ value: JSONValue) -> JSONValue {
    switch value {
    case .double(let number) where !number.isFinite:
        return .string(number.isNaN ? "NaN" : number < 0 ? "-Infinity" : "Infinity")
    case .array(let elements): return .array(elements.map(storable))
    case .object(let object): return .object(object.mapValues(storable))
    default: return value
    }
}

/// Cuts the input into fields from the front; past its end every field reads as zero.
public struct FieldReader {
    private var bytes: UnsafeBufferPointer<UInt8>.SubSequence

    public init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes[...] }

    /// The next 8 bytes, little-endian.
    public mutating func uint64() -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) {
            guard let byte = bytes.popFirst() else { break }
            value |= UInt64(byte) << UInt64(shift)
        }
        return value
    }

    /// What is left.
    public var rest: UnsafeBufferPointer<UInt8>.SubSequence { bytes }
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's civil-from-days), written apart
/// from Spool's so that a shared mistake cannot hide.
public enum Civil {
    public struct Date: Equatable, CustomStringConvertible {
        public var year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64
        /// 0 = Sunday.
        public var weekday: Int64
        public var description: String { "\(year)-\(month)-\(day) \(hour):\(minute):\(second)" }
    }

    public static func date(unixSeconds seconds: Int64) -> Date {
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = (days % 7 + 7 + 4) % 7  // 1970-01-01 was a Thursday
        return Date(year: year, month: month, day: day, hour: secondOfDay / 3600, minute: secondOfDay % 3600 / 60,
                    second: secondOfDay % 60, weekday: weekday)
    }

    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    public static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    public static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    public static let longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// Zero-padded decimal.
    public static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// Runs libFuzzer on `body` with the process's arguments (corpus directories, `-max_total_time`…)
/// and exits with its status.
public func runFuzzer(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, body))
}
