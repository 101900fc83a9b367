//! A YAML document as a tree whose every node knows its line and column.
//!
//! `keyward validate` must point at the exact place of every problem in `keys.yaml`, and
//! report all of them at once. A serde deserializer stops at the first error and forgets
//! where each value came from, so this module builds a small tree from saphyr-parser's
//! positioned events instead, and [`check()`](crate::keys_file::check()) walks it.
//!
//! The tree keeps what a checker needs and nothing more: mappings keep every entry in source
//! order, **duplicate keys included** (the caller decides what a duplicate means and names
//! both places), scalars keep their text, style and tag, and aliases are expanded into
//! copies of their anchored node. Plain scalars are typed with the YAML 1.2 core schema
//! (what `yaml-language-server` uses), so `yes` is a string and `0x1f` is a number.
//!
//! Only the first syntax error is reported: after it the parser cannot tell what was meant.

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;

/// The most nodes that expanding aliases may add, so that a few lines of nested aliases (a
/// "billion laughs" file) cannot exhaust memory.
pub const MAX_ALIAS_NODES: usize = 100_000;

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
    fn of(marker: Marker) -> Pos {
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

    fn new(text: TextSource<'a>, plain: bool) -> Text<'a> {
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

    fn count(&self) -> usize {
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

/// Why a text is not a single YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where the parser gave up.
    pub pos: Pos,
    /// What went wrong, lowercase, without a final period.
    pub message: String,
}

/// Parses `text` as one YAML document; `Ok(None)` when it holds no document at all (only
/// comments or white space).
pub fn parse(text: &str) -> Result<Option<Node<'_>>, ParseError> {
    let mut builder = Builder::new(text);
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| ParseError {
            pos: Pos::of(*e.marker()),
            message: e.info().to_owned(),
        })?;
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(ParseError {
                        pos: Pos::of(span.start),
                        message: "a second document starts here; keep one document per file"
                            .to_owned(),
                    });
                }
            }
            Event::StreamEnd => break,
            other => builder.event(other, span)?,
        }
    }
    Ok(builder.root)
}

/// A sequence or mapping still being read.
struct Open<'a> {
    pos: Pos,
    tag: Option<TagName>,
    anchor: usize,
    is_map: bool,
    /// Where its items start in [`Builder::items`], or its entries in [`Builder::entries`].
    start: usize,
    /// A mapping's key whose value is still to come.
    key: Option<Node<'a>>,
}

/// Where a scalar's text comes from.
enum TextSource<'a> {
    Borrowed(&'a str),
    Owned(Box<str>),
}

struct Builder<'a> {
    source: &'a str,
    /// All ASCII: the parser's character indices are byte offsets.
    ascii: bool,
    /// The last character index turned into a byte offset, and that offset.
    cursor: (usize, usize),
    stack: Vec<Open<'a>>,
    /// The items read so far of every open sequence, and the entries of every open mapping,
    /// innermost last: each collection is allocated once, at its exact size, when it ends
    /// ([`take_tail`]).
    items: Vec<Node<'a>>,
    entries: Vec<(Node<'a>, Node<'a>)>,
    anchors: HashMap<usize, Node<'a>>,
    alias_nodes: usize,
    root: Option<Node<'a>>,
}

