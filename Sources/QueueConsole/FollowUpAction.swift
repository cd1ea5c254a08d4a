import LegnextAPI
import QueueSupport

/// The Midjourney buttons under an image, as follow-up jobs: which kind each enqueues, with
/// which params, for image `imageNo` of the parent.
struct FollowUpAction: Sendable, Hashable {
    var name: String
    var label: String
    var kind: LegnextKind
    var params: [String: JSONValue]
    /// Acts on the whole job (reroll), not on one of its images.
    var wholeJob = false

    static let all: [FollowUpAction] = [
        FollowUpAction(name: "upscale-subtle", label: "Upscale (subtle)", kind: .upscale, params: ["type": .int(0)]),
        FollowUpAction(name: "upscale-creative", label: "Upscale (creative)", kind: .upscale, params: ["type": .int(1)]),
        FollowUpAction(name: "vary-subtle", label: "Vary (subtle)", kind: .variation, params: ["type": .int(0)]),
        FollowUpAction(name: "vary-strong", label: "Vary (strong)", kind: .variation, params: ["type": .int(1)]),
        FollowUpAction(name: "reroll", label: "Reroll", kind: .reroll, params: [:], wholeJob: true),
        FollowUpAction(name: "pan-left", label: "Pan ←", kind: .pan, params: ["direction": .int(PanDirection.left.rawValue), "scale": .double(1.5)]),
        FollowUpAction(
            name: "pan-right",
            label: "Pan →",
            kind: .pan,
            params: ["direction": .int(PanDirection.right.rawValue), "scale": .double(1.5)]
        ),
        FollowUpAction(name: "pan-up", label: "Pan ↑", kind: .pan, params: ["direction": .int(PanDirection.up.rawValue), "scale": .double(1.5)]),
        FollowUpAction(name: "pan-down", label: "Pan ↓", kind: .pan, params: ["direction": .int(PanDirection.down.rawValue), "scale": .double(1.5)]),
        FollowUpAction(name: "zoom-1.5", label: "Zoom out 1.5×", kind: .outpaint, params: ["scale": .double(1.5)]),
        FollowUpAction(name: "zoom-2", label: "Zoom out 2×", kind: .outpaint, params: ["scale": .double(2.0)]),
    ]

    static func named(_ name: String) -> FollowUpAction? { all.first { $0.name == name } }

    /// The job's params for image `imageNo` (nil for a whole-job action).
    func params(imageNo: Int?) -> [String: JSONValue] {
        var params = self.params
        if !wholeJob, let imageNo { params["imageNo"] = .int(imageNo) }
        return params
    }

    /// The actions a completed job of `parentKind` offers (those whose kind may follow it).
    static func offered(parentKind: String, parentPrompt: String?, image: Bool) -> [FollowUpAction] {
        all.filter { action in
            (image || action.wholeJob) && action.kind.parentProblem(parentKind: parentKind, parentPrompt: parentPrompt, extensions: 0) == nil
                && imageMakers.contains(parentKind)
        }
    }

    /// Kinds whose outputs are four Midjourney images a button can act on.
    static let imageMakers: Set<String> = ["diffusion", "variation", "reroll", "pan", "outpaint", "inpaint", "remix", "edit", "blend"]
}
