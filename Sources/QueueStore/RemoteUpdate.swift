import Foundation
import QueueSupport

/// What Legnext said about a job, in the store's terms (no HTTP types here).
public struct RemoteUpdate: Sendable {
    public var status: LegnextJobStatus
    /// Summary of the output (JSON object text), on completion.
    public var output: String?
    public var outputs: [JobOutput]
    public var creditsUsed: Int?
    /// One line for people, on failure.
    public var error: String?
    /// Legnext's error object (JSON text), on failure.
    public var errorDetail: String?
    /// Mark the image and video outputs for download (`--output-dir`).
    public var downloadOutputs = false
    /// The answer came from a request of its own (a poll). False when it rode on the POST's
    /// answer, which `markSubmitted` already counted.
    public var countsRequest = true

    public init(
        status: LegnextJobStatus,
        output: String? = nil,
        outputs: [JobOutput] = [],
        creditsUsed: Int? = nil,
        error: String? = nil,
        errorDetail: String? = nil,
        countsRequest: Bool = true
    ) {
        self.status = status
        self.output = output
        self.outputs = outputs
        self.creditsUsed = creditsUsed
        self.error = error
        self.errorDetail = errorDetail
        self.countsRequest = countsRequest
    }
}

/// What one claim did: the jobs to send now, and those it failed before sending anything.
public struct ClaimBatch: Sendable {
    public var jobs: [ClaimedJob] = []
    public var failed: [Failure] = []

    public struct Failure: Sendable, Hashable {
        public var id: Int64
        public var reason: String

        public init(id: Int64, reason: String) {
            self.id = id
            self.reason = reason
        }
    }

    public init() {}

    /// Every due job the claim took off the queue, sent or failed.
    public var count: Int { jobs.count + failed.count }
}

/// A job the daemon has claimed for submission.
public struct ClaimedJob: Sendable {
    public var job: Job
    /// The completed parent, for follow-up kinds.
    public var parent: ParentJob?
    /// The secret of the job's callback URL, when claimed with callbacks on.
    public var callbackToken: String?

    public init(job: Job, parent: ParentJob?, callbackToken: String? = nil) {
        self.job = job
        self.parent = parent
        self.callbackToken = callbackToken
    }
}

/// What a follow-up's request and rules need of its parent job.
public struct ParentJob: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var prompt: String?
    /// Its Legnext id, once it has one.
    public var remoteJobId: String?
    /// The `extend-video` jobs in a row ending at it (counted for an `extend-video` follow-up).
    public var extensions: Int
    /// The account it was made on, once completed (``QueueStore/parents(_:countingExtensions:)``
    /// says it; its follow-ups must go with it).
    public var madeOn: String? = nil

    public init(id: Int64, kind: String, prompt: String? = nil, remoteJobId: String? = nil, extensions: Int = 0) {
        self.id = id
        self.kind = kind
        self.prompt = prompt
        self.remoteJobId = remoteJobId
        self.extensions = extensions
    }
}

/// An accepted job being followed, as recovered at start-up.
public struct InFlightJob: Sendable {
    public var id: Int64
    public var kind: String
    public var remoteJobId: String
    public var remoteStatus: LegnextJobStatus
    public var submittedAt: Date
    public var progressAt: Date
    public var nextPollAt: Date?
    public var requests: Int
    /// The account it was sent with (nil: before accounts were recorded).
    public var account: String?

    public init(
        id: Int64,
        kind: String,
        remoteJobId: String,
        remoteStatus: LegnextJobStatus,
        submittedAt: Date,
        progressAt: Date,
        nextPollAt: Date?,
        requests: Int,
        account: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.remoteJobId = remoteJobId
        self.remoteStatus = remoteStatus
        self.submittedAt = submittedAt
        self.progressAt = progressAt
        self.nextPollAt = nextPollAt
        self.requests = requests
        self.account = account
    }
}
