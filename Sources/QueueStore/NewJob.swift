import Foundation

/// A job to add to the queue. Validation of kind and params beyond what the schema checks
/// belongs to the caller (the CLI checks params against the Legnext request rules).
public struct NewJob: Sendable, Hashable {
    public var kind: String
    public var prompt: String?
    /// JSON object text.
    public var params: String
    public var tag: String?
    public var priority: Int
    public var runAfter: Date?
    public var idempotencyKey: String?
    public var parentId: Int64?
    /// The account the job must be sent with (nil: any).
    public var account: String?

    public init(
        kind: String = "diffusion",
        prompt: String?,
        params: String = "{}",
        tag: String? = nil,
        priority: Int = 0,
        runAfter: Date? = nil,
        idempotencyKey: String? = nil,
        parentId: Int64? = nil,
        account: String? = nil
    ) {
        self.kind = kind
        self.prompt = prompt
        self.params = params
        self.tag = tag
        self.priority = priority
        self.runAfter = runAfter
        self.idempotencyKey = idempotencyKey
        self.parentId = parentId
        self.account = account
    }
}

/// What an enqueue did.
public struct EnqueueResult: Sendable, Hashable {
    /// Ids of the new jobs, in input order.
    public var ids: [Int64]
    /// Jobs skipped because their idempotency key was already used.
    public var skippedKeys: [String]
}
