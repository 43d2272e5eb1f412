import Foundation
import SpoolPowerCut

// tools/powercut: the power-cut simulator outside the test suite (docs/reliability.md).
//   SpoolPowerCutTool [--trials N] [--seed S] [--mode fsync|committed|buffered|all]
//                     [--workload NAME|all] [--images-per-trial N] [--plant skip-dirsync] [--verbose]
var trials = 30
var seed: UInt64 = 1
var modes = PowerCutMode.allCases
var workloads = PowerCutWorkload.allCases
var imagesPerTrial = 100
var plant: PowerCut.Plant?
var verbose = false

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("powercut: \(message)\n".utf8))
    exit(2)
}

func need<T>(_ value: T?, _ message: String) -> T {
    guard let value else { fail(message) }
    return value
}

var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    func value() -> String {
        guard let value = arguments.popFirst() else { fail("\(argument) needs a value") }
        return value
    }
    switch argument {
    case "--trials": trials = need(Int(value()), "--trials takes a number")
    case "--seed": seed = need(UInt64(value()), "--seed takes a number")
    case "--images-per-trial": imagesPerTrial = need(Int(value()), "--images-per-trial takes a number")
    case "--mode":
        let text = value()
        modes = text == "all" ? PowerCutMode.allCases : [need(PowerCutMode(rawValue: text), "unknown mode \(text): fsync, committed, buffered or all")]
    case "--workload":
        let text = value()
        workloads = text == "all" ? PowerCutWorkload.allCases
            : [need(PowerCutWorkload(rawValue: text), "unknown workload \(text): \(PowerCutWorkload.allCases.map(\.rawValue).joined(separator: ", ")) or all")]
    case "--plant":
        let text = value()
        plant = need(PowerCut.Plant(rawValue: text), "unknown plant \(text): \(PowerCut.Plant.allCases.map(\.rawValue).joined(separator: ", "))")
    case "--verbose": verbose = true
    default: fail("unknown argument \(argument)")
    }
}

do {
    let summary = try PowerCut.run(
        trials: trials, seed: seed, modes: modes, workloads: workloads, imagesPerTrial: imagesPerTrial, plant: plant,
        progress: { if verbose { FileHandle.standardError.write(Data("\($0)\n".utf8)) } })
    for finding in summary.findings { print(finding) }
    if verbose { for line in summary.workloadLines { print(line) } }
    print(summary.line)
    exit(summary.failed ? 1 : 0)
} catch {
    fail("\(error)")
}
