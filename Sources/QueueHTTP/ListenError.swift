/// A server of the daemon (callbacks, metrics) could not listen where it was told to.
public struct ListenError: Error, CustomStringConvertible {
    public var description: String
}
