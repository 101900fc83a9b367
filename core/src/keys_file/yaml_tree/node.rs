//! The tree's types: positions, nodes, scalar text and tags, and the YAML 1.2 core-schema
//! typing of plain scalars. [`super::parse`] builds them; the checker only reads them.

use saphyr_parser::{Marker, Tag};
use std::fmt;
use std::ops::Deref;

/// A place in the source text: line and column, both counted from 1, the column in
/// characters.
///
/// `u32` keeps every node of a large file small; a count past `u32::MAX` stays at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

impl Pos {
    pub(super) fn of(marker: Marker) -> Pos {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Pos {
            line: narrow(marker.line()),
            column: narrow(marker.col()).saturating_add(1),
        }
    }
}

/// A YAML node and where it starts; `'a` is the source text, which scalars borrow from.
///
/// Kept small (40 bytes), as a file of 100,000 consumers has some two million nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    /// Where the node starts (its anchor, tag or first character).
    pub pos: Pos,
    /// The node's tag as written (`!!str`, `!custom`), if it has one.
    pub tag: Option<TagName>,
    /// What the node is.
    pub kind: NodeKind<'a>,
}

/// The three kinds of YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind<'a> {
    /// A scalar: its text and whether it was written plain.
    Scalar(Text<'a>),
    /// A sequence (list).
    Seq(Box<[Node<'a>]>),
    /// A mapping, entries in source order, duplicate keys kept.
    Map(Box<[(Node<'a>, Node<'a>)]>),
}

/// A scalar's value after unescaping and folding (it dereferences to `str`), and whether it
/// was written plain (without quotes or `|`/`>`, so subject to type resolution).
///
/// Borrowed from the source text when the value is written there as is, which is nearly
/// always; owned, without spare capacity, otherwise.
#[derive(Clone)]
pub struct Text<'a>(TextRepr<'a>);

#[derive(Clone)]
enum TextRepr<'a> {
    Plain(&'a str),
    Quoted(&'a str),
    PlainOwned(Box<str>),
    QuotedOwned(Box<str>),
}

impl<'a> Text<'a> {
    /// Written without quotes or `|`/`>`, so subject to type resolution.
    pub fn is_plain(&self) -> bool {
        matches!(self.0, TextRepr::Plain(_) | TextRepr::PlainOwned(_))
    }

    pub(super) fn new(text: TextSource<'a>, plain: bool) -> Text<'a> {
        Text(match (text, plain) {
            (TextSource::Borrowed(s), true) => TextRepr::Plain(s),
            (TextSource::Borrowed(s), false) => TextRepr::Quoted(s),
            (TextSource::Owned(s), true) => TextRepr::PlainOwned(s),
            (TextSource::Owned(s), false) => TextRepr::QuotedOwned(s),
        })
    }
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            TextRepr::Plain(s) | TextRepr::Quoted(s) => s,
            TextRepr::PlainOwned(s) | TextRepr::QuotedOwned(s) => s,
        }
    }
}

/// Equal when the values and styles are, borrowed or not.
impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.is_plain() == other.is_plain() && **self == **other
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Text")
            .field("text", &&**self)
            .field("plain", &self.is_plain())
            .finish()
    }
}

/// A node's tag as written; dereferences to `str`. One pointer wide, as few nodes have one.
#[derive(Clone, PartialEq, Eq)]
// Boxed on purpose: a thin pointer, where a `String` or `Box<str>` would take every node
// two or three words for a tag that nearly none has.
#[allow(clippy::box_collection)]
pub struct TagName(Box<String>);

