import Foundation
import PortcullisTesting
import Testing
@testable import PortcullisServer

/// The pieces of the consent flow's routes that read what a browser sends (the flow itself runs end to end in
/// Tests/Interop/test_http_user_credentials.py).
@Suite("Connect routes: cookies and pages")
struct ConnectRoutesTests {
    @Test("a cookie is read by exact name; a duplicated or empty one reads as absent", arguments: [
        (["portcullis_connect=abc"], "abc"),
        (["a=1; portcullis_connect=abc; b=2"], "abc"),
        (["a=1", " portcullis_connect = abc "], "abc"),
        (["xportcullis_connect=abc"], nil),
        (["portcullis_connect_confirm=abc"], nil),
        (["portcullis_connect=abc; portcullis_connect=evil"], nil),
        (["portcullis_connect=abc", "portcullis_connect=evil"], nil),
        (["portcullis_connect="], nil),
        (["portcullis_connect"], nil),
        ([], nil),
        (["portcullis_connect=a=b"], "a=b"),
    ] as [([String], String?)])
    func cookies(headers: [String], expected: String?) {
        #expect(ConnectRoutes.cookie("portcullis_connect", headers: headers) == expected)
    }

    @Test("5,000 mutated Cookie headers: the value read is always a piece of the header, never a trap")
    func mutatedCookies() {
        var rng = SplitMix64(state: 0x5EED_C00C)
        func next() -> UInt64 { rng.next() }
        let pieces = ["portcullis_connect", "=", ";", " ", "\t", "abc", "\u{0}", "\u{1F600}", "%3D", "\"", ",", "x"]
        var found = 0
        for _ in 0..<5_000 {
            var header = ""
            for _ in 0..<(1 + Int(next() % 12)) { header += pieces[Int(next() % UInt64(pieces.count))] }
            if let value = ConnectRoutes.cookie("portcullis_connect", headers: [header]) {
                found += 1
                #expect(header.contains(value) && !value.isEmpty && !value.contains(";"))
            }
        }
        #expect(found > 20)
    }

    @Test("text put into a page is escaped")
    func escaping() {
        #expect(ConsoleHTML.h(#"<script>alert("x")</script> & 'y'"#)
            == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
        #expect(HTTP.origin("https://auth.example:8443/authorize?x=1") == "https://auth.example:8443")
        #expect(HTTP.origin("not a url") == nil)
    }
}
