// results.json, read by harness/engines/coreml_ios.py parse_results (same schema number).
import Foundation

public struct RepeatResult: Encodable {
    public var warmupMs: [Double] = []
    public var latenciesMs: [Double] = []
    public var thermalStateBefore: String = ""
    public var thermalStateAfter: String = ""
    // the timed loop's start and end on the phone's wall clock (seconds since 1970): edgelab maps
    // them onto the host's clock through lockdown's TimeIntervalSince1970 to place its battery
    // and CPU samples (energy per inference over the loop only)
    public var timedUnixS: [Double] = []

    enum CodingKeys: String, CodingKey {
        case warmupMs = "warmup_ms", latenciesMs = "latencies_ms"
        case thermalStateBefore = "thermal_state_before", thermalStateAfter = "thermal_state_after"
        case timedUnixS = "timed_unix_s"
    }
}

public struct MemoryResult: Encodable {
    public var footprintBeforeLoadBytes: UInt64?
    public var footprintAfterLoadBytes: UInt64?
    public var footprintPeakBytes: UInt64?

    enum CodingKeys: String, CodingKey {
        case footprintBeforeLoadBytes = "footprint_before_load_bytes"
        case footprintAfterLoadBytes = "footprint_after_load_bytes"
        case footprintPeakBytes = "footprint_peak_bytes"
    }
}

public struct Results: Encodable {
    public var schema = schemaVersion
    public var jobId: String
    public var status = "error"            // "ok" once every repeat ran
    public var error: String?
    public var runnerVersion = "1.0"
    public var osVersion: String
    public var deviceModel: String
    public var computeUnits: String
    public var computeUnitsAvailable: [String]?  // iOS 17+: MLModel.availableComputeDevices
    public var compileMs: Double?                // nil when the job shipped a compiled .mlmodelc
    public var loadMs: Double?
    public var repeats: [RepeatResult] = []
    public var memory = MemoryResult()

    enum CodingKeys: String, CodingKey {
        case schema, status, error, repeats, memory
        case jobId = "job_id", runnerVersion = "runner_version", osVersion = "os_version"
        case deviceModel = "device_model", computeUnits = "compute_units"
        case computeUnitsAvailable = "compute_units_available", compileMs = "compile_ms"
        case loadMs = "load_ms"
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // written whole, then renamed: edgelab never pulls a half-written file
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}
