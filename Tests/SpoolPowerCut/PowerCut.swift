import Foundation
import Spool

/// The power-cut simulator (docs/reliability.md, "Power loss"): runs workloads on new spools
/// with their files recorded, builds the files a power cut after each chosen event would
/// leave, and opens each with the real store to check what the mode promises.
public enum PowerCut: Sendable {
    /// Planted faults, to prove the checker can fail.
    public enum Plant: String, CaseIterable, Sendable {
        /// Behave as if SQLite never synced a directory after creating a WAL.
        case skipDirectorySync = "skip-dirsync"
    }

    /// Runs `trials` recordings, cycling over every workload and mode given, and checks up to
    /// `imagesPerTrial` images of each: every cut point when there are no more events than
    /// that, else random ones.
    public static func run(
        trials: Int, seed: UInt64, modes: [PowerCutMode], workloads: [PowerCutWorkload],
        imagesPerTrial: Int, plant: Plant? = nil, progress: (String) -> Void = { _ in }
    ) throws -> PowerCutSummary {
        var summary = PowerCutSummary()
        summary.modes = modes
        var random = SeededGenerator(seed: seed)
        // Images on a RAM file system where there is one: the checker's store syncs for real.
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        let root = base.appendingPathComponent("powercut-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let root_ = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        defer { try? FileManager.default.removeItem(atPath: root_) }
        Recorder.skipDirectorySync(plant == .skipDirectorySync)
        defer { Recorder.skipDirectorySync(false) }
        var combinations: [(PowerCutWorkload, PowerCutMode)] = []
        for workload in workloads { for mode in modes { combinations.append((workload, mode)) } }
        for trial in 0..<trials {
            let (workload, mode) = combinations[trial % combinations.count]
            let directory = "\(root_)/trial-\(trial)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            let recording = try Recorder.record(directory) { log in
                try workload.run(path: directory + "/app.spool", mode: mode, log: log, trial: trial / combinations.count)
            }
            try FileManager.default.removeItem(atPath: directory)
            summary.trials += 1
            let key = "\(workload.rawValue)/\(mode.rawValue)"
            summary.byWorkload[key, default: (0, 0, 0)].trials += 1
            let cuts: [Int]
            if recording.events.count + 1 <= imagesPerTrial {
                cuts = Array(0...recording.events.count)
            } else {
                cuts = (0..<imagesPerTrial).map { _ in Int.random(in: 0...recording.events.count, using: &random) }.sorted()
            }
            for (number, cut) in cuts.enumerated() {
                let image = "\(root_)/image-\(trial)-\(number)"
                try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: false)
                try PowerCutImage.write(recording, cut: cut, into: image, random: &random)
                var keep: String?
                if let directory = ProcessInfo.processInfo.environment["POWERCUT_KEEP"] {
                    keep = directory + "/image-\(trial)-\(number)"
                    try? FileManager.default.copyItem(atPath: image, toPath: keep!)
                }
                let verdict = PowerCutChecker.check(recording, cut: cut, mode: mode, workload: workload, path: image + "/app.spool")
                summary.images += 1
                summary.byWorkload[key]!.images += 1
                let counts: [(String?, WritableKeyPath<PowerCutSummary, Int>, String)] = [
                    (verdict.lostAcknowledged, \.lostAcknowledged, "lost_acknowledged"), (verdict.lostSynced, \.lostSynced, "lost_synced"),
                    (verdict.corrupt, \.corrupt, "corrupt"), (verdict.stuck, \.stuck, "stuck"),
                ]
                if counts.contains(where: { $0.0 != nil }) { summary.byWorkload[key]!.failed += 1 }
                for case (let finding?, let counter, let label) in counts {
                    summary[keyPath: counter] += 1
                    if summary.findings.count < 20 {
                        summary.findings.append("\(workload.rawValue)/\(mode.rawValue) trial \(trial) cut \(cut)/\(recording.events.count): \(label): \(finding)")
                    }
                }
                if let keep {
                    // POWERCUT_KEEP=DIR: images with findings are kept there as they were before the check, with their events.
                    if counts.contains(where: { $0.0 != nil }) {
                        let lines = recording.events.prefix(cut).enumerated().map { "\($0.offset) \($0.element.kind) \($0.element.file >= 0 ? recording.files[$0.element.file] : "dir") \($0.element.offset) \($0.element.bytes.count)" }
                        try? lines.joined(separator: "\n").write(toFile: keep + ".events", atomically: false, encoding: .utf8)
                    } else {
                        try? FileManager.default.removeItem(atPath: keep)
                    }
                }
                try FileManager.default.removeItem(atPath: image)
            }
            progress("\(workload.rawValue)/\(mode.rawValue): \(recording.events.count) events, \(cuts.count) images; so far \(summary.line)")
        }
        return summary
    }
}
