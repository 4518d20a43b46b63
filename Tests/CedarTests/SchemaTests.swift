@testable import Cedar
import Foundation
import Testing

/// Schema parsing (`.cedarschema`), schema-directed JSON, entity conformance and request validation.
///
/// The invalid inputs below were checked against the reference (cedarpy 4.12): each is rejected there too.
@Suite("Cedar schemas")
struct SchemaTests {
    /// The error a schema is rejected with, or `nil` when it parses.
    static func schemaError(_ text: String) -> CedarError? {
        do {
            _ = try Schema(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    static func entitiesError(_ json: String, _ schema: Schema) -> CedarError? {
        do {
            _ = try EntitiesJSON.parse(json, schema: schema)
            return nil
        } catch {
            return error
        }
    }

    static func requestError(_ json: String, _ schema: Schema) -> CedarError? {
        do {
            _ = try RequestJSON.request(from: JSONValue.parse(json), schema: schema)
            return nil
        } catch {
            return error
        }
    }

    static let photos = """
        // Photo sharing, with most of the syntax.
        @doc("the app") namespace PhotoApp::Core {
          @doc("a user") entity User in [Group, Team] = {
            "name": String,
            age?: Long,
            @doc("where") addr: { street: String, "zip code"?: __cedar::String },
            ip: ipaddr, score: decimal, t: datetime, d: __cedar::duration,
            friends: Set<User>,
          } tags Set<String>;
          entity Group in Team;
          entity Team { owner: User };
          entity Color enum ["red", "green", "blue"];
          type Addr = { street: String, num: Long };
          entity Photo in [Album] { owner: User, addr: Addr, color: Color };
          entity Album;
          action "view photo", edit in [Action::"all"] appliesTo {
            principal: [User, Group],
            resource: Photo,
            context: { ip: ipaddr, n?: Long }
          };
          action all;
          action share in "all" appliesTo { principal: User, resource: [Photo, Album], context: Ctx, };
          type Ctx = { a: Bool };
          action noop attributes {};
        }
        namespace Other {
          entity Thing { u: PhotoApp::Core::User };
          action act in [PhotoApp::Core::Action::"edit"] appliesTo { principal: Thing, resource: Thing };
        }
        entity Top { x: Long };
        """

    static func uid(_ type: String, _ id: String) -> EntityUID { EntityUID(type, id) }

    // MARK: - Parsing

    @Test("every corpus and sample schema parses; corpus entities conform and corpus requests validate")
    func corpus() throws {
        let base = try CedarCorpus.unpackedCorpus.get().appendingPathComponent("corpus-tests")
        let names = try FileManager.default.contentsOfDirectory(atPath: base.path)
            .filter { $0.hasSuffix(".cedarschema") }.map { String($0.dropLast(".cedarschema".count)) }
        var failures: [String] = []
        var requests = 0
        for name in names {
            do {
                let schema = try Schema(parsing: String(contentsOf: base.appendingPathComponent(name + ".cedarschema"), encoding: .utf8))
                _ = try EntitiesJSON.parse(String(contentsOf: base.appendingPathComponent(name + ".entities.json"), encoding: .utf8), schema: schema)
                let test = try JSONValue.parse(String(contentsOf: base.appendingPathComponent(name + ".json"), encoding: .utf8))
                guard case .array(let items)? = test["requests"] else { continue }
                // Every corpus request sets `validateRequest`, so the reference validated it.
                for item in items {
                    requests += 1
                    _ = try RequestJSON.request(from: item, schema: schema, validate: true)
                }
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        let samples = CedarCorpus.cedarRoot.appendingPathComponent("sample-data")
        var sampleCount = 0
        for sandbox in try FileManager.default.contentsOfDirectory(atPath: samples.path) {
            let dir = samples.appendingPathComponent(sandbox)
            for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f.hasSuffix(".cedarschema") {
                sampleCount += 1
                do {
                    _ = try Schema(parsing: String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8))
                } catch {
                    failures.append("\(sandbox)/\(f): \(error)")
                }
            }
        }
        print("schemas: \(names.count) corpus + \(sampleCount) samples, \(requests) requests validated, \(failures.count) failures")
        for f in failures.prefix(20) { Issue.record("\(f)") }
        #expect(names.count == 7809)
        #expect(sampleCount == 3)
        #expect(requests == 62472)
        #expect(failures.isEmpty)
    }

    @Test("a schema using most of the syntax declares what it says")
    func declarations() throws {
        let schema = try Schema(parsing: Self.photos)
        let user = EntityType("PhotoApp::Core::User")
        #expect(schema.attributeType(of: user, "name") == .string)
        #expect(schema.attributeType(of: user, "d") == .ext("duration"))
        #expect(schema.attributeType(of: user, "friends") == .set(.entity(user)))
        #expect(schema.attributeType(of: user, "addr") == .record(
            ["street": .init(type: .string, required: true), "zip code": .init(type: .string, required: false)],
            additionalAttributes: false))
        #expect(schema.attributeType(of: user, "nope") == nil)
        #expect(schema.tagType(of: user) == .set(.string))
        #expect(schema.tagType(of: EntityType("PhotoApp::Core::Group")) == nil)
        // The common type `Addr` is inlined.
        #expect(schema.attributeType(of: EntityType("PhotoApp::Core::Photo"), "addr") == .record(
            ["street": .init(type: .string, required: true), "num": .init(type: .long, required: true)],
            additionalAttributes: false))
        #expect(schema.attributeType(of: EntityType("Other::Thing"), "u") == .entity(user))
        #expect(schema.entityTypes[EntityType("PhotoApp::Core::Color")]?.choices == ["red", "green", "blue"])
        // `Group in Team`, so a user may have a `Team` parent directly as well.
        #expect(schema.entityTypes[user]?.allowedParents == [EntityType("PhotoApp::Core::Group"), EntityType("PhotoApp::Core::Team")])

        let view = Self.uid("PhotoApp::Core::Action", "view photo")
        #expect(schema.contextType(of: view) == .record(
            ["ip": .init(type: .ext("ipaddr"), required: true), "n": .init(type: .long, required: false)],
            additionalAttributes: false))
        #expect(schema.contextType(of: Self.uid("PhotoApp::Core::Action", "share")) == .record(
            ["a": .init(type: .bool, required: true)], additionalAttributes: false))
        #expect(schema.contextType(of: Self.uid("PhotoApp::Core::Action", "noop")) == .record([:], additionalAttributes: false))
        #expect(schema.contextType(of: Self.uid("Action", "view photo")) == nil)
        #expect(schema.actions[view]?.principals == [user, EntityType("PhotoApp::Core::Group")])
        #expect(schema.actions[Self.uid("PhotoApp::Core::Action", "noop")]?.principals == [])
    }

    @Test("action entities carry all their ancestors and skip the ones given")
    func actionEntities() throws {
        let schema = try Schema(parsing: Self.photos)
        let all = Self.uid("PhotoApp::Core::Action", "all"), edit = Self.uid("PhotoApp::Core::Action", "edit")
        let act = Self.uid("Other::Action", "act")
        let entities = schema.actionEntities(excluding: [])
        #expect(entities.count == 6)
        #expect(Dictionary(uniqueKeysWithValues: entities.map { ($0.uid, $0.parents) })[act] == [edit, all])
        #expect(!schema.actionEntities(excluding: [act]).contains { $0.uid == act })
        // The store built from the JSON holds them, with the hierarchy.
        let store = try EntitiesJSON.parse("[]", schema: schema)
        #expect(store.count == 6)
        #expect(store.isDescendant(act, of: all))
    }

    @Test("names resolve to the namespace's common type, then its entity type, then the empty namespace")
    func resolution() throws {
        let schema = try Schema(parsing: """
            type T0 = Long;
            entity Top;
            entity String;
            entity ipaddr;
            namespace N {
              type S = String;
              entity E { a: T, b: Top, c: S, d: __cedar::String, e: ipaddr, f: __cedar::ipaddr, g: Action, h: T0 };
              entity T;
              action x;
            }
            """)
        let e = EntityType("N::E")
        #expect(schema.attributeType(of: e, "a") == .entity(EntityType("N::T")))
        #expect(schema.attributeType(of: e, "b") == .entity(EntityType("Top")))
        // `String` is declared as an entity in the empty namespace, hiding the primitive there.
        #expect(schema.attributeType(of: e, "c") == .entity(EntityType("String")))
        #expect(schema.attributeType(of: e, "d") == .string)
        #expect(schema.attributeType(of: e, "e") == .entity(EntityType("ipaddr")))
        #expect(schema.attributeType(of: e, "f") == .ext("ipaddr"))
        #expect(schema.attributeType(of: e, "g") == .entity(EntityType("N::Action")))
        #expect(schema.attributeType(of: e, "h") == .long)
        let shadowed = try Schema(parsing: "namespace N { type T = Long; entity T; entity U { t: T }; }")
        #expect(shadowed.attributeType(of: EntityType("N::U"), "t") == .long)
    }

    @Test("invalid schemas are rejected with a message naming the problem", arguments: [
        ("@a @a entity A;", "duplicate annotations: `a`"),
        ("namespace A {} namespace A {}", "duplicate namespace id: `A`"),
        ("entity A; entity A;", "`A` is declared twice"),
        ("action a, \"a\";", "action \"a\" is declared twice"),
        ("entity A enum [];", "unexpected token `]`"),
        ("entity A in [B,];", "unexpected token `]`"),
        ("entity A =;", "unexpected token `;`, expected `{`"),
        ("entity A { , };", "expected an attribute name"),
        ("entity A 12;", "unexpected token `12`"),
        ("entity A $;", "unexpected character `$`"),
        ("entity A enum [\"a\"] tags String;", "unexpected token `tags`"),
        ("namespace N { entity A;", "unexpected end of input"),
        ("action \"\\q\";", "invalid escape sequence"),
        ("action a attributes { x: Long };", "unexpected token `x`"),
        ("type T = { a: T };", "cycle in common type references containing `T`"),
        ("type T = U; type U = T;", "cycle in common type references"),
        ("entity A { a: __cedar::foo };", "failed to resolve type: `__cedar::foo`"),
        ("entity A { a: Set };", "failed to resolve type: `Set`"),
        ("entity A in B;", "failed to resolve type: `B`"),
        ("namespace N { entity A { t: N::T }; } type T = Long;", "failed to resolve type: `N::T`"),
        ("type Foo = String; entity A in Foo;", "failed to resolve type: `Foo`"),
        ("entity A in Action; action x;", "undeclared entity type: `Action`"),
        ("action a in b; action b in a;", "cycle in action hierarchy"),
        ("action a in a;", "cycle in action hierarchy containing `Action::\"a\"`"),
        ("action a in \"nope\";", "undeclared action: `Action::\"nope\"`"),
        ("action a in [A::B];", "expected `::` followed by an action id string"),
        ("action a appliesTo {};", "unexpected token `}`"),
        ("action a appliesTo { context: {} };", "missing `principal` declaration"),
        ("entity A; action a appliesTo { principal: A };", "missing `resource` declaration"),
        ("entity A; action a appliesTo { principal: A, resource: A, principal: A };", "duplicate `principal` declaration"),
        ("entity A; action a appliesTo { principal: A, resource: A, context: {}, context: {} };", "duplicate context declaration"),
        ("entity A; action a appliesTo { principal: [], resource: A };", "`principal` is `[]`, which is invalid"),
        ("entity A; action a appliesTo { principal: A, resource: A, context: A };", "has not been declared as a common type"),
        ("entity A; action a appliesTo { principal: A, resource: A, context: Long };", "declared with a type other than a record"),
        ("namespace N { entity A; } entity A;", "definition of `N::A` illegally shadows the existing definition of `A`"),
        ("namespace N { action x; } action x;", "illegally shadows the existing definition of `Action::\"x\"`"),
        ("namespace N { entity Action; }", "`Action` cannot be declared as an entity type"),
        ("entity if;", "`if` is a reserved identifier"),
        ("entity A { in: Long };", "`in` is a reserved identifier"),
        ("type Long = String;", "reserved schema keyword: `Long`"),
        ("namespace __cedar { entity A; }", "reserved `__cedar` namespace"),
        ("entity __cedar;", "reserved `__cedar` namespace"),
    ])
    func invalidSchemas(text: String, fragment: String) throws {
        let error = try #require(Self.schemaError(text), "`\(text)` should be rejected")
        #expect(error.code == .schema)
        #expect(error.message.contains(fragment), "`\(text)`: \(error.message)")
    }

    @Test("valid corner cases parse", arguments: [
        "",
        "// only a comment",
        "entity A in [];",
        "entity A {};",
        "entity A = { a?: Long, };",
        "entity entity, namespace, tags;",
        "entity A { \"in\": Long, \"\": String, a: Long, a: String };",
        "entity A { a: Long } tags { x: Set<Set<String>> };",
        "entity A enum [\"a\", \"a\"];",
        "entity A in [A];",
        "entity A in B; entity B in A;",
        "@in @true(\"x\") entity A;",
        "action \"a\", b in [c, Action::\"d\"]; action c, \"d\";",
        "namespace NS { action a in Action::\"b\"; } action b;",
        "action a in NS::Action::\"b\"; namespace NS { action b; }",
        "entity A; action a appliesTo { principal: [A, A], resource: A, context: {}, } attributes {};",
        "type ipaddr = Long; entity A { s: ipaddr };",
        "entity Set; entity A { a: Set };",
        "namespace N { type Action = Long; } namespace Action { entity A; }",
        "action \"\\u{1F600}\";",
        "action \"two\nlines\";",
    ])
    func validCornerCases(text: String) {
        #expect(Self.schemaError(text) == nil, "`\(text)`")
    }

    @Test("parse errors give the line and column")
    func positions() throws {
        let error = try #require(Self.schemaError("entity A;\n\nentity B {\n  a: Long\n  b: String\n};"))
        #expect(error.message.hasPrefix("5:3: unexpected token `b`"), "\(error.message)")
        let unresolved = try #require(Self.schemaError("namespace N {\n  entity A { x: Strin };\n}"))
        #expect(unresolved.message.hasPrefix("2:17: failed to resolve type: `Strin`"), "\(unresolved.message)")
        #expect(unresolved.message.contains("neither `N::Strin` nor `Strin`"))
    }

    // MARK: - Schema-directed JSON

    @Test("values are read at their declared types")
    func directedValues() throws {
        let schema = try Schema(parsing: Self.photos)
        func read(_ json: String, _ type: SchemaType) throws -> Value {
            try SchemaValueReader.value(from: JSONValue.parse(json), type: type, schema: schema, path: "v")
        }
        #expect(try read("\"1.2.3.4\"", .ext("ipaddr")) == .ext(.ipaddr(IPAddress.parse("1.2.3.4")!)))
        #expect(try read("{\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.5\"}}", .ext("decimal"))
            == .ext(.decimal(CedarDecimal.parse("1.5")!)))
        #expect(try read("{\"fn\": \"decimal\", \"arg\": \"1.5\"}", .ext("decimal")) == .ext(.decimal(CedarDecimal.parse("1.5")!)))
        // `__extn` arguments are read at the function's parameter types.
        #expect(try read("{\"__extn\": {\"fn\": \"offset\", \"args\": [\"2024-01-01\", \"1h\"]}}", .ext("datetime"))
            == .ext(.datetime(CedarDatetime.parse("2024-01-01T01:00:00Z")!)))
        let user = EntityType("PhotoApp::Core::User")
        let alice = Value.entity(EntityUID(type: user, id: "alice"))
        #expect(try read("{\"type\": \"PhotoApp::Core::User\", \"id\": \"alice\"}", .entity(user)) == alice)
        #expect(try read("{\"__entity\": {\"type\": \"PhotoApp::Core::User\", \"id\": \"alice\"}}", .entity(user)) == alice)
        #expect(try read("[{\"type\": \"PhotoApp::Core::User\", \"id\": \"alice\"}]", .set(.entity(user))) == .set([alice]))
        let record = SchemaType.record(["ip": .init(type: .ext("ipaddr"), required: true),
                                        "n": .init(type: .long, required: false)], additionalAttributes: false)
        #expect(try read("{\"ip\": \"::1\"}", record) == .record(["ip": .ext(.ipaddr(IPAddress.parse("::1")!))]))
    }

    @Test("values that do not conform are rejected with their path", arguments: [
        ("{\"n\": 1}", "v: expected the record to have an attribute `ip`"),
        ("{\"ip\": \"::1\", \"x\": 1}", "v: record attribute `x` should not exist"),
        ("{\"ip\": \"::1\", \"n\": \"1\"}", "v.n: expected a value of type Long, found string `\"1\"`"),
        ("{\"ip\": \"not an ip\"}", "v.ip: `ip`: invalid IP address"),
        ("{\"ip\": {\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.5\"}}}", "v.ip: expected a value of type ipaddr, found decimal"),
        ("{\"ip\": \"::1\", \"s\": [1, \"x\"]}", "v.s[1]: expected a value of type Long"),
        ("{\"ip\": \"::1\", \"u\": {\"type\": \"PhotoApp::Core::Team\", \"id\": \"t\"}}", "v.u: expected a value of type PhotoApp::Core::User"),
        ("{\"ip\": \"::1\", \"c\": {\"type\": \"PhotoApp::Core::Color\", \"id\": \"pink\"}}", "\"pink\" is not one of its declared choices"),
        ("{\"ip\": \"::1\", \"u\": \"alice\"}", "v.u: expected an entity uid"),
        ("[]", "v: expected a value of type {"),
    ])
    func nonConformingValues(json: String, fragment: String) throws {
        let schema = try Schema(parsing: Self.photos)
        let type = SchemaType.record([
            "ip": .init(type: .ext("ipaddr"), required: true), "n": .init(type: .long, required: false),
            "s": .init(type: .set(.long), required: false),
            "u": .init(type: .entity(EntityType("PhotoApp::Core::User")), required: false),
            "c": .init(type: .entity(EntityType("PhotoApp::Core::Color")), required: false),
        ], additionalAttributes: false)
        do {
            _ = try SchemaValueReader.value(from: JSONValue.parse(json), type: type, schema: schema, path: "v")
            Issue.record("`\(json)` should be rejected")
        } catch {
            #expect(error.message.contains(fragment), "`\(json)`: \(error.message)")
        }
    }

    // MARK: - Entities

    static let alice = """
        {"uid": {"type": "PhotoApp::Core::User", "id": "alice"},
         "attrs": {"name": "Alice", "addr": {"street": "Main"}, "ip": "10.0.0.1", "score": "1.25",
                   "t": "2024-01-01", "d": "1h", "friends": [{"type": "PhotoApp::Core::User", "id": "bob"}]},
         "parents": [{"type": "PhotoApp::Core::Team", "id": "t"}], "tags": {"k": ["a"]}}
        """

    @Test("conforming entities are read at their declared types")
    func conformingEntities() throws {
        let schema = try Schema(parsing: Self.photos)
        let store = try EntitiesJSON.parse("[\(Self.alice), "
            + "{\"uid\": {\"type\": \"PhotoApp::Core::Action\", \"id\": \"edit\"}, \"attrs\": {},"
            + " \"parents\": [{\"type\": \"PhotoApp::Core::Action\", \"id\": \"all\"}]}]", schema: schema)
        let alice = try #require(store[Self.uid("PhotoApp::Core::User", "alice")])
        #expect(alice.attributes["ip"] == .ext(.ipaddr(IPAddress.parse("10.0.0.1")!)))
        #expect(alice.attributes["d"] == .ext(.duration(CedarDuration.parse("1h")!)))
        #expect(alice.attributes["friends"] == .set([.entity(Self.uid("PhotoApp::Core::User", "bob"))]))
        #expect(alice.tags["k"] == .set([.string("a")]))
        #expect(store.count == 7)
    }

    @Test("entities that do not conform are rejected", arguments: [
        ("{\"uid\": {\"type\": \"Nope\", \"id\": \"x\"}, \"attrs\": {}, \"parents\": []}",
         "entity `Nope::\"x\"` has type `Nope` which is not declared in the schema"),
        ("{\"uid\": {\"type\": \"Top\", \"id\": \"x\"}, \"attrs\": {}, \"parents\": []}",
         "expected entity `Top::\"x\"` to have attribute `x`, but it does not"),
        ("{\"uid\": {\"type\": \"Top\", \"id\": \"x\"}, \"attrs\": {\"x\": 1, \"y\": 2}, \"parents\": []}",
         "attribute `y` on `Top::\"x\"` should not exist according to the schema"),
        ("{\"uid\": {\"type\": \"Top\", \"id\": \"x\"}, \"attrs\": {\"x\": true}, \"parents\": []}",
         "attribute `x` of Top::\"x\": expected a value of type Long, found bool `true`"),
        ("{\"uid\": {\"type\": \"Top\", \"id\": \"x\"}, \"attrs\": {\"x\": 1}, \"parents\": [{\"type\": \"Top\", \"id\": \"y\"}]}",
         "`Top::\"x\"` is not allowed to have an ancestor of type `Top`"),
        ("{\"uid\": {\"type\": \"Top\", \"id\": \"x\"}, \"attrs\": {\"x\": 1}, \"parents\": [], \"tags\": {\"t\": 1}}",
         "found a tag `t` on `Top::\"x\"`, but no tags should exist"),
        ("{\"uid\": {\"type\": \"PhotoApp::Core::Color\", \"id\": \"pink\"}, \"attrs\": {}, \"parents\": []}",
         "\"pink\" is not one of its declared choices: \"red\", \"green\", \"blue\""),
        ("{\"uid\": {\"type\": \"PhotoApp::Core::Action\", \"id\": \"nope\"}, \"attrs\": {}, \"parents\": []}",
         "found action entity `PhotoApp::Core::Action::\"nope\"`, but it was not declared as an action"),
        ("{\"uid\": {\"type\": \"PhotoApp::Core::Action\", \"id\": \"edit\"}, \"attrs\": {}, \"parents\": []}",
         "definition of action `PhotoApp::Core::Action::\"edit\"` does not match its schema declaration"),
        ("{\"uid\": {\"type\": \"PhotoApp::Core::Action\", \"id\": \"all\"}, \"attrs\": {\"a\": 1}, \"parents\": []}",
         "does not match its schema declaration"),
        ("{\"uid\": {\"type\": \"PhotoApp::Core::Action\", \"id\": \"all\"}, \"attrs\": {}, \"parents\": [{\"type\": \"Top\", \"id\": \"x\"}]}",
         "has a non-action parent `Top::\"x\"`"),
        ("{\"uid\": {\"type\": \"Other::Thing\", \"id\": \"x\"}, \"attrs\": {\"u\": {\"type\": \"PhotoApp::Core::Action\", \"id\": \"nope\"}}, \"parents\": []}",
         "expected a value of type PhotoApp::Core::User"),
    ])
    func nonConformingEntities(json: String, fragment: String) throws {
        let schema = try Schema(parsing: Self.photos)
        let error = try #require(Self.entitiesError("[\(json)]", schema), "`\(json)` should be rejected")
        #expect(error.message.contains(fragment), "\(error.message)")
    }

    @Test("an action's ancestors in the entities must be its declared ones")
    func actionHierarchy() throws {
        let schema = try Schema(parsing: "action a in b; action b in c; action c;")
        func entities(_ actions: [(String, [String])]) -> String {
            "[" + actions.map { id, parents in
                "{\"uid\": {\"type\": \"Action\", \"id\": \"\(id)\"}, \"attrs\": {}, \"parents\": ["
                    + parents.map { "{\"type\": \"Action\", \"id\": \"\($0)\"}" }.joined(separator: ",") + "]}"
            }.joined(separator: ",") + "]"
        }
        // Accepted and rejected as by the reference.
        #expect(Self.entitiesError(entities([("a", ["b"]), ("b", ["c"])]), schema) == nil)
        #expect(Self.entitiesError(entities([("a", ["b", "c"])]), schema) == nil)
        #expect(Self.entitiesError(entities([("c", [])]), schema) == nil)
        for bad in [[("a", ["b"])], [("a", ["c"])], [("a", [])], [("c", ["a"])]] {
            let error = Self.entitiesError(entities(bad), schema)
            #expect(error?.message.contains("does not match its schema declaration") == true, "\(bad)")
        }
    }

    // MARK: - Requests

    static let requestSchema = """
        entity User; entity Doc; entity Kind enum ["a", "b"];
        action read appliesTo { principal: [User, Kind], resource: Doc, context: { n: Long, ip?: ipaddr, who?: User } };
        action idle;
        """

    static func request(principal: String = "{\"type\": \"User\", \"id\": \"u\"}", action: String = "read",
                        resource: String = "{\"type\": \"Doc\", \"id\": \"d\"}", context: String = "{\"n\": 1}") -> String {
        "{\"principal\": \(principal), \"action\": {\"type\": \"Action\", \"id\": \"\(action)\"}, "
            + "\"resource\": \(resource), \"context\": \(context)}"
    }

    @Test("valid requests pass and their context is read at the declared type")
    func validRequests() throws {
        let schema = try Schema(parsing: Self.requestSchema)
        let r = try RequestJSON.request(from: JSONValue.parse(Self.request(context: "{\"n\": 1, \"ip\": \"10.1.2.3\"}")), schema: schema)
        #expect(r.context["ip"] == .ext(.ipaddr(IPAddress.parse("10.1.2.3")!)))
        #expect(Self.requestError(Self.request(principal: "{\"type\": \"Kind\", \"id\": \"a\"}"), schema) == nil)
    }

    @Test("invalid requests are rejected", arguments: [
        (request(action: "write"), "request's action `Action::\"write\"` is not declared in the schema"),
        (request(action: "idle", context: "{}"), "principal type `User` is not valid for `Action::\"idle\"`"),
        (request(principal: "{\"type\": \"Doc\", \"id\": \"d\"}"),
         "principal type `Doc` is not valid for `Action::\"read\"`; valid principal types: `User`, `Kind`"),
        (request(resource: "{\"type\": \"User\", \"id\": \"u\"}"), "resource type `User` is not valid for `Action::\"read\"`"),
        (request(principal: "{\"type\": \"Ghost\", \"id\": \"g\"}"), "principal type `Ghost` is not declared in the schema"),
        (request(resource: "{\"type\": \"Action\", \"id\": \"read\"}"), "resource type `Action` is not declared in the schema"),
        (request(principal: "{\"type\": \"Kind\", \"id\": \"c\"}"), "\"c\" is not one of its declared choices: \"a\", \"b\""),
        (request(context: "{}"), "request.context: expected the record to have an attribute `n`"),
        (request(context: "{\"n\": \"1\"}"), "request.context.n: expected a value of type Long"),
        (request(context: "{\"n\": 1, \"extra\": true}"), "record attribute `extra` should not exist"),
        (request(context: "{\"n\": 1, \"who\": {\"type\": \"Doc\", \"id\": \"d\"}}"), "expected a value of type User"),
    ])
    func invalidRequests(json: String, fragment: String) throws {
        let schema = try Schema(parsing: Self.requestSchema)
        let error = try #require(Self.requestError(json, schema), "`\(json)` should be rejected")
        #expect(error.code == .request)
        #expect(error.message.contains(fragment), "\(error.message)")
    }

    @Test("validate checks a context built without the schema")
    func validateProgrammaticContext() throws {
        let schema = try Schema(parsing: Self.requestSchema)
        let ok = Request(principal: EntityUID("User", "u"), action: EntityUID("Action", "read"),
                         resource: EntityUID("Doc", "d"), context: ["n": .long(1)])
        try schema.validate(ok)
        var bad = ok
        bad.context = ["n": .string("1")]
        #expect(throws: CedarError.self) { try schema.validate(bad) }
    }
}
