import Crypto
import Foundation
import Hummingbird

/// Who may use the console, and proof that a form came from one of its own pages.
///
/// On loopback without a token anyone on this machine may use it, but only through a loopback
/// host name (a page elsewhere that resolves its own name to 127.0.0.1 is refused). With a
/// token (required off loopback) every request needs the sign-in cookie, made from the token,
/// or `Authorization: Bearer TOKEN`. Every form carries a CSRF token: an HMAC of the browser's
/// session cookie under a key this process drew at start.
struct ConsoleSecurity: Sendable {
    static let sessionCookie = "lnq_session"
    static let signInCookie = "lnq_signin"

    let token: String?
    /// Host names a request may name (the Host header) when no token is asked for.
    let allowedHosts: Set<String>
    private let formKey: [UInt8]
    private let signInValue: String?

    init(token: String?, listenHost: String) {
        self.token = token
        formKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        signInValue = token.map {
            Self.hex(HMAC<SHA256>.authenticationCode(for: Data("legnext-queue console sign-in".utf8), using: SymmetricKey(data: Data($0.utf8))))
        }
        allowedHosts = ["127.0.0.1", "localhost", "::1", listenHost.lowercased()]
    }

    /// Whether the request may see the console; nil when it may, else why not.
    func refusal(_ request: Request) -> Refusal? {
        if let signInValue {
            if let cookie = request.cookies[Self.signInCookie]?.value, Self.same(cookie, signInValue) { return nil }
            if let header = request.headers[.authorization], header.hasPrefix("Bearer "), let token,
                Self.same(String(header.dropFirst(7)), token)
            {
                return nil
            }
            return .signIn
        }
        guard let host = Self.hostName(request.head.authority ?? ""), allowedHosts.contains(host) else {
            return .wrongHost
        }
        return nil
    }

    enum Refusal {
        case signIn, wrongHost
    }

    /// The cookie a correct token earns, or nil for a wrong one.
    func signIn(with offered: String) -> Cookie? {
        guard let token, let signInValue, Self.same(offered.trimmingCharacters(in: .whitespacesAndNewlines), token) else { return nil }
        return Cookie(name: Self.signInCookie, value: signInValue, maxAge: 30 * 86_400, path: "/", httpOnly: true, sameSite: .strict)
    }

    /// The form token of a session.
    func formToken(session: String) -> String {
        Self.hex(HMAC<SHA256>.authenticationCode(for: Data(session.utf8), using: SymmetricKey(data: formKey)))
    }

    /// Whether a posted form came from a page of this console shown to this browser.
    func acceptsForm(_ request: Request, token: String?) -> Bool {
        guard let session = request.cookies[Self.sessionCookie]?.value, let token else { return false }
        // A browser says where a form came from ("null" when it will not say); another site's
        // page is refused even before the token is checked.
        if let origin = request.headers[.origin], origin != "null", let host = Self.hostName(request.head.authority ?? "") {
            guard let originHost = URL(string: origin)?.host?.lowercased(), originHost == host || "[\(originHost)]" == host else { return false }
        }
        return Self.same(token, formToken(session: session))
    }

    /// A new session id (random, hex).
    static func newSession() -> String {
        hex(SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) })
    }

    static func sessionCookie(_ value: String) -> Cookie {
        Cookie(name: sessionCookie, value: value, path: "/", httpOnly: true, sameSite: .strict)
    }

    /// The host name of a Host header (no port, IPv6 without brackets), lowercased.
    static func hostName(_ authority: String) -> String? {
        guard !authority.isEmpty else { return nil }
        let lower = authority.lowercased()
        if lower.hasPrefix("[") {
            guard let end = lower.firstIndex(of: "]") else { return nil }
            return String(lower[lower.index(after: lower.startIndex)..<end])
        }
        return String(lower.split(separator: ":", maxSplits: 1).first ?? "")
    }

    private static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    private static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
