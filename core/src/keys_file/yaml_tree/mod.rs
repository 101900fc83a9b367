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

mod node;
mod parse;
#[cfg(test)]
mod tests;

pub use node::{Node, NodeKind, Pos, Scalar, TagName, Text, Walk};
pub use parse::{parse, ParseError, MAX_ALIAS_NODES};
