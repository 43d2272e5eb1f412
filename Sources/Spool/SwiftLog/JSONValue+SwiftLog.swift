import Logging

extension JSONValue {
    /// A swift-log metadata value as context: strings stay strings, string-convertible values
    /// become their description, dictionaries objects and arrays arrays.
    /// - Parameter value: The metadata value.
    package init(_ value: Logger.MetadataValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .stringConvertible(let convertible): self = .string(convertible.description)
        case .dictionary(let dictionary): self = .object(dictionary.mapValues(JSONValue.init))
        case .array(let elements): self = .array(elements.map(JSONValue.init))
        }
    }
}
