import Foundation
import Testing
@testable import Spool

/// Files that are not ours, and spools that someone else is using: never moved, never replaced.
@Suite struct StoreForeignFileTests: SpoolFileFixtures {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// Garbage over two pages inside the entries table: quick_check fails, page 1 is intact.
    func damagePages(_ path: String) throws {
        let pages = try #require(try SQL(path).int("PRAGMA page_count"))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        for page in [pages / 3, 2 * pages / 3] {
            try handle.seek(toOffset: UInt64(page - 1) * 4096)
            try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        }
        try handle.close()
    }

    // MARK: - Files that are not spools

    @Test func aTextFileGivenAsTheSpoolIsRefusedNamedAndLeftExactlyAsItWas() throws {
        let notes = directory.file("notes.txt")
        let text = Data("shopping: milk, eggs\nmeeting at 10 with Zoë\n".utf8)
        try text.write(to: URL(fileURLWithPath: notes))
        let before = try FileManager.default.attributesOfItem(atPath: notes)[.modificationDate] as? Date
        for recover in [true, false] {
            var configuration = quiet
            configuration.recoverCorruptFile = recover
            #expect { _ = try SpoolStore(path: notes, configuration: configuration) } throws: { error in
                let error = error as? SpoolError
                return error?.code == .notASpool && error!.message.contains(notes) && error!.message.contains("will not touch it")
            }
        }
        #expect(bytes(notes) == text)
        #expect(try FileManager.default.attributesOfItem(atPath: notes)[.modificationDate] as? Date == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["notes.txt"])
        // check calls it what it is, and repair refuses it.
        #expect(try SpoolStore.check(path: notes).status == .notASpool)
        #expect { _ = try SpoolStore.repair(path: notes) } throws: { ($0 as? SpoolError)?.code == .notASpool }
        #expect(bytes(notes) == text)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["notes.txt"])
    }

    @Test func aDamagedSpoolIsStillRecognisedByItsApplicationIDAndSetAside() throws {
        try closedSpool(path, count: 2000)
        try damagePages(path)
        let damaged = try #require(bytes(path))
        let spool = try SpoolStore(path: path, configuration: quiet)
        let aside = try #require(spool.recoveredFrom)
        #expect(bytes(aside) == damaged)
        try spool.close()
    }

    /// When the database file's header is damaged, the newest copy of page 1 in the WAL still
    /// carries Spool's application id.
    @Test func aSpoolIsRecognisedByTheHeaderInItsWAL() throws {
        let fresh = directory.file("fresh.spool")
        var keepWAL = quiet
        keepWAL.checkpointPages = 100_000
        let spool = try SpoolStore(path: fresh, configuration: keepWAL)
        // Growing the file rewrites page 1 (its size is in the header): a copy lands in the WAL.
        try spool.append(contentsOf: (1...200).map { entry($0, message: String(repeating: "x", count: 500)) })
        let copy = directory.file("copy.spool")
        try FileManager.default.copyItem(atPath: fresh, toPath: copy)
        try FileManager.default.copyItem(atPath: fresh + "-wal", toPath: copy + "-wal")
        try spool.close()
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: copy))
        try handle.seek(toOffset: 68)
        try handle.write(contentsOf: Data([0, 0, 0, 0]))
        try handle.close()
        #expect(try Connection(path: copy, create: false, immutable: true).scalarInt("PRAGMA application_id") == 0)
        #expect(SpoolFile.recognised(copy))
        #expect(SpoolFile.walPageOneApplicationID(copy + "-wal") == Array("SPOL".utf8))
        let notes = directory.file("notes.txt")
        try Data("not a spool\n".utf8).write(to: URL(fileURLWithPath: notes))
        #expect(!SpoolFile.recognised(notes))
    }

    // MARK: - In use elsewhere

    @Test func aDamagedSpoolThatAnotherProcessHasOpenIsNotSetAsideAndTheProcessIsNamed() throws {
        try closedSpool(path, count: 2000)
        let reader = try Child("SpoolTestChild", ["inspect", path])
        defer { if reader.process.isRunning { reader.kill() } }
        #expect(reader.readLine() == "open")
        try damagePages(path)
        let damaged = try #require(bytes(path))
        #expect { _ = try SpoolStore(path: path, configuration: quiet) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .inUse && error!.message.contains("pid \(reader.process.processIdentifier)")
                && error!.message.contains("SpoolTestChild inspect")
        }
        #expect(bytes(path) == damaged)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: directory.path)).contains { $0.contains(".corrupt-") })
        // Once it is gone, the damaged spool is set aside as usual.
        #expect(reader.finish() == 0)
        let spool = try SpoolStore(path: path, configuration: quiet)
        #expect(spool.recoveredFrom != nil)
        try spool.close()
    }

    @Test func repairRefusesWhileAnotherProcessWritesToTheSpoolAndNamesIt() throws {
        try closedSpool(path, count: 10)
        let writer = try Child("SpoolTestChild", ["append", path, "1"])
        defer { if writer.process.isRunning { writer.kill() } }
        #expect(writer.readLine() == "1")
        #expect { _ = try SpoolStore.repair(path: path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .inUse && error!.message.contains("pid \(writer.process.processIdentifier)")
        }
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: directory.path)).contains { $0.contains(".corrupt-") || $0.contains(".repairing-") })
        // The writer goes on writing into the live spool, and everything it reported is there.
        var last = 1
        for _ in 0..<100 { last = Int(writer.readLine() ?? "") ?? last }
        writer.kill()
        let numbers = try SQL(path).rows("SELECT json_extract(context, '$.n') FROM entries WHERE topic = 'crash.test'").compactMap { $0[0].flatMap { Int($0) } }
        #expect(numbers.count >= last && numbers.last ?? 0 >= last, "\(numbers.count) stored, \(last) reported")
    }

    @Test func repairRefusesWhileThisProcessHasTheSpoolOpen() throws {
        try closedSpool(path, count: 10)
        let spool = try SpoolStore(path: path, configuration: quiet)
        #expect { _ = try SpoolStore.repair(path: path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .inUse && error!.message.contains("open in this process") && error!.message.contains("release it")
        }
        try spool.append(entry(11))
        try spool.close()
    }

    @Test func repairRefusesWhileAForwarderHoldsALiveLeaseAndNamesIt() throws {
        try closedSpool(path, count: 10)
        do {
            let spool = try SpoolStore(path: path, configuration: quiet)
            try spool.acquireLease(sink: "loki", owner: "spool forward pid 4242 on another-host started 77", duration: .seconds(300))
        }
        try damagePages(path)
        let damaged = try #require(bytes(path))
        #expect { _ = try SpoolStore.repair(path: path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .leaseHeld && error!.message.contains("spool forward pid 4242 on another-host")
        }
        #expect(bytes(path) == damaged)
        #expect { _ = try SpoolStore(path: path, configuration: quiet) } throws: { ($0 as? SpoolError)?.code == .leaseHeld }
        #expect(bytes(path) == damaged)
    }

    // MARK: - compact and migrate open through the same checks

    /// Another spool's WAL beside ours: compact and migrate must not replay it into our file.
    @Test func compactAndMigrateRefuseAForeignWALAndLeaveTheFilesAsTheyWere() throws {
        try closedSpool(path, count: 200)
        let other = directory.file("other.spool")
        var keepWAL = quiet
        keepWAL.checkpointPages = 100_000
        let theirs = try SpoolStore(path: other, configuration: keepWAL)
        try theirs.append(contentsOf: (1...50).map { entry($0, message: "theirs \($0)") })
        let foreignWAL = try #require(bytes(other + "-wal"))
        try foreignWAL.write(to: URL(fileURLWithPath: path + "-wal"))
        try theirs.close()
        let ours = try #require(bytes(path))
        #expect { _ = try SpoolStore.compact(path: path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .corrupt && error!.message.contains("belongs to another database")
        }
        #expect(bytes(path) == ours && bytes(path + "-wal") == foreignWAL)
        #expect { _ = try SpoolStore.migrate(path: path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .corrupt && error!.message.contains("belongs to another database")
        }
        #expect(bytes(path) == ours && bytes(path + "-wal") == foreignWAL)
    }

    @Test func compactAndMigrateRefuseATextFileAsNotASpool() throws {
        let notes = directory.file("notes.txt")
        let text = Data(String(repeating: "a line of notes\n", count: 600).utf8)
        try text.write(to: URL(fileURLWithPath: notes))
        #expect { _ = try SpoolStore.compact(path: notes) } throws: { ($0 as? SpoolError)?.code == .notASpool }
        #expect { _ = try SpoolStore.migrate(path: notes) } throws: { ($0 as? SpoolError)?.code == .notASpool }
        #expect(bytes(notes) == text)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["notes.txt"])
    }

    // MARK: - Paths

    @Test(arguments: ["a", "ab", "a/b", "/a", "./a", "a/"])
    func theParentOfAPathIsFoundWithoutFoundation(path: String) {
        let expected = ["a": ".", "ab": ".", "a/b": "a", "/a": "/", "./a": ".", "a/": "a"]
        #expect(SpoolFile.parentDirectory(of: path) == expected[path])
    }
}
