//! The two sides of a plan, packed, so that planning a bucket of 100,000 consumers holds a
//! few hundred bytes per consumer rather than a tree of maps: [`DesiredBucket`] (what the
//! file declares for a bucket, [`DesiredFile::check`] reads it without ever building the
//! model) and [`LiveIndex`] (what `$index` pages list, plus the records read).
//!
//! Each is a table of names, sorted, over one byte buffer holding the names and, packed with
//! this module's codec, the specs or records. A `ConsumerSpec` of the benchmark's
//! `keys.yaml` takes about 2.4 KB in memory (a `BTreeMap` allocates a node of eleven entries
//! even for a map of one, and metadata, nested metadata and tags are three of them); packed,
//! with its name and its place in the table, it is about 150 bytes. Specs and records are unpacked one at a time, when a change is
//! shown or sent.
//!
//! The codec is exact: numbers keep their kind (unsigned, negative, float) and every bit of a
//! float, so what is unpacked equals what was packed.

use super::live::{spec_digest, LastSync, LiveBucket, LiveConsumer, LiveRecord};
use crate::keys_file::check::{check_each, Diagnostic};
use crate::keys_file::model::ConsumerSpec;
use crate::storage::kv::Source;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// A digest as `$index` shows it (16 lowercase hex digits) as a number; `None` for any other
/// text, which then equals no file digest (as the text would not).
fn digest_bits(hex: &str) -> Option<u64> {
    let canonical = hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// The file's consumers of every bucket, packed: [`check`](crate::keys_file::check()) without
/// the model.
#[derive(Debug, Clone, Default)]
pub struct DesiredFile {
    /// Buckets by name, each with its consumers.
    pub buckets: BTreeMap<String, DesiredBucket>,
}

impl DesiredFile {
    /// Checks `text` exactly as [`check`](crate::keys_file::check()) does and packs each
    /// consumer as it is checked, so the file's model never exists whole: the peak is the
    /// text, its tree and the packed consumers.
    ///
    /// ```
    /// use keyward_core::keys_file::plan::DesiredFile;
    ///
    /// let file = DesiredFile::check("version: 1\nbuckets:\n  default:\n    consumers:\n      zeta: {}\n      acme: {}\n").unwrap();
    /// let names: Vec<&str> = file.buckets["default"].names().collect();
    /// assert_eq!(names, ["acme", "zeta"]);
    /// ```
    pub fn check(text: &str) -> Result<DesiredFile, Vec<Diagnostic>> {
        let mut packed: BTreeMap<String, DesiredBucket> = BTreeMap::new();
        let mut scratch = Vec::new();
        // Consecutive consumers share a bucket: look it up only when the bucket changes.
        let mut current: Option<(String, DesiredBucket)> = None;
        let file = check_each(text, &mut |bucket, name, spec| {
            if current.as_ref().is_none_or(|(b, _)| b != bucket) {
                if let Some((b, d)) = current.take() {
                    packed.insert(b, d);
                }
                let d = packed.remove(bucket).unwrap_or_default();
                current = Some((bucket.to_owned(), d));
            }
            if let Some((_, d)) = current.as_mut() {
                d.push(name, &spec, &mut scratch);
            }
        })?;
        if let Some((b, d)) = current.take() {
            packed.insert(b, d);
        }
        let buckets = file
            .buckets
            .into_iter()
            .map(|(name, spec)| {
                let mut bucket = packed.remove(&name).unwrap_or_default();
                bucket.description = spec.description;
                bucket.is_retrievable = spec.is_retrievable;
                bucket.seal();
                (name, bucket)
            })
            .collect();
        Ok(DesiredFile { buckets })
    }

    /// How many consumers the file declares, over all buckets.
    pub fn consumer_count(&self) -> usize {
        self.buckets.values().map(DesiredBucket::len).sum()
    }
}

/// One consumer of a [`DesiredBucket`]: where its name and packed spec are, and its digest.
#[derive(Debug, Clone, Copy)]
struct DesiredSlot {
    start: usize,
    name_len: u32,
    spec_len: u32,
    digest: u64,
}

/// The consumers the file declares for one bucket, sorted by name, packed.
#[derive(Debug, Clone, Default)]
pub struct DesiredBucket {
    /// The bucket's description in the file (used when sync creates the bucket).
    pub description: Option<String>,
    /// `isRetrievable` in the file (used when sync creates the bucket).
    pub is_retrievable: bool,
    bytes: Vec<u8>,
    slots: Vec<DesiredSlot>,
}

/// A consumer of a [`DesiredBucket`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Desired<'a> {
    pub(super) name: &'a str,
    pub(super) digest: u64,
    spec: &'a [u8],
}

