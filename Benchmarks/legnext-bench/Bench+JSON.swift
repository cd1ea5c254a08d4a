import Foundation
import QueueSupport
import QueueTestSupport

extension Bench {
    /// 10. The JSON reader: the hand-written one the client uses beside Foundation's
    /// `JSONDecoder` into the same ``JSONValue``, on the two answers every job costs the daemon
    /// (the POST's Job object and the completed GET's), taken from the simulator itself.
    /// `cpuPerJob` (ms, from the throughput scenario of the same run) turns the difference into a
    /// share of the daemon's CPU.
    func json(cpuPerJob: Double?) async throws -> [Row] {
        let (sim, url) = try startSimulator(["--duration-median", "0", "--duration-spread", "0"])
        defer { stop(sim) }
        let headers = ["content-type": "application/json", "x-api-key": "sim-key"]
        let prompt = #"{"text":"a watercolor fox in the snow, soft morning light --ar 3:2 --v 7"}"#
        let (posted, status) = try await URLSessionLite.post(url + "/v1/diffusion", body: Data(prompt.utf8), headers: headers)
        guard status == 200, let id = try JSONValue(data: posted)["job_id"]?.stringValue else {
            throw BenchError("the simulator refused the diffusion: \(status) \(String(decoding: posted, as: UTF8.self))")
        }
        var completed = Data()
        for _ in 0..<100 {
            let (body, _) = try await URLSessionLite.send(url + "/v1/job/\(id)", method: .GET, body: nil, headers: headers)
            completed = body
            if try JSONValue(data: body)["status"]?.stringValue == "completed" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let bodies = [posted, completed]
        let rounds = quick ? 2_000 : 20_000
        func perAnswer(_ parse: (Data) throws -> JSONValue) rethrows -> Double {
            var batches: [Double] = []
            for _ in 0..<5 {
                let started = ContinuousClock.now
                for _ in 0..<rounds { for body in bodies { _ = try parse(body) } }
                batches.append((ContinuousClock.now - started) / .microseconds(1) / Double(rounds * bodies.count))
            }
            return batches.sorted()[2]
        }
        let decoder = JSONDecoder()
        let ours = try perAnswer { try JSONValue(data: $0) }
        let foundation = try perAnswer { try decoder.decode(JSONValue.self, from: $0) }
        // The kinder comparison: Codable straight into the fields the client reads, no JSONValue.
        let typed = try perAnswer { body -> JSONValue in
            _ = try decoder.decode(TypedJob.self, from: body)
            return .null
        }
        let settings = "median of 5 × \(rounds) reads of the POST answer (\(posted.count) B) and the completed GET (\(completed.count) B)"
        var rows = [
            Row(scenario: "10 json", figure: "JSONValue reader µs per answer", value: format(ours, 1), target: "-", settings: settings),
            Row(
                scenario: "10 json",
                figure: "JSONDecoder µs per answer",
                value: format(foundation, 1) + " (\(format(foundation / ours, 1))×)",
                target: "-",
                settings: "Foundation's JSONDecoder into the same JSONValue (Codable)"
            ),
        ]
        rows.append(
            Row(
                scenario: "10 json",
                figure: "JSONDecoder into typed fields µs",
                value: format(typed, 1) + " (\(format(typed / ours, 1))×)",
                target: "-",
                settings: "Codable structs of the fields the client reads; input, error and available_actions as JSONValue"
            )
        )
        if let cpuPerJob {
            let share = (min(foundation, typed) - ours) * 2 / (cpuPerJob * 1000) * 100
            rows.append(
                Row(
                    scenario: "10 json",
                    figure: "JSONDecoder's extra CPU per job",
                    value: format(share, 1) + " %",
                    target: "< 5 % to switch",
                    settings: "the cheaper JSONDecoder way, 2 answers per job, ÷ the daemon CPU per job of scenario 3 (\(format(cpuPerJob, 2)) ms)"
                )
            )
        }
        return rows
    }
}

/// The Job object as a Codable user of Foundation would read it, keeping as JSON what the client
/// keeps as JSON.
private struct TypedJob: Decodable {
    struct Output: Decodable {
        var image_url: String?
        var image_urls: [String]?
        var seed: String?
        var available_actions: JSONValue?
    }
    struct Usage: Decodable {
        var type: String?
        var frozen: Int?
        var consume: Int?
    }
    struct Meta: Decodable {
        var created_at: String?
        var started_at: String?
        var ended_at: String?
        var usage: Usage?
    }
    var job_id: String
    var status: String
    var model: String?
    var task_type: String?
    var output: Output?
    var meta: Meta?
    /// What the client keeps as JSON: the input (settling compares it) and the error object.
    var input: JSONValue?
    var error: JSONValue?
}
