public import Cedar

/// The Cedar schema of Portcullis's requests: the entities and context ``CedarMapping`` builds, in `.cedarschema`
/// form. `portcullis policy validate` and every policy load check policies against it (strict validation), and
/// `portcullis policy schema` prints it for other Cedar tools.
///
/// It cannot drift from the requests unnoticed: a test builds each action's request with every optional part
/// present through ``CedarMapping`` and checks it conforms, and that every attribute declared here is one the
/// requests carry (PortcullisSchemaTests).
///
/// Records whose attributes come from outside (a tool's arguments, `authorization_details`, the per-tool counts of
/// the session's history, an HTTP request's path parameters and query) are declared `@additionalAttributes`: a
/// policy reads one of their attributes only after testing it with `has`, and nothing about its type is checked.
/// Other Cedar tools read the annotation as documentation and treat those records as closed.
public enum PortcullisSchema {
    /// The context every gateway action (`connect`, `list_tools`, `call_tool`, `http_request`) carries.
    static let gatewayContext = """
          listing: Bool,
          upstream: String,
          chain: Set<String>,
          depth: Long,
          delegated: Bool,
          scopes: Set<String>,
          purpose: String,
          arguments: Arguments,
          session: Session,
          time: Time,
          dlp: DLP,
          authorizationDetails: Set<AuthorizationDetail>,
          risk: Risk,
          user?: String,
          payment?: Payment,
          provenance?: Provenance,
          sourceAddress?: ipaddr,
        """

    /// What an HTTP request adds to the gateway context.
    static let httpContext = """
          method: String,
          pathParameters: PathParameters,
          query: Query,
        """

    public static let text = """
        // The Cedar schema of Portcullis's requests (docs/policy-validation.md). Printed by `portcullis policy schema`.

        entity Team;
        entity Upstream;
        entity Agent in [Team] {
          owner: String, purpose: String, trustLevel: Long, model: String, modelProvider: String,
          modelVersion: String, status: String, name: String,
        };
        entity Tool in [Upstream] {
          upstream: String, name: String, effect: String, risk: Long, dataClass: String, tags: Set<String>,
        };
        entity Endpoint in [Upstream] {
          upstream: String, method: String, path: String, operationId?: String, effect: String, risk: Long,
          dataClass: String, tags: Set<String>,
        };
        entity Approver { name: String };
        entity Approval {
          agent: Agent, agentOwner: String, tool: String, effect: String, risk: Long, argumentsDigest: String,
        };

        // A tool's arguments, as the agent sent them: JSON objects are records, arrays sets, integers Longs.
        @additionalAttributes
        type Arguments = {};
        // One RFC 9396 authorization detail of the delegation.
        @additionalAttributes
        type AuthorizationDetail = {};
        @additionalAttributes
        type PathParameters = {};
        @additionalAttributes
        type Query = {};
        // Per tool (qualified name): how many calls, and the amounts sent.
        @additionalAttributes
        type ToolCounts = {};
        @additionalAttributes
        type Effects = { read: Long, write: Long, destructive: Long };
        type History = {
          counts: ToolCounts, amounts: ToolCounts, effects: Effects, tools: Set<String>, recent: Set<String>,
          last?: String, amountTotal: Long, calls: Long,
        };
        type Session = {
          tainted: Bool, taintSources: Set<String>, calls: Long, ageSeconds: Long, dataClasses: Set<String>,
          injected: Bool, history: History,
        };
        type Time = { epochSeconds: Long, hourUTC: Long, weekday: Long, now: datetime };
        type DLP = { findings: Set<String>, secrets: Bool, count: Long };
        type Risk = { score: Long, response: String };
        type Payment = { recipients: Set<String>, currencies: Set<String>, maxAmount?: Long };
        // Per argument path: intent, trusted, new or untrusted.
        @additionalAttributes
        type ArgumentLabels = {};
        type Provenance = {
          arguments: ArgumentLabels, untrusted: Set<String>, new: Set<String>, anyUntrusted: Bool, anyNew: Bool,
          allKnown: Bool, sources: Set<String>, emails: Set<String>, emailDomains: Set<String>,
          urlHosts: Set<String>, hosts: Set<String>, overflow: Bool, intent: Bool, anyNewIdentifier: Bool,
        };

        action connect, list_tools appliesTo {
          principal: [Agent], resource: [Upstream],
          context: {
        \(gatewayContext)
          },
        };
        action call_tool appliesTo {
          principal: [Agent], resource: [Tool],
          context: {
        \(gatewayContext)
          },
        };
        action http_request appliesTo {
          principal: [Agent], resource: [Endpoint],
          context: {
        \(gatewayContext)
        \(httpContext)
          },
        };
        action approve appliesTo {
          principal: [Approver], resource: [Approval],
          context: { decision: String },
        };

        """

    /// The parsed schema (the text is checked by the tests: it always parses).
    public static let schema: Schema = {
        do {
            return try Schema(parsing: text)
        } catch {
            fatalError("Portcullis's own Cedar schema does not parse: \(error)")
        }
    }()
}
