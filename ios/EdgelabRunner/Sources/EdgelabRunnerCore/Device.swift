// What the runner reads about the phone itself: memory footprint (task_info), thermal state,
// model identifier, and the compute devices Core ML may use.
import CoreML
import Foundation

/// The process's physical footprint (what Xcode's memory gauge and jetsam use): task_info with
/// TASK_VM_INFO. TASK_VM_INFO_COUNT is a C macro Swift does not import, so it is computed here.
public func physFootprintBytes() -> UInt64? {
    var info = task_vm_info_data_t()
    var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
    let result = withUnsafeMutablePointer(to: &info) { pointer in
        pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
            task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
        }
    }
    return result == KERN_SUCCESS ? info.phys_footprint : nil
}

/// ProcessInfo.ThermalState as the names edgelab records (nominal < fair < serious < critical).
public func thermalStateName() -> String {
    switch ProcessInfo.processInfo.thermalState {
    case .nominal: return "nominal"
    case .fair: return "fair"
    case .serious: return "serious"
    case .critical: return "critical"
    @unknown default: return "unknown"
    }
}

/// "iPhone15,3": the hardware identifier from uname (UIDevice.model only says "iPhone").
public func deviceModelIdentifier() -> String {
    var system = utsname()
    uname(&system)
    return withUnsafeBytes(of: &system.machine) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}

/// The compute devices Core ML can use on this phone (iOS 17+), else nil: not guessed.
public func availableComputeUnits() -> [String]? {
    if #available(iOS 17.0, macOS 14.0, *) {
        return MLModel.availableComputeDevices.map { device -> String in
            switch device {
            case .cpu: return "cpu"
            case .gpu: return "gpu"
            case .neuralEngine(let engine): return "neuralEngine(\(engine.totalCoreCount) cores)"
            @unknown default: return "unknown"
            }
        }
    }
    return nil
}
