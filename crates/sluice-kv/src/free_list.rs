//! The free list: an intrusive doubly linked list over block indices.
//!
//! The pool needs, all in O(1): append a freed block (LRU order), prepend a block whose contents
//! are worthless, take the front block for an allocation, and unlink an arbitrary block when a
//! prefix-cache hit revives it. A `VecDeque` cannot unlink from the middle, so the links live in
//! two arrays indexed by block, plus one sentinel slot that closes the ring.

/// Marks a block that is not in the list.
const UNLINKED: usize = usize::MAX;

#[derive(Clone, Debug)]
pub(crate) struct FreeList {
    /// Neighbours of block `i` (or `UNLINKED`). Index `n` is the sentinel: its `next` is the
    /// front and its `prev` the back; an empty list is the sentinel linked to itself.
    prev: Vec<usize>,
    next: Vec<usize>,
    len: usize,
}

impl FreeList {
    /// An empty list able to hold blocks `0..n`.
    pub(crate) fn new(n: usize) -> Self {
        let mut prev = vec![UNLINKED; n + 1];
        let mut next = vec![UNLINKED; n + 1];
        prev[n] = n;
        next[n] = n;
        FreeList { prev, next, len: 0 }
    }

    fn sentinel(&self) -> usize {
        self.next.len() - 1
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn contains(&self, i: usize) -> bool {
        i < self.sentinel() && self.next[i] != UNLINKED
    }

    /// Makes `i` the front: it is taken before every other block.
    pub(crate) fn push_front(&mut self, i: usize) {
        self.link_after(self.sentinel(), i);
    }

    /// Makes `i` the back: it is taken after every other block.
    pub(crate) fn push_back(&mut self, i: usize) {
        self.link_after(self.prev[self.sentinel()], i);
    }

    fn link_after(&mut self, at: usize, i: usize) {
        debug_assert!(
            i < self.sentinel() && !self.contains(i),
            "block {i} cannot be linked"
        );
        if i >= self.sentinel() || self.contains(i) {
            return;
        }
        let after = self.next[at];
        self.prev[i] = at;
        self.next[i] = after;
        self.next[at] = i;
        self.prev[after] = i;
        self.len += 1;
    }

    /// Unlinks `i`; false if it was not in the list.
    pub(crate) fn remove(&mut self, i: usize) -> bool {
        if !self.contains(i) {
            return false;
        }
        let (before, after) = (self.prev[i], self.next[i]);
        self.next[before] = after;
        self.prev[after] = before;
        self.prev[i] = UNLINKED;
        self.next[i] = UNLINKED;
        self.len -= 1;
        true
    }

    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let front = self.next[self.sentinel()];
        self.remove(front).then_some(front)
    }

    /// Front to back. Stops after `len` steps so a corrupted ring cannot loop forever.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let sentinel = self.sentinel();
        std::iter::successors(Some(self.next[sentinel]), |&i| Some(self.next[i]))
            .take_while(move |&i| i != sentinel && i != UNLINKED)
            .take(self.len)
    }

    /// The list walked back to front must be the reverse of front to back, with `len` items.
    pub(crate) fn check_links(&self) -> Result<(), String> {
        let sentinel = self.sentinel();
        let forward: Vec<usize> = self.iter().collect();
        let mut backward: Vec<usize> =
            std::iter::successors(Some(self.prev[sentinel]), |&i| Some(self.prev[i]))
                .take_while(|&i| i != sentinel && i != UNLINKED)
                .take(self.len + 1)
                .collect();
        backward.reverse();
        if forward.len() != self.len || forward != backward {
            return Err(format!(
                "free list links broken: len {}, forward {forward:?}, backward {backward:?}",
                self.len
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_back_remove_and_pop_keep_order() {
        let mut list = FreeList::new(5);
        list.push_back(1);
        list.push_back(2);
        list.push_front(0);
        list.push_back(3);
        assert_eq!(list.iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(list.remove(2));
        assert!(!list.remove(2), "a block is removed only once");
        assert!(!list.contains(2));
        assert!(!list.contains(4));
        assert_eq!(list.iter().collect::<Vec<_>>(), [0, 1, 3]);
        assert_eq!(list.pop_front(), Some(0));
        assert_eq!(list.pop_front(), Some(1));
        assert_eq!(list.pop_front(), Some(3));
        assert_eq!(list.pop_front(), None);
        assert_eq!(list.len(), 0);
        list.check_links().unwrap();
    }

    #[test]
    fn sentinel_and_out_of_range_indices_are_never_members() {
        let list = FreeList::new(2);
        assert!(!list.contains(2), "the sentinel is not a block");
        assert!(!list.contains(7));
    }
}