impl Deref for TagName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A scalar typed by the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false` (any of the three core spellings).
    Bool(bool),
    /// An integer (decimal, `0o` octal or `0x` hexadecimal).
    Int(i128),
    /// A floating-point number, including `.inf` and `.nan`.
    Float(f64),
    /// Anything else, and every quoted or block scalar.
    Str(&'a str),
}

impl<'a> Node<'a> {
    /// The node's scalar value, or `None` for a sequence or a mapping.
    ///
    /// Quoted and block scalars, and plain ones tagged `!!str` or `!`, are strings; other
    /// plain scalars are resolved with the YAML 1.2 core schema.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let NodeKind::Scalar(text) = &self.kind else {
            return None;
        };
        if !text.is_plain() || matches!(self.tag.as_deref(), Some("!!str" | "!")) {
            return Some(Scalar::Str(text));
        }
        Some(resolve_plain(text))
    }

    /// What the node is, for messages: "a mapping", "a list", "a string", "a number", …
    pub fn describe(&self) -> &'static str {
        match (&self.kind, self.scalar()) {
            (NodeKind::Map(_), _) => "a mapping",
            (NodeKind::Seq(_), _) => "a list",
            (_, Some(Scalar::Null)) => "nothing",
            (_, Some(Scalar::Bool(_))) => "a boolean",
            (_, Some(Scalar::Int(_) | Scalar::Float(_))) => "a number",
            _ => "a string",
        }
    }

    /// The node and every node below it, depth first (mapping keys before their values).
    ///
    /// Lazy, and its memory grows with the depth of the tree only.
    pub fn walk(&self) -> Walk<'_, 'a> {
        Walk {
            next: Some(self),
            stack: Vec::new(),
        }
    }

    pub(super) fn count(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar(_) => 1,
            NodeKind::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            NodeKind::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.count() + v.count())
                    .sum::<usize>()
            }
        }
    }
}

/// The iterator of [`Node::walk`].
pub struct Walk<'n, 'a> {
    /// The root, before the first call.
    next: Option<&'n Node<'a>>,
    /// The children still to visit of each collection on the way down.
    stack: Vec<Level<'n, 'a>>,
}

enum Level<'n, 'a> {
    Seq(std::slice::Iter<'n, Node<'a>>),
    /// The entries left, and the value of the entry whose key was just visited.
    Map(
        std::slice::Iter<'n, (Node<'a>, Node<'a>)>,
        Option<&'n Node<'a>>,
    ),
}

impl<'n, 'a> Iterator for Walk<'n, 'a> {
    type Item = &'n Node<'a>;

    fn next(&mut self) -> Option<&'n Node<'a>> {
        let node = match self.next.take() {
            Some(root) => root,
            None => loop {
                let next = match self.stack.last_mut()? {
                    Level::Seq(items) => items.next(),
                    Level::Map(entries, value) => value.take().or_else(|| {
                        let (k, v) = entries.next()?;
                        *value = Some(v);
                        Some(k)
                    }),
                };
                match next {
                    Some(n) => break n,
                    None => {
                        self.stack.pop();
                    }
                }
            },
        };
        match &node.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => self.stack.push(Level::Seq(items.iter())),
            NodeKind::Map(entries) => self.stack.push(Level::Map(entries.iter(), None)),
        }
        Some(node)
    }
}

/// Where a scalar's text comes from.
pub(super) enum TextSource<'a> {
    Borrowed(&'a str),
    Owned(Box<str>),
}

/// A tag as the user wrote it: `!!str`, `!local`, `!` or a verbatim `tag:…` URI.
pub(super) fn tag_name(tag: &Tag) -> TagName {
    TagName(Box::new(if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle.is_empty() {
        tag.suffix.clone()
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }))
}

/// Types a plain scalar by the YAML 1.2 core schema (section 10.3.2).
pub(super) fn resolve_plain(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Scalar::Float(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if text.len() == unsigned.len() {
        // The core schema has no sign on octal and hexadecimal.
        for (prefix, radix) in [("0o", 8), ("0x", 16)] {
            if let Some(rest) = text.strip_prefix(prefix) {
                if digits(rest, radix) {
                    return match i128::from_str_radix(rest, radix) {
                        Ok(n) => Scalar::Int(n),
                        Err(_) => Scalar::Float(f64::INFINITY),
                    };
                }
            }
        }
    }
    if digits(unsigned, 10) {
        return match text.parse::<i128>() {
            Ok(n) => Scalar::Int(n),
            Err(_) => Scalar::Float(text.parse().unwrap_or(f64::INFINITY)),
        };
    }
    if is_core_float(unsigned) {
        if let Ok(f) = text.parse::<f64>() {
            return Scalar::Float(f);
        }
    }
    Scalar::Str(text)
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`, without the sign.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}
