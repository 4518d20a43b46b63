public import Foundation

/// Runs an SMT solver (z3) as a separate process for `portcullis policy analyze`: never on the hot path.
public enum SMTSolver {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// $PORTCULLIS_SMT_SOLVER, else `z3` on the PATH; nil when there is none.
    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let path = environment["PORTCULLIS_SMT_SOLVER"], !path.isEmpty { return path }
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/z3"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs `script` (SMT-LIB) through the solver at `path` and returns what it printed.
    public static func run(_ path: String, _ script: String, timeoutSeconds: Int = 120) throws -> String {
        // PORTCULLIS_SMT_DUMP=FILE keeps the last script and answer, to check a result by hand.
        let dump = ProcessInfo.processInfo.environment["PORTCULLIS_SMT_DUMP"]
        if let dump { try? script.write(toFile: dump, atomically: true, encoding: .utf8) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-in", "-smt2", "-T:\(timeoutSeconds)"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run the SMT solver \(path): \(error)")
        }
        // Written from another thread, so that a long answer cannot block the solver while the script is written.
        let handle = input.fileHandleForWriting
        let bytes = Data(script.utf8)
        let writer = Thread {
            handle.write(bytes)
            try? handle.close()
        }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if let dump { try? text.write(toFile: dump + ".out", atomically: true, encoding: .utf8) }
        guard process.terminationStatus == 0 || text.contains("@@") else {
            throw Failure(description: "the SMT solver \(path) exited with status \(process.terminationStatus): \(text.prefix(500))")
        }
        // Asking for the values of an unsatisfiable query is answered with "model is not available": expected.
        let errors = text.split(separator: "\n").filter { $0.contains("(error") && !$0.contains("model is not available") }
        if !errors.isEmpty {
            throw Failure(description: "the SMT solver refused a query: " + errors.prefix(3).joined(separator: "; "))
        }
        return text
    }
}