impl Desired<'_> {
    /// What the file declares for it.
    pub(super) fn spec(&self) -> ConsumerSpec {
        unpack_spec(self.spec)
    }
}

impl DesiredBucket {
    fn push(&mut self, name: &str, spec: &ConsumerSpec, scratch: &mut Vec<u8>) {
        let digest = digest_bits(&spec_digest(spec)).unwrap_or_default();
        scratch.clear();
        pack_spec(scratch, spec);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(scratch);
        self.slots.push(DesiredSlot {
            start,
            name_len: len32(name.len()),
            spec_len: len32(scratch.len()),
            digest,
        });
    }

    /// Sorts the slots by name and drops the buffer's spare room.
    fn seal(&mut self) {
        let bytes = &self.bytes;
        let name = |s: &DesiredSlot| &bytes[s.start..s.start + s.name_len as usize];
        if !self.slots.is_sorted_by(|a, b| name(a) <= name(b)) {
            self.slots.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        }
        self.bytes.shrink_to_fit();
        self.slots.shrink_to_fit();
    }

    /// The consumers of a model's bucket, packed.
    pub fn from_specs(consumers: &BTreeMap<String, ConsumerSpec>) -> DesiredBucket {
        let mut out = DesiredBucket::default();
        let mut scratch = Vec::new();
        for (name, spec) in consumers {
            out.push(name, spec, &mut scratch);
        }
        out.seal();
        out
    }

    /// How many consumers.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The consumers' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|d| d.name)
    }

    /// What the file declares for `name`, if it lists it.
    pub fn get(&self, name: &str) -> Option<ConsumerSpec> {
        self.find(name).map(|d| d.spec())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Desired<'_>> + '_ {
        self.slots.iter().map(|s| self.entry(s))
    }

    fn entry(&self, s: &DesiredSlot) -> Desired<'_> {
        let name_end = s.start + s.name_len as usize;
        Desired {
            name: str_at(&self.bytes[s.start..name_end]),
            digest: s.digest,
            spec: &self.bytes[name_end..name_end + s.spec_len as usize],
        }
    }

    pub(super) fn find(&self, name: &str) -> Option<Desired<'_>> {
        self.slots
            .binary_search_by(|s| self.entry(s).name.cmp(name))
            .ok()
            .map(|i| self.entry(&self.slots[i]))
    }
}

/// One consumer of a [`LiveIndex`].
#[derive(Debug, Clone, Copy)]
struct LiveSlot {
    start: usize,
    name_len: u32,
    source: Source,
    digest: Option<u64>,
    /// Where its packed record is in the buffer, once read.
    record: Option<(usize, u32)>,
    /// Deleted since the index was read: planned as absent.
    gone: bool,
}

/// What the Worker holds for one bucket, packed: every consumer's name, source and digest
/// from `$index`, and the records read for the consumers that [`LiveIndex::records_needed`]
/// names. [`LiveBucket`] is the same information unpacked.
#[derive(Debug, Clone, Default)]
pub struct LiveIndex {
    /// Bucket name.
    pub name: String,
    /// Whether the bucket exists; a missing one is planned as a bucket create.
    pub exists: bool,
    /// The live bucket's `isRetrievable`.
    pub is_retrievable: bool,
    bytes: Vec<u8>,
    slots: Vec<LiveSlot>,
}

/// A consumer of a [`LiveIndex`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Live<'a> {
    pub(super) name: &'a str,
    pub(super) source: Source,
    pub(super) digest: Option<u64>,
    record: Option<&'a [u8]>,
}

impl Live<'_> {
    /// Its record, when it was read.
    pub(super) fn record(&self) -> Option<LiveRecord> {
        self.record.map(unpack_record)
    }

    /// The last sync that changed it, when its record was read.
    pub(super) fn last_sync(&self) -> Option<LastSync> {
        self.record().and_then(|r| r.last_sync)
    }
}

impl LiveIndex {
    /// An empty index of bucket `name`.
    pub fn new(name: &str, exists: bool) -> LiveIndex {
        LiveIndex {
            name: name.to_owned(),
            exists,
            ..LiveIndex::default()
        }
    }

