import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisCore

/// Server-rendered HTML for the console: escaping, the page frame and the one script (live updates over SSE). No
/// build step and nothing fetched from elsewhere; every page works without JavaScript, which only adds live rows.
enum ConsoleHTML {
    /// Text for an element or a quoted attribute.
    static func h(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A query-string or path component.
    static func u(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    static let sections: [(path: String, title: String)] = [
        ("overview", "Overview"), ("agents", "Agents"), ("decisions", "Live decisions"), ("approvals", "Approvals"),
        ("tools", "Tools"), ("policies", "Policies"),
    ]

    /// Security headers on every console response: no framing, no inline script, nothing cached.
    static var headers: HTTPFields {
        [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
         .contentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
         HTTPField.Name("X-Frame-Options")!: "DENY", HTTPField.Name("Referrer-Policy")!: "same-origin",
         HTTPField.Name("X-Content-Type-Options")!: "nosniff"]
    }

    static func response(_ html: String, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        var fields = headers
        for f in extra { fields.append(f) }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func page(_ title: String, active: String?, person: ConsoleState.Session?, notice: String? = nil,
                     _ body: String) -> String {
        var nav = ""
        if let person {
            nav = "<nav>" + sections.map { s in
                "<a href=\"/console/\(s.path)\"\(s.path == active ? " class=\"on\"" : "")>\(s.title)</a>"
            }.joined() + "<span class=\"who\">\(h(person.name)) (\(person.role.rawValue))"
                + "<form method=\"post\" action=\"/console/signout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"\(person.csrf)\">"
                + "<button>Sign out</button></form></span></nav>"
        }
        let flash = notice.map { "<p class=\"notice\" id=\"notice\">\(h($0))</p>" } ?? ""
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>\(h(title)) · Portcullis</title><style>\(css)</style></head>
            <body><header><strong>Portcullis</strong>\(nav)</header><main><h1>\(h(title))</h1>\(flash)\(body)</main>
            <script src="/console/assets/console.js"></script></body></html>
            """
    }

    static func table(_ headers: [String], _ rows: [[String]], id: String? = nil) -> String {
        "<table\(id.map { " id=\"\($0)\"" } ?? "")><thead><tr>" + headers.map { "<th>\(h($0))</th>" }.joined()
            + "</tr></thead><tbody>" + rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined()
            + "</tbody></table>"
    }

    static func iso(_ d: Date) -> String { d.formatted(.iso8601) }

    static func date(_ d: Date?) -> String { d.map { "<time>\(h(iso($0)))</time>" } ?? "–" }

    static let css = """
        body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
        header{background:#1d2330;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}
        header a{color:#cfd6e4;text-decoration:none;margin-right:1em}header a.on{color:#fff;font-weight:600}
        .who{margin-left:auto;color:#cfd6e4}.inline{display:inline;margin-left:.6em}
        main{padding:1em 1.5em;max-width:1400px}table{border-collapse:collapse;width:100%;background:#fff;margin:.5em 0 1.5em}
        th,td{border-bottom:1px solid #e3e6ec;padding:.35em .5em;text-align:left;vertical-align:top}th{background:#eef0f4}
        .allow{color:#1a7f37;font-weight:600}.deny{color:#c62828;font-weight:600}.pending{color:#9a6700;font-weight:600}
        .notice{background:#e7f3ff;border:1px solid #9cc7f0;padding:.5em}.error{background:#fdecea;border:1px solid #f1aaa4;padding:.5em}
        .cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;border:1px solid #e3e6ec;padding:.7em 1em;min-width:11em}
        .card b{display:block;font-size:1.6em}pre{background:#fff;border:1px solid #e3e6ec;padding:.5em;overflow:auto;max-height:30em;
        white-space:pre-wrap;overflow-wrap:anywhere}
        form.act{display:inline-block;margin:.3em .6em .3em 0;background:#fff;border:1px solid #e3e6ec;padding:.5em}
        input[type=text],input[type=password],textarea,select{padding:.3em;border:1px solid #b8bfcc}
        button{padding:.3em .8em;border:1px solid #596275;background:#fff;cursor:pointer}.danger{border-color:#c62828;color:#c62828}
        .side{display:flex;gap:1em;width:44em;max-width:60vw}.side>div{flex:1;min-width:0}.changed pre{max-height:20em}
        """

    /// Live decisions: new rows arrive over Server-Sent Events and are put on top of the table.
    static let script = """
        (function () {
          var table = document.getElementById('decisions');
          if (!table || !window.EventSource) return;
          var url = table.getAttribute('data-stream');
          var source = new EventSource(url);
          var status = document.getElementById('live');
          source.onopen = function () { if (status) status.textContent = 'live'; };
          source.onerror = function () { if (status) status.textContent = 'reconnecting…'; };
          source.addEventListener('decision', function (e) {
            var d = JSON.parse(e.data);
            var row = document.createElement('tr');
            row.setAttribute('data-index', d.index);
            function cell(text, cls, href) {
              var td = document.createElement('td');
              var el = td;
              if (href) { el = document.createElement('a'); el.href = href; td.appendChild(el); }
              el.textContent = text;
              if (cls) td.className = cls;
              row.appendChild(td);
            }
            cell(d.time); cell(d.agent); cell(d.action); cell(d.resource); cell(d.decision, d.decision);
            cell(d.reason); cell('#' + d.index, null, '/console/audit/' + d.index);
            var body = table.tBodies[0];
            body.insertBefore(row, body.firstChild);
            while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
          });
        })();
        """
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
}
