import Testing
@testable import Spool

@Suite struct JSONTests {
    @Test func objectKeysAreSortedAndStringsEscaped() {
        let value: JSONValue = ["b": 1, "a": "x\"y\n\u{01}", "c": [true, nil, 1.5]]
        #expect(value.description == #"{"a":"x\"y\n\u0001","b":1,"c":[true,null,1.5]}"#)
    }

    @Test func nonFiniteDoublesBecomeStrings() {
        let value: JSONValue = ["nan": .double(.nan), "inf": .double(.infinity), "neg": .double(-.infinity)]
        #expect(value.description == #"{"inf":"Infinity","nan":"NaN","neg":"-Infinity"}"#)
    }

    @Test func parsingRoundTripsNestedValues() throws {
        let text = #"{"a":[1,-2,3.25,1e3,"\u00e9\ud83d\ude00",{"b":null}],"c":false}"#
        let value = try JSONValue(parsing: text)
        #expect(value == ["a": [1, -2, 3.25, 1000.0, "é😀", ["b": nil]], "c": false])
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "tru", "{}x", "\"a\nb\""])
    func malformedJSONIsRefusedWithAnOffset(_ text: String) {
        #expect(throws: SpoolError.self) { try JSONValue(parsing: text) }
    }

    @Test func loneSurrogatesBecomeReplacementCharacters() throws {
        #expect(try JSONValue(parsing: #""\ud800x""#) == "\u{FFFD}x")
    }

    @Test func deepNestingIsBounded() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: SpoolError.self) { try JSONValue(parsing: text) }
    }

    @Test func integersBeyondSixtyFourBitsBecomeDoubles() throws {
        #expect(try JSONValue(parsing: "18446744073709551616") == .double(18446744073709551616))
        #expect(try JSONValue(parsing: "-9223372036854775808") == .int(.min))
    }
}
