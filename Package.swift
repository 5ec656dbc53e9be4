// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    // Exclusivity is enforced at run time in debug builds, which the tests use; release builds leave the
    // dynamic checks out (they were about 8 % of the relay's CPU time in the benchmarks' profiles).
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "LanChat",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "lanchat", targets: ["lanchat"]),
        .executable(name: "lanchat-keys", targets: ["lanchat-keys"]),
        .executable(name: "lanchat-bench", targets: ["lanchat-bench"]),
        .library(name: "LanChatCrypto", targets: ["LanChatCrypto"]),
        .library(name: "LanChatProtocol", targets: ["LanChatProtocol"]),
        .library(name: "LanChatServer", targets: ["LanChatServer"]),
        .library(name: "LanChatClient", targets: ["LanChatClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(name: "CGlibcMalloc"),
        .target(
            name: "LanChatCrypto",
            dependencies: ["COpenSSL"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LanChatProtocol",
            dependencies: [
                "LanChatCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LanChatServer",
            dependencies: [
                "LanChatCrypto", "LanChatProtocol",
                .target(name: "CGlibcMalloc", condition: .when(platforms: [.linux])),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LanChatClient",
            dependencies: [
                "LanChatCrypto", "LanChatProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "lanchat",
            dependencies: [
                "LanChatServer", "LanChatClient", "LanChatProtocol", "LanChatCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "lanchat-bench",
            dependencies: [
                "LanChatServer", "LanChatProtocol", "LanChatCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "lanchat-keys",
            dependencies: [
                "LanChatCrypto", "LanChatClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "KeyTools",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LanChatCryptoTests",
            dependencies: ["LanChatCrypto"],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KeyToolsTests",
            dependencies: ["LanChatCrypto", "LanChatClient", "lanchat-keys"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LanChatProtocolTests",
            dependencies: [
                "LanChatProtocol", "LanChatCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LanChatIntegrationTests",
            dependencies: [
                "LanChatServer", "LanChatClient", "LanChatProtocol", "LanChatCrypto", "lanchat", "lanchat-bench",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