impl<'a> Builder<'a> {
    fn new(source: &'a str) -> Builder<'a> {
        Builder {
            source,
            ascii: source.is_ascii(),
            cursor: (0, 0),
            stack: Vec::new(),
            items: Vec::new(),
            entries: Vec::new(),
            anchors: HashMap::new(),
            alias_nodes: 0,
            root: None,
        }
    }

    fn event(&mut self, event: Event<'a>, span: Span) -> Result<(), ParseError> {
        let pos = Pos::of(span.start);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let text = self.text(text, span);
                let node = Node {
                    pos,
                    tag: tag.map(|t| tag_name(&t)),
                    kind: NodeKind::Scalar(Text::new(text, style == ScalarStyle::Plain)),
                };
                self.done(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => self.open(pos, anchor, tag, false),
            Event::MappingStart(anchor, tag) => self.open(pos, anchor, tag, true),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Ok(());
                };
                let kind = if open.is_map {
                    NodeKind::Map(take_tail(&mut self.entries, open.start))
                } else {
                    NodeKind::Seq(take_tail(&mut self.items, open.start))
                };
                let node = Node {
                    pos: open.pos,
                    tag: open.tag,
                    kind,
                };
                self.done(node, open.anchor);
            }
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(&id) else {
                    return Err(ParseError {
                        pos,
                        message:
                            "this alias refers to a node that contains it; remove the recursion"
                                .to_owned(),
                    });
                };
                self.alias_nodes += anchored.count();
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(ParseError {
                        pos,
                        message: format!(
                            "aliases expand to more than {MAX_ALIAS_NODES} nodes; write the values out or use fewer aliases"
                        ),
                    });
                }
                let mut node = anchored.clone();
                node.pos = pos;
                self.done(node, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// A scalar's text, borrowed from the source where it is written as is there; the
    /// parser hands each one over in a fresh buffer of over a hundred bytes.
    fn text(&mut self, text: Cow<'a, str>, span: Span) -> TextSource<'a> {
        match text {
            Cow::Borrowed(s) => TextSource::Borrowed(s),
            Cow::Owned(s) => match self.written(&s, span) {
                Some(written) => TextSource::Borrowed(written),
                None => TextSource::Owned(s.into_boxed_str()),
            },
        }
    }

    /// `text` where it stands within `span` in the source, if it does.
    fn written(&mut self, text: &str, span: Span) -> Option<&'a str> {
        let start = self.byte_offset(span.start.index())?;
        let end = self.byte_offset(span.end.index())?;
        let source: &'a str = self.source;
        let within = source.get(start..end)?;
        let at = within.find(text)?;
        Some(&within[at..at + text.len()])
    }

    /// The byte offset of a character index, walking on from the last one asked for:
    /// scalars come in source order, so the walks add up to one pass over the text. An
    /// index behind the last one is not looked up (the scalar keeps its own copy), so the
    /// pass can never turn quadratic.
    fn byte_offset(&mut self, index: usize) -> Option<usize> {
        if self.ascii {
            return (index <= self.source.len()).then_some(index);
        }
        let (mut chars, mut bytes) = self.cursor;
        if index < chars {
            return None;
        }
        for c in self.source[bytes..].chars() {
            if chars == index {
                break;
            }
            chars += 1;
            bytes += c.len_utf8();
        }
        self.cursor = (chars, bytes);
        (chars == index).then_some(bytes)
    }

    fn open(&mut self, pos: Pos, anchor: usize, tag: Option<Cow<'_, Tag>>, is_map: bool) {
        self.stack.push(Open {
            pos,
            tag: tag.map(|t| tag_name(&t)),
            anchor,
            is_map,
            start: if is_map {
                self.entries.len()
            } else {
                self.items.len()
            },
            key: None,
        });
    }

    /// A complete node: remember it under its anchor and hand it to its parent.
    fn done(&mut self, node: Node<'a>, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(open) if open.is_map => match open.key.take() {
                Some(key) => self.entries.push((key, node)),
                None => open.key = Some(node),
            },
            Some(_) => self.items.push(node),
            None => self.root = Some(node),
        }
    }
}

/// Moves `stack[start..]` out into a slice of its exact size.
///
/// A large tail that is most of the stack keeps the stack's buffer, shrunk in place, and
/// the few elements before it move to a new one, so that a collection of many entries is
/// never held twice; a small tail is copied out, which leaves no holes in the heap.
fn take_tail<T>(stack: &mut Vec<T>, start: usize) -> Box<[T]> {
    /// Large: about where allocators hand out separately mapped memory, which shrinks in
    /// place without copying.
    const LARGE: usize = 1 << 16;
    let tail = stack.len() - start;
    if tail > start && tail * std::mem::size_of::<T>() >= LARGE {
        let mut all = std::mem::take(stack);
        *stack = all.drain(..start).collect();
        all.into_boxed_slice()
    } else {
        stack.drain(start..).collect()
    }
}

/// A tag as the user wrote it: `!!str`, `!local`, `!` or a verbatim `tag:…` URI.
fn tag_name(tag: &Tag) -> TagName {
    TagName(Box::new(if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle.is_empty() {
        tag.suffix.clone()
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }))
}

