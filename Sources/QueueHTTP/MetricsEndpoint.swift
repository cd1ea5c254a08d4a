import CoreMetrics
import Foundation
import Hummingbird
import Logging
import Prometheus
import QueueEngine
import QueueStore
import QueueSupport
import ServiceLifecycle

/// Serves Prometheus text at `GET /metrics`: what the engine reports through swift-metrics,
/// plus the queue's counts read from the database at each scrape.
public struct MetricsEndpoint: Service {
    let registry: PrometheusCollectorRegistry
    let store: QueueStore
    let host: String
    let port: Int
    let logger: Logger
    private let boundPort = Promised<Int?>()

    /// Makes swift-metrics report into a fresh registry. Call once per process, before the engine starts.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[EngineMetrics.jobDuration] = [1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 300, 600, 1800].map { .seconds($0) }
        factory.durationHistogramBuckets[EngineMetrics.pollLag] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000].map {
            .milliseconds($0)
        }
        MetricsSystem.bootstrap(factory)
        return registry
    }

    public init(registry: PrometheusCollectorRegistry, store: QueueStore, host: String, port: Int, logger: Logger) {
        self.registry = registry
        self.store = store
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// The port it listens on once it does, or nil if it could not.
    public func port() async -> Int? { await boundPort.value() }

    public func run() async throws {
        let router = Router()
        router.get("/metrics") { _, _ in
            refreshQueueGauges()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
        try await HTTPListener.run(
            router,
            host: host,
            port: port,
            bound: boundPort,
            serving: "serving metrics",
            failing: "serve metrics",
            path: "/metrics",
            logger: logger,
            serverLogger: logger
        )
    }

    static var jobs: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "legnext_queue",
            metricName: "jobs",
            unitName: "",
            helpText: "Jobs in the queue by state"
        )
    }
    static var oldestQueued: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "legnext_queue",
            metricName: "oldest_queued",
            unitName: "seconds",
            helpText: "Age of the oldest queued job"
        )
    }
    static var creditsUsed: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "legnext_queue",
            metricName: "credits_used",
            unitName: "",
            helpText: "Credits used by all jobs in the queue"
        )
    }

    /// Jobs by state and the age of the oldest queued job, as the database has them now.
    private func refreshQueueGauges() {
        let status: QueueStatus
        do {
            status = try store.status()
        } catch {
            logger.warning("metrics: cannot read the queue's counts: \(error)")
            return
        }
        for state in JobState.allCases {
            registry.makeGauge(descriptor: Self.jobs, labels: [("state", state.rawValue)]).set(Double(status.counts[state] ?? 0))
        }
        registry.makeGauge(descriptor: Self.oldestQueued).set(status.oldestQueuedAt.map { Date().timeIntervalSince($0) } ?? 0)
        registry.makeGauge(descriptor: Self.creditsUsed).set(Double(status.creditsUsed))
    }
}
