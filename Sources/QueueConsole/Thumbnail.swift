import CImageCodecs

/// A gallery tile's picture: a saved PNG or WebP shrunk to fit a square of `side` pixels
/// (each pixel the alpha-weighted mean of the source pixels it covers), encoded as WebP.
/// A Midjourney image is 1–8 MB of PNG; its tile is a few tens of kilobytes.
enum Thumbnail {
    static let side = 384
    static let quality: Float = 82
    /// The largest image decoded (25 MP, 100 MB of RGBA); a larger one is shown as it is.
    static let maxPixels = 25_000_000

    /// Why an image gets no thumbnail (it is then served whole).
    enum Refusal: Error, Equatable, CustomStringConvertible {
        case small, notAnImage, tooLarge(width: Int, height: Int), broken(String)

        var description: String {
            switch self {
            case .small: "it is no larger than a thumbnail"
            case .notAnImage: "it is neither PNG nor WebP"
            case .tooLarge(let width, let height): "it is \(width)×\(height), more pixels than a thumbnail is made from"
            case .broken(let why): "it cannot be decoded (\(why))"
            }
        }
    }

    /// Pixels as RGBA rows without padding.
    struct Pixels {
        var width: Int
        var height: Int
        var rgba: [UInt8]
    }

    static func make(from data: [UInt8], side: Int = side, maxPixels: Int = maxPixels) throws(Refusal) -> [UInt8] {
        let image = try decode(data, maxPixels: maxPixels)
        let (width, height) = fitted(width: image.width, height: image.height, side: side)
        guard width < image.width || height < image.height else { throw .small }
        return try encodeWebP(shrink(image, toWidth: width, height: height))
    }

    static func fitted(width: Int, height: Int, side: Int) -> (Int, Int) {
        guard width > side || height > side else { return (width, height) }
        if width >= height { return (side, max(1, (height * side + width / 2) / width)) }
        return (max(1, (width * side + height / 2) / height), side)
    }

    static func decode(_ data: [UInt8], maxPixels: Int = maxPixels) throws(Refusal) -> Pixels {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try decodePNG(data, maxPixels: maxPixels) }
        if data.count >= 12, data[0..<4].elementsEqual(Array("RIFF".utf8)), data[8..<12].elementsEqual(Array("WEBP".utf8)) {
            return try decodeWebP(data, maxPixels: maxPixels)
        }
        throw .notAnImage
    }

    private static func decodePNG(_ data: [UInt8], maxPixels: Int) throws(Refusal) -> Pixels {
        // libpng keeps the pointer from begin_read until finish_read: one borrow spans both.
        let result = data.withUnsafeBytes { source -> Result<Pixels, Refusal> in
            var image = png_image()
            image.version = png_uint_32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&image, source.baseAddress, source.count) != 0 else {
                return .failure(.broken(message(of: &image)))
            }
            defer { png_image_free(&image) }
            let width = Int(image.width)
            let height = Int(image.height)
            guard width > 0, height > 0 else { return .failure(.broken("no pixels")) }
            guard width * height <= maxPixels else { return .failure(.tooLarge(width: width, height: height)) }
            image.format = lnq_png_format_rgba
            var rgba = [UInt8](repeating: 0, count: width * height * 4)
            let done = rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, png_int_32(width * 4), nil) }
            guard done != 0 else { return .failure(.broken(message(of: &image))) }
            return .success(Pixels(width: width, height: height, rgba: rgba))
        }
        return try result.get()
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func decodeWebP(_ data: [UInt8], maxPixels: Int) throws(Refusal) -> Pixels {
        var width: Int32 = 0
        var height: Int32 = 0
        guard WebPGetInfo(data, data.count, &width, &height) != 0, width > 0, height > 0 else { throw .broken("not a WebP image libwebp reads") }
        guard Int(width) * Int(height) <= maxPixels else { throw .tooLarge(width: Int(width), height: Int(height)) }
        var rgba = [UInt8](repeating: 0, count: Int(width) * Int(height) * 4)
        let count = rgba.count
        let done = rgba.withUnsafeMutableBufferPointer { WebPDecodeRGBAInto(data, data.count, $0.baseAddress, count, width * 4) }
        guard done != nil else { throw .broken("libwebp could not decode it") }
        return Pixels(width: Int(width), height: Int(height), rgba: rgba)
    }

    /// Area-averaged: every source pixel counts once, weighted by its alpha (a transparent
    /// pixel's colour does not darken its neighbours).
    static func shrink(_ image: Pixels, toWidth width: Int, height: Int) -> Pixels {
        let columns = (0...width).map { $0 * image.width / width }
        var out = [UInt8](repeating: 0, count: width * height * 4)
        var sums = [Int](repeating: 0, count: width * 4)
        var counts = [Int](repeating: 0, count: width)
        image.rgba.withUnsafeBufferPointer { source in
            for y in 0..<height {
                let top = y * image.height / height
                let bottom = max(top + 1, (y + 1) * image.height / height)
                for i in sums.indices { sums[i] = 0 }
                for i in counts.indices { counts[i] = 0 }
                for row in top..<bottom {
                    let base = row * image.width * 4
                    for x in 0..<width {
                        let right = max(columns[x] + 1, columns[x + 1])
                        for column in columns[x]..<right {
                            let p = base + column * 4
                            let alpha = Int(source[p + 3])
                            sums[x * 4] += Int(source[p]) * alpha
                            sums[x * 4 + 1] += Int(source[p + 1]) * alpha
                            sums[x * 4 + 2] += Int(source[p + 2]) * alpha
                            sums[x * 4 + 3] += alpha
                            counts[x] += 1
                        }
                    }
                }
                for x in 0..<width {
                    let o = (y * width + x) * 4
                    let weight = sums[x * 4 + 3]
                    if weight > 0 {
                        out[o] = UInt8((sums[x * 4] + weight / 2) / weight)
                        out[o + 1] = UInt8((sums[x * 4 + 1] + weight / 2) / weight)
                        out[o + 2] = UInt8((sums[x * 4 + 2] + weight / 2) / weight)
                    }
                    out[o + 3] = UInt8((weight + counts[x] / 2) / max(1, counts[x]))
                }
            }
        }
        return Pixels(width: width, height: height, rgba: out)
    }

    static func encodeWebP(_ image: Pixels) throws(Refusal) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        let size = image.rgba.withUnsafeBufferPointer {
            WebPEncodeRGBA($0.baseAddress, Int32(image.width), Int32(image.height), Int32(image.width * 4), quality, &output)
        }
        guard size > 0, let output else { throw .broken("libwebp could not encode the thumbnail") }
        defer { WebPFree(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
