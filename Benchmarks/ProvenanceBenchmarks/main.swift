// What value provenance adds to a gateway call (issue #17): extracting the values of a 10 KB result, remembering
// them, and labelling a call's arguments, next to what the call already pays for the same result (the injection
// scan and DLP redaction), measured side by side in one run.
//
//   swift build -c release --product ProvenanceBenchmarks
//   .build/release/ProvenanceBenchmarks [--iterations 2000] [--result-bytes 10240] [--only extract]
//
// The result is mail-like JSON (senders, subjects, bodies with addresses, URLs, an IBAN, ids and prose), the kind of
// answer provenance exists for. Each figure is the median of --iterations runs, in microseconds of the thread's CPU time (so that
// other load on a shared machine counts less), single thread.
import Cedar
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PortcullisEnforcement

var iterations = 2_000
var resultBytes = 10_240
/// `--only extract` (or remember, remember-new, scan, label, injection, dlp) runs one measurement, for a profiler.
var only: String?
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    if flag == "--only", let name = arguments.first {
        only = name
        arguments.removeFirst()
        continue
    }
    guard let value = arguments.first.flatMap(Int.init) else { fatalError("\(flag) needs a number") }
    arguments.removeFirst()
    switch flag {
    case "--iterations": iterations = value
    case "--result-bytes": resultBytes = value
    default: fatalError("unknown option \(flag)")
    }
}

func mail(_ i: Int, batch: Int = 0) -> String {
    #"{"id":"m-\#(1000 + i)-\#(batch)","from":"sender\#(i)@partner\#(i % 7)-\#(batch).example","subject":"Quarterly update \#(i)","#
        + #""body":"Hi Alice, following up on invoice INV-2026-\#(4000 + i). The summary is on https://portal\#(i % 5).example/docs/\#(i)?tab=2 "#
        + #"and the payment goes to DE89 3704 0044 0532 0130 00 as usual, ref. \#(batch)x\#(i). Call me on +44 7700 900\#(100 + i % 800) if anything is unclear. "#
        + #"We also discussed the roadmap, the hiring plan and the offsite; notes will follow next week. Best regards, Sam"}"#
}
@MainActor func answer(batch: Int) -> String {
    var body = "["
    var i = 0
    while body.utf8.count < resultBytes - 600 {
        body += (i == 0 ? "" : ",") + mail(i, batch: batch)
        i += 1
    }
    return body + "]"
}
let body = answer(batch: 0)
let result: JSONValue = .object([("content", .array([.object([("type", .string("text")), ("text", .string(body))])]))])
let callArguments = try JSONValue.parse(#"{"to": "sender3@partner3.example", "subject": "Re: Quarterly update 3", "body": "Thanks Sam, confirmed for next week."}"#)
let strings = [body]

/// The thread's CPU time in microseconds: time the scheduler gave to other processes on this shared machine does
/// not count.
func cpuMicroseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e6 + Double(t.tv_nsec) / 1e3
}

/// The median CPU time of `f`, less the cost of reading the clock.
func median(_ name: String, iterations: Int, only: String?, _ f: () -> Void) -> Double {
    if let only, only != name { return 0 }
    for _ in 0..<max(10, iterations / 20) { f() }
    var samples: [Double] = []
    var empty: [Double] = []
    samples.reserveCapacity(iterations)
    for _ in 0..<iterations {
        let start = cpuMicroseconds()
        f()
        let middle = cpuMicroseconds()
        let end = cpuMicroseconds()
        samples.append(middle - start)
        empty.append(end - middle)
    }
    samples.sort()
    empty.sort()
    return samples[samples.count / 2] - empty[empty.count / 2]
}

var sink = 0
let extracted = ValueExtractor.values(in: body)
let ledger = ProvenanceLedger(lifetime: 3600)
let source = ProvenanceLedger.Source(name: "mail.list_inbox", trusted: false, dataClass: "internal")
// A ledger that already holds a day of reading (5,000 values) for the agent.
for n in 0..<50 { ledger.record(ValueExtractor.values(in: mail(1000 + n * 13)), from: source, agentID: "agt", user: "alice", now: Date()) }

// What the gateway does with an answer: extract and remember in one go (hashed from the bytes).
let remember = median("remember", iterations: iterations, only: only) {
    ledger.record(strings: strings, except: [], from: source, agentID: "agt", user: "alice", now: Date())
}
// An answer whose values the agent has not seen yet (each iteration a new answer, to one of 20 agents, each
// already holding a day of reading): what the first reading of new mail costs.
let fresh = only == nil || only == "remember-new" ? (1...iterations + iterations / 20 + 10).map { [answer(batch: $0)] } : []
for a in 0..<20 {
    for n in 0..<50 { ledger.record(ValueExtractor.values(in: mail(1000 + n * 13)), from: source, agentID: "agt-\(a)", user: "alice", now: Date()) }
}
var next = 0
let rememberNew = median("remember-new", iterations: iterations, only: only) {
    ledger.record(strings: fresh[next], except: [], from: source, agentID: "agt-\(next % 20)", user: "alice", now: Date())
    next += 1
}
// Of which finding the values (no hashing, nothing remembered).
let scan = median("scan", iterations: iterations, only: only) { ValueExtractor.forEachValue(in: body) { e, _ in sink &+= e.count } }
// The same, building the values (what labelling does with arguments), for comparison.
let extract = median("extract", iterations: iterations, only: only) { sink &+= ValueExtractor.values(in: body).count }
let label = median("label", iterations: iterations, only: only) {
    sink &+= ledger.label(callArguments, intent: [], hasIntent: false, agentID: "agt", user: "alice", now: Date()).arguments.count
}
let injection = median("injection", iterations: iterations, only: only) { sink &+= InjectionScanner.findings(inStringsOf: strings).count }
let dlp = median("dlp", iterations: iterations, only: only) { sink &+= JSONStrings.redacting(result).1.count }

print("result: \(body.utf8.count) bytes, \(extracted.count) values; median of \(iterations) runs, µs of CPU time (single thread)")
print(String(format: "  provenance: remember the answer's values %.1f + label the arguments %.1f = %.1f µs per call", remember, label,
             remember + label))
print(String(format: "  remembering an answer of values not seen yet: %.1f (+ label %.1f = %.1f µs per call)", rememberNew, label,
             rememberNew + label))
print(String(format: "  of which finding the values in the answer: %.1f", scan))
print(String(format: "  (extracting the same answer as Value structs, the path arguments take: %.1f)", extract))
print(String(format: "  already paid for the same result: injection scan %.1f, DLP redaction %.1f", injection, dlp))
if sink == 42 { print("") }
