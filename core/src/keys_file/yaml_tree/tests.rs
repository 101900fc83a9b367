//! The core-schema typing of plain scalars, positions, aliases and the limits of the tree.

use super::node::resolve_plain;
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