    /// Adds one `$index` entry. Entries may come in any order (a name already there is
    /// replaced), but in name order, as `$index` pages list them, each is a plain append.
    pub fn push(&mut self, name: &str, source: Source, digest: &str) {
        let at = match self.slots.last() {
            Some(last) if self.name_of(last) < name => self.slots.len(),
            None => 0,
            Some(_) => match self.slots.binary_search_by(|s| self.name_of(s).cmp(name)) {
                Ok(i) => {
                    self.slots[i].source = source;
                    self.slots[i].digest = digest_bits(digest);
                    return;
                }
                Err(i) => i,
            },
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name.as_bytes());
        let slot = LiveSlot {
            start,
            name_len: len32(name.len()),
            source,
            digest: digest_bits(digest),
            record: None,
            gone: false,
        };
        self.slots.insert(at, slot);
    }

    /// Keeps `record` as the full record of consumer `name`; false when the index does not
    /// list it (it was created after the index was read: the plan does not see it).
    pub fn set_record(&mut self, name: &str, record: &LiveRecord) -> bool {
        let Some(i) = self.position(name) else {
            return false;
        };
        let start = self.bytes.len();
        pack_record(&mut self.bytes, record);
        self.slots[i].record = Some((start, len32(self.bytes.len() - start)));
        true
    }

    /// Plans consumer `name` as absent: it was deleted after the index was read.
    pub fn remove(&mut self, name: &str) {
        if let Some(i) = self.position(name) {
            self.slots[i].gone = true;
        }
    }

    /// How many consumers the index lists (deleted ones not counted).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| !s.gone).count()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.slots
            .binary_search_by(|s| self.name_of(s).cmp(name))
            .ok()
    }

    fn name_of(&self, s: &LiveSlot) -> &str {
        str_at(&self.bytes[s.start..s.start + s.name_len as usize])
    }

    /// The consumers listed and not deleted since, in name order.
    pub(super) fn iter(&self) -> impl Iterator<Item = Live<'_>> + '_ {
        self.slots.iter().filter(|s| !s.gone).map(|s| Live {
            name: self.name_of(s),
            source: s.source,
            digest: s.digest,
            record: s
                .record
                .map(|(start, len)| &self.bytes[start..start + len as usize]),
        })
    }
}

impl From<&LiveBucket> for LiveIndex {
    fn from(live: &LiveBucket) -> LiveIndex {
        let mut out = LiveIndex::new(&live.name, live.exists);
        for (name, LiveConsumer { source, digest, .. }) in &live.consumers {
            out.push(name, *source, digest);
        }
        for (name, c) in &live.consumers {
            if let Some(record) = &c.record {
                out.set_record(name, record);
            }
        }
        out
    }
}

/// Names and packed values are at most `u32::MAX` bytes each (a consumer's are a few KB).
fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("a name or packed value under 4 GiB")
}

/// The buffer holds only whole names copied from `&str`s.
fn str_at(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("names are copied from str")
}

// The codec. Lengths and counts are LEB128 varints; strings are a length and UTF-8 bytes;
// a value is a tag byte and its content.

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UINT: u8 = 3;
const NEG_INT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

fn put_len(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(UINT);
                put_len(out, u);
            } else if let Some(i) = n.as_i64() {
                out.push(NEG_INT);
                out.extend_from_slice(&i.to_le_bytes());
            } else {
                out.push(FLOAT);
                out.extend_from_slice(&n.as_f64().unwrap_or_default().to_bits().to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(STRING);
            put_str(out, s);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            put_len(out, items.len() as u64);
            for item in items {
                put_value(out, item);
            }
        }
        Value::Object(map) => {
            out.push(OBJECT);
            put_map(out, map);
        }
    }
}

fn put_map(out: &mut Vec<u8>, map: &Map<String, Value>) {
    put_len(out, map.len() as u64);
    for (k, v) in map {
        put_str(out, k);
        put_value(out, v);
    }
}

fn put_strings<'s>(out: &mut Vec<u8>, count: usize, items: impl Iterator<Item = &'s str>) {
    put_len(out, count as u64);
    for s in items {
        put_str(out, s);
    }
}

/// Appends `spec`, packed, to `out`.
pub(crate) fn pack_spec(out: &mut Vec<u8>, spec: &ConsumerSpec) {
    put_opt_str(out, spec.description.as_deref());
    put_map(out, &spec.metadata);
    let tags = spec.tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]);
    put_strings(out, spec.tags.len() * 2, tags);
    put_strings(
        out,
        spec.managers.len(),
        spec.managers.iter().map(String::as_str),
    );
}

