//! An ordered index of node refs that versions share: a persistent B+tree whose
//! leaves hold refs sorted by an order the caller gives (the zone's canonical name
//! order, or NSEC3 hash order), used for ordered iteration (AXFR, NSEC chains),
//! predecessor and successor queries, and structure (is a name an empty
//! non-terminal, where does its subtree end).
//!
//! A transaction copies the path from the root to each leaf it changes (about three
//! inner nodes and a leaf of 64 refs at a million names), everything else is shared
//! with the previous version through `Arc`. The index stores only 4-octet refs:
//! comparisons read the node a ref points to, through the closure the caller passes
//! (`cmp(stored)` says how the stored ref's node compares with the target). Removals
//! drop empty leaves but do not rebalance: a version that lost many names is at worst
//! sparser, never deeper, and compaction rebuilds it packed.

use std::cmp::Ordering;
use std::sync::Arc;

use smallvec::SmallVec;

use super::arena::Ref;

/// Refs per leaf, and children per inner node.
const FANOUT: usize = 64;

#[derive(Clone)]
enum Node {
    Leaf(Arc<Vec<Ref>>),
    Inner(Arc<Inner>),
}

#[derive(Clone)]
struct Inner {
    /// The first ref of each child's subtree.
    firsts: Vec<Ref>,
    children: Vec<Node>,
}

impl Node {
    fn first(&self) -> Option<Ref> {
        match self {
            Node::Leaf(refs) => refs.first().copied(),
            Node::Inner(inner) => inner.firsts.first().copied(),
        }
    }
}

impl Inner {
    /// The child whose range holds the target: the last whose first ref is not
    /// above it (the first child when the target is below everything).
    fn child_for(&self, cmp: &impl Fn(Ref) -> Ordering) -> usize {
        self.firsts[1..].partition_point(|&r| cmp(r) != Ordering::Greater)
    }
}

/// An ordered, persistent set of refs (see the module documentation).
#[derive(Clone, Default)]
pub struct OrderIndex {
    root: Option<Node>,
    len: usize,
}

impl OrderIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `refs`, which must already be in order and distinct; leaves are
    /// packed full.
    pub fn from_sorted(refs: &[Ref]) -> Self {
        if refs.is_empty() {
            return Self::new();
        }
        let mut level: Vec<Node> = refs
            .chunks(FANOUT)
            .map(|c| Node::Leaf(Arc::new(c.to_vec())))
            .collect();
        while level.len() > 1 {
            level = level
                .chunks(FANOUT)
                .map(|c| {
                    Node::Inner(Arc::new(Inner {
                        firsts: c.iter().filter_map(Node::first).collect(),
                        children: c.to_vec(),
                    }))
                })
                .collect();
        }
        Self {
            root: level.pop(),
            len: refs.len(),
        }
    }

    /// Number of refs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ref equal to the target.
    pub fn get(&self, cmp: impl Fn(Ref) -> Ordering) -> Option<Ref> {
        let mut node = self.root.as_ref()?;
        loop {
            match node {
                Node::Inner(inner) => node = &inner.children[inner.child_for(&cmp)],
                Node::Leaf(refs) => {
                    return refs.binary_search_by(|&r| cmp(r)).ok().map(|i| refs[i]);
                }
            }
        }
    }

    /// A cursor at the first ref not below the target (past the end if none).
    pub fn seek(&self, cmp: impl Fn(Ref) -> Ordering) -> Cursor<'_> {
        let mut cursor = Cursor {
            path: SmallVec::new(),
            leaf: &[],
            pos: 0,
        };
        let Some(mut node) = self.root.as_ref() else {
            return cursor;
        };
        loop {
            match node {
                Node::Inner(inner) => {
                    let i = inner.child_for(&cmp);
                    cursor.path.push((inner, i));
                    node = &inner.children[i];
                }
                Node::Leaf(refs) => {
                    cursor.leaf = refs;
                    cursor.pos = refs.partition_point(|&r| cmp(r) == Ordering::Less);
                    if cursor.pos == refs.len() {
                        cursor.next_leaf();
                    }
                    return cursor;
                }
            }
        }
    }

    /// A cursor at the first ref.
    pub fn first(&self) -> Cursor<'_> {
        self.seek(|_| Ordering::Greater)
    }

    /// The greatest ref strictly below the target (its predecessor in the order).
    pub fn before(&self, cmp: impl Fn(Ref) -> Ordering) -> Option<Ref> {
        let mut cursor = self.seek(cmp);
        cursor.prev()
    }

    /// Every ref, in order.
    pub fn iter(&self) -> impl Iterator<Item = Ref> + '_ {
        self.first()
    }

    /// Adds `r`, placed by `cmp`; false (and nothing changed) if an equal ref is there.
    pub fn insert(&mut self, r: Ref, cmp: impl Fn(Ref) -> Ordering) -> bool {
        let Some(root) = self.root.as_mut() else {
            self.root = Some(Node::Leaf(Arc::new(vec![r])));
            self.len = 1;
            return true;
        };
        match insert(root, r, &cmp) {
            Err(()) => false,
            Ok(split) => {
                if let Some((first, right)) = split {
                    let left = self.root.take().map_or_else(Vec::new, |l| vec![l]);
                    let firsts = left.iter().filter_map(Node::first).chain([first]).collect();
                    let mut children = left;
                    children.push(right);
                    self.root = Some(Node::Inner(Arc::new(Inner { firsts, children })));
                }
                self.len += 1;
                true
            }
        }
    }

    /// Replaces the ref equal to the target by `new` (which must sort the same);
    /// returns the old one.
    pub fn replace(&mut self, new: Ref, cmp: impl Fn(Ref) -> Ordering) -> Option<Ref> {
        replace(self.root.as_mut()?, new, &cmp)
    }

    /// Removes the ref equal to the target and returns it.
    pub fn remove(&mut self, cmp: impl Fn(Ref) -> Ordering) -> Option<Ref> {
        let root = self.root.as_mut()?;
        let removed = remove(root, &cmp)?;
        self.len -= 1;
        // Collapse a root left with one child, or nothing.
        loop {
            match &self.root {
                Some(Node::Inner(inner)) if inner.children.len() == 1 => {
                    self.root = Some(inner.children[0].clone());
                }
                Some(Node::Inner(inner)) if inner.children.is_empty() => self.root = None,
                Some(Node::Leaf(refs)) if refs.is_empty() => self.root = None,
                _ => break,
            }
        }
        Some(removed)
    }

    /// Memory the index holds (shared nodes counted in full).
    pub fn heap_bytes(&self) -> usize {
        fn walk(node: &Node) -> usize {
            match node {
                Node::Leaf(refs) => 40 + refs.capacity() * 4,
                Node::Inner(inner) => {
                    56 + inner.firsts.capacity() * 4
                        + inner.children.capacity() * 16
                        + inner.children.iter().map(walk).sum::<usize>()
                }
            }
        }
        self.root.as_ref().map_or(0, walk)
    }
}

