import Spool

extension SpoolConfiguration {
    /// How `spool ingest` and `spool forward --stdin` read their input lines (file section
    /// `ingest`). The command line's `--format`, `--topic` and `--level` override these.
    ///
    /// ```swift
    /// var configuration = SpoolConfiguration(spoolPath: "/var/lib/app/app.spool")
    /// configuration.ingest.format = .json
    /// configuration.ingest.fields.message = ["text"]   // tried before msg, message, event…
    /// ```
    public struct Ingest: Sendable, Hashable {
        /// How a line is read.
        public enum Format: String, Sendable, Hashable, CaseIterable {
            /// The whole line is the message.
            case text
            /// One JSON object per line, as pino, bunyan, zap, slog, logrus, structlog and
            /// others write it.
            case json
            /// `key=value key="quoted value"` pairs, as Go's kit/log, logrus and Heroku write it.
            case logfmt
        }

        /// Field names tried before the built-in ones, for each part of an entry. The first name
        /// present on a line with a usable value wins; what is not taken stays in the context.
        public struct Fields: Sendable, Hashable {
            /// Names of the message field. Default: none (the built-in `message`, `msg`, `event`…).
            public var message: [String]
            /// Names of the event-time field. Default: none (the built-in `timestamp`, `time`, `ts`…).
            public var time: [String]
            /// Names of the level field. Default: none (the built-in `level`, `lvl`, `severity`…).
            public var level: [String]
            /// Names of the topic field. Default: none (the built-in `topic`, `logger`).
            public var topic: [String]

            /// No extra names.
            public init(message: [String] = [], time: [String] = [], level: [String] = [], topic: [String] = []) {
                self.message = message
                self.time = time
                self.level = level
                self.topic = topic
            }
        }

        /// How lines are read. Default ``Format/text``.
        public var format: Format
        /// The topic of lines that name none. Default `"ingest"`.
        public var topic: String
        /// The level of lines that name none, and of lines stored raw. Default ``LogLevel/info``.
        public var level: LogLevel
        /// Extra field names. Default: none.
        public var fields: Fields

        /// The defaults.
        public init(format: Format = .text, topic: String = "ingest", level: LogLevel = .info, fields: Fields = Fields()) {
            self.format = format
            self.topic = topic
            self.level = level
            self.fields = fields
        }
    }
}
