//! The in-memory back end: a vector in arrival order (cursors increase, so `since` is a
//! binary search). Nothing survives the process; tests use it by default.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Append, EventFilter, Feed, Record, StatsRows, record_of};

pub(crate) struct MemoryStore {
    records: Vec<Arc<Record>>,
    next_cursor: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            records: Vec::new(),
            next_cursor: 1,
        }
    }
}

impl MemoryStore {
    pub fn append(&mut self, feed: &Feed, append: Append) -> (u64, u64) {
        let first = self.next_cursor;
        for ev in append.events {
            let cursor = self.next_cursor;
            self.next_cursor += 1;
            self.records.push(Arc::new(record_of(
                &append.request_id,
                &append.source_id,
                &append.write_key,
                cursor,
                ev,
            )));
        }
        let last = self.next_cursor - 1;
        feed.publish(last);
        (first, last)
    }

    /// The records after `filter.since` (cursors are increasing: a binary search finds them).
    fn after(&self, filter: &EventFilter) -> &[Arc<Record>] {
        let since = filter.since.unwrap_or(0);
        let start = self.records.partition_point(|r| r.cursor <= since);
        &self.records[start..]
    }

    pub fn query(&self, filter: &EventFilter) -> Vec<Arc<Record>> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        self.after(filter)
            .iter()
            .filter(|r| r.matches(filter))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn count(&self, filter: &EventFilter) -> usize {
        self.after(filter)
            .iter()
            .filter(|r| r.matches(filter))
            .count()
    }

    pub fn reset(&mut self) {
        self.records.clear();
    }

    pub fn stats_rows(&self) -> StatsRows {
        let mut groups = BTreeMap::<(String, String), u64>::new();
        let mut ids = HashMap::<&str, u64>::new();
        for r in &self.records {
            *groups
                .entry((r.source_id.to_string(), r.ev.r#type().to_owned()))
                .or_default() += 1;
            *ids.entry(r.ev.message_id()).or_default() += 1;
        }
        let rows = groups.into_iter().map(|((s, t), n)| (s, t, n)).collect();
        let mut dups: Vec<(String, u64)> = ids
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
        dups.sort();
        (rows, dups)
    }
}
