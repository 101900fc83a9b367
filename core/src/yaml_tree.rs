//! A YAML document as a tree whose every node knows its line and column.
//!
//! `keyward validate` must point at the exact place of every problem in `keys.yaml`, and
//! report all of them at once. A serde deserializer stops at the first error and forgets
//! where each value came from, so this module builds a small tree from saphyr-parser's
//! positioned events instead, and [`crate::keys_file::check`] walks it.
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

/// The most nodes that expanding aliases may add, so that a few lines of nested aliases (a
/// "billion laughs" file) cannot exhaust memory.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// A place in the source text: line and column, both counted from 1, the column in
/// characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Pos {
    fn of(marker: Marker) -> Pos {
        Pos {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts (its anchor, tag or first character).
    pub pos: Pos,
    /// The node's tag as written (`!!str`, `!custom`), if it has one.
    pub tag: Option<String>,
    /// What the node is.
    pub kind: NodeKind,
}

/// The three kinds of YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar: its text and whether it was written plain (unquoted, not a block scalar).
    Scalar {
        /// The scalar's value after unescaping and folding.
        text: String,
        /// Written without quotes or `|`/`>`, so subject to type resolution.
        plain: bool,
    },
    /// A sequence (list).
    Seq(Vec<Node>),
    /// A mapping, entries in source order, duplicate keys kept.
    Map(Vec<(Node, Node)>),
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

impl Node {
    /// The node's scalar value, or `None` for a sequence or a mapping.
    ///
    /// Quoted and block scalars, and plain ones tagged `!!str` or `!`, are strings; other
    /// plain scalars are resolved with the YAML 1.2 core schema.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let NodeKind::Scalar { text, plain } = &self.kind else {
            return None;
        };
        if !plain || matches!(self.tag.as_deref(), Some("!!str" | "!")) {
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
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut todo = vec![self];
        while let Some(n) = todo.pop() {
            out.push(n);
            match &n.kind {
                NodeKind::Scalar { .. } => {}
                NodeKind::Seq(items) => todo.extend(items.iter().rev()),
                NodeKind::Map(entries) => {
                    for (k, v) in entries.iter().rev() {
                        todo.push(v);
                        todo.push(k);
                    }
                }
            }
        }
        out
    }

    fn count(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar { .. } => 1,
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
pub fn parse(text: &str) -> Result<Option<Node>, ParseError> {
    let mut builder = Builder::default();
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
struct Open {
    pos: Pos,
    tag: Option<String>,
    anchor: usize,
    items: Vec<Node>,
    is_map: bool,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    alias_nodes: usize,
    root: Option<Node>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), ParseError> {
        let pos = Pos::of(span.start);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node {
                    pos,
                    tag: tag.map(|t| tag_name(&t)),
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
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
                    let mut entries = Vec::with_capacity(open.items.len() / 2);
                    let mut items = open.items.into_iter();
                    while let (Some(k), Some(v)) = (items.next(), items.next()) {
                        entries.push((k, v));
                    }
                    NodeKind::Map(entries)
                } else {
                    NodeKind::Seq(open.items)
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

    fn open(&mut self, pos: Pos, anchor: usize, tag: Option<Cow<'_, Tag>>, is_map: bool) {
        self.stack.push(Open {
            pos,
            tag: tag.map(|t| tag_name(&t)),
            anchor,
            items: Vec::new(),
            is_map,
        });
    }

    /// A complete node: remember it under its anchor and hand it to its parent.
    fn done(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(open) => open.items.push(node),
            None => self.root = Some(node),
        }
    }
}

/// A tag as the user wrote it: `!!str`, `!local`, `!` or a verbatim `tag:…` URI.
fn tag_name(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else if tag.handle.is_empty() {
        tag.suffix.clone()
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
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
