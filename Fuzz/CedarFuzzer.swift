// libFuzzer entry point for the Cedar readers. Built by scripts/fuzz-cedar.sh with
// `swiftc -sanitize=fuzzer,address`, together with the Cedar sources.
//
// The first byte picks the reader; the rest is the input. Every reader must
// either succeed or throw a CedarError: a crash, a hang or an address-sanitizer
// report is a bug.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCedar(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let selector = bytes[0] % 5
    let text = String(decoding: bytes[1...], as: UTF8.self)
    switch selector {
    case 0:
        // Policies: parse, then evaluate each against an empty request so the evaluator runs too.
        if let set = try? PolicySet(parsing: text) {
            let request = Request(principal: EntityUID("User", "a"), action: EntityUID("Action", "a"),
                                  resource: EntityUID("R", "a"))
            _ = Authorizer(usesIndex: false).isAuthorized(request, entities: Entities(), policies: set)
        }
    case 1:
        _ = try? EntitiesJSON.parse(text)
    case 2:
        _ = try? RequestJSON.requests(text)
    case 3:
        _ = try? Schema(parsing: text)
    default:
        _ = try? JSONValue.parse(bytes: Array(bytes[1...]))
    }
    return 0
}
