import PostcopyWire
import Testing
import Watchdog

@Suite("Endpoint parsing", .watchdog)
struct EndpointTests {
    @Test(arguments: [
        ("127.0.0.1:4000", Endpoint.tcp(host: "127.0.0.1", port: 4000)),
        ("localhost:0", .tcp(host: "localhost", port: 0)),
        ("source.example:65535", .tcp(host: "source.example", port: 65535)),
        ("[::1]:4000", .tcp(host: "::1", port: 4000)),
        ("[fe80::1%lo]:7", .tcp(host: "fe80::1%lo", port: 7)),
        ("unix:/run/postcopy.sock", .unix(path: "/run/postcopy.sock")),
        ("unix:relative.sock", .unix(path: "relative.sock")),
        ("/tmp/postcopy.sock", .unix(path: "/tmp/postcopy.sock")),
    ])
    func parses(text: String, expected: Endpoint) throws {
        let endpoint = try Endpoint(parsing: text)
        #expect(endpoint == expected)
        #expect(try Endpoint(parsing: endpoint.description) == endpoint)
    }

    @Test(arguments: [
        "", "host", "host:", ":4000", "host:65536", "host:-1", "host:+80", "host:8o", "host:123456",
        "::1:4000", "[::1]", "[::1]4000", "[]:4000", "unix:",
        "/" + String(repeating: "x", count: 108),
    ])
    func rejects(text: String) {
        #expect {
            try Endpoint(parsing: text)
        } throws: { error in
            guard case .invalidEndpoint(let detail) = error as? WireError else { return false }
            return !detail.isEmpty
        }
    }

    @Test func descriptions() {
        #expect(Endpoint.tcp(host: "::1", port: 9).description == "[::1]:9")
        #expect(Endpoint.tcp(host: "10.0.0.1", port: 9).description == "10.0.0.1:9")
        #expect(Endpoint.unix(path: "/a/b").description == "unix:/a/b")
    }
}
