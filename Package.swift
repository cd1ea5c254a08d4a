// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "legnext-queue",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "legnext-queue", targets: ["legnext-queue"]),
        .executable(name: "legnext-sim", targets: ["legnext-sim"]),
        .executable(name: "legnext-bench", targets: ["legnext-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        .target(
            name: "Migrations",
            path: "migrations",
            exclude: [],
            sources: ["Migrations.swift"],
            resources: [
                .embedInCode("0001_initial.sql"), .embedInCode("0002_callbacks.sql"), .embedInCode("0003_downloads_and_notifications.sql"),
                .embedInCode("0004_cheaper_checks.sql"),
                .embedInCode("0005_common_case_checks.sql"),
                .embedInCode("0006_rules_for_every_writer.sql"),
                .embedInCode("0007_video_from_an_image.sql"),
                .embedInCode("0008_remote_job_id_index.sql"),
                .embedInCode("0009_accounts.sql"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "QueueSupport",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "QueueStore",
            dependencies: [
                "Migrations", "QueueSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LegnextAPI",
            dependencies: [
                "QueueSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LegnextSimulator",
            dependencies: [
                "QueueSupport",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "QueueEngine",
            dependencies: [
                "QueueStore", "LegnextAPI", "QueueSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "QueueHTTP",
            dependencies: [
                "QueueStore", "QueueEngine", "LegnextAPI", "QueueSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // libpng and libwebp, for the console's thumbnails.
        .systemLibrary(name: "CImageCodecs", providers: [.apt(["libpng-dev", "libwebp-dev"])]),
        .target(
            name: "QueueConsole",
            dependencies: [
                "QueueStore", "QueueHTTP", "LegnextAPI", "QueueSupport", "CImageCodecs",
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [
                .embedInCode("Templates/layout.mustache"), .embedInCode("Templates/overview.mustache"),
                .embedInCode("Templates/jobs.mustache"), .embedInCode("Templates/job.mustache"),
                .embedInCode("Templates/gallery.mustache"), .embedInCode("Templates/image.mustache"),
                .embedInCode("Templates/login.mustache"), .embedInCode("Templates/message.mustache"),
                .embedInCode("Assets/console.css"), .embedInCode("Assets/console.js"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "QueueOutputs",
            dependencies: [
                "QueueStore", "LegnextAPI", "QueueSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "QueueCLI",
            dependencies: [
                "QueueStore", "QueueEngine", "LegnextAPI", "LegnextSimulator", "QueueSupport", "QueueHTTP", "QueueOutputs", "QueueConsole",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "legnext-queue",
            dependencies: ["QueueCLI"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "legnext-sim",
            dependencies: [
                "LegnextSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "legnext-bench",
            dependencies: [
                "LegnextAPI", "LegnextSimulator", "QueueTestSupport", "legnext-queue", "legnext-sim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            path: "Benchmarks/legnext-bench",
            swiftSettings: strict
        ),
        .target(
            name: "QueueTestSupport",
            dependencies: [
                "LegnextAPI", "LegnextSimulator", "QueueEngine", "QueueStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/QueueTestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "MigrationsTests", dependencies: ["Migrations", "QueueStore", "QueueTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "QueueStoreTests",
            dependencies: ["QueueStore", "QueueSupport", "QueueTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LegnextAPITests",
            dependencies: [
                "LegnextAPI", "LegnextSimulator", "QueueTestSupport", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "LegnextSimulatorTests", dependencies: ["LegnextSimulator", "LegnextAPI", "QueueTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "QueueEngineTests",
            dependencies: ["QueueEngine", "QueueStore", "LegnextAPI", "LegnextSimulator", "QueueTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "QueueConsoleTests",
            dependencies: [
                "QueueConsole", "QueueStore", "QueueTestSupport", "LegnextSimulator",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "QueueCLITests",
            dependencies: [
                "QueueCLI", "QueueStore", "Migrations", "LegnextAPI", "QueueSupport", "QueueTestSupport", "legnext-queue", "legnext-sim",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
