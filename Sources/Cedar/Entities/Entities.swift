/// One entity: its attributes, its direct parents and its tags.
public struct Entity: Sendable, Equatable {
    public let uid: EntityUID
    public var attributes: [CedarString: Value]
    /// Direct parents as given; the store computes the transitive closure.
    public var parents: Set<EntityUID>
    public var tags: [CedarString: Value]

    /// Creates an entity.
    public init(uid: EntityUID, attributes: [CedarString: Value] = [:], parents: Set<EntityUID> = [],
                tags: [CedarString: Value] = [:]) {
        self.uid = uid
        self.attributes = attributes
        self.parents = parents
        self.tags = tags
    }
}

/// An entity store with every entity's ancestors precomputed, so `in` is one set lookup.
public struct Entities: Sendable {
    struct Record: Sendable {
        let entity: Entity
        let ancestors: Set<EntityUID>
    }

    private var records: [EntityUID: Record]

    /// An empty store.
    public init() {
        records = [:]
    }

    /// Builds a store and computes the transitive closure of the parent relation.
    ///
    /// - Throws: ``CedarError`` when two different entities share a uid, or when the parent
    ///   relation has a cycle (the reference refuses such hierarchies too).
    public init(_ entities: [Entity]) throws(CedarError) {
        var byUID: [EntityUID: Entity] = [:]
        byUID.reserveCapacity(entities.count)
        for e in entities {
            // The reference tolerates an entity listed twice only when both copies are identical.
            if let previous = byUID.updateValue(e, forKey: e.uid), previous != e {
                throw CedarError(.entities, "entity \(e.uid) is listed twice with different contents")
            }
        }
        var closure: [EntityUID: Set<EntityUID>] = [:]
        closure.reserveCapacity(byUID.count)
        // Iterative depth-first closure: deep hierarchies must not overflow the stack,
        // and a cycle must terminate so that it can be reported.
        for uid in byUID.keys where closure[uid] == nil {
            var ancestors = Set<EntityUID>()
            var stack = Array(byUID[uid]!.parents)
            while let p = stack.popLast() {
                guard ancestors.insert(p).inserted else { continue }
                if let known = closure[p] {
                    ancestors.formUnion(known)
                } else if let parent = byUID[p] {
                    stack.append(contentsOf: parent.parents)
                }
            }
            if ancestors.contains(uid) {
                throw CedarError(.entities, "the entity hierarchy has a cycle through \(uid)")
            }
            closure[uid] = ancestors
        }
        records = byUID.mapValues { Record(entity: $0, ancestors: closure[$0.uid]!) }
    }

    /// The number of entities.
    public var count: Int { records.count }


    /// The entity with this uid, if present.
    public subscript(uid: EntityUID) -> Entity? { records[uid]?.entity }

    /// All ancestors of `uid` (empty when the entity is absent).
    public func ancestors(of uid: EntityUID) -> Set<EntityUID> {
        records[uid]?.ancestors ?? []
    }

    /// Whether `uid` is `ancestor` or one of its descendants.
    @inline(__always)
    public func isDescendant(_ uid: EntityUID, of ancestor: EntityUID) -> Bool {
        uid == ancestor || (records[uid]?.ancestors.contains(ancestor) ?? false)
    }

    /// All entities, in no particular order.
    public var all: [Entity] { records.values.map(\.entity) }
}
