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
    package struct Ingest: Sendable, Hashable {
        /// How a line is read.
        package enum Format: String, Sendable, Hashable, CaseIterable {
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
        package struct Fields: Sendable, Hashable {
            /// Names of the message field. Default: none (the built-in `message`, `msg`, `event`…).
            package var message: [String]
            /// Names of the event-time field. Default: none (the built-in `timestamp`, `time`, `ts`…).
            package var time: [String]
            /// Names of the level field. Default: none (the built-in `level`, `lvl`, `severity`…).
            package var level: [String]
            /// Names of the topic field. Default: none (the built-in `topic`, `logger`).
            package var topic: [String]

            /// No extra names.
            package init(message: [String] = [], time: [String] = [], level: [String] = [], topic: [String] = []) {
                self.message = message
                self.time = time
                self.level = level
                self.topic = topic
            }
        }

        /// How lines are read. Default ``Format/text``.
        package var format: Format
        /// The topic of lines that name none. Default `"ingest"`.
        package var topic: String
        /// The level of lines that name none, and of lines stored raw. Default ``LogLevel/info``.
        package var level: LogLevel
        /// Extra field names. Default: none.
        package var fields: Fields

        /// The defaults.
        package init(format: Format = .text, topic: String = "ingest", level: LogLevel = .info, fields: Fields = Fields()) {
            self.format = format
            self.topic = topic
            self.level = level
            self.fields = fields
        }
    }
}
