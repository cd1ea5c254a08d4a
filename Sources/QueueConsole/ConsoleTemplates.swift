import Mustache

/// The console's pages: mustache templates embedded into the binary (no files to install),
/// rendered with HTML escaping, so a prompt or an error is always shown as text.
struct ConsoleTemplates: Sendable {
    private let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        let templates: [(String, [UInt8])] = [
            ("layout", PackageResources.layout_mustache),
            ("overview", PackageResources.overview_mustache),
            ("jobs", PackageResources.jobs_mustache),
            ("job", PackageResources.job_mustache),
            ("gallery", PackageResources.gallery_mustache),
            ("image", PackageResources.image_mustache),
            ("login", PackageResources.login_mustache),
            ("message", PackageResources.message_mustache),
        ]
        for (name, bytes) in templates {
            try library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        self.library = library
    }

    func render(_ name: String, _ context: [String: Any]) -> String {
        library.render(context, withTemplate: name) ?? "template \(name) is missing"
    }

    static let stylesheet = String(decoding: PackageResources.console_css, as: UTF8.self)
    static let script = String(decoding: PackageResources.console_js, as: UTF8.self)
}