fn pack_record(out: &mut Vec<u8>, record: &LiveRecord) {
    put_opt_str(out, record.description.as_deref());
    put_map(out, &record.metadata);
    let tags = record
        .tags
        .iter()
        .flat_map(|(k, v)| [k.as_str(), v.as_str()]);
    put_strings(out, record.tags.len() * 2, tags);
    put_strings(
        out,
        record.managers.len(),
        record.managers.iter().map(String::as_str),
    );
    match &record.last_sync {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_opt_str(out, s.commit.as_deref());
            put_str(out, &s.at);
        }
    }
}

/// Reads what this module packed; the bytes never come from anywhere else, so running out
/// of them is a bug, not bad input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().expect("packed by this module");
        self.0 = rest;
        b
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn len(&mut self) -> u64 {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return n;
            }
            shift += 7;
        }
    }

    fn count(&mut self) -> usize {
        usize::try_from(self.len()).expect("packed by this module")
    }

    fn string(&mut self) -> String {
        let n = self.count();
        str_at(self.take(n)).to_owned()
    }

    fn opt_string(&mut self) -> Option<String> {
        (self.byte() == 1).then(|| self.string())
    }

    fn eight(&mut self) -> [u8; 8] {
        let mut out = [0; 8];
        out.copy_from_slice(self.take(8));
        out
    }

    fn value(&mut self) -> Value {
        match self.byte() {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            UINT => Value::Number(Number::from(self.len())),
            NEG_INT => Value::Number(Number::from(i64::from_le_bytes(self.eight()))),
            FLOAT => {
                let f = f64::from_bits(u64::from_le_bytes(self.eight()));
                Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            STRING => Value::String(self.string()),
            ARRAY => {
                let n = self.count();
                Value::Array((0..n).map(|_| self.value()).collect())
            }
            OBJECT => Value::Object(self.map()),
            other => unreachable!("packed by this module, not tag {other}"),
        }
    }

    fn map(&mut self) -> Map<String, Value> {
        let n = self.count();
        (0..n).map(|_| (self.string(), self.value())).collect()
    }

    fn tags(&mut self) -> BTreeMap<String, String> {
        let n = self.count() / 2;
        (0..n).map(|_| (self.string(), self.string())).collect()
    }

    fn strings(&mut self) -> Vec<String> {
        let n = self.count();
        (0..n).map(|_| self.string()).collect()
    }
}

fn unpack_spec(bytes: &[u8]) -> ConsumerSpec {
    let mut r = Reader(bytes);
    ConsumerSpec {
        description: r.opt_string(),
        metadata: r.map(),
        tags: r.tags(),
        managers: r.strings(),
    }
}

