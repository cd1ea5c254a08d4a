import Foundation
import QueueSupport

/// The rules a queued job follows, whoever wrote it: `enqueue`, a `--file` line and a row typed
/// into `sqlite3` are checked by these same rules (the schema states what SQL can; the daemon
/// checks the rest at claim), so nothing is sent that differs from what the row says.
extension LegnextRequest {
    /// The job's params column, read exactly: text that is not one JSON object is an error that
    /// says why (never read as `{}`, which would send the job with default settings).
    public static func jobParams(_ text: String) throws(RequestValidationError) -> [String: JSONValue] {
        if text == "{}" { return [:] }
        let value: JSONValue
        do {
            value = try JSONValue(data: Data(text.utf8))
        } catch {
            throw RequestValidationError("params could not be read: \(error)")
        }
        guard let object = value.objectValue else { throw RequestValidationError("params must be a JSON object") }
        return object
    }

    /// Builds the request of a job as written: `hasParent` says whether the row names a local
    /// parent job, `parentRemoteJobId` is that parent's Legnext id (when a job is checked before
    /// its parent has run, the caller passes a placeholder).
    public static func job(
        kind: String,
        prompt: String?,
        params: [String: JSONValue],
        hasParent: Bool,
        parentRemoteJobId: String?
    ) throws(RequestValidationError) -> LegnextRequest {
        if kind == "diffusion", params.isEmpty, !hasParent, let prompt {
            return try LegnextRequest(DiffusionRequest(text: prompt))  // most jobs; a big import's every line
        }
        guard let legnextKind = LegnextKind(rawValue: kind) else {
            throw RequestValidationError("unknown kind \"\(kind)\": use one of \(LegnextKind.namesList)")
        }
        if hasParent, !legnextKind.takesParent {
            throw RequestValidationError(
                "a parent job is only for follow-up kinds (\(LegnextKind.allCases.filter(\.takesParent).map(\.rawValue).joined(separator: ", ")))"
            )
        }
        if let prompt, prompt.isBlank {
            throw RequestValidationError("the prompt is empty")
        }
        if hasParent, parentRemoteJobId == nil {
            throw RequestValidationError("the parent job has no Legnext job id: it has not completed")
        }
        return try build(kind: kind, prompt: prompt, params: params, parentRemoteJobId: hasParent ? parentRemoteJobId : nil)
    }
}