type Split = Option<(Ref, Node)>;

fn insert(node: &mut Node, r: Ref, cmp: &impl Fn(Ref) -> Ordering) -> Result<Split, ()> {
    match node {
        Node::Leaf(refs) => {
            let i = match refs.binary_search_by(|&x| cmp(x)) {
                Ok(_) => return Err(()),
                Err(i) => i,
            };
            let refs = Arc::make_mut(refs);
            refs.insert(i, r);
            if refs.len() <= FANOUT {
                return Ok(None);
            }
            let right = refs.split_off(refs.len() / 2);
            Ok(Some((right[0], Node::Leaf(Arc::new(right)))))
        }
        Node::Inner(inner) => {
            let inner = Arc::make_mut(inner);
            let i = inner.child_for(cmp);
            let split = insert(&mut inner.children[i], r, cmp)?;
            if let Some(first) = inner.children[i].first() {
                inner.firsts[i] = first;
            }
            let Some((first, right)) = split else {
                return Ok(None);
            };
            inner.firsts.insert(i + 1, first);
            inner.children.insert(i + 1, right);
            if inner.children.len() <= FANOUT {
                return Ok(None);
            }
            let half = inner.children.len() / 2;
            let right = Inner {
                firsts: inner.firsts.split_off(half),
                children: inner.children.split_off(half),
            };
            Ok(Some((right.firsts[0], Node::Inner(Arc::new(right)))))
        }
    }
}

fn replace(node: &mut Node, new: Ref, cmp: &impl Fn(Ref) -> Ordering) -> Option<Ref> {
    match node {
        Node::Leaf(refs) => {
            let i = refs.binary_search_by(|&x| cmp(x)).ok()?;
            let refs = Arc::make_mut(refs);
            Some(std::mem::replace(&mut refs[i], new))
        }
        Node::Inner(inner) => {
            let i = inner.child_for(cmp);
            // Find before copying: a miss must not copy the path.
            let found = match &inner.children[i] {
                Node::Leaf(refs) => refs.binary_search_by(|&x| cmp(x)).is_ok(),
                Node::Inner(_) => true,
            };
            if !found {
                return None;
            }
            let inner = Arc::make_mut(inner);
            let old = replace(&mut inner.children[i], new, cmp)?;
            if let Some(first) = inner.children[i].first() {
                inner.firsts[i] = first;
            }
            Some(old)
        }
    }
}

fn remove(node: &mut Node, cmp: &impl Fn(Ref) -> Ordering) -> Option<Ref> {
    match node {
        Node::Leaf(refs) => {
            let i = refs.binary_search_by(|&x| cmp(x)).ok()?;
            Some(Arc::make_mut(refs).remove(i))
        }
        Node::Inner(inner) => {
            let i = inner.child_for(cmp);
            let present = match &inner.children[i] {
                Node::Leaf(refs) => refs.binary_search_by(|&x| cmp(x)).is_ok(),
                Node::Inner(_) => true,
            };
            if !present {
                return None;
            }
            let inner = Arc::make_mut(inner);
            let removed = remove(&mut inner.children[i], cmp)?;
            match inner.children[i].first() {
                Some(first) => inner.firsts[i] = first,
                None => {
                    inner.children.remove(i);
                    inner.firsts.remove(i);
                }
            }
            Some(removed)
        }
    }
}

