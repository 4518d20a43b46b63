import Foundation
import PortcullisCore
import Testing
@testable import PortcullisIdentity

@Suite("DPoP proofs made by the client side")
struct DPoPProofSignerTests {
    @Test("a proof from DPoPProofSigner verifies, binds the access token, and is single use", arguments: [SigningAlgorithm.es256, .eddsa])
    func roundTrip(algorithm: SigningAlgorithm) async throws {
        let signer = DPoPProofSigner(key: SigningKey.generate(algorithm))
        let store = InMemoryTokenStateStore()
        let proof = try signer.proof(method: "POST", url: "https://gw.example.com/mcp", accessToken: "tok")
        let checked = try await DPoPVerifier().verify(proof: proof, method: "POST", url: "https://gw.example.com/mcp",
                                                      accessToken: "tok", now: Date(), replay: store)
        #expect(checked.jkt == (try signer.thumbprint))
        await #expect(throws: OAuthError.self) {
            _ = try await DPoPVerifier().verify(proof: proof, method: "POST", url: "https://gw.example.com/mcp",
                                                accessToken: "tok", now: Date(), replay: store)
        }
        let other = try signer.proof(method: "POST", url: "https://gw.example.com/mcp", accessToken: "another")
        await #expect(throws: OAuthError.self) {
            _ = try await DPoPVerifier().verify(proof: other, method: "POST", url: "https://gw.example.com/mcp",
                                                accessToken: "tok", now: Date(), replay: store)
        }
    }
}
