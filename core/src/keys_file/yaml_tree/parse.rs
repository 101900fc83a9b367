//! Building the tree from saphyr-parser's positioned events: one document, anchors and
//! aliases expanded (bounded by [`MAX_ALIAS_NODES`]), every collection allocated once at its
//! exact size.

use super::node::{tag_name, Node, NodeKind, Pos, TagName, Text, TextSource};
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::borrow::Cow;
use std::collections::HashMap;

/// The most nodes that expanding aliases may add, so that a few lines of nested aliases (a
/// "billion laughs" file) cannot exhaust memory.
pub const MAX_ALIAS_NODES: usize = 100_000;

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
