import PortcullisIdentity
import Testing

@Suite("OAuth errors")
struct OAuthErrorTests {
    @Test("client authentication failures answer 401, request errors 400")
    func statuses() {
        #expect(OAuthError.invalidClient("x").status == 401)
        #expect(OAuthError.invalidToken("x").status == 401)
        #expect(OAuthError.invalidGrant("x").status == 400)
        #expect(OAuthError.invalidDPoPProof("x").error == "invalid_dpop_proof")
    }
}
