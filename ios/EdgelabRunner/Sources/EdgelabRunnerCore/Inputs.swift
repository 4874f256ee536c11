// Inputs the model declares, filled with fixed values: latency does not depend on them for the
// models edgelab measures, and a fixed fill makes runs comparable. Multi-arrays and images are
// supported; anything else is refused with its type named.
import CoreML
import CoreVideo
import Foundation

public func makeInputs(for description: MLModelDescription) throws -> MLFeatureProvider {
    var features: [String: MLFeatureValue] = [:]
    for (name, input) in description.inputDescriptionsByName {
        switch input.type {
        case .multiArray:
            guard let constraint = input.multiArrayConstraint else {
                throw RunnerError.unsupportedInput("\(name): multi-array without a constraint")
            }
            let array = try MLMultiArray(shape: fixedShape(constraint), dataType: constraint.dataType)
            for index in 0..<array.count {
                array[index] = NSNumber(value: Float(index % 255) / 255.0)
            }
            features[name] = MLFeatureValue(multiArray: array)
        case .image:
            guard let constraint = input.imageConstraint else {
                throw RunnerError.unsupportedInput("\(name): image without a constraint")
            }
            features[name] = MLFeatureValue(pixelBuffer: try grayPixelBuffer(
                width: constraint.pixelsWide, height: constraint.pixelsHigh,
                format: constraint.pixelFormatType))
        default:
            throw RunnerError.unsupportedInput("\(name): feature type \(input.type.rawValue)")
        }
    }
    return try MLDictionaryFeatureProvider(dictionary: features)
}

/// A flexible shape takes its first enumerated shape, else each range's lower bound.
func fixedShape(_ constraint: MLMultiArrayConstraint) -> [NSNumber] {
    let flexible = constraint.shapeConstraint
    switch flexible.type {
    case .enumerated:
        if let first = flexible.enumeratedShapes.first { return first }
    case .range:
        return flexible.sizeRangeForDimension.map { NSNumber(value: max(1, $0.rangeValue.location)) }
    default:
        break
    }
    return constraint.shape
}

func grayPixelBuffer(width: Int, height: Int, format: OSType) throws -> CVPixelBuffer {
    var buffer: CVPixelBuffer?
    let status = CVPixelBufferCreate(kCFAllocatorDefault, width, height, format, nil, &buffer)
    guard status == kCVReturnSuccess, let pixels = buffer else {
        throw RunnerError.unsupportedInput("cannot make a \(width)x\(height) pixel buffer (CVReturn \(status))")
    }
    CVPixelBufferLockBaseAddress(pixels, [])
    if let base = CVPixelBufferGetBaseAddress(pixels) {
        memset(base, 128, CVPixelBufferGetDataSize(pixels))
    }
    CVPixelBufferUnlockBaseAddress(pixels, [])
    return pixels
}
