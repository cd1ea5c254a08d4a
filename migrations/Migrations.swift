/// One schema migration: a plain SQL file of this folder, embedded into the binary.
public struct Migration: Sendable, Hashable {
    /// The number the file starts with; migrations apply in this order, once each.
    public let version: Int
    /// The file name without `.sql`, e.g. `0001_initial`.
    public let name: String
    /// The file's SQL text.
    public let sql: String

    init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.version = Int(name.prefix { $0.isNumber })!
        self.sql = String(decoding: bytes, as: UTF8.self)
    }
}

extension Migration {
    /// Every migration, in order. SwiftPM names embedded files oddly (`0001_x.sql` becomes
    /// `_001_x_sql`), so each file is listed here by hand; a test checks that none is missing.
    public static let all: [Migration] = [
        Migration("0001_initial", PackageResources._001_initial_sql),
        Migration("0002_callbacks", PackageResources._002_callbacks_sql),
        Migration("0003_downloads_and_notifications", PackageResources._003_downloads_and_notifications_sql),
        Migration("0004_cheaper_checks", PackageResources._004_cheaper_checks_sql),
        Migration("0005_common_case_checks", PackageResources._005_common_case_checks_sql),
        Migration("0006_rules_for_every_writer", PackageResources._006_rules_for_every_writer_sql),
        Migration("0007_video_from_an_image", PackageResources._007_video_from_an_image_sql),
        Migration("0008_remote_job_id_index", PackageResources._008_remote_job_id_index_sql),
        Migration("0009_accounts", PackageResources._009_accounts_sql),
    ]

    /// The schema version this build writes and understands.
    public static var latestVersion: Int { all.last!.version }
}
