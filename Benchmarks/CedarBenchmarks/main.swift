// Cedar authorization benchmark: decisions per second and per-decision latency.
//
//   python3 scripts/bench/gen_workload.py --out .build-bench/workloads
//   swift run -c release CedarBenchmarks .build-bench/workloads [--passes 5] [--index automatic|always|never]
//
// Each subdirectory of the workload directory (10, 100, 1000, 10000) holds
// policies.cedar, entities.json and requests.json. Parsing happens once, outside
// the timed loop; every request is timed individually with a monotonic clock.
import Cedar

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func readText(_ path: String) -> String {
    guard let f = fopen(path, "rb") else { fatalError("cannot open \(path)") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        bytes.append(contentsOf: buf[0..<n])
        if n < buf.count { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    let i = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
    return Double(sorted[i]) / 1000
}

var args = Array(CommandLine.arguments.dropFirst())
var passes = 5
var indexMode = Authorizer.IndexMode.automatic
if let i = args.firstIndex(of: "--passes") {
    passes = Int(args[i + 1]) ?? 5
    args.removeSubrange(i...(i + 1))
}
if let i = args.firstIndex(of: "--index") {
    indexMode = Authorizer.IndexMode(rawValue: args[i + 1]) ?? .automatic
    args.removeSubrange(i...(i + 1))
}
guard let root = args.first else {
    print("usage: CedarBenchmarks WORKLOAD_DIR [--passes N] [--index automatic|always|never]")
    exit(2)
}

print("| policies | entities | requests | allow | deny | decisions/s | p50 µs | p99 µs |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
var json: [String] = []
for n in [10, 100, 1000, 10000] {
    let dir = "\(root)/n\(n)"
    guard access("\(dir)/policies.cedar", R_OK) == 0 else { continue }
    do {
        let policies = try PolicySet(parsing: readText("\(dir)/policies.cedar"))
        let entities = try EntitiesJSON.parse(readText("\(dir)/entities.json"))
        let requests = try RequestJSON.requests(readText("\(dir)/requests.json"))
        let authorizer = Authorizer(indexMode: indexMode)
        var allow = 0
        var deny = 0
        for r in requests {
            if authorizer.isAuthorized(r, entities: entities, policies: policies).decision == .allow {
                allow += 1
            } else {
                deny += 1
            }
        }
        var samples: [UInt64] = []
        samples.reserveCapacity(requests.count * passes)
        let start = nowNanos()
        for _ in 0..<passes {
            for r in requests {
                let t0 = nowNanos()
                let response = authorizer.isAuthorized(r, entities: entities, policies: policies)
                let t1 = nowNanos()
                precondition(!response.reasons.isEmpty || response.decision == .deny)
                samples.append(t1 - t0)
            }
        }
        let total = Double(nowNanos() - start) / 1e9
        samples.sort()
        let rate = Double(samples.count) / total
        let p50 = percentile(samples, 0.5)
        let p99 = percentile(samples, 0.99)
        print("| \(n) | \(entities.count) | \(requests.count) | \(allow) | \(deny) | \(Int(rate)) | "
              + "\(String(format2(p50))) | \(String(format2(p99))) |")
        json.append("{\"policies\":\(n),\"allow\":\(allow),\"deny\":\(deny),\"decisions_per_second\":\(Int(rate)),"
                    + "\"p50_us\":\(format2(p50)),\"p99_us\":\(format2(p99))}")
    } catch {
        print("workload \(dir): \(error)")
        exit(1)
    }
}
print("JSON: [" + json.joined(separator: ",") + "]")

func format2(_ x: Double) -> String {
    let scaled = Int((x * 100).rounded())
    let frac = scaled % 100
    return "\(scaled / 100).\(frac < 10 ? "0" : "")\(frac)"
}
