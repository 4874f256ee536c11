// The job edgelab writes into the app's Documents/edgelab/job.json (harness/engines/coreml_ios.py
// build_job). Unknown compute-unit names are refused by name rather than defaulted.
import CoreML
import Foundation

public let schemaVersion = 1

public struct Job: Decodable {
    public let schema: Int
    public let jobId: String
    public let model: String           // name inside the job folder: .mlpackage/.mlmodel/.mlmodelc
    public let computeUnits: String    // cpuOnly | cpuAndGPU | all | cpuAndNeuralEngine
    public let warmup: Int
    public let iterations: Int
    public let repeats: Int
    public let minTimeS: Double
    public let timeoutS: Double
    public let results: String

    enum CodingKeys: String, CodingKey {
        case schema, model, warmup, iterations, repeats, results
        case jobId = "job_id", computeUnits = "compute_units"
        case minTimeS = "min_time_s", timeoutS = "timeout_s"
    }

    public static func load(from url: URL) throws -> Job {
        let job = try JSONDecoder().decode(Job.self, from: Data(contentsOf: url))
        guard job.schema == schemaVersion else {
            throw RunnerError.badJob("job schema \(job.schema); this runner reads \(schemaVersion)")
        }
        guard job.iterations > 0, job.warmup >= 0, job.repeats > 0 else {
            throw RunnerError.badJob("iterations and repeats must be > 0, warmup >= 0")
        }
        _ = try job.mlComputeUnits()
        return job
    }

    /// MLModelConfiguration.computeUnits for the job's name (MLComputeUnits cases).
    public func mlComputeUnits() throws -> MLComputeUnits {
        switch computeUnits {
        case "cpuOnly": return .cpuOnly
        case "cpuAndGPU": return .cpuAndGPU
        case "all": return .all
        case "cpuAndNeuralEngine": return .cpuAndNeuralEngine  // iOS 16+ (the deployment target)
        default:
            throw RunnerError.badJob("compute_units \(computeUnits): use cpuOnly, cpuAndGPU, all or cpuAndNeuralEngine")
        }
    }
}

public enum RunnerError: Error, CustomStringConvertible {
    case badJob(String)
    case unsupportedInput(String)
    case timeout(Double)

    public var description: String {
        switch self {
        case .badJob(let why): return "bad job: \(why)"
        case .unsupportedInput(let why): return "unsupported model input: \(why)"
        case .timeout(let seconds): return "the job ran past its timeout of \(seconds) s"
        }
    }
}
