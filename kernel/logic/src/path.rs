//! Path strings: the components a lookup walks (with Linux's treatment of repeated and
//! trailing slashes), the split of a path into its parent and last name, and absolute paths
//! built from names.

use alloc::string::String;
use alloc::vec::Vec;

/// Longest path component (Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;

/// Pushes the components of `path` onto `pending` (a stack of components still to walk) so
/// that the first is popped first. Empty components (`//`) vanish; a trailing slash becomes
/// a final `.`, which requires the last component to be a directory (and follows a last
/// symlink). `.` and `..` stay: resolving them needs the tree.
#[inline]
pub fn push_components(pending: &mut Vec<String>, path: &str) {
    if path.ends_with('/') && !path.trim_matches('/').is_empty() {
        pending.push(String::from("."));
    }
    for c in path.rsplit('/').filter(|c| !c.is_empty()) {
        pending.push(String::from(c));
    }
}

/// The directory a path's last component is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentDir<'a> {
    /// The path is only slashes: the root itself (its name is `.`).
    Root,
    /// No slash before the name: the starting directory (cwd or dirfd).
    Base,
    /// This prefix, slashes included, resolved following symlinks.
    Path(&'a str),
}

/// A path cut into the directory that holds its last component and that component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentSplit<'a> {
    pub dir: ParentDir<'a>,
    pub name: &'a str,
    /// Whether the path ended in `/` (the name must then be a directory).
    pub trailing_slash: bool,
}

/// Splits a non-empty `path` for the calls that create or remove its last component.
/// Trailing slashes are cut before the split (`a/b/` names `b` in `a/`).
#[inline]
pub fn split_parent(path: &str) -> ParentSplit<'_> {
    let trimmed = path.trim_end_matches('/');
    let trailing_slash = trimmed.len() != path.len();
    if trimmed.is_empty() {
        return ParentSplit {
            dir: ParentDir::Root,
            name: ".",
            trailing_slash,
        };
    }
    let (dir, name) = match trimmed.rfind('/') {
        Some(i) => (ParentDir::Path(&trimmed[..=i]), &trimmed[i + 1..]),
        None => (ParentDir::Base, trimmed),
    };
    ParentSplit {
        dir,
        name,
        trailing_slash,
    }
}

/// The absolute path whose components are `names_leaf_first` read backwards (a walk up
/// from a directory to the root collects them leaf first); `/` when there are none.
#[inline]
pub fn absolute_from_leaf_first(names_leaf_first: &[String]) -> String {
    if names_leaf_first.is_empty() {
        return String::from("/");
    }
    let mut s = String::new();
    for p in names_leaf_first.iter().rev() {
        s.push('/');
        s.push_str(p);
    }
    s
}

/// `name` inside the directory whose absolute path is `dir`.
#[inline]
pub fn child_path(mut dir: String, name: &str) -> String {
    if !dir.ends_with('/') {
        dir.push('/');
    }
    dir.push_str(name);
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// The components in the order a lookup walks them.
    fn walk(path: &str) -> Vec<String> {
        let mut pending = Vec::new();
        push_components(&mut pending, path);
        pending.into_iter().rev().collect()
    }

    #[test]
    fn components_in_order_without_empty_ones() {
        assert_eq!(walk("a/b/c"), ["a", "b", "c"]);
        assert_eq!(walk("/usr//bin///sh"), ["usr", "bin", "sh"]);
        assert_eq!(walk("/"), Vec::<String>::new());
        assert_eq!(walk("///"), Vec::<String>::new());
    }

    #[test]
    fn dot_and_dotdot_are_kept_for_the_walk() {
        assert_eq!(walk("./a/../b"), [".", "a", "..", "b"]);
        assert_eq!(walk("/.."), [".."]);
    }

    #[test]
    fn trailing_slash_becomes_a_final_dot() {
        assert_eq!(walk("a/b/"), ["a", "b", "."]);
        assert_eq!(walk("dir//"), ["dir", "."]);
        // Only slashes: the root, with no extra component.
        assert_eq!(walk("//"), Vec::<String>::new());
    }

    #[test]
    fn pushing_onto_a_pending_stack_walks_the_new_path_first() {
        // A symlink's target is walked before what followed the link.
        let mut pending = vec![String::from("rest")];
        push_components(&mut pending, "x/y");
        assert_eq!(pending.pop().as_deref(), Some("x"));
        assert_eq!(pending.pop().as_deref(), Some("y"));
        assert_eq!(pending.pop().as_deref(), Some("rest"));
    }

    #[test]
    fn split_parent_cases() {
        let s = split_parent("a");
        assert_eq!(
            (s.dir, s.name, s.trailing_slash),
            (ParentDir::Base, "a", false)
        );
        let s = split_parent("/a/b");
        assert_eq!((s.dir, s.name), (ParentDir::Path("/a/"), "b"));
        let s = split_parent("a/b/");
        assert_eq!(
            (s.dir, s.name, s.trailing_slash),
            (ParentDir::Path("a/"), "b", true)
        );
        let s = split_parent("/x");
        assert_eq!((s.dir, s.name), (ParentDir::Path("/"), "x"));
        let s = split_parent("d//");
        assert_eq!(
            (s.dir, s.name, s.trailing_slash),
            (ParentDir::Base, "d", true)
        );
        let s = split_parent("/");
        assert_eq!(
            (s.dir, s.name, s.trailing_slash),
            (ParentDir::Root, ".", true)
        );
        let s = split_parent("a/..");
        assert_eq!((s.dir, s.name), (ParentDir::Path("a/"), ".."));
    }

    #[test]
    fn absolute_paths() {
        assert_eq!(absolute_from_leaf_first(&[]), "/");
        let names = [String::from("c"), String::from("b"), String::from("a")];
        assert_eq!(absolute_from_leaf_first(&names), "/a/b/c");
        assert_eq!(child_path(String::from("/"), "etc"), "/etc");
        assert_eq!(child_path(String::from("/etc"), "passwd"), "/etc/passwd");
    }
}
