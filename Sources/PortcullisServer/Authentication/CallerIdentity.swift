import PortcullisCore

/// Who is calling the admin API, as an authenticator established it.
public enum CallerIdentity: Sendable, Equatable {
    /// The holder of the admin token; `actor` names the person (`admin` or `admin:<X-Portcullis-Actor>`).
    case administrator(actor: String)
    /// A named approver, authenticated by their own token.
    case approver(name: String)
    /// A named administrator, authenticated by their own token (or a console session): everything the admin token
    /// may do, recorded under `person:<name>`; also decides approvals.
    case namedAdministrator(name: String)
}

extension PortcullisRequestContext {
    /// The administrator's actor name; refuses anyone else.
    func administrator() throws(PortcullisError) -> String {
        switch identity {
        case .administrator(let actor)?: return actor
        case .namedAdministrator(let name)?: return "person:\(name)"
        case .approver(let name)?:
            throw PortcullisError(.forbidden, "approver `\(name)` may read and decide approvals only; this needs an administrator")
        case nil: throw PortcullisError(.unauthorized, "admin token required (Authorization: Bearer …)")
        }
    }

    /// The approver's name; refuses the admin token (approvals are decided by named people).
    func approver() throws(PortcullisError) -> String {
        switch identity {
        case .approver(let name)?, .namedAdministrator(let name)?: return name
        case .administrator?:
            throw PortcullisError(.forbidden, "approvals are decided by named approvers with their own token (portcullis approvers add), not with the admin token")
        case nil: throw PortcullisError(.unauthorized, "an approver token is required (Authorization: Bearer …)")
        }
    }

    /// Who may read approvals: the administrator or an approver.
    func approvalReader() throws(PortcullisError) -> String {
        switch identity {
        case .administrator(let actor)?: return actor
        case .approver(let name)?: return "approver:\(name)"
        case .namedAdministrator(let name)?: return "person:\(name)"
        case nil: throw PortcullisError(.unauthorized, "the admin token or an approver token is required (Authorization: Bearer …)")
        }
    }
}
