import Foundation

/// The pictures the simulator serves: a small PNG per file, its colours drawn from the job id
/// and the file name, so a gallery of simulated jobs shows distinct images (a 1×1 pixel looked
/// like nothing). Stored (uncompressed) deflate blocks keep it free of a zlib dependency.
enum SimulatorImage {
    static let side = 128

    /// A `width`×`height` PNG (the simulator's are `side`×`side`; tests make larger ones).
    static func png(job: String, file: String, width: Int = side, height: Int = side) -> [UInt8] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (job + "/" + file).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let a = rgb(hue: Double(hash & 0xffff) / 65_536)
        let b = rgb(hue: Double((hash >> 16) & 0xffff) / 65_536)
        let angle = Double((hash >> 32) & 0xff) / 256 * 2 * .pi
        var raw: [UInt8] = []
        raw.reserveCapacity((width * 3 + 1) * height)
        let scale = Double(max(width, height))
        for y in 0..<height {
            raw.append(0)  // filter: none
            for x in 0..<width {
                let u = (Double(x) * cos(angle) + Double(y) * sin(angle)) / scale * 0.7 + 0.5
                let t = min(1, max(0, u))
                let ring = (x - width / 2) * (x - width / 2) + (y - height / 2) * (y - height / 2) < Int(scale * scale) / 12 ? 0.82 : 1.0
                for channel in 0..<3 {
                    raw.append(UInt8(min(255, (Double(a[channel]) * (1 - t) + Double(b[channel]) * t) * ring)))
                }
            }
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, 2, 0, 0, 0])
        png += chunk("IDAT", zlibStored(raw))
        png += chunk("IEND", [])
        return png
    }

    private static func rgb(hue: Double) -> [UInt8] {
        let h = hue * 6
        let x = 1 - abs(h.truncatingRemainder(dividingBy: 2) - 1)
        let (r, g, b): (Double, Double, Double) =
            switch Int(h) {
            case 0: (1, x, 0)
            case 1: (x, 1, 0)
            case 2: (0, 1, x)
            case 3: (0, x, 1)
            case 4: (x, 0, 1)
            default: (1, 0, x)
            }
        return [r, g, b].map { UInt8(60 + $0 * 180) }
    }

    private static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let final: UInt8 = offset + length == data.count ? 1 : 0
            out += [final, UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8((~length >> 8) & 0xff)]
            out += data[offset..<(offset + length)]
            offset += length
        } while offset < data.count
        var s1: UInt32 = 1
        var s2: UInt32 = 0
        for byte in data {
            s1 = (s1 + UInt32(byte)) % 65_521
            s2 = (s2 + s1) % 65_521
        }
        return out + be32(s2 << 16 | s1)
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    private static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
}