/// A position in an [`OrderIndex`]; iterating yields the refs from there on.
pub struct Cursor<'i> {
    /// Inner nodes from the root down, with the child taken in each.
    /// (On the stack: a seek allocates nothing, the answer engine seeks per query.)
    path: SmallVec<[(&'i Inner, usize); 12]>,
    leaf: &'i [Ref],
    pos: usize,
}

impl<'i> Cursor<'i> {
    /// The ref at the cursor.
    pub fn peek(&self) -> Option<Ref> {
        self.leaf.get(self.pos).copied()
    }

    /// Moves to the first ref of the next leaf; at the last leaf, stays past its end.
    fn next_leaf(&mut self) {
        let Some(level) = self
            .path
            .iter()
            .rposition(|(inner, i)| i + 1 < inner.children.len())
        else {
            self.pos = self.leaf.len();
            return;
        };
        self.path.truncate(level + 1);
        let (inner, i) = self.path[level];
        self.path[level].1 = i + 1;
        self.descend(&inner.children[i + 1], true);
    }

    /// Descends from `node` to its first (or last) leaf.
    fn descend(&mut self, mut node: &'i Node, first: bool) {
        loop {
            match node {
                Node::Inner(inner) => {
                    let i = if first { 0 } else { inner.children.len() - 1 };
                    self.path.push((inner, i));
                    node = &inner.children[i];
                }
                Node::Leaf(refs) => {
                    self.leaf = refs;
                    self.pos = if first { 0 } else { refs.len() };
                    return;
                }
            }
        }
    }

    /// The ref before the cursor, moving the cursor onto it.
    pub fn prev(&mut self) -> Option<Ref> {
        if self.pos > 0 {
            self.pos -= 1;
            return self.leaf.get(self.pos).copied();
        }
        // At the start of a leaf: climb to the nearest inner node with a child on
        // the left, then go down that child's last leaf.
        let level = self.path.iter().rposition(|&(_, i)| i > 0)?;
        self.path.truncate(level + 1);
        let (inner, i) = self.path[level];
        self.path[level].1 = i - 1;
        self.descend(&inner.children[i - 1], false);
        self.prev()
    }
}

impl Iterator for Cursor<'_> {
    type Item = Ref;

    fn next(&mut self) -> Option<Ref> {
        let r = self.peek()?;
        self.pos += 1;
        if self.pos == self.leaf.len() {
            self.next_leaf();
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn at(target: u32) -> impl Fn(Ref) -> Ordering {
        move |r: Ref| r.0.cmp(&target)
    }

    #[test]
    fn random_edits_match_a_btreeset_and_old_versions_stay_as_they_were() {
        let mut index = OrderIndex::from_sorted(&(0..3000).map(|i| Ref(i * 2)).collect::<Vec<_>>());
        let mut model: BTreeSet<u32> = (0..3000).map(|i| i * 2).collect();
        let snapshot = index.clone();
        let mut state = 99u64;
        for step in 0..20_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let k = (state >> 40) as u32 % 8000;
            if state & 1 == 0 {
                assert_eq!(index.insert(Ref(k), at(k)), model.insert(k), "insert {k}");
            } else {
                assert_eq!(
                    index.remove(at(k)).map(|r| r.0),
                    model.take(&k),
                    "remove {k}"
                );
            }
            if step % 1000 == 0 {
                assert_eq!(
                    index.iter().map(|r| r.0).collect::<Vec<_>>(),
                    model.iter().copied().collect::<Vec<_>>()
                );
            }
        }
        assert_eq!(index.len(), model.len());
        for k in 0..8001 {
            assert_eq!(index.get(at(k)).map(|r| r.0), model.get(&k).copied());
            assert_eq!(
                index.before(at(k)).map(|r| r.0),
                model.range(..k).next_back().copied(),
                "before {k}"
            );
            assert_eq!(
                index.seek(at(k)).peek().map(|r| r.0),
                model.range(k..).next().copied(),
                "seek {k}"
            );
            let tail: Vec<u32> = index.seek(at(k)).take(5).map(|r| r.0).collect();
            assert_eq!(tail, model.range(k..).take(5).copied().collect::<Vec<_>>());
        }
        assert_eq!(
            snapshot.iter().map(|r| r.0).collect::<Vec<_>>(),
            (0..3000).map(|i| i * 2).collect::<Vec<_>>()
        );
        while let Some(&k) = model.iter().next() {
            assert_eq!(index.remove(at(k)).map(|r| r.0), Some(k));
            model.remove(&k);
        }
        assert!(index.is_empty() && index.iter().next().is_none());
        assert_eq!(index.before(at(5)), None);
    }

    #[test]
    fn replace_points_an_entry_elsewhere() {
        let mut index = OrderIndex::from_sorted(&(0..500).map(Ref).collect::<Vec<_>>());
        // Refs sort by r / 10 here, so 10_007 sorts where 7 was... as far as `cmp` says.
        assert_eq!(index.replace(Ref(7), at(7)), Some(Ref(7)));
        assert_eq!(index.replace(Ref(9999), at(9999)), None);
    }
}
