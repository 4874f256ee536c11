// One job: compile (unless shipped compiled), load with the job's compute units, then per repeat
// warm-up and timed iterations, each iteration one prediction(from:) timed on the monotonic
// clock. Memory is sampled with task_info after load and after every iteration (peak kept);
// the thermal state is read around every repeat. Errors become results with status "error",
// so edgelab always has a file to read.
import CoreML
import Foundation

public final class Runner {
    public let folder: URL   // Documents/edgelab: job.json, the model, results.json

    public init(folder: URL) {
        self.folder = folder
    }

    public static func documentsFolder() -> URL {
        FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("edgelab", isDirectory: true)
    }

    /// Runs job.json and writes its results; returns them (the app shows a one-line summary).
    @discardableResult
    public func runJobFile() async -> Results {
        let jobURL = folder.appendingPathComponent("job.json")
        var results = Results(jobId: "?", osVersion: ProcessInfo.processInfo.operatingSystemVersionString,
                              deviceModel: deviceModelIdentifier(), computeUnits: "?")
        results.computeUnitsAvailable = availableComputeUnits()
        do {
            let job = try Job.load(from: jobURL)
            results.jobId = job.jobId
            results.computeUnits = job.computeUnits
            try await run(job, into: &results)
            results.status = "ok"
        } catch {
            results.error = String(describing: error)
        }
        let name = (try? Job.load(from: jobURL).results) ?? "results.json"
        try? results.write(to: folder.appendingPathComponent(name))
        return results
    }

    func run(_ job: Job, into results: inout Results) async throws {
        let deadline = Date().addingTimeInterval(job.timeoutS)
        results.osVersion = osVersion()
        results.memory.footprintBeforeLoadBytes = physFootprintBytes()
        var modelURL = folder.appendingPathComponent(job.model)
        if modelURL.pathExtension != "mlmodelc" {
            let started = DispatchTime.now().uptimeNanoseconds
            modelURL = try await MLModel.compileModel(at: modelURL)  // async form: iOS 16+
            results.compileMs = milliseconds(since: started)
        }
        let configuration = MLModelConfiguration()
        configuration.computeUnits = try job.mlComputeUnits()
        let loadStarted = DispatchTime.now().uptimeNanoseconds
        let model = try await MLModel.load(contentsOf: modelURL, configuration: configuration)
        results.loadMs = milliseconds(since: loadStarted)
        results.memory.footprintAfterLoadBytes = physFootprintBytes()
        var peak = results.memory.footprintAfterLoadBytes ?? 0
        let inputs = try makeInputs(for: model.modelDescription)
        for _ in 0..<job.repeats {
            var repeatResult = RepeatResult()
            repeatResult.thermalStateBefore = thermalStateName()
            for _ in 0..<job.warmup {
                repeatResult.warmupMs.append(try timedPrediction(model, inputs))
            }
            let timedStart = Date()
            var done = 0
            // at least `iterations`, and on for min_time_s when asked (edgelab's --min-time)
            while done < job.iterations || Date().timeIntervalSince(timedStart) < job.minTimeS {
                repeatResult.latenciesMs.append(try timedPrediction(model, inputs))
                peak = max(peak, physFootprintBytes() ?? 0)
                done += 1
                if Date() > deadline { throw RunnerError.timeout(job.timeoutS) }
            }
            repeatResult.timedUnixS = [timedStart.timeIntervalSince1970, Date().timeIntervalSince1970]
            repeatResult.thermalStateAfter = thermalStateName()
            results.repeats.append(repeatResult)
        }
        results.memory.footprintPeakBytes = peak
    }

    func timedPrediction(_ model: MLModel, _ inputs: MLFeatureProvider) throws -> Double {
        let started = DispatchTime.now().uptimeNanoseconds
        _ = try model.prediction(from: inputs)
        return milliseconds(since: started)
    }

    func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
    }

    func osVersion() -> String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        return v.patchVersion > 0 ? "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)"
                                  : "\(v.majorVersion).\(v.minorVersion)"
    }
}
