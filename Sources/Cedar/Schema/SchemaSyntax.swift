/// The syntax tree of a `.cedarschema` file, before names are resolved.
enum SchemaSyntax {
    /// Where something was written, for error messages.
    struct Position: Sendable, CustomStringConvertible {
        let line: Int
        let column: Int

        var description: String { "\(line):\(column)" }
    }

    /// A name as written, with its position.
    struct Name: Sendable {
        let text: String
        let position: Position
    }

    /// A possibly qualified name such as `A::B::C`.
    struct Path: Sendable, CustomStringConvertible {
        let components: [String]
        let position: Position

        var description: String { components.joined(separator: "::") }
    }

    /// A type expression.
    indirect enum TypeExpr: Sendable {
        /// A primitive, extension, entity or common type, resolved later.
        case path(Path)
        case set(TypeExpr)
        case record([AttributeDecl])
    }

    /// `name?: Type` inside a record type.
    struct AttributeDecl: Sendable {
        let name: Name
        let required: Bool
        let type: TypeExpr
    }

    /// `entity A, B in [C] = {…} tags T;` or `entity A enum ["x", "y"];`.
    struct EntityDecl: Sendable {
        enum Kind: Sendable {
            case standard(parents: [Path], attributes: [AttributeDecl], tags: TypeExpr?)
            case enumeration([String])
        }

        let names: [Name]
        let kind: Kind
    }

    /// A reference to an action in an `in` clause: `"a"`, `a`, `Action::"a"` or `NS::Action::"a"`.
    struct ActionRef: Sendable {
        /// The action's entity type as written, or `nil` for the current namespace's `Action`.
        let type: Path?
        let id: String
        let position: Position
    }

    /// The `context` of an `appliesTo` clause.
    enum ContextDecl: Sendable {
        /// A common type name, which must resolve to a record type.
        case path(Path)
        case record([AttributeDecl])
    }

    /// An `appliesTo { principal: …, resource: …, context: … }` clause.
    struct AppliesTo: Sendable {
        let principals: [Path]
        let resources: [Path]
        let context: ContextDecl?
    }

    /// `action "a", b in [c] appliesTo {…};`.
    struct ActionDecl: Sendable {
        let names: [Name]
        let parents: [ActionRef]
        /// `nil` when the action has no `appliesTo` clause and so applies to nothing.
        let appliesTo: AppliesTo?
    }

    /// `type Name = Type;`.
    struct TypeDecl: Sendable {
        let name: Name
        let type: TypeExpr
        /// Annotated `@additionalAttributes`: a record type whose values may carry attributes it does not declare
        /// (as `"additionalAttributes": true` in the JSON schema format).
        var open = false
    }

    enum Declaration: Sendable {
        case entity(EntityDecl)
        case action(ActionDecl)
        case type(TypeDecl)
    }

    /// A `namespace Path { … }` block, or (with no path) declarations outside any namespace.
    struct Namespace: Sendable {
        let path: Path?
        let declarations: [Declaration]
    }
}