fn unpack_record(bytes: &[u8]) -> LiveRecord {
    let mut r = Reader(bytes);
    LiveRecord {
        description: r.opt_string(),
        metadata: r.map(),
        tags: r.tags(),
        managers: r.strings(),
        last_sync: (r.byte() == 1).then(|| LastSync {
            commit: r.opt_string(),
            at: r.string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn awkward_spec() -> ConsumerSpec {
        let metadata = json!({
            "floats": [0.1, 0.30000000000000004, 1.2345678901234567e-5, 5e-324, 1.7976931348623157e308, -0.0, 1e300],
            "ints": [0, 1, 127, 128, 16383, 16384, u64::MAX, -1, i64::MIN, 300],
            "one": 1, "oneFloat": 1.0,
            "nested": {"deep": {"deeper": [null, true, false, "ünïcødé 🎉", {}, []]}},
            "": "empty key",
            "long": "x".repeat(300),
        });
        ConsumerSpec {
            description: Some("Acme's \"orders\"".into()),
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            tags: BTreeMap::from([("team".into(), "sales".into()), ("e".into(), "".into())]),
            managers: vec!["b@x.example".into(), "a@x.example".into()],
        }
    }

    #[test]
    fn specs_and_records_unpack_to_what_was_packed() {
        for spec in [awkward_spec(), ConsumerSpec::default()] {
            let mut bytes = Vec::new();
            pack_spec(&mut bytes, &spec);
            assert_eq!(unpack_spec(&bytes), spec);
            // Numbers keep their kind and bits, which PartialEq alone does not show.
            assert_eq!(
                serde_json::to_string(&unpack_spec(&bytes).metadata).unwrap(),
                serde_json::to_string(&spec.metadata).unwrap()
            );
        }
        let spec = awkward_spec();
        for last_sync in [
            None,
            Some(LastSync {
                commit: None,
                at: "2026-01-01T00:00:00.000Z".into(),
            }),
            Some(LastSync {
                commit: Some("abc".into()),
                at: "t".into(),
            }),
        ] {
            let record = LiveRecord {
                description: spec.description.clone(),
                metadata: spec.metadata.clone(),
                tags: spec.tags.clone(),
                managers: spec.managers.clone(),
                last_sync,
            };
            let mut bytes = Vec::new();
            pack_record(&mut bytes, &record);
            assert_eq!(unpack_record(&bytes), record);
        }
        let empty = LiveRecord::default();
        let mut bytes = Vec::new();
        pack_record(&mut bytes, &empty);
        assert_eq!(unpack_record(&bytes), empty);
    }

    #[test]
    fn a_packed_consumer_is_small() {
        let text = "version: 1\nbuckets:\n  bench:\n    consumers:\n      customer-000001:\n        description: Customer 1\n        metadata:\n          plan: silver\n          rateLimit:\n            requestsPerMinute: 120\n        tags:\n          team: team-1\n          region: eu\n        managers:\n          - owner-1@customer-1.example\n";
        let file = DesiredFile::check(text).unwrap();
        let bucket = &file.buckets["bench"];
        assert!(bucket.bytes.len() < 150, "{} bytes", bucket.bytes.len());
        let spec = bucket.get("customer-000001").unwrap();
        assert_eq!(spec.tags["region"], "eu");
    }

    #[test]
    fn desired_file_is_check_packed() {
        let text = "version: 1\nbuckets:\n  bucket-two:\n    consumers:\n      b: {metadata: {n: 1.5}}\n      a: {managers: [X@Y.example]}\n  bucket-one:\n    description: first\n  bucket-three:\n    consumers: {c: {}}\n";
        let model = crate::keys_file::check(text).unwrap();
        let packed = DesiredFile::check(text).unwrap();
        assert_eq!(
            packed.buckets.keys().collect::<Vec<_>>(),
            model.buckets.keys().collect::<Vec<_>>()
        );
        for (name, bucket) in &model.buckets {
            let p = &packed.buckets[name];
            assert_eq!(p.description, bucket.description);
            let unpacked: BTreeMap<String, ConsumerSpec> =
                p.iter().map(|d| (d.name.to_owned(), d.spec())).collect();
            assert_eq!(unpacked, bucket.consumers);
            for d in p.iter() {
                assert_eq!(
                    format!("{:016x}", d.digest),
                    spec_digest(&bucket.consumers[d.name])
                );
            }
        }
        assert_eq!(packed.consumer_count(), 3);
        assert!(DesiredFile::check("version: 2\n").is_err());
    }

    #[test]
    fn live_index_keeps_names_in_order_whatever_the_order_of_entries() {
        let mut index = LiveIndex::new("b", true);
        for name in ["m", "z", "a", "q", "a"] {
            index.push(name, Source::File, "0123456789abcdef");
        }
        index.push("q", Source::Api, "not a digest");
        let names: Vec<&str> = index.iter().map(|l| l.name).collect();
        assert_eq!(names, ["a", "m", "q", "z"]);
        let q = index.iter().find(|l| l.name == "q").unwrap();
        assert_eq!((q.source, q.digest), (Source::Api, None));
        assert_eq!(
            index.iter().next().unwrap().digest,
            Some(0x0123456789abcdef)
        );
        assert!(index.set_record("m", &LiveRecord::default()));
        assert!(!index.set_record("absent", &LiveRecord::default()));
        index.remove("z");
        assert_eq!(index.len(), 3);
        let m = index.iter().find(|l| l.name == "m").unwrap();
        assert_eq!(m.record(), Some(LiveRecord::default()));
    }

    #[test]
    fn only_canonical_digests_are_numbers() {
        assert_eq!(digest_bits("00000000000000ff"), Some(255));
        for bad in [
            "",
            "ff",
            "00000000000000FF",
            "00000000000000fg",
            "000000000000000ff",
        ] {
            assert_eq!(digest_bits(bad), None, "{bad}");
        }
    }
}
