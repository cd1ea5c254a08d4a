import Crypto
import Foundation
import Hummingbird

/// Who may use the console, and proof that a form came from one of its own pages.
///
/// On loopback without a token anyone on this machine may use it, but only through a loopback
/// host name (a page elsewhere that resolves its own name to 127.0.0.1 is refused). With a
/// token (required off loopback) every request needs the sign-in cookie, made from the token,
/// or `Authorization: Bearer TOKEN`. The cookie says until when it holds and is signed with a
/// key made from the token (changing the token signs everyone out); it never holds the
/// token. Every form carries a CSRF token: an HMAC of the browser's session cookie under a
/// key this process drew at start.
struct ConsoleSecurity: Sendable {
    static let sessionCookie = "lnq_session"
    static let signInCookie = "lnq_signin"
    static let signInLifetime: Duration = .seconds(7 * 86_400)

    let token: String?
    /// Host names a request may name (the Host header) when no token is asked for.
    let allowedHosts: Set<String>
    private let formKey: [UInt8]
    private let signInKey: [UInt8]?
    private let now: @Sendable () -> Date
    private let signedOut = SignedOutCookies()

    init(token: String?, listenHost: String, now: @escaping @Sendable () -> Date = Date.init) {
        self.token = token
        self.now = now
        formKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        signInKey = token.map {
            Array(HMAC<SHA256>.authenticationCode(for: Data("legnext-queue console sign-in".utf8), using: SymmetricKey(data: Data($0.utf8))))
        }
        allowedHosts = ["127.0.0.1", "localhost", "::1", listenHost.lowercased()]
    }

    /// Whether the request may see the console; nil when it may, else why not.
    func refusal(_ request: Request) async -> Refusal? {
        if signInKey != nil {
            if let cookie = request.cookies[Self.signInCookie]?.value, signedIn(cookie), await !signedOut.contains(cookie) { return nil }
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
        guard let token, Self.same(offered.trimmingCharacters(in: .whitespacesAndNewlines), token) else { return nil }
        let lifetime = Int(Self.signInLifetime.components.seconds)
        let until = Int64(now().timeIntervalSince1970) + Int64(lifetime)
        return Cookie(name: Self.signInCookie, value: "\(until).\(signature(until))", maxAge: lifetime, path: "/", httpOnly: true, sameSite: .strict)
    }

    /// Ends the sign-in of `request`'s cookie (here too, not only in that browser: a copy of
    /// the cookie is refused from now on, until this process ends), and returns the cookie
    /// that clears it.
    func signOut(_ request: Request) async -> Cookie {
        if let cookie = request.cookies[Self.signInCookie]?.value, signedIn(cookie),
            let until = cookie.split(separator: ".").first.flatMap({ Int64($0) })
        {
            await signedOut.add(cookie, until: until, now: Int64(now().timeIntervalSince1970))
        }
        return Cookie(name: Self.signInCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict)
    }

    /// Whether a sign-in cookie is one this token made and has not run out.
    func signedIn(_ cookie: String) -> Bool {
        let parts = cookie.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let until = Int64(parts[0]), until > Int64(now().timeIntervalSince1970) else { return false }
        return Self.same(String(parts[1]), signature(until))
    }

    private func signature(_ until: Int64) -> String {
        guard let signInKey else { return "" }
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data("until \(until)".utf8), using: SymmetricKey(data: signInKey)))
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

/// Sign-in cookies signed out before they ran out, kept until they would have.
actor SignedOutCookies {
    private var until: [String: Int64] = [:]

    func add(_ cookie: String, until: Int64, now: Int64) {
        self.until = self.until.filter { $0.value > now }
        self.until[cookie] = until
    }

    func contains(_ cookie: String) -> Bool { until[cookie] != nil }
}