/// Types a plain scalar by the YAML 1.2 core schema (section 10.3.2).
fn resolve_plain(text: &str) -> Scalar<'_> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Scalar<'_> {
        resolve_plain(text)
    }

    #[test]
    fn core_schema_types() {
        assert_eq!(plain(""), Scalar::Null);
        assert_eq!(plain("~"), Scalar::Null);
        assert_eq!(plain("True"), Scalar::Bool(true));
        assert_eq!(plain("yes"), Scalar::Str("yes"));
        assert_eq!(plain("-12"), Scalar::Int(-12));
        assert_eq!(plain("0x1f"), Scalar::Int(31));
        assert_eq!(plain("0o17"), Scalar::Int(15));
        assert_eq!(plain("-0x1f"), Scalar::Str("-0x1f"));
        assert_eq!(plain("1.5"), Scalar::Float(1.5));
        assert_eq!(plain("1."), Scalar::Float(1.0));
        assert_eq!(plain(".5e3"), Scalar::Float(500.0));
        assert_eq!(plain("-.inf"), Scalar::Float(f64::NEG_INFINITY));
        assert_eq!(plain("1e"), Scalar::Str("1e"));
        assert_eq!(plain("1.2.3"), Scalar::Str("1.2.3"));
        assert_eq!(plain("."), Scalar::Str("."));
        assert!(matches!(plain(".nan"), Scalar::Float(f) if f.is_nan()));
    }

    #[test]
    fn positions_duplicates_and_aliases() {
        let root = parse("a: &x\n  b: 1\n  b: 2\nc: *x\nd: !!str 12\n")
            .unwrap()
            .unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        let (a, av) = &entries[0];
        assert_eq!(a.pos, Pos { line: 1, column: 1 });
        let NodeKind::Map(inner) = &av.kind else {
            panic!("not a map")
        };
        assert_eq!(inner.len(), 2, "duplicate keys are kept");
        assert_eq!(inner[1].0.pos, Pos { line: 3, column: 3 });
        let (_, cv) = &entries[1];
        assert_eq!(
            cv.pos,
            Pos { line: 4, column: 4 },
            "an alias is where it is used"
        );
        assert_eq!(cv.kind, av.kind);
        let (_, dv) = &entries[2];
        assert_eq!(dv.tag.as_deref(), Some("!!str"));
        assert_eq!(dv.scalar(), Some(Scalar::Str("12")));
    }

    /// Every scalar's text and style, in walk order.
    fn scalars<'a>(root: &'a Node<'_>) -> Vec<(&'a str, bool)> {
        root.walk()
            .filter_map(|n| match &n.kind {
                NodeKind::Scalar(text) => Some((&**text, text.is_plain())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn scalars_borrow_the_source_when_written_as_is() {
        let text = "é: café\nq: \"tab\\there\"\nl: [ü, 'it''s', \"ok\"]\nb: |\n  one\n  two\nf: plain\n  folded\n";
        let root = parse(text).unwrap().unwrap();
        assert_eq!(
            scalars(&root),
            [
                ("é", true),
                ("café", true),
                ("q", true),
                ("tab\there", false),
                ("l", true),
                ("ü", true),
                ("it's", false),
                ("ok", false),
                ("b", true),
                ("one\ntwo\n", false),
                ("f", true),
                ("plain folded", true),
            ]
        );
        let range = text.as_bytes().as_ptr_range();
        let borrowed = |s: &str| range.contains(&s.as_ptr());
        for (s, _) in scalars(&root) {
            let as_is = !matches!(s, "tab\there" | "it's" | "one\ntwo\n" | "plain folded");
            assert_eq!(borrowed(s), as_is, "{s:?}");
        }
        // Positions are unchanged by the borrowing: the column counts characters.
        let NodeKind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.pos, Pos { line: 1, column: 4 });
        let NodeKind::Seq(items) = &entries[2].1.kind else {
            panic!("not a list")
        };
        assert_eq!(items[1].pos, Pos { line: 3, column: 8 });
    }

    #[test]
    fn walk_is_depth_first_keys_before_values() {
        let root = parse("a: [b, {c: d}]\ne: f\n").unwrap().unwrap();
        let kinds: Vec<String> = root
            .walk()
            .map(|n| match &n.kind {
                NodeKind::Scalar(text) => text.to_string(),
                NodeKind::Seq(_) => "[]".to_owned(),
                NodeKind::Map(_) => "{}".to_owned(),
            })
            .collect();
        assert_eq!(kinds, ["{}", "a", "[]", "b", "{}", "c", "d", "e", "f"]);
    }

    /// A file of 100,000 consumers has some two million nodes.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn nodes_stay_small() {
        assert_eq!(std::mem::size_of::<Node<'_>>(), 40);
    }

    #[test]
    fn errors_and_empty_input() {
        assert_eq!(parse("# nothing\n").unwrap(), None);
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, column: 1 });
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n\
                      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
                      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
        let e = parse(laughs).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{}", e.message);
    }
}
