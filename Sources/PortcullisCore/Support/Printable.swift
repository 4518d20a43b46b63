/// Keeps untrusted text short in messages and logs.
public enum Printable {
    public static func clip(_ s: String, _ limit: Int = 200) -> String {
        s.count <= limit ? s : String(s.prefix(limit)) + "…"
    }
}
