import Crypto
import Foundation
import Hummingbird

/// Who may use the console, and proof that a form came from one of its own pages.
///
/// On loopback without a token anyone on this machine may use it, but only through a loopback
/// host name (a page elsewhere that resolves its own name to 127.0.0.1 is refused). With a
/// token (required off loopback) every request needs the sign-in cookie, made from the token,
/// or `Authorization: Bearer TOKEN`; tries of the token, either way, are throttled per address
/// (``SignInThrottle``). The cookie says until when it holds, carries a random nonce (each
/// sign-in its own) and is signed with a key made from the token (changing the token signs
/// everyone out); it never holds the token. Every form carries a CSRF token: an HMAC of the
/// browser's session cookie under a key this process drew at start.
struct ConsoleSecurity: Sendable {
    static let sessionCookie = "lnq_session"
    static let signInCookie = "lnq_signin"
    static let signInLifetime: Duration = .seconds(7 * 86_400)

    let token: String?
    /// Host names a request may name (the Host header) when no token is asked for.
    let allowedHosts: Set<String>
    let throttle: SignInThrottle
    private let formKey: [UInt8]
    private let signInKey: [UInt8]?
    private let now: @Sendable () -> Date
    private let signedOut = SignedOutCookies()

    init(token: String?, listenHost: String, now: @escaping @Sendable () -> Date = Date.init) {
        self.token = token
        self.now = now
        throttle = SignInThrottle(now: now)
        formKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        signInKey = token.map {
            Array(HMAC<SHA256>.authenticationCode(for: Data("legnext-queue console sign-in".utf8), using: SymmetricKey(data: Data($0.utf8))))
        }
        allowedHosts = ["127.0.0.1", "localhost", "::1", listenHost.lowercased()]
    }

    /// Whether the request (from `client`, an address) may see the console; nil when it may,
    /// else why not.
    func refusal(_ request: Request, client: String) async -> Refusal? {
        if signInKey != nil {
            if let cookie = request.cookies[Self.signInCookie]?.value, let signIn = signedIn(cookie),
                await !signedOut.contains(signIn.signature)
            {
                return nil
            }
            if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
                switch await check(String(header.dropFirst(7)), from: client) {
                case .right: return nil
                case .wrong: return .signIn
                case .closed(let wait): return .throttled(wait)
                }
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
        case throttled(Duration)
    }

    enum Try {
        case right, wrong
        case closed(Duration)
    }

    /// One try of the token from `client`, counted against its tries.
    func check(_ offered: String, from client: String) async -> Try {
        guard let token else { return .wrong }
        let offered = offered.trimmingCharacters(in: .whitespacesAndNewlines)
        return await throttle.attempt(client) { Self.same(offered, token) }
    }

    /// The cookie of a new sign-in (the token already checked).
    func signInCookie() -> Cookie {
        let lifetime = Int(Self.signInLifetime.components.seconds)
        let until = Int64(now().timeIntervalSince1970) + Int64(lifetime)
        let nonce = Self.hex(SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) })
        return Cookie(
            name: Self.signInCookie,
            value: "\(until).\(nonce).\(signature(until, nonce))",
            maxAge: lifetime,
            path: "/",
            httpOnly: true,
            sameSite: .strict
        )
    }

    /// Ends the sign-in of `request`'s cookie (not only in that browser: a copy of the cookie
    /// is refused from now on, until this process ends), and returns the cookie that clears it.
    func signOut(_ request: Request) async -> Cookie {
        if let cookie = request.cookies[Self.signInCookie]?.value, let signIn = signedIn(cookie) {
            await signedOut.add(signIn.signature, until: signIn.until, now: Int64(now().timeIntervalSince1970))
        }
        return Cookie(name: Self.signInCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict)
    }

    /// A sign-in cookie this token made that has not run out: until when it holds, and its
    /// signature (what a sign-out remembers), else nil. Only the one spelling it was issued in
    /// is read (`01800…` or `+1800…` is not the same cookie).
    func signedIn(_ cookie: String) -> (until: Int64, signature: String)? {
        let parts = cookie.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let until = Int64(parts[0]), String(until) == parts[0], until > Int64(now().timeIntervalSince1970),
            Self.isHex(parts[1], count: 32), Self.isHex(parts[2], count: 64), Self.same(parts[2], signature(until, parts[1]))
        else { return nil }
        return (until, parts[2])
    }

    private func signature(_ until: Int64, _ nonce: String) -> String {
        guard let signInKey else { return "" }
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data("until \(until) nonce \(nonce)".utf8), using: SymmetricKey(data: signInKey)))
    }

    private static func isHex(_ text: String, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The form token of a session.
    func formToken(session: String) -> String {
        Self.hex(HMAC<SHA256>.authenticationCode(for: Data(session.utf8), using: SymmetricKey(data: formKey)))
    }

    /// Whether a posted form came from a page of this console shown to this browser.
    func acceptsForm(_ request: Request, token: String?) -> Bool {
        guard let session = request.cookies[Self.sessionCookie]?.value, let token, Self.sameOrigin(request) else { return false }
        return Self.same(token, formToken(session: session))
    }

    /// Whether the page a form was posted from is not another site's. A browser says where a
    /// form came from ("null" when it will not say); without the header it is not a browser's.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin], origin != "null", let host = hostName(request.head.authority ?? "") else { return true }
        guard let originHost = URL(string: origin)?.host?.lowercased() else { return false }
        return originHost == host || "[\(originHost)]" == host
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

/// Sign-in cookies (by signature) signed out before they ran out, kept until they would have.
actor SignedOutCookies {
    private var until: [String: Int64] = [:]

    func add(_ signature: String, until: Int64, now: Int64) {
        self.until = self.until.filter { $0.value > now }
        self.until[signature] = until
    }

    func contains(_ signature: String) -> Bool { until[signature] != nil }
}
